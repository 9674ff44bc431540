"""Comparison reports: ``python -m harness.report <folder> [<folder> ...] [--out DIR]``.

Reads results tables only (:func:`harness.results.summaries` and
:func:`harness.results.load`; it never trains) and writes a folder with ``index.html``,
one PNG per figure, ``summary.csv`` and ``summary.md``. Modules:

- :mod:`~harness.report.data`: load folders, label runs with loss, setting and level;
- :mod:`~harness.report.stats`: mean/std/intervals, Wilcoxon, ranks, Friedman, Nemenyi,
  AUC, time to target;
- :mod:`~harness.report.figures` and :mod:`~harness.report.cd_diagram`: the figures;
- :mod:`~harness.report.tables` and :mod:`~harness.report.page`: tables and the page;
- :mod:`~harness.report.build`: puts them together (:func:`build`).
"""

from harness.report.build import Report, build

__all__ = ["Report", "build"]
