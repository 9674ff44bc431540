"""The report's figures (seaborn on matplotlib's Agg backend), one function each.

Every function takes what it plots and returns a :class:`Figure` (or ``None`` when the
results hold nothing for it). Only completed runs are plotted; bands are 95%
t-intervals of the mean over seeds, drawn only when a setting has two seeds or more.
"""

from __future__ import annotations

import io
import math
import textwrap

import matplotlib

matplotlib.use("Agg")  # files only; never a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402
from PIL import Image  # noqa: E402  (matplotlib's own dependency)

from harness.report.stats import t_interval  # noqa: E402

CELL = (3.4, 2.5)  # inches per facet
# axis names and units (regression targets are standardised by the clean training std)
LABELS = {
    "rmse": ("RMSE", "clean-target std"),
    "mae": ("MAE", "clean-target std"),
    "r2": ("R\u00b2", "1 = perfect"),
    "accuracy": ("accuracy", "fraction correct"),
    "macro_f1": ("macro F1", "0 to 1"),
    "log_loss": ("log loss", "nats"),
    "objective": ("objective", "loss units"),
    "memorised": ("memorised", "fraction"),
    "corrupted_correct": ("still correct", "fraction"),
}


def label(metric: str, prefix: str = "") -> str:
    """``test RMSE`` over ``(clean-target std)``: an axis label on two short lines."""
    name, unit = LABELS.get(metric, (metric, ""))
    return f"{prefix}{name}\n({unit})" if unit else f"{prefix}{name}"


def palette(losses: list[str]) -> dict[str, tuple]:
    """One colour per loss, the same in every figure."""
    names = sorted(set(losses))
    colors = sns.color_palette("tab10" if len(names) <= 10 else "husl", len(names))
    return dict(zip(names, colors, strict=True))


DASHES = ["", (4, 1.5), (1, 1), (3, 1, 1, 1), (5, 1, 1, 1, 1, 1), (2, 2)]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def dashes(colors: dict) -> dict:
    """A line style per loss (so overlapping lines stay apart), fixed across figures."""
    return {name: DASHES[i % len(DASHES)] for i, name in enumerate(colors)}


def markers(colors: dict) -> dict:
    return {name: MARKERS[i % len(MARKERS)] for i, name in enumerate(colors)}


def _band(bands: bool):
    """seaborn's ``errorbar``: the 95% t-interval of the mean over seeds, or none."""
    return t_interval if bands else None


def _grid(nrows: int, ncols: int, sharey="row") -> tuple[Figure, np.ndarray]:
    fig, axes = plt.subplots(nrows, ncols, figsize=(CELL[0] * ncols, CELL[1] * nrows),
                             squeeze=False, sharex=True, sharey=sharey)
    return fig, axes


def _legend(fig: Figure, axes: np.ndarray, title: str = "loss") -> None:
    """One legend for the whole figure, right of the facets; the facets' own removed."""
    handles: dict[str, object] = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if handles:
        fig.legend(list(handles.values()), list(handles), title=title, loc="center left",
                   bbox_to_anchor=(1.0, 0.5), frameon=False)


def _finish(fig: Figure, axes: np.ndarray, title: str, legend: bool = True) -> Figure:
    for ax in axes.flat:
        if not ax.has_data():
            ax.set_visible(False)
    if legend:
        _legend(fig, axes)
    width = int(fig.get_figwidth() * 10)  # characters that fit at this font size
    fig.suptitle(textwrap.fill(title, max(width, 40)), fontsize=12)
    fig.tight_layout()
    return fig


def _levels(frame: pd.DataFrame, context: str) -> list[float]:
    return sorted(frame.loc[frame.context == context, "level"].dropna().unique())


def _maybe_log(ax, values: pd.Series, axis: str) -> None:
    """A log scale when positive values span more than a factor of 10."""
    if not (len(values) and (values > 0).all() and values.max() / values.min() > 10):
        return
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    which = ax.xaxis if axis == "x" else ax.yaxis
    decades = np.log10(values.max() / values.min())
    which.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 2 else (1.0,)))
    which.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    which.set_minor_formatter(NullFormatter())


def _level_ticks(ax, levels: list[float]) -> None:
    ax.set_xticks(levels, [f"{v:g}" for v in levels])


def convergence(curves: pd.DataFrame, metric: str, level_name: str,
                colors: dict, bands: bool) -> Figure | None:
    """Clean test and validation metric and the training objective against epoch, one
    line per loss; rows: data set x quantity, columns: corruption level."""
    if curves.epoch.nunique() < 2:
        return None
    quantities = [("test", metric, label(metric, "test ")),
                  ("val", metric, label(metric, "validation ")),
                  ("train", "objective", label("objective", "training "))]
    contexts = sorted(curves.context.unique())
    ncols = max(len(_levels(curves, c)) for c in contexts)
    fig, axes = _grid(len(contexts) * len(quantities), ncols, sharey="row")
    for ci, context in enumerate(contexts):
        for qi, (split, name, ylabel) in enumerate(quantities):
            row = ci * len(quantities) + qi
            for li, level in enumerate(_levels(curves, context)):
                ax = axes[row, li]
                sel = curves[(curves.context == context) & (curves.level == level)
                             & (curves.split == split) & (curves.metric == name)]
                sns.lineplot(sel, x="epoch", y="value", hue="loss_label", palette=colors,
                             style="loss_label", dashes=dashes(colors),
                             errorbar=_band(bands), ax=ax, lw=1.4)
                ax.set_title(f"{context}\n{level_name} = {level:g}" if qi == 0 else "",
                             fontsize=10)
                ax.set_ylabel(ylabel if li == 0 else "")
                ax.set_xlabel("epoch" if row == axes.shape[0] - 1 else "")
            if name == "objective":  # the row shares its y axis: decide on all of it
                _maybe_log(axes[row, 0], curves.loc[(curves.context == context)
                                                    & (curves.metric == name)
                                                    & (curves.split == split), "value"], "y")
    band = "mean and 95% t-interval over seeds" if bands else "one seed: no bands"
    return _finish(fig, axes, f"Convergence ({band})")


def robustness(finals: pd.DataFrame, metric: str, level_name: str, colors: dict,
               bands: bool) -> Figure | None:
    """Final clean test metric against corruption level, one line per loss, one facet
    per context that has at least two levels."""
    contexts = [c for c in sorted(finals.context.unique()) if len(_levels(finals, c)) >= 2]
    if not contexts:
        return None
    ncols = min(3, len(contexts))
    nrows = math.ceil(len(contexts) / ncols)
    size = (6.4, 4.2) if len(contexts) == 1 else (4.6, 3.4)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows),
                             squeeze=False)
    for ax, context in zip(axes.flat, contexts, strict=False):
        sel = finals[finals.context == context]
        sns.lineplot(sel, x="level", y="value", hue="loss_label", palette=colors,
                     style="loss_label", dashes=dashes(colors), markers=markers(colors),
                     errorbar=_band(bands), ax=ax, lw=1.6, err_kws={"alpha": 0.15})
        _level_ticks(ax, _levels(finals, context))
        ax.set_title(context, fontsize=10)
        ax.set_xlabel(level_name)
        ax.set_ylabel(label(metric, "final test "))
    band = "mean and 95% t-interval over seeds" if bands else "one seed: no bands"
    return _finish(fig, axes, f"Robustness: final clean test {metric} ({band})")


def memorisation(curves: pd.DataFrame, level_name: str, colors: dict,
                 bands: bool) -> Figure | None:
    """Fraction of corrupted training points fitted to their corrupted target (and, if
    logged, still fitted to the clean one) against epoch; skipped when not logged."""
    mem = curves[(curves.split == "train")
                 & curves.metric.isin(["memorised", "corrupted_correct"])
                 & (curves.level > 0)]
    if mem.empty or mem.epoch.nunique() < 2:
        return None
    names = [m for m in ("memorised", "corrupted_correct") if m in set(mem.metric)]
    contexts = sorted(mem.context.unique())
    ncols = max(len(_levels(mem, c)) for c in contexts)
    fig, axes = _grid(len(contexts) * len(names), ncols, sharey=True)
    for ci, context in enumerate(contexts):
        for mi, name in enumerate(names):
            row = ci * len(names) + mi
            for li, level in enumerate(_levels(mem, context)):
                ax = axes[row, li]
                sel = mem[(mem.context == context) & (mem.level == level) & (mem.metric == name)]
                sns.lineplot(sel, x="epoch", y="value", hue="loss_label", palette=colors,
                             style="loss_label", dashes=dashes(colors),
                             errorbar=_band(bands), ax=ax, lw=1.4)
                ax.set_ylim(-0.03, 1.03)
                ax.set_title(f"{context}\n{level_name} = {level:g}" if mi == 0 else "",
                             fontsize=10)
                ax.set_ylabel(label(name) if li == 0 else "")
                ax.set_xlabel("epoch" if row == axes.shape[0] - 1 else "")
    return _finish(fig, axes, "Memorisation of the corrupted training points "
                   "(fractions of them)")


def distribution(finals: pd.DataFrame, metric: str, level_name: str,
                 colors: dict) -> Figure:
    """Final test metric of every run (one dot per seed) per loss, per setting; a box
    where a loss has 3 seeds or more."""
    contexts = sorted(finals.context.unique())
    ncols = max(len(_levels(finals, c)) for c in contexts)
    order = sorted(finals.loss_label.unique())
    boxes = finals.groupby(["setting", "loss_label"]).size().max() >= 3
    fig, axes = plt.subplots(len(contexts), ncols, squeeze=False, sharey=True,
                             figsize=(3.0 * ncols + 1.2, 0.45 * len(order) * len(contexts)
                                      + 1.3 * len(contexts)))
    for ci, context in enumerate(contexts):
        for li, level in enumerate(_levels(finals, context)):
            ax = axes[ci, li]
            sel = finals[(finals.context == context) & (finals.level == level)]
            if boxes:
                sns.boxplot(sel, x="value", y="loss_label", order=order, ax=ax, whis=(0, 100),
                            fill=False, color="0.55", width=0.6, linewidth=1)
            sns.stripplot(sel, x="value", y="loss_label", hue="loss_label", order=order,
                          palette=colors, ax=ax, size=5, jitter=0.15, legend=False)
            _maybe_log(ax, sel.value, "x")
            ax.set_title(f"{context}\n{level_name} = {level:g}", fontsize=10)
            ax.set_xlabel(label(metric, "final test ").replace("\n", " "))
            ax.set_ylabel("")
    return _finish(fig, axes, f"Final clean test {metric}: every run", legend=False)


def speed(times: pd.DataFrame, level_name: str, colors: dict, fraction: float,
          bands: bool) -> Figure | None:
    """Epochs and training seconds to reach the target, per loss (bars: mean over the
    runs that got there, with the 95% t-interval); rows: data set x (epochs, seconds),
    columns: corruption level. A loss that never got there is labelled, not drawn."""
    if times.epochs.notna().sum() == 0:
        return None
    contexts = sorted(times.context.unique())
    ncols = max(len(_levels(times, c)) for c in contexts)
    order = sorted(times.loss_label.unique())
    quantities = (("epochs", "epochs to target"), ("seconds", "training time to target (s)"))
    fig, axes = plt.subplots(2 * len(contexts), ncols, squeeze=False, sharey=True,
                             sharex="row", figsize=(3.0 * ncols + 1.5,
                                                    (0.34 * len(order) + 1.1) * 2 * len(contexts)))
    for ci, context in enumerate(contexts):
        for qi, (col, xlabel) in enumerate(quantities):
            for li, level in enumerate(_levels(times, context)):
                ax = axes[2 * ci + qi, li]
                sel = times[(times.context == context) & (times.level == level)]
                reached = sel.dropna(subset=[col])
                sns.barplot(reached, x=col, y="loss_label", hue="loss_label", order=order,
                            hue_order=order, palette=colors, errorbar=_band(bands), ax=ax,
                            legend=False, err_kws={"linewidth": 1.2}, capsize=0.2)
                _mark_unreached(ax, sel, order)
                ax.set_title(f"{context}\n{level_name} = {level:g}" if qi == 0 else "",
                             fontsize=10)
                ax.set_xlabel(xlabel)
                ax.set_ylabel("")
            # the row shares its x axis: make room for the longest bar or error bar
            rows = times[times.context == context].dropna(subset=[col])
            tops = [t_interval(g[col].to_numpy())[1] if bands else g[col].max()
                    for _, g in rows.groupby(["level", "loss_label"])]
            axes[2 * ci + qi, 0].set_xlim(0, 1.05 * max(max(tops, default=1.0), 1e-9))
    return _finish(fig, axes, f"Speed: time to {fraction:.0%} of the way from the untrained "
                   "model to the best final value (per seed)", legend=False)


def _mark_unreached(ax, sel: pd.DataFrame, order: list[str]) -> None:
    """Write ``k/n reached`` beside a bar when some runs never got there."""
    for i, loss in enumerate(order):
        mine = sel[sel.loss_label == loss]
        if mine.empty:
            continue
        k, n = int(mine.epochs.notna().sum()), len(mine)
        if k < n:
            text = "not reached" if k == 0 else f"{k}/{n} reached"
            ax.text(0.98, i, text, transform=ax.get_yaxis_transform(), ha="right",
                    va="center", fontsize=8, color="0.3")


def save(fig: Figure, path) -> None:
    """Write ``fig`` as a 256-colour PNG: it looks the same as a full-colour one for plots
    like these and is about a quarter of the size, so the page loads fast."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    buffer.seek(0)
    image = Image.open(buffer).convert("RGB").quantize(
        256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    colours = image.getpalette()  # the octree rounds white to 254: make it white again
    image.putpalette([255 if min(colours[i - i % 3:i - i % 3 + 3]) >= 250 else v
                      for i, v in enumerate(colours)])
    from harness.results import atomic_write

    atomic_write(path, lambda tmp: image.save(tmp, format="PNG", optimize=True))


def sensitivity(trials: pd.DataFrame, metric: str, colors: dict) -> Figure | None:
    """Final metric of every tuning trial against each tuned hyperparameter, per loss
    (a protocol's tune stage). ``trials``: setting, loss_label, param, x, split
    (``val`` / ``test``), value, selected. Rows: hyperparameter (x setting), columns:
    losses; validation (what selection saw) filled, clean test hollow, the selected
    candidate ringed. A loss that tunes one key gets lines; more keys: points only."""
    trials = trials.dropna(subset=["x", "value"])
    if trials.empty:
        return None
    several = trials.setting.nunique() > 1
    cells = {key: sorted(group.loss_label.unique())
             for key, group in trials.groupby(["param", "setting"], sort=True)}
    order = sorted(cells, key=lambda k: -len(cells[k]))  # the shared keys (optim.lr) first
    rows = pd.DataFrame(order, columns=["param", "setting"])
    per_row = [cells[k] for k in order]
    ncols = max(len(r) for r in per_row)
    fig, axes = plt.subplots(len(rows), ncols, squeeze=False,
                             figsize=(CELL[0] * ncols, (CELL[1] + 0.3) * len(rows)))
    for ri, ((param, setting), losses_) in enumerate(zip(rows.itertuples(index=False),
                                                         per_row, strict=True)):
        for li, loss in enumerate(losses_):
            ax = axes[ri, li]
            sel = trials[(trials.param == param) & (trials.setting == setting)
                         & (trials.loss_label == loss)]
            line = sel.groupby("loss_label").n_params.first().iloc[0] == 1
            color = colors.get(loss, "0.3")
            for split, face, style in (("val", color, "-"), ("test", "white", "--")):
                part = sel[sel.split == split].sort_values("x")
                ax.plot(part.x, part.value, ls=style if line else "none", color=color,
                        marker="o", mfc=face, mec=color, ms=6, lw=1.2,
                        label=("corrupted validation (selection)" if split == "val"
                               else "clean test"))
            chosen = sel[(sel.split == "val") & sel.selected]
            ax.plot(chosen.x, chosen.value, ls="none", marker="o", ms=14, mfc="none",
                    mec="black", mew=1.5, label="selected")
            _maybe_log(ax, sel.x, "x")
            ax.margins(y=0.15)  # room for the ring around the selected point
            ax.set_title(f"{loss}" + (f"\n{setting}" if several else ""), fontsize=10)
            ax.set_xlabel(param)
            ax.set_ylabel(label(metric, "final ") if li == 0 else "")
    for ax in axes.flat:
        if not ax.has_data():
            ax.set_visible(False)
    proxies = [Line2D([], [], color="0.35", marker="o", ls="-",
                      label="corrupted validation (selection)"),
               Line2D([], [], color="0.35", marker="o", mfc="white", ls="--",
                      label="clean test (not used)"),
               Line2D([], [], color="black", marker="o", ms=12, mfc="none", ls="none",
                      label="selected")]
    fig.legend(handles=proxies, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return _finish(fig, axes, f"Sensitivity: final {metric} of each tuning trial against "
                   "each tuned hyperparameter", legend=False)
