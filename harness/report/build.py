"""Build a report folder from results tables: figures, statistics, summary files, page.

:func:`build` is what ``python -m harness.report`` runs. It reads the tables with
:mod:`harness.report.data`, computes with :mod:`~harness.report.stats`, draws with
:mod:`~harness.report.figures` and writes ``index.html``, ``summary.md``,
``summary.csv`` and one PNG per figure into the output folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.errors import HarnessError
from harness.report import data, figures, stats, tables
from harness.report.cd_diagram import cd_diagram
from harness.report.page import Page

FIGURE_KINDS = ("robustness", "convergence", "distribution", "ranking", "memorisation",
                "speed", "sensitivity")


@dataclass
class Report:
    out: Path
    figures: list[Path] = field(default_factory=list)
    runs: pd.Series | None = None  # count per status

    @property
    def index(self) -> Path:
        return self.out / "index.html"


def default_out(folder: str | Path) -> Path:
    """``<folder>/report`` (a run folder or a sweep folder)."""
    return Path(folder) / "report"


def build(folders: list[str | Path], out: str | Path | None = None, metric: str | None = None,
          fraction: float = 0.95, alpha: float = 0.05) -> Report:
    """Write the report of every run under ``folders`` to ``out`` and say what it wrote.

    A protocol folder (``python -m harness.protocol``, holding ``protocol.json``) gets the
    protocol report of :mod:`harness.report.protocol`, and must be given alone."""
    from harness.report import protocol

    if any(protocol.is_protocol(f) for f in folders):
        if len(folders) > 1:
            raise HarnessError("a protocol folder (one holding protocol.json) is reported "
                               "on its own; give it as the only FOLDER.")
        return protocol.build(folders[0], out, metric, fraction, alpha)
    res = data.load(folders)
    choice = data.metric_choice(res, metric)
    report = Report(Path(out) if out else default_out(folders[0]))
    report.out.mkdir(parents=True, exist_ok=True)
    _remove_old_figures(report.out)
    report.runs = res.runs.status.value_counts()
    colors = figures.palette(list(res.runs.loss_label))

    page = Page("Loss comparison report")
    summary = comparison(page, report, res, choice, colors, fraction, alpha,
                         "No completed run has a final test {}; nothing to compare.")
    write_outputs(report, page, {"summary.csv": summary})
    return report


def comparison(page: Page, report: Report, res: data.Results, choice: dict[str, list[str]],
               colors: dict, fraction: float, alpha: float, empty: str) -> pd.DataFrame:
    """The overview and one panel per compared metric; their ``summary.csv`` rows.
    ``empty`` is the note for a metric no completed run has (``{}``: the metric)."""
    _overview(page, res, choice)
    csv = []
    for name, tasks in choice.items():
        panel = data.panel(res, name, tasks)
        if panel.finals.empty:
            page.notes([empty.format(name)])
            continue
        csv.append(_panel(page, report, res, panel, colors, fraction, alpha, len(choice) > 1))
    return pd.concat(csv, ignore_index=True) if csv else pd.DataFrame()


def write_outputs(report: Report, page: Page, csvs: dict[str, pd.DataFrame]) -> None:
    """The tables, ``summary.md`` and ``index.html`` (last), each written atomically."""
    from harness.results import atomic_write

    for name, frame in csvs.items():
        atomic_write(report.out / name, lambda tmp, f=frame: f.to_csv(tmp, index=False))
    markdown, html = page.markdown(), page.html()
    atomic_write(report.out / "summary.md", lambda tmp: Path(tmp).write_text(markdown))
    atomic_write(report.index, lambda tmp: Path(tmp).write_text(html))


def _remove_old_figures(out: Path) -> None:
    """A rebuilt report must not keep a figure the new results no longer give."""
    for kind in FIGURE_KINDS:
        for old in out.glob(f"{kind}_*.png"):
            old.unlink()


def _overview(page: Page, res: data.Results, choice: dict[str, list[str]]) -> None:
    runs = res.runs
    counts = ", ".join(f"{n} {s}" for s, n in runs.status.value_counts().items())
    sources = ", ".join(str(s) for s in res.sources)
    seeds = res.completed.groupby(["setting", "loss_label"]).size()
    page.text(f"Results from {sources}: {_n(len(runs), 'run')} ({counts}); "
              f"{_n(runs.loss_label.nunique(), 'loss', 'losses')}, "
              f"{_n(runs.setting.nunique(), 'setting')} (data set x {res.level_name}), "
              f"{_span(seeds)} completed seed(s) per loss and setting. Metrics are on the "
              "clean test split; "
              + ", ".join(f"{m} for {', '.join(t)}" for m, t in choice.items()) + ".")
    notes = list(res.notes)
    compared = {t for tasks in choice.values() for t in tasks}
    left_out = sorted(set(res.completed.task.dropna()) - compared)
    if left_out:
        notes.append(f"Runs on {', '.join(left_out)} data have no test "
                     f"{', '.join(choice)}: they are counted below but not compared.")
    if res.context_keys:
        notes.append("Settings also differ in " + ", ".join(res.context_keys)
                     + "; each value is a setting of its own.")
    if seeds.max() < 2:
        notes.append("Only one seed per loss and setting: figures show single runs without "
                     "bands, tables show no standard deviation, and no paired test is "
                     "possible. Add seeds (seed=0,1,2) for intervals and tests.")
    if runs.loss_label.nunique() == 1:
        notes.append("A single loss: nothing to rank or compare; the figures describe it "
                     "alone.")
    bad = runs[runs.status != "completed"]
    if len(bad):
        notes.append(f"{len(bad)} run(s) did not complete ({', '.join(bad.status.unique())}):"
                     " they are listed below and left out of every figure and statistic.")
    page.notes(notes)
    page.heading("Runs", "runs")
    page.table(tables.status_table(runs))
    page.table(tables.problem_table(runs))


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _span(counts: pd.Series) -> str:
    lo, hi = int(counts.min()), int(counts.max())
    return str(lo) if lo == hi else f"{lo} to {hi}"


def _panel(page: Page, report: Report, res: data.Results, panel: data.Panel, colors: dict,
           fraction: float, alpha: float, several: bool) -> pd.DataFrame:
    m, higher, finals = panel.metric, panel.higher, panel.finals
    bands = finals.groupby(["setting", "loss_label"]).size().max() >= 2
    lname = panel.level_name
    suffix = f" ({', '.join(panel.tasks)})" if several else ""
    page.heading(f"Clean test {m}{suffix}", f"panel-{m}")
    desc = stats.describe(finals, higher)
    runs = res.runs[res.runs.task.isin(panel.tasks) | res.runs.task.isna()]
    page.table(tables.mean_table(desc, runs, m, higher, lname))

    def add(kind: str, fig, caption: str) -> None:
        if fig is None:
            return
        path = report.out / f"{kind}_{m}.png"
        figures.save(fig, path)
        report.figures.append(path)
        page.figure(path.name, caption)

    auc = stats.auc_table(finals, higher)
    add("robustness", figures.robustness(finals, m, lname, colors, bands),
        f"Final clean test {m} against {lname}, one line per loss"
        + (" (mean and 95% t-interval over seeds)." if bands else " (one seed)."))
    page.table(tables.auc_table(auc, m, higher, lname))
    add("convergence", figures.convergence(panel.curves, m, lname, colors, bands),
        f"Clean test and validation {m} and the training objective (on the training "
        "targets, corrupted ones included) against epoch; epoch 0 is the untrained model. "
        "Objectives of different losses are on different scales.")
    add("distribution", figures.distribution(finals, m, lname, colors),
        f"Final clean test {m} of every completed run (one dot per seed) per loss and "
        "setting, each panel on its own scale (logarithmic where values span more than a "
        "factor of 10)" + ("; boxes span min to max with the median." if
                     finals.groupby(["setting", "loss_label"]).size().max() >= 3 else "."))
    ranking = _ranking(page, report, finals, higher, colors, alpha, add)
    paired = stats.paired_vs_best(finals, higher, alpha)
    if finals.loss_label.nunique() > 1:
        page.table(tables.paired_table(paired, m, alpha))
    add("memorisation", figures.memorisation(panel.curves, lname, colors, bands),
        "Among the corrupted training points: the fraction the model fits to the corrupted "
        "target (memorised; lower is better) and, where logged, the fraction it still fits "
        "to the clean target (higher is better), against epoch.")
    times = stats.time_to_target(panel.curves, finals, m, higher, fraction)
    speed = stats.speed_summary(times)
    add("speed", figures.speed(times, lname, colors, fraction, bands),
        f"Epochs and training seconds (the elapsed_s metric) until the clean test {m} first "
        f"gets {fraction:.0%} of the way from the untrained model (epoch 0) to the best final "
        "value of any loss with the same seed; runs that never get there are not drawn "
        "(see the table).")
    page.table(tables.speed_table(speed, lname, fraction))
    return _csv(m, desc, runs, paired, ranking, auc, speed)


def _ranking(page: Page, report: Report, finals: pd.DataFrame, higher: bool, colors: dict,
             alpha: float, add) -> pd.DataFrame:
    """Average ranks, Friedman's test and the CD diagram; returns the per-setting ranks."""
    scores, dropped = stats.rank_table(finals)
    k, n = scores.shape[1], scores.shape[0]
    if k < 2 or n < 1:
        page.text("Ranking: needs at least two losses with results in a common setting.")
        return pd.DataFrame()
    avg = stats.average_ranks(scores, higher)
    page.table(tables.rank_table(avg, scores, dropped))
    test = stats.friedman(scores)
    if isinstance(test, stats.Friedman):
        verdict = "reject" if test.p < alpha else "do not reject"
        page.text(f"Friedman test over {test.n} settings and {test.k} losses: chi-square = "
                  f"{test.statistic:.3g}, p = {tables.pval(test.p)}; at alpha = {alpha:g} we "
                  f"{verdict} that all losses rank equally.")
    else:
        page.text(f"Friedman test not run: {test}")
    if n >= 2:
        cd = stats.nemenyi_cd(k, n, alpha)
        cliques = stats.cd_cliques(avg, cd)
        caption = (f"Critical-difference diagram: average rank over {n} settings (1 = best). "
                   f"Losses joined by a bar differ by less than the Nemenyi critical "
                   f"difference CD = {cd:.2f} (alpha = {alpha:g}) and cannot be told apart.")
        if isinstance(test, stats.Friedman) and test.p >= alpha:
            caption += " Friedman's test did not reject equality, so read the bars as " \
                       "descriptive only."
        add("ranking", cd_diagram(avg, cd, cliques, n, colors, alpha), caption)
    return stats.ranks(scores, higher)


def _csv(metric: str, desc: pd.DataFrame, runs: pd.DataFrame, paired: pd.DataFrame,
         ranking: pd.DataFrame, auc: pd.DataFrame, speed: pd.DataFrame) -> pd.DataFrame:
    """One row per setting and loss with every number the report shows about it."""
    out = desc.copy()
    out.insert(0, "metric", metric)
    status = runs.groupby(["setting", "loss_label", "status"]).size().unstack(fill_value=0)
    for s in tables.STATUSES:
        col = status[s] if s in status else pd.Series(0, index=status.index)
        out[f"runs_{s}"] = [int(col.get((a, b), 0)) for a, b in
                            zip(out.setting, out.loss_label, strict=True)]
    if len(ranking):
        long = ranking.stack().rename("rank").reset_index()
        out = out.merge(long, on=["setting", "loss_label"], how="left")
    p = paired.rename(columns={"loss": "loss_label", "p": "p_vs_best",
                               "p_holm": "p_vs_best_holm", "n": "n_pairs",
                               "mean_diff": "diff_vs_best", "note": "test_note"})
    out = out.merge(p[["setting", "loss_label", "n_pairs", "diff_vs_best", "p_vs_best",
                       "p_vs_best_holm", "test_note"]], on=["setting", "loss_label"],
                    how="left")
    a = auc.rename(columns={"loss": "loss_label", "auc": "robustness_auc"})
    out = out.merge(a[["context", "loss_label", "robustness_auc"]],
                    on=["context", "loss_label"], how="left")
    s = speed.rename(columns={"epochs": "epochs_to_target", "seconds": "seconds_to_target",
                              "reached": "reached_target"})
    out = out.merge(s[["setting", "loss_label", "reached_target", "epochs_to_target",
                       "seconds_to_target"]], on=["setting", "loss_label"], how="left")
    return out.rename(columns={"loss_label": "loss"})
