"""The report's figures (seaborn on matplotlib's Agg backend), one function each.

Every function takes what it plots and returns a :class:`Figure` (or ``None`` when the
results hold nothing for it). Only completed runs are plotted. Bands are 95%
t-intervals of the mean over seeds, clipped to the metric's possible range
(:data:`harness.report.stats.BOUNDS`), drawn only when a setting has two seeds or more
and, in line plots, only with at most :data:`MAX_BANDS` losses (more would overlap into
one area); with more losses the robustness figure becomes small multiples, one panel
per loss with the others in grey. Epoch axes have integer ticks.
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
from matplotlib.ticker import (  # noqa: E402
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
)
from PIL import Image  # noqa: E402  (matplotlib's own dependency)

from harness.report.stats import BOUNDS, interval  # noqa: E402

CELL = (3.4, 2.5)  # inches per facet
MAX_BANDS = 4  # more losses than this: line plots without bands (they would merge)
WRAP = 4  # small multiples: panels per row
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
    "pull": ("mean pull", "0 clean, 1 corrupted"),
}


def label(metric: str, prefix: str = "") -> str:
    """``test RMSE`` over ``(clean-target std)``: an axis label on two short lines."""
    name, unit = LABELS.get(metric, (metric, ""))
    return f"{prefix}{name}\n({unit})" if unit else f"{prefix}{name}"


def palette(losses: list[str]) -> dict[str, tuple]:
    """One colour per loss, the same in every figure. Never grey: grey is what the small
    multiples draw the other losses in (tab10 without its grey for up to 9 losses, tab20
    without its greys for up to 18, else evenly spaced hues)."""
    names = sorted(set(losses))
    if len(names) <= 9:
        colors = [c for i, c in enumerate(sns.color_palette("tab10", 10)) if i != 7]
    elif len(names) <= 18:
        colors = [c for i, c in enumerate(sns.color_palette("tab20", 20)) if i not in (14, 15)]
    else:
        colors = sns.color_palette("husl", len(names))
    return dict(zip(names, colors[:len(names)], strict=True))


DASHES = ["", (4, 1.5), (1, 1), (3, 1, 1, 1), (5, 1, 1, 1, 1, 1), (2, 2)]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def dashes(colors: dict) -> dict:
    """A line style per loss (so overlapping lines stay apart), fixed across figures."""
    return {name: DASHES[i % len(DASHES)] for i, name in enumerate(colors)}


def markers(colors: dict) -> dict:
    return {name: MARKERS[i % len(MARKERS)] for i, name in enumerate(colors)}


def _band(bands: bool, metric: str | None = None):
    """seaborn's ``errorbar``: the 95% t-interval of the mean over seeds, clipped to the
    metric's range, or none."""
    return interval(BOUNDS.get(metric, (-math.inf, math.inf))) if bands else None


def band_note(bands: bool, n_losses: int) -> str:
    """What the lines of a line plot show, for its title."""
    if not bands:
        return "one seed: single runs, no bands"
    if n_losses > MAX_BANDS:
        return f"means over seeds; no bands with {n_losses} losses, they would overlap"
    return "mean and 95% t-interval over seeds"


def _epoch_ticks(ax) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))


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


def _title(context: str, level_name: str, level: float) -> str:
    return f"{context}\n{level_name} = {level:g}"


def convergence(curves: pd.DataFrame, metric: str, level_name: str,
                colors: dict, bands: bool) -> Figure | None:
    """Clean test and clean validation metric and the training objective against epoch,
    one line per loss; rows: data set x quantity, columns: corruption level. The test and
    validation rows share a y scale along the row (the levels compare on one scale); each
    objective panel has its own (the objective's scale changes with the corruption)."""
    if curves.epoch.nunique() < 2:
        return None
    quantities = [("test", metric, label(metric, "clean test ")),
                  ("val", metric, label(metric, "clean validation ")),
                  ("train", "objective", label("objective", "training "))]
    contexts = sorted(curves.context.unique())
    ncols = max(len(_levels(curves, c)) for c in contexts)
    n_losses = curves.loss_label.nunique()
    show = bands and n_losses <= MAX_BANDS
    fig, axes = plt.subplots(len(contexts) * len(quantities), ncols, squeeze=False,
                             figsize=(CELL[0] * ncols, CELL[1] * len(contexts) * 3))
    for ci, context in enumerate(contexts):
        for qi, (split, name, ylabel) in enumerate(quantities):
            row = ci * len(quantities) + qi
            for li, level in enumerate(_levels(curves, context)):
                ax = axes[row, li]
                sel = curves[(curves.context == context) & (curves.level == level)
                             & (curves.split == split) & (curves.metric == name)]
                sns.lineplot(sel, x="epoch", y="value", hue="loss_label", palette=colors,
                             style="loss_label", dashes=dashes(colors),
                             errorbar=_band(show, name), ax=ax, lw=1.4)
                if name != "objective" and li:
                    ax.sharey(axes[row, 0])
                    ax.tick_params(labelleft=False)
                ax.set_title(_title(context, level_name, level) if qi == 0 else "",
                             fontsize=10)
                ax.set_ylabel(ylabel if li == 0 else "")
                ax.set_xlabel("epoch" if row == axes.shape[0] - 1 else "")
                _epoch_ticks(ax)
                if name == "objective":
                    _maybe_log(ax, sel.value, "y")
            # the row shares its y axis: decide on all of it; never for a bounded metric
            if name != "objective" and BOUNDS.get(name, (0, math.inf))[1] == math.inf:
                _maybe_log(axes[row, 0], curves.loc[(curves.context == context)
                                                    & (curves.metric == name)
                                                    & (curves.split == split), "value"], "y")
    return _finish(fig, axes, f"Convergence ({band_note(bands, n_losses)})")


def robustness(finals: pd.DataFrame, metric: str, level_name: str, colors: dict,
               bands: bool) -> Figure | None:
    """Final clean test metric against corruption level for each context with at least
    two levels. Up to :data:`MAX_BANDS` losses: one panel per context, a line (and band)
    per loss. More: small multiples, one panel per loss showing it in colour (with its
    band) over the other losses' mean lines in grey, one shared y scale per context."""
    contexts = [c for c in sorted(finals.context.unique()) if len(_levels(finals, c)) >= 2]
    if not contexts:
        return None
    losses = sorted(finals.loss_label.unique())
    note = band_note(bands, 1 if len(losses) > MAX_BANDS else len(losses))
    if len(losses) > MAX_BANDS:
        return _robustness_multiples(finals, contexts, losses, metric, level_name, colors,
                                     bands, note)
    ncols = min(3, len(contexts))
    nrows = math.ceil(len(contexts) / ncols)
    size = (6.4, 4.2) if len(contexts) == 1 else (4.6, 3.4)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows),
                             squeeze=False)
    for ax, context in zip(axes.flat, contexts, strict=False):
        sel = finals[finals.context == context]
        sns.lineplot(sel, x="level", y="value", hue="loss_label", palette=colors,
                     style="loss_label", dashes=dashes(colors), markers=markers(colors),
                     errorbar=_band(bands, metric), ax=ax, lw=1.6, err_kws={"alpha": 0.15})
        _level_ticks(ax, _levels(finals, context))
        ax.set_title(context, fontsize=10)
        ax.set_xlabel(level_name)
        ax.set_ylabel(label(metric, "final test "))
    return _finish(fig, axes, f"Robustness: final clean test {metric} ({note})")


def _robustness_multiples(finals, contexts, losses, metric, level_name, colors, bands,
                          note) -> Figure:
    ncols = min(WRAP, len(losses))
    per_context = math.ceil(len(losses) / ncols)
    nrows = per_context * len(contexts)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(3.1 * ncols, 2.55 * nrows))
    for ci, context in enumerate(contexts):
        sel = finals[finals.context == context]
        means = sel.groupby(["loss_label", "level"]).value.mean()
        first = axes[ci * per_context, 0]
        for i, loss in enumerate(losses):
            ax = axes[ci * per_context + i // ncols, i % ncols]
            if ax is not first:
                ax.sharey(first)
            for other in losses:
                if other != loss and other in means.index.get_level_values(0):
                    m = means[other]
                    ax.plot(m.index, m.to_numpy(), color="0.78", lw=1.0, zorder=1)
            mine = sel[sel.loss_label == loss]
            sns.lineplot(mine, x="level", y="value", color=colors[loss], marker="o",
                         errorbar=_band(bands, metric), ax=ax, lw=2.0,
                         err_kws={"alpha": 0.25}, zorder=3)
            _level_ticks(ax, _levels(finals, context))
            ax.set_title(loss if len(contexts) == 1 else f"{loss}\n{context}", fontsize=10,
                         color=colors[loss])
            bottom = i // ncols == per_context - 1 or i + ncols >= len(losses)
            ax.set_xlabel(level_name if bottom else "")
            ax.set_ylabel(label(metric, "final test ") if i % ncols == 0 else "")
        _maybe_log(first, means, "y")
    return _finish(fig, axes, f"Robustness: final clean test {metric}, one panel per loss "
                   f"({note}; grey: the other losses' means)", legend=False)


MEMO_ROWS = {  # metric -> (y limits or None, row label)
    "memorised": ((-0.03, 1.03), "memorised\n(fraction)"),
    "corrupted_correct": ((-0.03, 1.03), "still correct\n(fraction)"),
    "pull": (None, "mean pull\n(0 clean, 1 corrupted)"),
}


def memorisation(curves: pd.DataFrame, level_name: str, colors: dict, bands: bool,
                 regression: bool = False) -> Figure | None:
    """The memorisation metrics of :mod:`harness.metrics` on the corrupted training points
    against epoch, one row per metric logged (data set x metric), one column per level.
    For regression ``corrupted_correct`` is left out (it is 1 - ``memorised``) and
    ``pull`` comes first: the fractions only move once a fit crosses half-way."""
    names = ["pull", "memorised"] if regression else ["memorised", "corrupted_correct", "pull"]
    mem = curves[(curves.split == "train") & curves.metric.isin(names) & (curves.level > 0)]
    if mem.empty or mem.epoch.nunique() < 2:
        return None
    names = [m for m in names if m in set(mem.metric)]
    contexts = sorted(mem.context.unique())
    ncols = max(len(_levels(mem, c)) for c in contexts)
    n_losses = mem.loss_label.nunique()
    show = bands and n_losses <= MAX_BANDS
    fig, axes = plt.subplots(len(contexts) * len(names), ncols, squeeze=False,
                             figsize=(CELL[0] * ncols, CELL[1] * len(contexts) * len(names)))
    for ci, context in enumerate(contexts):
        for mi, name in enumerate(names):
            row = ci * len(names) + mi
            limits, ylabel = MEMO_ROWS[name]
            if name == "pull" and not regression:
                ylabel = "pull: probability\nof corrupted label"
            for li, level in enumerate(_levels(mem, context)):
                ax = axes[row, li]
                sel = mem[(mem.context == context) & (mem.level == level) & (mem.metric == name)]
                sns.lineplot(sel, x="epoch", y="value", hue="loss_label", palette=colors,
                             style="loss_label", dashes=dashes(colors),
                             errorbar=_band(show, name), ax=ax, lw=1.4)
                if limits:
                    ax.set_ylim(*limits)
                else:  # 0: the fit ignores the corrupted targets
                    ax.axhline(0.0, color="0.6", lw=0.8, ls=":", zorder=0)
                    if li:
                        ax.sharey(axes[row, 0])
                ax.set_title(_title(context, level_name, level) if mi == 0 else "",
                             fontsize=10)
                ax.set_ylabel(ylabel if li == 0 else "")
                ax.set_xlabel("epoch" if row == axes.shape[0] - 1 else "")
                _epoch_ticks(ax)
    return _finish(fig, axes, "Memorisation of the corrupted training points "
                   f"({band_note(bands, n_losses)})")


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
            ax.set_title(_title(context, level_name, level), fontsize=10)
            ax.set_xlabel(label(metric, "final test ").replace("\n", " "))
            ax.set_ylabel("")
    return _finish(fig, axes, f"Final clean test {metric}: every run", legend=False)


def speed(times: pd.DataFrame, level_name: str, colors: dict, fraction: float,
          bands: bool, max_epoch: int, seconds: str | None = None) -> Figure | None:
    """Epochs to reach the target per loss: bars are the mean over the runs that got
    there, dots each run, whiskers the 95% t-interval of the mean clipped to
    [0, ``max_epoch``]; rows: data set (x seconds, when ``seconds`` names comparable
    seconds), columns: corruption level. A loss that never got there is labelled, not
    drawn."""
    if times.epochs.notna().sum() == 0:
        return None
    contexts = sorted(times.context.unique())
    ncols = max(len(_levels(times, c)) for c in contexts)
    order = sorted(times.loss_label.unique())
    quantities = [("epochs", "epochs to target", (0.0, float(max_epoch)))]
    if seconds:
        quantities.append(("seconds", seconds, (0.0, math.inf)))
    nq = len(quantities)
    fig, axes = plt.subplots(nq * len(contexts), ncols, squeeze=False, sharey=True,
                             sharex="row", figsize=(3.0 * ncols + 1.5,
                                                    (0.34 * len(order) + 1.1) * nq * len(contexts)
                                                    + 0.8))
    for ci, context in enumerate(contexts):
        for qi, (col, xlabel, bounds) in enumerate(quantities):
            for li, level in enumerate(_levels(times, context)):
                ax = axes[nq * ci + qi, li]
                sel = times[(times.context == context) & (times.level == level)]
                reached = sel.dropna(subset=[col])
                sns.barplot(reached, x=col, y="loss_label", hue="loss_label", order=order,
                            hue_order=order, palette=colors, alpha=0.55,
                            errorbar=interval(bounds) if bands else None, ax=ax,
                            legend=False, err_kws={"linewidth": 1.2, "color": "0.2"},
                            capsize=0.2)
                sns.stripplot(reached, x=col, y="loss_label", order=order, color="0.15",
                              size=3, jitter=0.12, ax=ax)
                _mark_unreached(ax, sel, order)
                ax.set_title(_title(context, level_name, level) if qi == 0 else "",
                             fontsize=10)
                ax.set_xlabel(xlabel)
                ax.set_ylabel("")
                if col == "epochs":
                    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
            if col == "epochs":  # room for the longest bar or whisker, within 0..max_epoch
                mine = times[times.context == context].dropna(subset=["epochs"])
                tops = [interval(bounds)(g.epochs.to_numpy())[1] if bands else g.epochs.max()
                        for _, g in mine.groupby(["level", "loss_label"])]
                top = min(float(max_epoch), 1.15 * max(tops, default=1.0) + 1)
                axes[nq * ci + qi, 0].set_xlim(0, max(top, 1.0))
    whisker = "whiskers: 95% t-interval of the mean, clipped to the possible range; " \
        if bands else ""
    return _finish(fig, axes, f"Speed: time to {fraction:.0%} of the way from the untrained "
                   f"model to the best final value (per seed); bars: mean over the runs "
                   f"that got there, {whisker}dots: runs", legend=False)


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
                    va="center", fontsize=8, color="0.3", zorder=5,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0})


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
    image.save(path, format="PNG", optimize=True)  # into the staging folder, published whole


def sensitivity(trials: pd.DataFrame, metric: str, colors: dict) -> Figure | None:
    """Final metric of every tuning trial against each tuned hyperparameter, per loss
    (a protocol's tune stage). ``trials``: setting, loss_label, param, x, split
    (``val`` / ``test``), value, selected, n_params. Rows: hyperparameter (x setting) x
    split, so the corrupted validation split (what selection saw) and the clean test
    split each get their own y scale; columns: losses; the selected candidate ringed. A
    loss that tunes one key gets lines; more keys: points only."""
    trials = trials.dropna(subset=["x", "value"])
    if trials.empty:
        return None
    several = trials.setting.nunique() > 1
    cells = {key: sorted(group.loss_label.unique())
             for key, group in trials.groupby(["param", "setting"], sort=True)}
    order = sorted(cells, key=lambda k: -len(cells[k]))  # the shared keys (optim.lr) first
    splits = (("val", "corrupted validation\n(selection) "), ("test", "clean test\n(not used) "))
    ncols = max(len(v) for v in cells.values())
    fig, axes = plt.subplots(2 * len(order), ncols, squeeze=False,
                             figsize=(CELL[0] * ncols, (CELL[1] + 0.1) * 2 * len(order)))
    for ri, (param, setting) in enumerate(order):
        for li, loss in enumerate(cells[(param, setting)]):
            sel = trials[(trials.param == param) & (trials.setting == setting)
                         & (trials.loss_label == loss)]
            line = sel.n_params.iloc[0] == 1
            color = colors.get(loss, "0.3")
            for si, (split, name) in enumerate(splits):
                ax = axes[2 * ri + si, li]
                part = sel[sel.split == split].sort_values("x")
                face = color if split == "val" else "white"
                ax.plot(part.x, part.value, ls=("-" if split == "val" else "--") if line
                        else "none", color=color, marker="o", mfc=face, mec=color, ms=6,
                        lw=1.2)
                chosen = part[part.selected]
                ax.plot(chosen.x, chosen.value, ls="none", marker="o", ms=14, mfc="none",
                        mec="black", mew=1.5)
                _maybe_log(ax, sel.x, "x")
                ax.margins(y=0.15)  # room for the ring around the selected point
                if si == 0:
                    ax.set_title(f"{loss}" + (f"\n{setting}" if several else ""), fontsize=10)
                ax.set_xlabel(param if si == 1 else "")
                ax.set_ylabel(label(metric, name) if li == 0 else "")
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
                   "each tuned hyperparameter (validation and test on separate rows)",
                   legend=False)
