"""harness.report.stats against scipy and numpy on hand-made tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from harness.report import stats

# three losses x three settings x six seeds; "b" is best (lowest) at every level, "c" worst
BASE = {"a": 1.0, "b": 0.8, "c": 1.5}
NOISE = [0.00, 0.03, -0.02, 0.05, -0.04, 0.01]


def finals_table() -> pd.DataFrame:
    rows = []
    for li, level in enumerate([0.0, 0.1, 0.2]):
        for loss, base in BASE.items():
            for seed, eps in enumerate(NOISE):
                value = base + 0.5 * level * (loss == "c") + eps * (1 + li) + 0.01 * seed * (
                    loss == "a")
                rows.append({"context": "toy", "level": level, "setting": f"toy; {level:g}",
                             "loss_label": loss, "seed": seed, "value": value,
                             "run_id": f"{loss}-{level}-{seed}"})
    # shuffled, so nothing may rely on row order
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)


def cell(finals, setting, loss):
    sel = finals[(finals.setting == setting) & (finals.loss_label == loss)]
    return sel.sort_values("seed").value.to_numpy()


def test_t_interval_matches_scipy():
    x = np.array([0.8, 0.83, 0.79, 0.9])
    lo, hi = stats.t_interval(x)
    ref = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    assert (lo, hi) == pytest.approx(ref, rel=1e-12)
    assert stats.t_interval([0.7]) == (0.7, 0.7)  # one seed: no band


@pytest.mark.parametrize("higher", [False, True])
def test_describe_gives_mean_std_interval_and_the_best(higher):
    finals = finals_table()
    desc = stats.describe(finals, higher).set_index(["setting", "loss_label"])
    for (setting, loss), row in desc.iterrows():
        x = cell(finals, setting, loss)
        assert row.n == len(x) == 6
        assert row["mean"] == pytest.approx(x.mean())
        assert row["std"] == pytest.approx(np.std(x, ddof=1))
        ref = sps.t.interval(0.95, 5, loc=x.mean(), scale=sps.sem(x))
        assert (row.ci_low, row.ci_high) == pytest.approx(ref)
    best = desc[desc.best].reset_index()
    assert len(best) == 3  # one per setting
    assert set(best.loss_label) == ({"c"} if higher else {"b"})


def test_paired_vs_best_is_scipys_wilcoxon_paired_by_seed():
    finals = finals_table()
    paired = stats.paired_vs_best(finals, higher=False)
    assert len(paired) == 6 and set(paired.best) == {"b"}
    for row in paired.itertuples():
        x, y = cell(finals, row.setting, row.loss), cell(finals, row.setting, "b")
        ref = sps.wilcoxon(x, y)
        assert row.n == 6
        assert row.statistic == pytest.approx(ref.statistic)
        assert row.p == pytest.approx(ref.pvalue)
        assert row.mean_diff == pytest.approx((x - y).mean())
    # "c" is above "b" on all six seeds: the exact two-sided p is 2 / 2**6
    worst = paired[(paired.loss == "c")]
    assert worst.p.to_numpy() == pytest.approx(2 / 2**6)
    for _, group in paired.groupby("setting"):
        assert group.p_holm.to_numpy() == pytest.approx(stats.holm(group.p.to_numpy()))


def test_pairs_use_only_seeds_both_losses_completed():
    finals = finals_table()
    gone = (finals.loss_label == "a") & (finals.seed.isin([0, 2]))
    paired = stats.paired_vs_best(finals[~gone], higher=False)
    row = paired[(paired.loss == "a") & (paired.setting == "toy; 0.1")].iloc[0]
    seeds = [1, 3, 4, 5]
    f = finals.set_index(["setting", "loss_label", "seed"]).value
    x = np.array([f[("toy; 0.1", "a", s)] for s in seeds])
    y = np.array([f[("toy; 0.1", "b", s)] for s in seeds])
    assert row.n == 4
    assert row.p == pytest.approx(sps.wilcoxon(x, y).pvalue)
    assert "cannot be reached" in row.note  # 4 pairs: the smallest p is 0.125


def test_too_few_or_identical_pairs_are_said_not_tested():
    one = finals_table().query("seed == 0")
    paired = stats.paired_vs_best(one, higher=False)
    assert paired.p.isna().all() and paired.note.str.contains("too few").all()
    same = finals_table()  # "a" gets exactly "b"'s value on every seed
    key = same.set_index(["setting", "seed", "loss_label"]).value
    same["value"] = [key[(s, seed, "b")] if loss == "a" else v for s, seed, loss, v in
                     zip(same.setting, same.seed, same.loss_label, same.value, strict=True)]
    paired = stats.paired_vs_best(same, higher=False)
    tie = paired[paired.loss == "a"]
    assert tie.p.isna().all() and tie.note.str.contains("identical").all()


def test_min_wilcoxon_p_is_scipys_exact_extreme():
    for n in (3, 5, 6):
        diffs = np.arange(1, n + 1, dtype=float)
        assert stats.min_wilcoxon_p(n) == pytest.approx(sps.wilcoxon(diffs).pvalue)


def test_holm_by_hand():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    out = stats.holm([0.5, math.nan, 0.01])
    assert out[0] == pytest.approx(0.5) and math.isnan(out[1]) and out[2] == pytest.approx(0.02)


@pytest.mark.parametrize("higher", [False, True])
def test_ranks_and_friedman_match_scipy(higher):
    finals = finals_table()
    scores, dropped = stats.rank_table(finals)
    assert dropped == [] and scores.shape == (3, 3)
    means = finals.groupby(["setting", "loss_label"]).value.mean().unstack()
    sign = -1 if higher else 1
    ref = np.vstack([sps.rankdata(sign * means.loc[s].to_numpy()) for s in means.index])
    avg = stats.average_ranks(scores, higher)
    assert avg[list(means.columns)].to_numpy() == pytest.approx(ref.mean(axis=0))
    assert list(avg.index) == (["c", "a", "b"] if higher else ["b", "a", "c"])
    test = stats.friedman(scores)
    expect = sps.friedmanchisquare(*(means[c].to_numpy() for c in means.columns))
    assert (test.statistic, test.p) == pytest.approx((expect.statistic, expect.pvalue))
    assert (test.k, test.n) == (3, 3)


def test_ties_are_averaged_and_incomplete_settings_dropped():
    finals = finals_table()
    finals.loc[finals.loss_label.isin(["a", "c"]), "value"] = 5.0  # a tie for last
    partial = finals[~((finals.setting == "toy; 0.2") & (finals.loss_label == "c"))]
    scores, dropped = stats.rank_table(partial)
    assert dropped == ["toy; 0.2"] and len(scores) == 2
    assert stats.average_ranks(scores, higher=False).to_dict() == {"b": 1.0, "a": 2.5, "c": 2.5}


def test_friedman_says_why_not():
    two = pd.DataFrame({"a": [1.0, 2.0], "b": [2.0, 3.0]})
    assert "at least 3 losses" in stats.friedman(two)
    one = pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0]})
    assert "at least 2 settings" in stats.friedman(one)


def test_nemenyi_critical_values_match_demsar_table():
    # Demsar (2006), Table 5(a): q_0.05 for k = 2..10
    table = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]
    assert [stats.nemenyi_q(k) for k in range(2, 11)] == pytest.approx(table, abs=1e-3)
    assert stats.nemenyi_cd(4, 14) == pytest.approx(
        sps.studentized_range.ppf(0.95, 4, np.inf) / math.sqrt(2) * math.sqrt(4 * 5 / (6 * 14)))


def test_cd_cliques_join_losses_within_the_critical_difference():
    avg = pd.Series({"a": 1.2, "b": 1.9, "c": 2.6, "d": 3.9})
    assert stats.cd_cliques(avg, 1.0) == [["a", "b"], ["b", "c"]]
    assert stats.cd_cliques(avg, 3.0) == [["a", "b", "c", "d"]]
    assert stats.cd_cliques(avg, 0.1) == []


def trapezoid(x, y):
    """The trapezoidal rule, written out (x ascending)."""
    pairs = zip(x[:-1], x[1:], y[:-1], y[1:], strict=True)
    return sum((x1 - x0) * (y0 + y1) / 2 for x0, x1, y0, y1 in pairs)


def test_normalised_auc_is_trapezoid_over_range():
    x, y = [0.3, 0.0, 0.1, 0.2], [4.0, 1.0, 2.0, 2.5]  # unsorted on purpose
    # by hand: (0.1 * 3 + 0.1 * 4.5 + 0.1 * 6.5) / 2 / 0.3
    assert stats.normalised_auc(x, y) == pytest.approx(0.7 / 0.3)
    assert trapezoid([0.0, 0.1, 0.2, 0.3], [1.0, 2.0, 2.5, 4.0]) == pytest.approx(0.7)
    assert math.isnan(stats.normalised_auc([0.1], [2.0]))


def test_auc_table_uses_mean_curves_and_marks_the_best():
    finals = finals_table()
    auc = stats.auc_table(finals, higher=False)
    means = finals.groupby(["loss_label", "level"]).value.mean()
    for row in auc.itertuples():
        m = means[row.loss]
        assert row.auc == pytest.approx(trapezoid(m.index.to_numpy(), m.to_numpy()) / 0.2)
    assert auc[auc.best].loss.tolist() == ["b"]


def test_time_to_target_by_hand():
    # one setting, two seeds; test rmse curves; the untrained model is the same per seed
    curves = {("fast", 0): [1.0, 0.5, 0.2, 0.2], ("slow", 0): [1.0, 0.9, 0.6, 0.3],
              ("fast", 1): [2.0, 0.4, 0.4, 0.4], ("slow", 1): [2.0, 1.5, 1.2, 1.1]}
    rows, finals = [], []
    for (loss, seed), values in curves.items():
        rid = f"{loss}{seed}"
        for epoch, v in enumerate(values):
            rows.append((rid, epoch, "test", "rmse", v, "s", seed))
            rows.append((rid, epoch, "train", "elapsed_s", 0.5 * epoch, "s", seed))
        finals.append({"run_id": rid, "loss_label": loss, "seed": seed, "value": values[-1],
                       "setting": "s", "context": "toy", "level": 0.0})
    curves_df = pd.DataFrame(rows, columns=["run_id", "epoch", "split", "metric", "value",
                                            "setting", "seed"])
    times = stats.time_to_target(curves_df, pd.DataFrame(finals), "rmse", higher=False,
                                 fraction=0.9).set_index("loss_label")
    # seed 0: best final 0.2, target 1.0 - 0.9 * 0.8 = 0.28; seed 1: best 0.4, target 0.56
    t0, t1 = times[times.seed == 0], times[times.seed == 1]
    assert t0.target.to_numpy() == pytest.approx([0.28, 0.28])
    assert t1.target.to_numpy() == pytest.approx([0.56, 0.56])
    assert t0.loc["fast"].epochs == 2 and t0.loc["fast"].seconds == 1.0
    assert math.isnan(t0.loc["slow"].epochs)  # 0.3 never reaches 0.28
    assert t1.loc["fast"].epochs == 1 and math.isnan(t1.loc["slow"].epochs)
    speed = stats.speed_summary(times.reset_index()).set_index("loss_label")
    assert speed.loc["fast"].reached == 2 and speed.loc["fast"].epochs == 1.5
    assert speed.loc["slow"].reached == 0 and speed.loc["slow"].runs == 2
