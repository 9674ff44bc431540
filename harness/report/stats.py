"""The statistics of a report, as small functions of plain tables.

Inputs are tidy tables of *final values*: one row per completed run with columns
``loss_label``, ``setting`` (and ``context``, ``level``), ``seed`` and ``value``.
``higher`` says which way is better (``harness.metrics.HIGHER_IS_BETTER``).

- :func:`describe`: mean, std (ddof=1), n and a 95% t-interval per loss per setting
  (clipped to the metric's possible range, :data:`BOUNDS`), with the best mean marked;
- :func:`identical_settings`: settings that are the same runs under two names (e.g. rate
  0 under two noise kinds), to be counted once;
- :func:`paired_vs_best`: Wilcoxon signed-rank tests (scipy), paired by seed, of the best
  loss against each other loss in a setting, Holm-adjusted within the setting
  (statsmodels);
- :func:`block_scores`, :func:`seed_scores`: one number per independent block and loss
  (the robustness AUC over a block's corruption levels, or its one level's value);
- :func:`rank_test`: average ranks over blocks, Friedman's test (scipy) or, for two
  losses, the Wilcoxon signed-rank test, with the smallest p the design can reach, and
  Nemenyi's post-hoc test (scikit-posthocs) with its critical difference (Demsar 2006);
- :func:`normalised_auc`: area under a robustness curve divided by the level range;
- :func:`time_to_target`: epochs (and seconds) each run needs to reach a target.

References: J. Demsar, "Statistical comparisons of classifiers over multiple data sets",
JMLR 7 (2006); S. Holm, Scand. J. Statist. 6 (1979).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import integrate, stats

KEYS = ["context", "level", "setting", "loss_label"]
INF = math.inf
# the range a metric's values can take; intervals of a mean are clipped to it
BOUNDS = {"rmse": (0.0, INF), "mae": (0.0, INF), "r2": (-INF, 1.0),
          "accuracy": (0.0, 1.0), "macro_f1": (0.0, 1.0), "log_loss": (0.0, INF),
          "memorised": (0.0, 1.0), "corrupted_correct": (0.0, 1.0)}


def t_interval(values, confidence: float = 0.95,
               bounds: tuple[float, float] = (-INF, INF)) -> tuple[float, float]:
    """The t-interval of the mean of ``values`` (NaN ignored), clipped to ``bounds`` (the
    range the values can take: an interval of a mean of values in [0, 1] stays in it);
    the mean itself when n < 2."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    mean = float(x.mean()) if len(x) else math.nan
    if len(x) < 2:
        return mean, mean
    half = stats.t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return max(mean - half, bounds[0]), min(mean + half, bounds[1])


def interval(bounds: tuple[float, float] = (-INF, INF)):
    """seaborn's ``errorbar`` callable: the clipped 95% t-interval of the mean."""
    return lambda values: t_interval(values, bounds=bounds)


def describe(finals: pd.DataFrame, higher: bool,
             bounds: tuple[float, float] = (-INF, INF)) -> pd.DataFrame:
    """One row per (setting, loss): n, mean, std, ci_low, ci_high (the 95% t-interval of
    the mean, clipped to ``bounds``), best (bool)."""
    grouped = finals.groupby(KEYS, sort=True, dropna=False).value
    out = grouped.agg(n="count", mean="mean", std=lambda v: v.std(ddof=1)).reset_index()
    intervals = grouped.apply(lambda v: t_interval(v.to_numpy(), bounds=bounds))
    out["ci_low"] = [lo for lo, _ in intervals]
    out["ci_high"] = [hi for _, hi in intervals]
    best = out.groupby("setting")["mean"].transform("max" if higher else "min")
    out["best"] = np.isclose(out["mean"], best, rtol=0, atol=0)
    return out


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment of ``pvalues`` (statsmodels' ``multipletests``,
    method ``holm``); NaN stays NaN and is not counted as a test."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out


def min_wilcoxon_p(n: int) -> float:
    """The smallest two-sided p-value an exact Wilcoxon test can give with n pairs."""
    return min(1.0, 2.0 / 2**n)


def paired_vs_best(finals: pd.DataFrame, higher: bool, alpha: float = 0.05) -> pd.DataFrame:
    """Per setting, the best loss (best mean) against each other loss, paired by seed.

    Columns: setting, context, level, best, loss, n (seeds both completed), mean_diff
    (loss - best, over the pairs), statistic, p, p_holm, note.
    """
    table = describe(finals, higher)
    rows = []
    for setting, group in table.groupby("setting", sort=False):
        best = group[group.best].loss_label.iloc[0]
        mine = finals[finals.setting == setting]
        ref = mine[mine.loss_label == best].set_index("seed").value
        for other in group.loss_label:
            if other == best:
                continue
            theirs = mine[mine.loss_label == other].set_index("seed").value
            pairs = pd.concat([theirs, ref], axis=1, keys=["x", "y"], join="inner").dropna()
            rows.append({"setting": setting, "context": group.context.iloc[0],
                         "level": group.level.iloc[0], "best": best, "loss": other,
                         **_wilcoxon(pairs.x.to_numpy(), pairs.y.to_numpy(), alpha)})
    cols = ["setting", "context", "level", "best", "loss", "n", "mean_diff", "statistic",
            "p", "p_holm", "note"]
    out = pd.DataFrame(rows, columns=cols)
    if len(out):
        out["p_holm"] = out.groupby("setting").p.transform(lambda p: holm(p.to_numpy()))
    return out


def _wilcoxon(x: np.ndarray, y: np.ndarray, alpha: float) -> dict:
    n = len(x)
    diff = x - y
    res = {"n": n, "mean_diff": float(diff.mean()) if n else math.nan,
           "statistic": math.nan, "p": math.nan, "p_holm": math.nan, "note": ""}
    if n < 2:
        res["note"] = f"{n} paired seed(s): too few for a test"
    elif np.all(diff == 0):
        res["note"] = "identical on every seed"
    else:
        test = stats.wilcoxon(x, y)
        res.update(statistic=float(test.statistic), p=float(test.pvalue))
        if min_wilcoxon_p(n) > alpha:
            res["note"] = (f"with {n} paired seeds the smallest attainable p is "
                           f"{min_wilcoxon_p(n):.3g}, so p < {alpha:g} cannot be reached")
    return res


def identical_settings(finals: pd.DataFrame) -> dict[str, str]:
    """Settings whose runs are the same runs as those of an earlier setting: the same
    losses and seeds with the same final values (to 1e-9, relative). Rate 0 under two
    noise kinds is one experiment reached by two configs; counted twice it would weigh
    double in every test. Returns repeat -> the setting it repeats (first in sort order)."""
    cells = {s: g.set_index(["loss_label", "seed"]).value.sort_index()
             for s, g in finals.groupby("setting", sort=True)}
    out: dict[str, str] = {}
    names = list(cells)
    for i, a in enumerate(names):
        if a in out:
            continue
        for b in names[i + 1:]:
            x, y = cells[a], cells[b]
            if b not in out and len(x) and x.index.equals(y.index) and np.allclose(
                    x.to_numpy(), y.to_numpy(), rtol=1e-9, atol=0, equal_nan=True):
                out[b] = a
    return out


def seed_scores(finals: pd.DataFrame) -> tuple[pd.DataFrame, str, list[float]]:
    """One block's (one ``context``'s) score per seed and loss: seeds x losses.

    With two levels or more, each seed's *normalised robustness AUC* (the area under its
    final-value curve over the levels, divided by the level range; :func:`normalised_auc`);
    with one level, the final value. Levels some loss lacks are left out, then seeds
    missing any (level, loss). Returns (scores, what the score is, the levels used)."""
    losses = sorted(finals.loss_label.unique())
    wide = finals.pivot_table(index="seed", columns=["level", "loss_label"], values="value",
                              aggfunc="mean")
    levels = [lv for lv in sorted(set(wide.columns.get_level_values(0)))
              if all((lv, loss) in wide.columns for loss in losses)]
    if not levels:
        return pd.DataFrame(columns=losses), "final value", []
    full = wide[[(lv, loss) for lv in levels for loss in losses]].dropna()
    if len(levels) == 1:
        scores = full[levels[0]]
    else:
        scores = pd.DataFrame({loss: [normalised_auc(levels, [full.at[seed, (lv, loss)]
                                                               for lv in levels])
                                      for seed in full.index] for loss in losses},
                              index=full.index)
    scores = scores[losses]
    scores.columns.name = None
    return scores, ("robustness AUC" if len(levels) >= 2 else "final value"), levels


def block_scores(finals: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """One score per independent block (``context``: a data set, or a data set x any key
    that varies, such as the noise kind) and loss: blocks x losses, the mean over seeds of
    :func:`seed_scores`. Blocks missing a loss are dropped (Friedman needs complete
    blocks); returns (scores, dropped blocks)."""
    losses = sorted(finals.loss_label.unique())
    rows, dropped = {}, []
    for context, group in finals.groupby("context", sort=True):
        scores, _, _ = seed_scores(group)
        if scores.empty or set(group.loss_label.unique()) != set(losses):
            dropped.append(context)
            continue
        rows[context] = scores.mean()
    table = pd.DataFrame.from_dict(rows, orient="index", columns=losses)
    table.index.name = "context"
    return table, dropped


def ranks(scores: pd.DataFrame, higher: bool) -> pd.DataFrame:
    """Rank of each loss (column) within each block (row); 1 is best, ties averaged."""
    return scores.rank(axis=1, ascending=not higher, method="average")


def average_ranks(scores: pd.DataFrame, higher: bool) -> pd.Series:
    """Each loss's mean rank across blocks, best first."""
    return ranks(scores, higher).mean().sort_values()


def min_friedman_p(n: int, k: int) -> float:
    """The smallest p-value Friedman's chi-square test can give for n blocks and k
    losses: every block ranking the losses alike gives the largest statistic, n (k - 1)."""
    return float(stats.chi2.sf(n * (k - 1), k - 1))


@dataclass
class RankTest:
    """The ranking test over blocks (rows of ``scores``) and what may be said from it.

    ``test``: "Friedman" (k >= 3), "Wilcoxon signed-rank" (k = 2) or "" (not run, see
    ``reason``); ``min_p``: the smallest p the design can reach; ``posthoc``: the Nemenyi
    p-values (losses x losses) when Friedman rejected; ``cd``: Nemenyi's critical
    difference; ``cliques``: groups the post-hoc test did not separate; ``diagram``:
    whether a critical-difference diagram says anything (Friedman rejected and the CD is
    smaller than the largest possible rank difference, k - 1)."""

    n: int
    k: int
    avg_ranks: pd.Series
    test: str = ""
    statistic: float = math.nan
    p: float = math.nan
    min_p: float = math.nan
    reason: str = ""
    rejected: bool = False
    posthoc: pd.DataFrame | None = None
    cd: float = math.nan
    cliques: list[list[str]] | None = None
    diagram: bool = False


def rank_test(scores: pd.DataFrame, higher: bool, alpha: float = 0.05,
              unit: str = "blocks") -> RankTest:
    """Rank the losses (columns) within each block (rows of ``scores``) and test whether
    they could all rank equally.

    k >= 3: Friedman's chi-square test (``scipy.stats.friedmanchisquare``); if it rejects
    at ``alpha``, Nemenyi's post-hoc test (``scikit_posthocs.posthoc_nemenyi_friedman``)
    and its critical difference (:func:`nemenyi_cd`). k = 2: the two-sided Wilcoxon
    signed-rank test over the blocks (``scipy.stats.wilcoxon``), as Demsar (2006)
    recommends for two methods. Not run, with ``reason`` saying why, when the design
    cannot reach p < ``alpha`` (too few blocks) or nothing varies. ``unit`` names the
    blocks in the reasons ("data sets", "seeds")."""
    n, k = scores.shape
    avg = average_ranks(scores, higher) if n else pd.Series(dtype=float)
    out = RankTest(n=n, k=k, avg_ranks=avg)
    if k < 2 or n < 1:
        out.reason = f"needs at least two losses with results in a common block (here {k})."
        return out
    values = scores.to_numpy()
    if k == 2:
        out.min_p = min_wilcoxon_p(n)
        name = "the Wilcoxon signed-rank test"
        if out.min_p > alpha:
            out.reason = (f"with {n} {unit} the smallest p {name} can give is "
                          f"{out.min_p:.3g} > alpha = {alpha:g}, so it could not reject "
                          f"whatever the results; it needs {wilcoxon_min_n(alpha)} {unit}.")
            return out
        diff = values[:, 0] - values[:, 1]
        if np.all(diff == 0):
            out.reason = f"the two losses scored the same in every one of the {n} {unit}."
            return out
        res = stats.wilcoxon(values[:, 0], values[:, 1])
        out.test, out.statistic, out.p = "Wilcoxon signed-rank", float(res.statistic), \
            float(res.pvalue)
        out.rejected = out.p < alpha
        return out
    out.min_p = min_friedman_p(n, k)
    if n < 2 or out.min_p > alpha:
        need = next(m for m in range(2, 1000) if min_friedman_p(m, k) <= alpha)
        out.reason = (f"with {n} {unit} and {k} losses the smallest p Friedman's test can "
                      f"give is {out.min_p:.3g} > alpha = {alpha:g}, so it could not reject "
                      f"whatever the results; it needs at least {need} {unit}.")
        return out
    if np.all(values == values[:, :1]):
        out.reason = f"every loss scored the same in each of the {n} {unit}."
        return out
    res = stats.friedmanchisquare(*values.T)
    out.test, out.statistic, out.p = "Friedman", float(res.statistic), float(res.pvalue)
    out.rejected = out.p < alpha
    out.cd = nemenyi_cd(k, n, alpha)
    if out.rejected:
        import scikit_posthocs as sp

        post = sp.posthoc_nemenyi_friedman(values)
        post.index = post.columns = list(scores.columns)
        out.posthoc = post
        out.cliques = cliques(avg, post, alpha)
        out.diagram = out.cd < k - 1
    return out


def wilcoxon_min_n(alpha: float) -> int:
    """The fewest pairs with which the exact Wilcoxon signed-rank test can give p <= alpha."""
    return next(n for n in range(1, 100) if min_wilcoxon_p(n) <= alpha)


def cliques(avg_ranks: pd.Series, pvalues: pd.DataFrame, alpha: float) -> list[list[str]]:
    """Maximal runs of losses, consecutive in average rank, of which no pair the post-hoc
    test separates (p >= alpha); runs of one are left out. With Nemenyi's p-values these
    are the losses within one critical difference of each other (:func:`cd_cliques`)."""
    names = list(avg_ranks.sort_values().index)
    spans = []
    for i in range(len(names)):
        j = i
        while j + 1 < len(names) and all(pvalues.at[names[a], names[j + 1]] >= alpha
                                         for a in range(i, j + 1)):
            j += 1
        if j > i:
            spans.append((i, j))
    maximal = [s for s in spans if not any(o != s and o[0] <= s[0] and s[1] <= o[1]
                                           for o in spans)]
    return [names[i:j + 1] for i, j in maximal]


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """Nemenyi's critical value q_alpha for k groups: the studentized range quantile
    (infinite degrees of freedom) divided by sqrt(2), as tabulated by Demsar (2006)."""
    return float(stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2))


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """The critical difference of average ranks for k losses over n blocks."""
    return nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6 * n))


def cd_cliques(avg_ranks: pd.Series, cd: float) -> list[list[str]]:
    """Maximal groups of losses whose average ranks lie within ``cd`` of each other
    (no significant difference inside a group); groups of one are left out."""
    r = avg_ranks.sort_values()
    names, values = list(r.index), r.to_numpy()
    spans = []
    for i in range(len(values)):
        j = i
        while j + 1 < len(values) and values[j + 1] - values[i] <= cd + 1e-12:
            j += 1
        if j > i:
            spans.append((i, j))
    maximal = [s for s in spans if not any(o != s and o[0] <= s[0] and s[1] <= o[1]
                                           for o in spans)]
    return [names[i:j + 1] for i, j in maximal]


def normalised_auc(levels, values) -> float:
    """Trapezoidal area under ``values`` against ``levels``, divided by the level range:
    the curve's average height, in the metric's units. NaN with fewer than 2 levels."""
    x = np.asarray(levels, dtype=float)
    y = np.asarray(values, dtype=float)
    order = np.argsort(x)
    x, y = x[order], y[order]
    if len(x) < 2 or x[-1] == x[0]:
        return math.nan
    return float(integrate.trapezoid(y, x) / (x[-1] - x[0]))


def auc_table(finals: pd.DataFrame, higher: bool) -> pd.DataFrame:
    """Per context and loss, the normalised AUC of the mean robustness curve over the
    levels every loss of that context has; ``best`` marks the best loss per context."""
    rows = []
    for context, group in finals.groupby("context", sort=True):
        means = group.groupby(["level", "loss_label"]).value.mean().unstack("loss_label")
        common = means.dropna()
        if len(common) < 2:
            continue
        for loss in common.columns:
            rows.append({"context": context, "loss": loss,
                         "levels": ", ".join(f"{v:g}" for v in common.index),
                         "auc": normalised_auc(common.index, common[loss])})
    out = pd.DataFrame(rows, columns=["context", "loss", "levels", "auc"])
    if len(out):
        best = out.groupby("context").auc.transform("max" if higher else "min")
        out["best"] = out.auc == best
        out = out.sort_values(["context", "auc"], ascending=[True, not higher])
    return out.reset_index(drop=True)


def time_to_target(curves: pd.DataFrame, finals: pd.DataFrame, metric: str, higher: bool,
                   fraction: float = 0.95, split: str = "test",
                   share: pd.Series | None = None) -> pd.DataFrame:
    """Epochs and training seconds each run needs to reach its target.

    Per setting and seed (the untrained model, epoch 0, is the same for every loss of a
    seed), the target lies ``fraction`` of the way from the epoch-0 value to the best
    final value any loss reached with that seed. One row per run in ``finals``: setting,
    context, level, loss_label, seed, target, epochs and seconds (``elapsed_s`` on the
    train split at that epoch, times the run's ``share``: run_id -> the fraction of the
    recorded time that is the run's own, 1 when not given); NaN when the run never gets
    there.
    """
    best = finals.groupby(["setting", "seed"]).value.agg("max" if higher else "min")
    curve = curves[(curves.split == split) & (curves.metric == metric)]
    start = curve[curve.epoch == 0].groupby(["setting", "seed"]).value.mean()
    clock = curves[(curves.split == "train") & (curves.metric == "elapsed_s")]
    clock = clock.set_index(["run_id", "epoch"]).value
    by_run = dict(tuple(curve.sort_values("epoch").groupby("run_id")))
    rows = []
    for run in finals.itertuples():
        key = (run.setting, run.seed)
        begin = start.get(key, math.nan)
        target = begin + fraction * (best[key] - begin)
        mine = by_run.get(run.run_id, curve.iloc[:0])
        hit = mine[mine.value >= target] if higher else mine[mine.value <= target]
        epoch = float(hit.epoch.iloc[0]) if len(hit) else math.nan
        factor = 1.0 if share is None else float(share.get(run.run_id, 1.0))
        seconds = float(clock.get((run.run_id, int(epoch)), math.nan)) * factor \
            if len(hit) else math.nan
        rows.append({"setting": run.setting, "context": run.context, "level": run.level,
                     "loss_label": run.loss_label, "seed": run.seed, "target": target,
                     "epochs": epoch, "seconds": seconds})
    return pd.DataFrame(rows, columns=["setting", "context", "level", "loss_label", "seed",
                                       "target", "epochs", "seconds"])


def speed_summary(times: pd.DataFrame) -> pd.DataFrame:
    """Per setting and loss: runs that reached the target, of all, and their mean epochs
    and seconds."""
    g = times.groupby(KEYS, sort=True)
    return g.agg(reached=("epochs", "count"), runs=("epochs", "size"),
                 epochs=("epochs", "mean"), seconds=("seconds", "mean")).reset_index()
