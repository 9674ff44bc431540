"""The statistics of a report, as small functions of plain tables.

Inputs are tidy tables of *final values*: one row per completed run with columns
``loss_label``, ``setting`` (and ``context``, ``level``), ``seed`` and ``value``.
``higher`` says which way is better (``harness.metrics.HIGHER_IS_BETTER``).

- :func:`describe`: mean, std (ddof=1), n and a 95% t-interval per loss per setting,
  with the best mean marked;
- :func:`paired_vs_best`: Wilcoxon signed-rank tests, paired by seed, of the best loss
  against each other loss in a setting, with Holm's correction within the setting;
- :func:`rank_table`, :func:`average_ranks`, :func:`friedman`, :func:`nemenyi_cd`,
  :func:`cd_cliques`: ranks of the losses across settings (Demsar 2006);
- :func:`normalised_auc`: area under a robustness curve divided by the level range;
- :func:`time_to_target`: epochs and seconds each run needs to reach a target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import integrate, stats

KEYS = ["context", "level", "setting", "loss_label"]


def t_interval(values, confidence: float = 0.95) -> tuple[float, float]:
    """The t-interval of the mean of ``values``; the mean itself when n < 2."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    mean = float(x.mean()) if len(x) else math.nan
    if len(x) < 2:
        return mean, mean
    half = stats.t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return mean - half, mean + half


def describe(finals: pd.DataFrame, higher: bool) -> pd.DataFrame:
    """One row per (setting, loss): n, mean, std, ci_low, ci_high, best (bool)."""
    grouped = finals.groupby(KEYS, sort=True, dropna=False).value
    out = grouped.agg(n="count", mean="mean", std=lambda v: v.std(ddof=1)).reset_index()
    intervals = grouped.apply(lambda v: t_interval(v.to_numpy()))
    out["ci_low"] = [lo for lo, _ in intervals]
    out["ci_high"] = [hi for _, hi in intervals]
    best = out.groupby("setting")["mean"].transform("max" if higher else "min")
    out["best"] = np.isclose(out["mean"], best, rtol=0, atol=0)
    return out


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment of ``pvalues`` (NaN stays NaN)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
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


def rank_table(finals: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Mean final value per (setting, loss) as settings x losses, keeping only settings
    where every loss has a value (Friedman needs complete blocks); the dropped settings."""
    wide = finals.groupby(["setting", "loss_label"]).value.mean().unstack("loss_label")
    complete = wide.dropna()
    return complete, [s for s in wide.index if s not in complete.index]


def ranks(scores: pd.DataFrame, higher: bool) -> pd.DataFrame:
    """Rank of each loss (column) within each setting (row); 1 is best, ties averaged."""
    return scores.rank(axis=1, ascending=not higher, method="average")


def average_ranks(scores: pd.DataFrame, higher: bool) -> pd.Series:
    """Each loss's mean rank across settings, best first."""
    return ranks(scores, higher).mean().sort_values()


@dataclass
class Friedman:
    statistic: float
    p: float
    k: int  # losses
    n: int  # settings (blocks)


def friedman(scores: pd.DataFrame) -> Friedman | str:
    """Friedman's chi-square test over settings (rows) x losses (columns), or why not."""
    n, k = scores.shape
    if k < 3:
        return f"Friedman's test needs at least 3 losses (here {k})."
    if n < 2:
        return f"Friedman's test needs at least 2 settings with every loss (here {n})."
    if np.all(scores.to_numpy() == scores.to_numpy()[:, :1]):
        return "every loss scored the same in every setting; nothing to test."
    res = stats.friedmanchisquare(*(scores[c].to_numpy() for c in scores.columns))
    return Friedman(float(res.statistic), float(res.pvalue), k, n)


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """Nemenyi's critical value q_alpha for k groups: the studentized range quantile
    (infinite degrees of freedom) divided by sqrt(2), as tabulated by Demsar (2006)."""
    return float(stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2))


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """The critical difference of average ranks for k losses over n settings."""
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
                   fraction: float = 0.95, split: str = "test") -> pd.DataFrame:
    """Epochs and training seconds each run needs to reach its target.

    Per setting and seed (the untrained model, epoch 0, is the same for every loss of a
    seed), the target lies ``fraction`` of the way from the epoch-0 value to the best
    final value any loss reached with that seed. One row per run in ``finals``: setting,
    context, level, loss_label, seed, target, epochs and seconds (``elapsed_s`` on the
    train split at that epoch); NaN when the run never gets there.
    """
    best = finals.groupby(["setting", "seed"]).value.agg("max" if higher else "min")
    curve = curves[(curves.split == split) & (curves.metric == metric)]
    start = curve[curve.epoch == 0].groupby(["setting", "seed"]).value.mean()
    clock = curves[(curves.split == "train") & (curves.metric == "elapsed_s")]
    clock = clock.set_index(["run_id", "epoch"]).value
    rows = []
    for run in finals.itertuples():
        key = (run.setting, run.seed)
        begin = start.get(key, math.nan)
        target = begin + fraction * (best[key] - begin)
        mine = curve[curve.run_id == run.run_id].sort_values("epoch")
        hit = mine[mine.value >= target] if higher else mine[mine.value <= target]
        epoch = float(hit.epoch.iloc[0]) if len(hit) else math.nan
        seconds = float(clock.get((run.run_id, int(epoch)), math.nan)) if len(hit) else math.nan
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
