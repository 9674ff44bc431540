"""The comparison part of a report page: the overview, then one panel per compared
metric: the table of final values and one section per figure kind of
:mod:`harness.report.kinds` (the figure, its caption and the tables that go with it).

Each section function takes the panel's :class:`Context`, adds its blocks to the page
and its numbers to ``ctx.csv`` (merged into ``summary.csv``); it draws nothing when the
results do not hold what it needs. The statements each section makes follow what its
test could show: see :mod:`harness.report.stats`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.report import data, figures, kinds, stats, tables
from harness.report.cd_diagram import cd_diagrams
from harness.report.output import Report
from harness.report.page import Page


@dataclass
class Context:
    """One panel: the runs compared on one metric, and what the sections share."""

    page: Page
    report: Report
    res: data.Results
    panel: data.Panel
    colors: dict
    fraction: float
    alpha: float
    several: bool  # more than one compared metric on the page
    finals: pd.DataFrame = field(init=False)  # every completed run's final value
    unique: pd.DataFrame = field(init=False)  # the same, each identical setting once
    repeats: dict[str, str] = field(init=False)  # setting -> the setting it repeats
    bands: bool = field(init=False)
    csv: dict[str, pd.DataFrame] = field(default_factory=dict)
    latex: list[tables.Table] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.finals = self.panel.finals
        self.repeats = stats.identical_settings(self.finals)
        self.unique = self.finals[~self.finals.setting.isin(self.repeats)]
        self.bands = self.finals.groupby(["setting", "loss_label"]).size().max() >= 2

    @property
    def metric(self) -> str:
        return self.panel.metric

    @property
    def higher(self) -> bool:
        return self.panel.higher

    @property
    def level_name(self) -> str:
        return self.panel.level_name

    @property
    def bounds(self) -> tuple[float, float]:
        return stats.BOUNDS.get(self.metric, (-math.inf, math.inf))

    def add_figure(self, kind: str, fig, caption: str) -> None:
        if fig is None:
            return
        name = f"{kind}_{self.metric}.png"
        figures.save(fig, self.report.folder / name)
        self.report.names.append(name)
        self.page.figure(name, caption)


# ---------------------------------------------------------------- overview
def overview(page: Page, res: data.Results, choice: dict[str, list[str]]) -> None:
    """What was read: counts, settings, what was left out and why; the runs by status."""
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
                     + "; each value is a setting of its own (a key a run's config lacks "
                       "shows as -).")
    if seeds.max() < 2:
        notes.append("Only one seed per loss and setting: figures show single runs without "
                     "bands, tables show no standard deviation, and no paired test is "
                     "possible. Add seeds (seed=0,1,2) for intervals and tests.")
    if runs.loss_label.nunique() == 1:
        notes.append("A single loss: nothing to rank or compare; the figures describe it "
                     "alone.")
    notes += _time_notes(res.completed)
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


# ---------------------------------------------------------------- time
def stacked(runs: pd.DataFrame) -> pd.Series:
    """Whether each run was trained in a stack of several (``hydra/launcher=vectorized``)."""
    members = pd.to_numeric(runs.get("stacked_members", pd.Series(np.nan, index=runs.index)),
                            errors="coerce")
    return members.fillna(1) > 1


def time_share(runs: pd.DataFrame) -> pd.Series:
    """run_id -> the factor that turns its recorded ``elapsed_s`` into its own training
    time: 1 for a run trained alone, and for a stacked run that records
    ``stack_train_time_s`` (its rows already hold its share of the stack's time); for a
    stacked run of an older harness, whose rows hold the whole stack's time, 1 / members."""
    members = pd.to_numeric(runs.get("stacked_members", pd.Series(np.nan, index=runs.index)),
                            errors="coerce").fillna(1).clip(lower=1)
    share = 1.0 / members
    if "stack_train_time_s" in runs:
        own = pd.to_numeric(runs["stack_train_time_s"], errors="coerce").notna()
        share = share.where(~own, 1.0)
    return pd.Series(share.to_numpy(), index=runs.run_id)


def seconds_label(runs: pd.DataFrame) -> str | None:
    """How the speed section may show seconds for ``runs``, or None when they do not
    compare (some runs trained alone, some stacked)."""
    kind = stacked(runs)
    if kind.all():
        return "seconds (each run's share of its stack's time)"
    if not kind.any():
        return "training seconds"
    return None


def _time_notes(done: pd.DataFrame) -> list[str]:
    kind = stacked(done)
    if kind.all():
        return ["Every run was trained stacked with others (hydra/launcher=vectorized), "
                "whose clock is the whole stack's: seconds on this page are each run's share "
                "(the stack's training time split by the work, here equally among its "
                "members) and do not compare with the seconds of runs trained alone. "
                "Epochs are the comparable unit of speed."]
    if kind.any():
        return [f"{int(kind.sum())} of {len(done)} completed runs were trained stacked "
                "(hydra/launcher=vectorized) and the others alone: their training seconds "
                "are not comparable (a stack's clock is shared by its members), so speed is "
                "shown in epochs only."]
    return ["Training seconds are wall-clock time on the machine that ran each job and move "
            "with its load; epochs are the comparable unit of speed."]


# ---------------------------------------------------------------- panel
def panel(page: Page, report: Report, res: data.Results, panel_: data.Panel, colors: dict,
          fraction: float, alpha: float, several: bool
          ) -> tuple[pd.DataFrame, list[tables.Table]]:
    """The panel of one compared metric; returns its ``summary.csv`` rows and its tables
    for ``summary.tex``."""
    ctx = Context(page, report, res, panel_, colors, fraction, alpha, several)
    m = ctx.metric
    suffix = f" ({', '.join(panel_.tasks)})" if several else ""
    page.heading(f"Clean test {m}{suffix}", f"panel-{m}")
    desc = stats.describe(ctx.unique, ctx.higher, ctx.bounds)
    runs = res.runs[(res.runs.task.isin(panel_.tasks) | res.runs.task.isna())
                    & ~res.runs.setting.isin(ctx.repeats)]
    mean = tables.mean_table(desc, runs, m, ctx.higher, ctx.level_name)
    page.table(mean)
    ctx.latex.append(mean)
    if ctx.repeats:
        page.notes([f"{a} holds the same runs' results as {b} (same losses, seeds and final "
                    "values: one experiment reached by two configs); it is shown and tested "
                    "once, as the latter." for a, b in ctx.repeats.items()])
    ctx.csv["describe"] = desc
    ctx.csv["runs"] = runs
    for kind in kinds.of_scope("comparison"):
        kind.function()(ctx)
    return _csv(ctx), ctx.latex


# ---------------------------------------------------------------- sections, one per kind
def robustness(ctx: Context) -> None:
    m, lname = ctx.metric, ctx.level_name
    auc = stats.auc_table(ctx.finals, ctx.higher)
    ctx.csv["auc"] = auc
    n_losses = ctx.finals.loss_label.nunique()
    multiples = n_losses > figures.MAX_BANDS
    n = ctx.finals.groupby(["setting", "loss_label"]).size()
    band = (f"mean and 95% t-interval of the mean over n = {_span(n)} seeds, clipped to the "
            "metric's range" if ctx.bands else "one seed: single runs")
    ctx.add_figure("robustness", figures.robustness(ctx.finals, m, lname, ctx.colors,
                                                    ctx.bands),
                   f"Final clean test {m} against {lname}"
                   + (f": one panel per loss ({band}), the other losses' means in grey, one "
                      "y scale per data set." if multiples else f", one line per loss ({band})."))
    ctx.page.table(tables.auc_table(auc, m, ctx.higher, lname))


def convergence(ctx: Context) -> None:
    m = ctx.metric
    n_losses = ctx.finals.loss_label.nunique()
    ctx.add_figure("convergence", figures.convergence(ctx.panel.curves, m, ctx.level_name,
                                                      ctx.colors, ctx.bands),
                   f"Clean test {m}, clean validation {m} (the validation split without "
                   "corruption) and the training objective (on the training targets, "
                   "corrupted ones included) against epoch; epoch 0 is the untrained model; "
                   f"{figures.band_note(ctx.bands, n_losses)}. Test and validation share a "
                   "y scale along each row; each objective panel has its own (objectives of "
                   "different losses and corruption levels are on different scales).")


def distribution(ctx: Context) -> None:
    m, finals = ctx.metric, ctx.finals
    boxes = finals.groupby(["setting", "loss_label"]).size().max() >= 3
    ctx.add_figure("distribution", figures.distribution(finals, m, ctx.level_name,
                                                        ctx.colors),
                   f"Final clean test {m} of every completed run (one dot per seed) per loss "
                   "and setting, each panel on its own scale (logarithmic where values span "
                   "more than a factor of 10)"
                   + ("; boxes span min to max with the median." if boxes else "."))


def ranking(ctx: Context) -> None:
    """Ranks over independent blocks (Friedman across data sets), the repeated-measures
    view within each data set (seeds as blocks, each seed's robustness AUC), and the
    per-setting paired Wilcoxon tests."""
    page, m, alpha, finals = ctx.page, ctx.metric, ctx.alpha, ctx.finals
    page.heading(f"Ranking and tests ({m})", f"ranking-{m}")
    losses = finals.loss_label.nunique()
    if losses < 2:
        page.text("Ranking: needs at least two losses with results in a common setting.")
        return
    blocks, dropped = stats.block_scores(finals)
    data_sets = finals.drop_duplicates("context")
    n_data = res_data_sets(ctx.res, finals)
    page.text(
        "What the tests assume. The unit of a ranking test is an independent block: here a "
        "block is a data set" + (f" with its {', '.join(ctx.res.context_keys)}"
                                 if ctx.res.context_keys else "")
        + f" ({_n(len(data_sets), 'block')} from {_n(n_data, 'data set')}). The "
        f"{ctx.level_name}s of one block are repeated measures (the same data and seeds at "
        "increasing corruption), not independent data sets, so they are never ranked as "
        "blocks of their own: each block is summarised by its robustness AUC over its "
        "levels (one number per loss, or per loss and seed), or by its one level's value."
        + (" Blocks that share a data set share its draws and seeds, so they are not "
           "fully independent either." if len(data_sets) > n_data else ""))
    rows = []
    # across blocks
    diagrams = []
    if len(blocks) >= 2:
        what = _what(finals)
        page.table(tables.block_rank_table(blocks, ctx.higher, what, m, "blocks",
                                           "Ranks across blocks", dropped))
        test = stats.rank_test(blocks, ctx.higher, alpha, "blocks")
        page.text("Across blocks: " + _verdict(test, alpha, "blocks"))
        if test.diagram:
            diagrams.append(("Across blocks", test, "blocks"))
        rows.append(("across blocks", test))
    else:
        page.text(f"Across data sets: one block ({', '.join(blocks.index) or '-'}), so no "
                  "test across data sets is possible; the tests below use its seeds.")
    # within each block: seeds as blocks
    for context, group in finals.groupby("context", sort=True):
        scores, what, levels = stats.seed_scores(group)
        if group.loss_label.nunique() < 2:
            continue
        title = f"Within {context}: seeds as blocks"
        if len(scores) < 2:
            page.text(f"{title}: {_n(len(scores), 'complete seed')} (every loss at every "
                      "level); a repeated-measures test needs at least 2. Add seeds "
                      "(seed=0,1,2,...) to test.")
            continue
        page.table(tables.block_rank_table(scores, ctx.higher, what, m, "seeds", title))
        test = stats.rank_test(scores, ctx.higher, alpha, "seeds")
        lv = (f" over {ctx.level_name} {', '.join(f'{v:g}' for v in levels)}"
              if len(levels) >= 2 else "")
        page.text(f"{title} (each seed's {what}{lv}; a seed fixes the data draw, the "
                  "corruption and the initialisation for every loss, so seeds are "
                  "independent replicates and the losses are compared within each; the "
                  f"result speaks for this data set only): " + _verdict(test, alpha, "seeds"))
        if test.diagram:
            diagrams.append((title, test, "seeds"))
        rows.append((context, test))
    within = [r for r in rows if r[0] != "across blocks" and r[1].test]
    if len(within) > 1:
        page.text(f"The {len(within)} within-block tests are each at alpha = {alpha:g} on "
                  "their own (not adjusted for multiplicity); blocks of one data set share "
                  "its seeds.")
    if diagrams:
        fig = cd_diagrams([(t, test.avg_ranks, test.cd, test.cliques, test.n, unit)
                           for t, test, unit in diagrams], ctx.colors, alpha)
        ctx.add_figure("ranking", fig,
                       "Critical-difference diagrams (Demsar 2006), drawn only where "
                       "Friedman's test rejected equal ranks: average rank (1 = best) over "
                       "the blocks named above each; a bar joins losses the Nemenyi post-hoc "
                       f"test (scikit-posthocs) did not separate at alpha = {alpha:g}, i.e. "
                       "average ranks closer than the critical difference CD; that is no "
                       "evidence that they are equal.")
    ctx.csv["tests"] = pd.DataFrame(
        [{"scope": where, "test": t.test or "not run", "blocks": t.n, "losses": t.k,
          "statistic": t.statistic, "p": t.p, "min_p": t.min_p, "cd": t.cd,
          "reason": t.reason} for where, t in rows])
    ctx.csv["block_ranks"] = _block_ranks(blocks, ctx.higher)
    _paired(ctx)


def res_data_sets(res: data.Results, finals: pd.DataFrame) -> int:
    """How many distinct data sets the compared runs use."""
    runs = res.runs[res.runs.run_id.isin(finals.run_id)]
    return int(data.text(runs["data"]).nunique()) if "data" in runs else 1


def _what(finals: pd.DataFrame) -> str:
    levels = finals.groupby("context")["level"].nunique()
    if (levels >= 2).all():
        return "robustness AUC"
    return "final value" if (levels == 1).all() else "robustness AUC (or the one level's value)"


def _verdict(test: stats.RankTest, alpha: float, unit: str) -> str:
    """One sentence on what the ranking test showed, and no more."""
    if not test.test:
        return f"no test: {test.reason}"
    p = tables.pval(test.p)
    if test.test.startswith("Wilcoxon"):
        first, second = list(test.avg_ranks.index)
        head = (f"two losses, so the two-sided Wilcoxon signed-rank test over {test.n} "
                f"{unit} (W = {test.statistic:.3g}, p = {p})")
        return head + (f": at alpha = {alpha:g}, {first} ranks better than {second}."
                       if test.rejected else f": at alpha = {alpha:g} it does not reject "
                       "that both rank equally (which does not show they are equal).")
    head = (f"Friedman's test over {test.n} {unit} and {test.k} losses, chi-square = "
            f"{test.statistic:.3g}, p = {p}")
    if not test.rejected:
        return (head + f": at alpha = {alpha:g} it does not reject that all losses rank "
                "equally; no post-hoc test was run and the average ranks are descriptive "
                "only (which does not show the losses are equal).")
    out = head + f": at alpha = {alpha:g} it rejects that all losses rank equally. "
    if not test.diagram:
        return out + (f"Nemenyi's critical difference CD = {test.cd:.3g} is not smaller than "
                      f"the largest possible difference of average ranks ({test.k - 1}), so "
                      "the post-hoc test can separate no pair here; no diagram.")
    apart = [(a, b) for i, a in enumerate(test.avg_ranks.index)
             for b in list(test.avg_ranks.index)[i + 1:]
             if test.posthoc.at[a, b] < alpha]
    if not apart:
        return out + (f"Yet the Nemenyi post-hoc test (CD = {test.cd:.3g}) separates no pair "
                      "at this alpha.")
    shown = "; ".join(f"{a} better than {b}" for a, b in apart[:8])
    more = f" (and {len(apart) - 8} more pairs)" if len(apart) > 8 else ""
    return out + (f"The Nemenyi post-hoc test (CD = {test.cd:.3g}) separates {len(apart)} "
                  f"pair(s): {shown}{more}.")


def _block_ranks(blocks: pd.DataFrame, higher: bool) -> pd.DataFrame:
    if blocks.empty:
        return pd.DataFrame(columns=["context", "loss_label", "block_score", "block_rank"])
    r = stats.ranks(blocks, higher)
    return (blocks.stack().rename("block_score").to_frame()
            .join(r.stack().rename("block_rank")).reset_index()
            .rename(columns={"level_1": "loss_label"}))


def _paired(ctx: Context) -> None:
    finals = ctx.unique
    seeds = finals.groupby(["setting", "loss_label"]).size().max()
    if seeds < 2:
        ctx.page.text("No paired comparisons: one seed per loss and setting. The Wilcoxon "
                      "signed-rank test pairs the losses seed by seed and needs at least 2 "
                      f"seeds ({stats.wilcoxon_min_n(ctx.alpha)} for p < {ctx.alpha:g} to be "
                      "possible).")
        ctx.csv["paired"] = stats.paired_vs_best(finals.iloc[:0], ctx.higher, ctx.alpha)
        return
    paired = stats.paired_vs_best(finals, ctx.higher, ctx.alpha)
    ctx.csv["paired"] = paired
    need = stats.wilcoxon_min_n(ctx.alpha)
    if len(paired) and (paired.n < need).all():
        most = int(paired.n.max())
        ctx.page.text(f"No per-setting paired comparisons shown: with at most {most} paired "
                      f"seed(s) the two-sided Wilcoxon signed-rank test's smallest p is "
                      f"{stats.min_wilcoxon_p(most):.3g} > alpha = {ctx.alpha:g}, so it could "
                      f"not separate any pair in a setting; it needs {need} seeds. The "
                      "within-data-set test above pools the settings through each seed's "
                      "summary instead. (The p-values are in summary.csv.)")
        return
    ctx.page.table(tables.paired_table(paired, ctx.metric, ctx.alpha))


MEMO_TEXT = {
    "regression": "pull (top row): for each corrupted training point, where the prediction "
                  "sits on the way from its clean target (0) to its corrupted target (1), "
                  "(prediction - clean) / (corrupted - clean), averaged over the corrupted "
                  "points: 0 = the fit ignores the outliers, 1 = it fits them (below 0 or "
                  "above 1 it errs past either end); it moves as soon as the outliers bend "
                  "the fit. memorised: the fraction of corrupted points predicted nearer "
                  "their corrupted than their clean target; with gross outliers it stays "
                  "near 0 until a fit has moved more than half-way.",
    "classification": "memorised: the fraction of corrupted training points predicted as "
                      "their wrong (corrupted) label; still correct: the fraction still "
                      "predicted as their clean label; pull: the mean probability the model "
                      "gives the corrupted label (0 = ignores it, 1 = fits it).",
}


def memorisation(ctx: Context) -> None:
    regression = ctx.panel.tasks == ["regression"]
    n_losses = ctx.finals.loss_label.nunique()
    ctx.add_figure("memorisation",
                   figures.memorisation(ctx.panel.curves, ctx.level_name, ctx.colors,
                                        ctx.bands, regression=regression),
                   "Memorisation of the corrupted training points, against epoch ("
                   f"{figures.band_note(ctx.bands, n_losses)}; memorised and pull: lower is "
                   "better, still correct: higher is better). "
                   + MEMO_TEXT["regression" if regression else "classification"])


def speed(ctx: Context) -> None:
    m, fraction = ctx.metric, ctx.fraction
    if ctx.panel.curves.empty:
        return
    done = ctx.res.completed[ctx.res.completed.run_id.isin(ctx.finals.run_id)]
    seconds = seconds_label(done)
    times = stats.time_to_target(ctx.panel.curves, ctx.finals, m, ctx.higher, fraction,
                                 share=time_share(done))
    max_epoch = int(ctx.panel.curves.epoch.max()) if len(ctx.panel.curves) else 0
    n = times.groupby(["setting", "loss_label"]).epochs.count()
    drawn = seconds if seconds and not stacked(done).any() else None  # shares: table only
    ctx.add_figure("speed", figures.speed(times, ctx.level_name, ctx.colors, fraction,
                                          ctx.bands, max_epoch,
                                          f"{drawn} to target" if drawn else None),
                   f"Epochs{' and ' + drawn if drawn else ''} until the clean test {m} "
                   f"first gets {fraction:.0%} of the way from the untrained model (epoch 0) "
                   "to the best final value of any loss with the same seed. Bars: the mean "
                   f"over the runs that got there (n = {_span(n[n > 0]) if (n > 0).any() else 0} "
                   "per bar, see the table); dots: each run"
                   + ("; whiskers: the 95% t-interval of the mean, clipped to the possible "
                      f"range (0 to {max_epoch} epochs)" if ctx.bands else "")
                   + ". Runs that never get there are not drawn."
                   + ("" if seconds else " Seconds are not shown: some runs were trained "
                      "stacked and some alone, and their clocks do not compare.")
                   + (" Seconds of stacked runs (each run's share of its stack's time) are "
                      "in the table only." if seconds and not drawn else ""))
    speed_ = stats.speed_summary(times[~times.setting.isin(ctx.repeats)])
    if not seconds:
        speed_["seconds"] = np.nan
    ctx.csv["speed"] = speed_
    ctx.page.table(tables.speed_table(speed_, ctx.level_name, fraction, seconds))


# ---------------------------------------------------------------- summary.csv
def _csv(ctx: Context) -> pd.DataFrame:
    """One row per setting and loss with every number the panel shows about it."""
    c = ctx.csv
    out = c["describe"].copy()
    out.insert(0, "metric", ctx.metric)
    status = c["runs"].groupby(["setting", "loss_label", "status"]).size().unstack(
        fill_value=0)
    for s in tables.STATUSES:
        col = status[s] if s in status else pd.Series(0, index=status.index)
        out[f"runs_{s}"] = [int(col.get((a, b), 0)) for a, b in
                            zip(out.setting, out.loss_label, strict=True)]
    if len(out):
        out["rank"] = out.groupby("setting")["mean"].rank(ascending=not ctx.higher,
                                                          method="average")
    if "paired" in c:
        p = c["paired"].rename(columns={"loss": "loss_label", "p": "p_vs_best",
                                        "p_holm": "p_vs_best_holm", "n": "n_pairs",
                                        "mean_diff": "diff_vs_best", "note": "test_note"})
        out = out.merge(p[["setting", "loss_label", "n_pairs", "diff_vs_best", "p_vs_best",
                           "p_vs_best_holm", "test_note"]], on=["setting", "loss_label"],
                        how="left")
    if "auc" in c:
        a = c["auc"].rename(columns={"loss": "loss_label", "auc": "robustness_auc"})
        out = out.merge(a[["context", "loss_label", "robustness_auc"]],
                        on=["context", "loss_label"], how="left")
    if "block_ranks" in c and len(c["block_ranks"]):
        out = out.merge(c["block_ranks"][["context", "loss_label", "block_rank"]],
                        on=["context", "loss_label"], how="left")
    if "speed" in c:
        s = c["speed"].rename(columns={"epochs": "epochs_to_target",
                                       "seconds": "seconds_to_target",
                                       "reached": "reached_target"})
        out = out.merge(s[["setting", "loss_label", "reached_target", "epochs_to_target",
                           "seconds_to_target"]], on=["setting", "loss_label"], how="left")
    return out.rename(columns={"loss_label": "loss"})
