"""Loss cards: ``python -m harness.zoo`` plots every registered loss and prints the registry.

Each task's losses are drawn against the one number that decides them, the classic way:

- regression: the residual ``r = p - y`` (``msle`` at target 1, since it depends on y;
  the log-link deviances at target 1 against ``log(mu / y)``, their prediction there,
  within +-3);
- binary: the margin ``m = (2y - 1) * s``, i.e. the score of a positive example;
- multiclass: the probability of the true class ``p_y``, the other classes sharing the
  rest evenly (``C = 5``); the logits are ``log p`` (every loss here is shift-invariant),
  so ``p_y`` is the softmax probability (``bi_tempered``'s own tempered probability of
  the same logits is another number).

Derivatives (with respect to r, m, or the true class's logit ``z_y``) come from autograd
through the registered losses themselves, so the figures show what training sees.
Nothing here trains; the figures are a view of the registry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

import losses

N_CLASSES = 5
N_POINTS = 601
# x axis per task: (what it is, axis label, lo, hi)
AXES = {
    "regression": ("residual", "residual r = p - y", -6.0, 6.0),
    "binary": ("margin", "margin m = (2y - 1) s", -3.0, 3.0),
    "multiclass": ("true-class probability", f"true-class probability p_y (C = {N_CLASSES})",
                   0.02, 0.99),
}
# y limits of the overview panels: a few losses explode at the edges and would flatten
# everything else (mse, exponential, ce); per-loss panels scale to their own curves
OVERVIEW_LIMITS = {
    "regression": ((0.0, 6.0), (-3.0, 3.0)),
    "binary": ((0.0, 5.0), (-5.0, 0.5)),
    "multiclass": ((0.0, 5.0), (-1.3, 0.3)),
}
LOG_LINK_RANGE = 3.0  # log-link panels show |log(mu / y)| <= 3
DERIVATIVE = {"regression": "d loss / dr", "binary": "d loss / dm",
              "multiclass": "d loss / d z_y (true-class logit)"}
# parameter settings drawn besides the defaults (a loss not listed shows its defaults)
VARIANTS: dict[str, list[dict[str, float]]] = {
    "huber": [{"delta": 0.5}, {"delta": 2.0}],
    "pseudo_huber": [{"delta": 0.5}, {"delta": 2.0}],
    "quantile": [{"q": 0.1}, {"q": 0.9}],
    "epsilon_insensitive": [{"epsilon": 0.5}, {"epsilon": 1.0}],
    "cauchy": [{"c": 0.5}, {"c": 2.0}],
    "geman_mcclure": [{"c": 0.5}, {"c": 2.0}],
    "welsch": [{"c": 0.5}, {"c": 2.0}],
    "tukey": [{"c": 2.0}, {"c": 3.0}],
    "barron": [{"alpha": 0.0}, {"alpha": -2.0}, {"alpha": -math.inf}],  # more: barron.png
    "scaled_barron": [{"alpha": 0.0, "c": 2.0}, {"alpha": -2.0, "c": 2.0}],
    "expectile": [{"tau": 0.1}, {"tau": 0.9}],
    "tweedie": [{"power": 1.1}, {"power": 1.9}],
    "focal": [{"gamma": 0.0, "alpha": 0.5}, {"gamma": 2.0, "alpha": 0.5}],
    "smooth_hinge": [{"gamma": 0.25}, {"gamma": 2.0}],
    "ramp": [{"s": -0.5}, {"s": -2.0}],
    "kl": [{"smoothing": 0.2}],
    "label_smoothing_ce": [{"smoothing": 0.3}],
    "focal_ce": [{"gamma": 0.0}, {"gamma": 5.0}],
    "gce": [{"q": 0.3}, {"q": 1.0}],
    "sce": [{"alpha": 0.0, "beta": 1.0}],
    "nce_rce": [{"alpha": 1.0, "beta": 0.0}],
    "poly1": [{"epsilon": -1.0}, {"epsilon": 5.0}],
    "multiclass_hinge": [{"margin": 2.0}],
    "phuber_ce": [{"tau": 2.0}],
    "taylor_ce": [{"order": 1}, {"order": 6}],
    "agce": [{"a": 1.0, "q": 2.0}, {"a": 4.0, "q": 0.2}],
    "aul": [{"a": 3.0, "q": 0.1}],
    "anl_ce": [{"alpha": 1.0, "beta": 1.0}],
    "js": [{"pi1": 0.1}, {"pi1": 0.9}],
    "bi_tempered": [{"t1": 1.0, "t2": 1.0}, {"t1": 0.5, "t2": 2.0}],
}
# colour follows alpha
BARRON_ALPHAS = (math.inf, 4.0, 2.0, 1.0, 0.5, 0.0, -0.5, -2.0, -math.inf)
BARRON_NAMES = {math.inf: "exp(x^2/2) - 1", 2.0: "L2 / 2", 1.0: "pseudo-Huber",
                0.0: "Cauchy", -2.0: "Geman-McClure", -math.inf: "Welsch"}


# ------------------------------------------------------------------------ the curves


def _inputs(task: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(pred, target) whose deciding number (residual, margin, p_y) is ``x``; for
    multiclass the true class is 0."""
    if task == "regression":
        return x.clone(), torch.zeros_like(x)
    if task == "binary":
        return x.clone(), torch.ones_like(x)
    rest = torch.log((1.0 - x) / (N_CLASSES - 1)).unsqueeze(-1).expand(-1, N_CLASSES - 1)
    return torch.cat([x.log().unsqueeze(-1), rest], dim=-1), torch.zeros(len(x), dtype=torch.long)


def curve(loss: losses.Loss, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The per-sample loss along ``x`` and its derivative by autograd: with respect to
    the prediction (regression, binary: the same as to r or m) or to the true class's
    logit (multiclass: how hard training pushes that logit up)."""
    pred, target = _inputs(loss.task, torch.tensor(x, dtype=torch.float64))
    if loss.name == "msle":  # depends on the target itself, not only on p - y
        pred, target = pred + 1.0, target + 1.0
    elif loss.spec.link == "log":  # pred = log(mu); at y = 1 it is log(mu / y)
        target = target + 1.0
    pred.requires_grad_(True)
    value = loss.unreduced(pred, target)
    (grad,) = torch.autograd.grad(value.sum(), pred)
    if loss.task == "multiclass":
        grad = grad[:, 0]
    return value.detach().numpy(), grad.numpy()


def setting_label(loss: losses.Loss, default: bool) -> str:
    text = ", ".join(f"{k}={v:g}" for k, v in loss.params.items())
    return (f"{text} (default)" if text else "default") if default else text


def curves(task: str) -> pd.DataFrame:
    """Tidy table of every loss of ``task`` at its defaults and its ``VARIANTS``: columns
    ``loss, setting, default, x, value, derivative``."""
    *_, lo, hi = AXES[task]
    x = np.linspace(lo, hi, N_POINTS)
    frames = []
    for name in losses.available(task):
        for i, params in enumerate([{}, *VARIANTS.get(name, [])]):
            loss = losses.get(name, **params)
            value, derivative = curve(loss, x)
            frames.append(pd.DataFrame({
                "loss": name, "setting": setting_label(loss, i == 0), "default": i == 0,
                "x": x, "value": value, "derivative": derivative}))
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------ the figures
# Layouts are set by hand (subplots_adjust): matplotlib's layout engines re-draw the
# figure to measure it, which tripled the time to write these files.


def _style():
    return matplotlib.rc_context({**sns.axes_style("whitegrid"),
                                  **sns.plotting_context("notebook", font_scale=0.8)})


def panel_title(name: str) -> str:
    """``welsch (bounded)``, ``barron (bounded if alpha < 0)``, ``msle (target 1)``,
    ``poisson (x = log(mu/y), y = 1)``."""
    notes = ["target 1"] if name == "msle" else []
    if losses.spec(name).link == "log":
        notes = ["x = log(mu/y), y = 1"]
    bounded = losses.spec(name).describe("bounded")
    if bounded != "no":
        notes.append("bounded" if bounded == "yes" else f"bounded {bounded}")
    return f"{name} ({', '.join(notes)})" if notes else name


def grid_figure(df: pd.DataFrame, task: str, column: str, dpi: int) -> Figure:
    """One panel per loss: ``column`` (value or derivative) for each parameter setting."""
    names = list(dict.fromkeys(df["loss"]))
    ncols = 4
    nrows = math.ceil(len(names) / ncols)
    height = 3.1 * nrows + 1.1  # inches: panels, then room for the title and x labels
    fig = Figure(figsize=(4.0 * ncols, height), dpi=dpi)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.55 / height, top=1.0 - 0.8 / height,
                        hspace=0.38, wspace=0.22)
    colors = sns.color_palette("deep")
    for i, (ax, name) in enumerate(zip(axes, names, strict=False)):
        part = df[df["loss"] == name]
        if losses.spec(name).link == "log":  # mu within a factor e^3 of y: the exponential
            part = part[part["x"].abs() <= LOG_LINK_RANGE]  # blows up beyond
        settings = list(dict.fromkeys(part["setting"]))
        for color, setting in zip(colors, settings, strict=False):
            rows = part[part["setting"] == setting]
            ax.plot(rows["x"], rows[column], color=color, linewidth=1.6, label=setting)
        ax.set_title(panel_title(name), fontsize=10)
        if i >= len(names) - ncols:  # the bottom panel of each column
            ax.set_xlabel(AXES[task][1])
        if i % ncols == 0:
            ax.set_ylabel("loss" if column == "value" else DERIVATIVE[task])
        if column == "derivative":
            ax.axhline(0.0, color="0.5", linewidth=0.8, zorder=0)
        if len(settings) > 1:
            ax.legend(fontsize=7, loc="best", framealpha=0.85)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    fig.suptitle(f"{task}: {DERIVATIVE[task] if column == 'derivative' else 'loss'} "
                 f"against the {AXES[task][0]}", fontsize=12,
                 y=1.0 - 0.25 / height)
    return fig


def _overview_axes(fig: Figure, title: str) -> tuple:
    ax_v, ax_d = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.05, right=0.77, bottom=0.11, top=0.9, wspace=0.18)
    fig.suptitle(title, fontsize=12)
    return ax_v, ax_d


def _same_curves(base: pd.DataFrame) -> dict[str, list[str]]:
    """Losses whose default curves coincide, grouped under the first: drawn once."""
    groups: dict[str, list[str]] = {}
    for name, rows in base.groupby("loss", sort=False):
        for first in groups:
            other = base[base["loss"] == first]
            if all(np.allclose(rows[c].to_numpy(), other[c].to_numpy(), rtol=1e-9, atol=1e-12)
                   for c in ("value", "derivative")):
                groups[first].append(name)
                break
        else:
            groups[name] = [name]
    return groups


def _legend_name(name: str) -> str:
    if name == "msle":
        return "msle (target 1)"
    if losses.spec(name).link == "log":
        return f"{name} (x = log mu/y)"
    return name


def overview_figure(df: pd.DataFrame, task: str, dpi: int) -> Figure:
    """Every loss at its defaults on one pair of axes: value and derivative. Losses with
    the same curve (ce, sparse_ce and kl at smoothing 0) share one line."""
    base = df[df["default"]]
    groups = _same_curves(base)
    colors = sns.color_palette("tab10", 10)
    fig = Figure(figsize=(15.0, 5.0), dpi=dpi)
    ax_v, ax_d = _overview_axes(
        fig, f"{task} losses at their defaults (curves leaving the frame are clipped)")
    for ax, column, limits in zip((ax_v, ax_d), ("value", "derivative"),
                                  OVERVIEW_LIMITS[task], strict=True):
        for i, (first, same) in enumerate(groups.items()):
            rows = base[base["loss"] == first]
            ax.plot(rows["x"], rows[column], color=colors[i % 10], linewidth=1.6,
                    label=" = ".join(_legend_name(n) for n in same),
                    linestyle=("-", "--", ":")[i // 10 % 3])
        ax.set_ylim(*limits)
        ax.set_xlabel(AXES[task][1])
        ax.set_ylabel("loss" if column == "value" else DERIVATIVE[task])
        ax.axhline(0.0, color="0.5", linewidth=0.8, zorder=0)
    if task == "binary":  # the 0-1 loss every margin loss stands in for
        x = np.linspace(*AXES[task][2:], N_POINTS)
        ax_v.plot(x, (x <= 0).astype(float), color="0.2", linewidth=1.0, linestyle=":")
        ax_v.text(-2.9, 1.08, "0-1 loss", ha="left", fontsize=8, color="0.2")
    ax_d.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, title="loss")
    return fig


def barron_figure(dpi: int) -> Figure:
    """Barron's rho (c = 1) across alpha, with the named special cases."""
    x = np.linspace(-6.0, 6.0, N_POINTS)
    fig = Figure(figsize=(15.0, 5.0), dpi=dpi)
    ax_v, ax_d = _overview_axes(
        fig, "Barron's general robust loss rho(x, alpha, c = 1) across alpha (CVPR 2019, eq. 1)")
    colors = sns.color_palette("viridis", len(BARRON_ALPHAS))
    for alpha, color in zip(BARRON_ALPHAS, colors, strict=True):
        value, derivative = curve(losses.get("barron", alpha=alpha), x)
        label = f"alpha={alpha:g}" + (f" ({BARRON_NAMES[alpha]})" if alpha in BARRON_NAMES
                                      else "")
        label = label.replace("alpha=inf", "alpha=+inf")
        ax_v.plot(x, value, color=color, linewidth=1.6, label=label)
        ax_d.plot(x, derivative, color=color, linewidth=1.6, label=label)
    for ax, limits, ylabel in ((ax_v, (0.0, 6.0), "loss"), (ax_d, (-3.0, 3.0), "d loss / dr")):
        ax.set_ylim(*limits)
        ax.set_xlabel("residual r")
        ax.set_ylabel(ylabel)
        ax.axhline(0.0, color="0.5", linewidth=0.8, zorder=0)
    ax_d.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, title="alpha")
    return fig


def draw(out: Path, tasks: Sequence[str], dpi: int = 100) -> dict[str, list[str]]:
    """Write the figures of ``tasks`` to ``out``; return file name -> losses drawn."""
    out.mkdir(parents=True, exist_ok=True)
    drawn: dict[str, list[str]] = {}
    with _style():
        for task in tasks:
            df = curves(task)
            names = sorted(set(df["loss"]))
            figures = {f"{task}_losses.png": partial(grid_figure, df, task, "value", dpi),
                       f"{task}_derivatives.png":
                           partial(grid_figure, df, task, "derivative", dpi),
                       f"{task}_overview.png": partial(overview_figure, df, task, dpi)}
            if task == "regression" and "barron" in names:
                figures["barron.png"] = partial(barron_figure, dpi)
            for file, make in figures.items():  # one at a time: each is freed when saved
                make().savefig(out / file)
                drawn[file] = ["barron"] if file == "barron.png" else names
    return drawn


# ------------------------------------------------------------------------ the table


def registry_table(tasks: Sequence[str] = losses.TASKS) -> pd.DataFrame:
    rows = []
    for task in tasks:
        for name in losses.available(task):
            s = losses.spec(name)
            params = "; ".join(f"{p.name}={p.default:g} in {p.interval}" for p in s.params)
            rows.append({"name": name, "task": task, "aliases": ", ".join(s.aliases) or "-",
                         "parameters (default, range)": params or "-",
                         "bounded": s.describe("bounded"),
                         "symmetric": s.describe("symmetric"), "summary": s.summary,
                         "reference": reference(s)})
    return pd.DataFrame(rows)


def reference(spec: losses.LossSpec) -> str:
    """The first source of a loss's docstring ``Reference:`` (up to its first ``;``)."""
    doc = " ".join(spec.doc.split())
    if "Reference: " not in doc:
        return "-"
    text = doc.split("Reference: ", 1)[1]
    for stop in ("; ", " Parameters:", " >>> "):
        text = text.split(stop, 1)[0]
    return text.rstrip(".") + "."


def _markdown_cell(value: object) -> str:
    """Docstring RST (``:math:`x```, double backquotes) as markdown code spans."""
    text = str(value).replace(":math:`", "`").replace("``", "`")
    return text.replace("|", "\\|")


def format_table(table: pd.DataFrame, markdown: bool = False) -> str:
    if markdown:
        head = "| " + " | ".join(table.columns) + " |"
        rule = "|" + "|".join("---" for _ in table.columns) + "|"
        body = ["| " + " | ".join(_markdown_cell(v) for v in row) + " |"
                for row in table.itertuples(index=False)]
        return "\n".join([head, rule, *body])
    table = table.drop(columns=["summary", "reference"])
    cells = [list(table.columns), *([str(v) for v in row] for row in table.itertuples(index=False))]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ------------------------------------------------------------------------ the command



