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


def test_t_interval_is_clipped_to_the_possible_range():
    epochs = np.array([5.0, 28.0, 30.0])  # of a 30-epoch run: the raw interval passes 30
    raw = sps.t.interval(0.95, 2, loc=epochs.mean(), scale=sps.sem(epochs))
    assert raw[0] < 0 and raw[1] > 30
    assert stats.t_interval(epochs, bounds=(0.0, 30.0)) == (0.0, 30.0)
    acc = np.array([0.97, 0.99, 0.999])
    assert stats.t_interval(acc, bounds=stats.BOUNDS["accuracy"])[1] == 1.0


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
    # sorted 0.01, 0.03, 0.04: 3 * 0.01, max(0.03, 2 * 0.03), max(0.06, 1 * 0.04)
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    out = stats.holm([0.5, math.nan, 0.01])
    assert out[0] == pytest.approx(0.5) and math.isnan(out[1]) and out[2] == pytest.approx(0.02)


@pytest.mark.parametrize("higher", [False, True])
def test_seed_scores_are_each_seeds_auc_and_friedman_is_scipys(higher):
    finals = finals_table()
    scores, what, levels = stats.seed_scores(finals)
    assert what == "robustness AUC" and levels == [0.0, 0.1, 0.2]
    assert scores.shape == (6, 3)
    for seed in range(6):
        for loss in BASE:
            curve = [cell(finals, f"toy; {lv:g}", loss)[seed] for lv in levels]
            assert scores.at[seed, loss] == pytest.approx(trapezoid(levels, curve) / 0.2)
    test = stats.rank_test(scores, higher, 0.05, "seeds")
    expect = sps.friedmanchisquare(*(scores[c].to_numpy() for c in scores.columns))
    assert test.test == "Friedman" and (test.n, test.k) == (6, 3)
    assert (test.statistic, test.p) == pytest.approx((expect.statistic, expect.pvalue))
    sign = -1 if higher else 1
    ref = np.vstack([sps.rankdata(sign * scores.loc[s].to_numpy()) for s in scores.index])
    avg = test.avg_ranks
    assert avg[list(scores.columns)].to_numpy() == pytest.approx(ref.mean(axis=0))
    assert list(avg.index) == (["c", "a", "b"] if higher else ["b", "a", "c"])


def test_block_scores_are_the_mean_curves_auc_per_block_and_drop_incomplete_blocks():
    a = finals_table()
    b = a.assign(context="other", setting=a.setting.str.replace("toy", "other"),
                 value=a.value * 2)
    finals = pd.concat([a, b[~((b.loss_label == "c") & (b.level == 0.2))]])
    auc = stats.auc_table(a, higher=False).set_index("loss").auc
    scores, dropped = stats.block_scores(finals)
    assert list(scores.index) == ["other", "toy"] and dropped == []
    assert scores.loc["toy"].to_dict() == pytest.approx(auc.to_dict())
    # "other" lacks c at level 0.2: its AUC runs over the levels every loss has
    m = b.groupby(["loss_label", "level"]).value.mean()
    assert scores.at["other", "c"] == pytest.approx(
        trapezoid([0.0, 0.1], m["c"].loc[[0.0, 0.1]].to_numpy()) / 0.1)
    one = finals[(finals.context == "toy") | (finals.loss_label != "c")]
    scores, dropped = stats.block_scores(one)
    assert dropped == ["other"] and list(scores.index) == ["toy"]


def test_identical_settings_are_found_and_different_ones_kept_apart():
    a = finals_table()
    same = a[a.level == 0.0].assign(setting="twin; 0", context="twin")
    near = a[a.level == 0.1].assign(setting="near; 0.1", context="near",
                                    value=a[a.level == 0.1].value + 1e-6)
    assert stats.identical_settings(pd.concat([a, same, near])) == {"twin; 0": "toy; 0"}


@pytest.mark.parametrize("n, k", [(2, 3), (3, 3), (2, 6), (3, 6), (5, 8)])
def test_min_friedman_p_is_what_identical_rankings_give(n, k):
    perfect = pd.DataFrame([list(range(k))] * n, columns=[f"l{i}" for i in range(k)],
                           dtype=float)
    assert stats.min_friedman_p(n, k) == pytest.approx(
        sps.friedmanchisquare(*perfect.to_numpy().T).pvalue)


def test_no_test_and_no_diagram_where_the_design_cannot_reject():
    two_blocks = pd.DataFrame({"a": [1.0, 1.1], "b": [2.0, 2.1], "c": [3.0, 3.2]})
    test = stats.rank_test(two_blocks, higher=False, alpha=0.05, unit="data sets")
    assert not test.test and not test.diagram
    assert "smallest p Friedman's test can give is 0.135 > alpha = 0.05" in test.reason
    assert "needs at least 3 data sets" in test.reason
    pair = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [2.0, 3.0, 4.0]})
    test = stats.rank_test(pair, higher=False, alpha=0.05, unit="seeds")
    assert not test.test and "needs 6 seeds" in test.reason


def test_two_losses_get_the_wilcoxon_test_over_blocks():
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 0.1, 12)
    scores = pd.DataFrame({"a": a, "b": a + 0.5 + rng.normal(0, 0.01, 12)})
    test = stats.rank_test(scores, higher=False, alpha=0.05, unit="seeds")
    ref = sps.wilcoxon(scores.a, scores.b)
    assert test.test == "Wilcoxon signed-rank" and test.rejected and not test.diagram
    assert (test.statistic, test.p) == pytest.approx((ref.statistic, ref.pvalue))


def test_nemenyi_posthoc_agrees_with_the_critical_difference():
    rng = np.random.default_rng(1)
    n, k = 20, 5
    scores = pd.DataFrame(rng.normal(0, 1, (n, k)) + np.arange(k) * 0.6,
                          columns=list("abcde"))
    test = stats.rank_test(scores, higher=False, alpha=0.05, unit="seeds")
    assert test.rejected and test.diagram and test.cd == pytest.approx(stats.nemenyi_cd(k, n))
    avg = test.avg_ranks
    for x in avg.index:  # scikit-posthocs' p < alpha exactly where |rank diff| > CD
        for y in avg.index:
            if x != y:
                assert (test.posthoc.at[x, y] < 0.05) == (abs(avg[x] - avg[y]) > test.cd)
    assert test.cliques == stats.cd_cliques(avg, test.cd)


def test_friedman_says_why_not():
    same = pd.DataFrame({"a": [1.0] * 4, "b": [1.0] * 4, "c": [1.0] * 4})
    assert "every loss scored the same" in stats.rank_test(same, False).reason
    one = pd.DataFrame({"a": [1.0]})
    assert "at least two losses" in stats.rank_test(one, False).reason


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
