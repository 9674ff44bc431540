"""Comparison reports: ``python -m harness.report <folder> [<folder> ...] [--out DIR]``.

Reads results tables only (:func:`harness.results.summaries` and
:func:`harness.results.load`; it never trains) and writes a folder with ``index.html``,
one PNG per figure, ``summary.csv``, ``summary.md`` and ``summary.tex``. Modules:

- :mod:`~harness.report.data`: load folders, label runs with loss, setting and level;
- :mod:`~harness.report.stats`: means and intervals, paired Wilcoxon tests, ranks over
  independent blocks, Friedman, Nemenyi, AUC, time to target;
- :mod:`~harness.report.kinds`: the figure kinds, declared once;
- :mod:`~harness.report.sections`: the page's sections, one per figure kind;
- :mod:`~harness.report.figures` and :mod:`~harness.report.cd_diagram`: the figures;
- :mod:`~harness.report.tables` and :mod:`~harness.report.page`: tables and the page;
- :mod:`~harness.report.output`: the report folder, replaced whole;
- :mod:`~harness.report.assemble`: puts them together; :mod:`~harness.report.protocol`:
  the report of a protocol folder.

This package imports nothing heavy, so ``python -m harness.report --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.report.output import Report

__all__ = ["build"]


def build(folders: list[str | Path], out: str | Path | None = None, metric: str | None = None,
          fraction: float = 0.95, alpha: float = 0.05, embed: bool = False) -> Report:
    """The report of every run under ``folders``: see :func:`harness.report.assemble.build`
    (imported here on first use: pandas, seaborn and scipy only when a report is made)."""
    from harness.report.assemble import build as build_report

    return build_report(folders, out, metric, fraction, alpha, embed)
