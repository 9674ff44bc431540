"""Put a report together: read, compute, draw, then publish the folder whole.

:func:`build` is what ``python -m harness.report`` runs (and what
:func:`harness.report.build` calls). It reads the tables with
:mod:`harness.report.data`, writes the page's sections with
:mod:`harness.report.sections` into a staging folder and publishes it over the target
(:mod:`harness.report.output`): ``index.html``, ``summary.md``, ``summary.csv``,
``summary.tex`` and one PNG per figure.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.errors import HarnessError
from harness.report import data, figures, output, sections, tables
from harness.report.output import Report
from harness.report.page import Page


def build(folders: list[str | Path], out: str | Path | None = None, metric: str | None = None,
          fraction: float = 0.95, alpha: float = 0.05, embed: bool = False) -> Report:
    """Write the report of every run under ``folders`` to ``out`` (default
    ``<first folder>/report``) and return what it wrote.

    ``metric``: the clean test metric compared (default: rmse for regression, accuracy for
    classification); ``fraction``: the speed target; ``alpha``: the tests' level;
    ``embed``: inline the figures in ``index.html``. A protocol folder (holding
    ``protocol.json``) gets the protocol report of :mod:`harness.report.protocol` and must
    be given alone. Raises :class:`~harness.errors.HarnessError` (one line) for input that
    cannot make a report, :class:`OSError` when the target cannot be written; the
    earlier report at ``out`` stays whole either way."""
    from harness.report import protocol

    if any(protocol.is_protocol(f) for f in folders):
        if len(folders) > 1:
            raise HarnessError("a protocol folder (one holding protocol.json) is reported "
                               "on its own; give it as the only FOLDER.")
        return protocol.build(folders[0], out, metric, fraction, alpha, embed)
    return build_plain(folders, out, metric, fraction, alpha, embed)


def build_plain(folders: list[str | Path], out: str | Path | None, metric: str | None,
                fraction: float, alpha: float, embed: bool) -> Report:
    """The comparison report of plain run or sweep folders (see :func:`build`)."""
    res = data.load(folders)
    choice = data.metric_choice(res, metric)
    report = Report(Path(out) if out else output.default_out(folders[0]))
    report.runs = res.runs.status.value_counts()
    colors = figures.palette(list(res.runs.loss_label))
    with output.staging(report):
        page = Page("Loss comparison report")
        summary, latex = comparison(page, report, res, choice, colors, fraction, alpha,
                                    "No completed run has a final test {}; nothing to "
                                    "compare.")
        write_outputs(report, page, {"summary.csv": summary}, latex, embed)
    return report


def comparison(page: Page, report: Report, res: data.Results, choice: dict[str, list[str]],
               colors: dict, fraction: float, alpha: float,
               empty: str) -> tuple[pd.DataFrame, list[tables.Table]]:
    """The overview and one panel per compared metric: their ``summary.csv`` rows and the
    tables for ``summary.tex``. ``empty`` is the note for a metric no completed run has
    (``{}``: the metric)."""
    sections.overview(page, res, choice)
    csv, latex = [], []
    for name, tasks in choice.items():
        panel = data.panel(res, name, tasks)
        if panel.finals.empty:
            page.notes([empty.format(name)])
            continue
        rows, tex = sections.panel(page, report, res, panel, colors, fraction, alpha,
                                   len(choice) > 1)
        csv.append(rows)
        latex += tex
    return (pd.concat(csv, ignore_index=True) if csv else pd.DataFrame()), latex


def write_outputs(report: Report, page: Page, csvs: dict[str, pd.DataFrame],
                  latex: list[tables.Table], embed: bool) -> None:
    """The tables, ``summary.tex``, ``summary.md`` and ``index.html`` into the staging
    folder."""
    for name, frame in csvs.items():
        output.write_csv(report, name, frame)
    tex = ["% loss harness report tables; needs \\usepackage{booktabs}", ""]
    tex += [t.latex(f"tab:{_label(t.title)}") for t in latex]
    output.write_text(report, "summary.tex", "\n".join(tex))
    output.write_text(report, "summary.md", page.markdown())
    output.write_text(report, "index.html", page.html(report.folder if embed else None))


def _label(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")
