"""Critical-difference diagrams (Demsar 2006), drawn with plain matplotlib.

The losses sit on an axis of average rank (1 = best, on the left). The better half is
labelled on the left, the rest on the right. A thick bar joins losses that the Nemenyi
post-hoc test did not separate at alpha (their average ranks differ by less than the
critical difference, CD); that is no evidence they are equal. The CD itself is drawn as
a scale bar above the axis. Draw one only where the test could separate something:
after Friedman's test rejected, with CD smaller than the largest possible rank
difference (see :class:`harness.report.stats.RankTest`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure


def _height(k: int, n_cliques: int) -> float:
    return 1.2 + 0.33 * (max((k + 1) // 2, k - (k + 1) // 2) + n_cliques)


def cd_diagram(avg_ranks: pd.Series, cd: float, cliques: list[list[str]], n_blocks: int,
               colors: dict[str, tuple] | None = None, alpha: float = 0.05,
               unit: str = "blocks", title: str = "") -> Figure:
    """One diagram. ``avg_ranks``: loss -> average rank over ``n_blocks`` blocks (named
    ``unit``); ``cliques``: groups the post-hoc test did not separate."""
    return cd_diagrams([(title, avg_ranks, cd, cliques, n_blocks, unit)], colors, alpha)


def cd_diagrams(diagrams: list[tuple[str, pd.Series, float, list[list[str]], int, str]],
                colors: dict[str, tuple] | None = None, alpha: float = 0.05) -> Figure:
    """Several diagrams stacked in one figure: each (title, average ranks, CD, cliques,
    number of blocks, what a block is)."""
    heights = [_height(len(d[1]), len(d[3])) + (0.35 if d[0] else 0) for d in diagrams]
    fig, axes = plt.subplots(len(diagrams), 1, figsize=(9.0, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (title, avg, cd, groups, n, unit) in zip(axes[:, 0], diagrams, strict=True):
        _draw(ax, avg, cd, groups, n, unit, colors or {}, alpha)
        if title:
            ax.set_title(title, fontsize=10, loc="left")
    fig.subplots_adjust(left=0.2, right=0.8, top=0.97, bottom=0.02, hspace=0.25)
    return fig


def _draw(ax, avg_ranks: pd.Series, cd: float, cliques: list[list[str]], n: int,
          unit: str, colors: dict, alpha: float) -> None:
    r = avg_ranks.sort_values()
    k = len(r)
    lo, hi = 1, max(k, 2)
    half = (k + 1) // 2
    left, right = list(r.index[:half]), list(r.index[half:])
    line_h = 0.32  # vertical spacing of labels, in data units
    label_rows = max(len(left), len(right))
    ax.set_xlim(lo - 0.9, hi + 0.9)
    ax.axis("off")

    # the rank axis with integer ticks, labels above
    ax.plot([lo, hi], [0, 0], color="black", lw=1.2)
    for t in range(lo, hi + 1):
        ax.plot([t, t], [0, 0.08], color="black", lw=1.2)
        ax.text(t, 0.14, str(t), ha="center", va="bottom", fontsize=10)
    ax.text(hi + 0.25, 0.0, "average rank\n(1 = best)", ha="left", va="center",
            fontsize=9, color="0.35")
    if cd > 0:  # the CD scale bar at the top left
        ax.plot([lo, lo + cd], [0.7, 0.7], color="black", lw=1.5)
        for x in (lo, lo + cd):
            ax.plot([x, x], [0.64, 0.76], color="black", lw=1.5)
        ax.text(lo + cd + 0.08, 0.7, f"CD = {cd:.2f} (Nemenyi, \u03b1 = {alpha:g}, "
                f"{n} {unit})", va="center", fontsize=9)

    # cliques: thick bars just under the axis
    clique_y = []
    for i, group in enumerate(cliques):
        y = -0.18 - 0.16 * i
        clique_y.append(y)
        ax.plot([r[group[0]] - 0.03, r[group[-1]] + 0.03], [y, y], color="0.25", lw=4,
                solid_capstyle="round")
    start = min(clique_y, default=-0.1) - 0.3

    # elbows from each loss's rank down to its label
    for side, names in (("left", left), ("right", right)):
        for i, name in enumerate(names if side == "left" else reversed(names)):
            y = start - line_h * i
            x_end = lo - 0.15 if side == "left" else hi + 0.15
            color = colors.get(name, "black")
            ax.plot([r[name], r[name], x_end], [0, y, y], color=color, lw=1.3)
            ax.plot([r[name]], [0], marker="o", color=color, ms=4)
            ax.text(x_end + (-0.05 if side == "left" else 0.05), y,
                    f"{name} ({r[name]:.2f})", ha="right" if side == "left" else "left",
                    va="center", fontsize=10)
    ax.set_ylim(start - line_h * (label_rows - 1) - 0.25, 1.0)
