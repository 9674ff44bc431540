"""The report's statements, case by case (issues 19, 16, 20): each builds a small results
folder in-process, in the documented layout (``summary.json`` + ``metrics.parquet`` per
run), makes the report and checks what the page says, and that it says no more.

The runs are synthetic so each case holds exactly the pattern it tests; the end-to-end
path through the real CLI is in ``tests/test_report.py``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from harness.report.__main__ import main

LEVEL_KEY = {"regression": "data.outlier_frac", "multiclass": "data.label_noise"}
METRIC = {"regression": "rmse", "multiclass": "accuracy"}


def write_run(root: Path, *, loss: str, level: float, seed: int, final: float,
              task: str = "regression", data: str = "toy", epochs: int = 3,
              config: dict | None = None, stacked: int | None = None,
              seconds_per_epoch: float = 0.5, run_id: str | None = None,
              pull: float = 0.2) -> Path:
    """One completed run whose test metric goes from 1.0 (epoch 0; 0.1 for accuracy) to
    ``final`` linearly, with validation alike, an objective, ``elapsed_s`` and, when
    ``level`` > 0, memorisation rows. Returns its folder."""
    metric = METRIC[task]
    cfg = {"loss": loss, "data": data, LEVEL_KEY[task]: level, "seed": seed,
           "model": "mlp", "optim": "adam", "optim.lr": 0.001, "trainer.epochs": epochs,
           **(config or {})}
    digest = hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()
    rid = run_id or f"{loss}-{data}-{level!r}-{seed}-{digest[:8]}"
    start = 1.0 if metric == "rmse" else 0.1
    rows = []
    for epoch in range(epochs + 1):
        v = start + (final - start) * epoch / epochs
        rows += [(rid, epoch, "test", metric, v), (rid, epoch, "val", metric, v * 1.01),
                 *([(rid, epoch, "test", "mae", 0.8 * v)] if task == "regression" else []),
                 (rid, epoch, "train", "objective", 5.0 * (1 + level) / (1 + epoch)),
                 (rid, epoch, "train", "elapsed_s", seconds_per_epoch * epoch)]
        if level > 0:
            rows += [(rid, epoch, "train", "memorised", 0.0),
                     (rid, epoch, "train", "corrupted_correct", 1.0),
                     (rid, epoch, "train", "pull", pull * epoch / epochs)]
    folder = root / rid.replace("/", "_")
    folder.mkdir(parents=True)
    pd.DataFrame(rows, columns=["run_id", "epoch", "split", "metric", "value"]).to_parquet(
        folder / "metrics.parquet", index=False)
    summary = {"run_id": rid, "status": "completed", "task": task,
               "loss_id": loss, "harness_version": "0.2.0", "epochs_run": epochs,
               "train_time_s": seconds_per_epoch * epochs,
               "config": cfg, "final": {f"test.{metric}": final, f"val.{metric}": final,
                                        **({"test.mae": 0.8 * final}
                                           if task == "regression" else {})},
               "data_info": {"corruption": "x", "corruption_level": level,
                             "realised_corruption": level}}
    if stacked:
        summary["stacked_members"] = stacked
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def grid(root: Path, losses: dict[str, float], levels=(0.0, 0.2), seeds=range(3), *,
         slope: dict[str, float] | None = None, noise: float = 0.02, **kw) -> Path:
    """Runs of every loss x level x seed: final = base + slope * level + seed noise."""
    rng = np.random.default_rng(0)
    for loss, base in losses.items():
        for level in levels:
            for seed in seeds:
                value = base + (slope or {}).get(loss, 0.0) * level + noise * rng.normal()
                write_run(root, loss=loss, level=level, seed=seed, final=value, **kw)
    return root


def report(folder: Path, *args: str, out: Path | None = None) -> tuple[str, Path]:
    out = out or folder / "report"
    assert main([str(folder), "--out", str(out), *args]) == 0
    return (out / "index.html").read_text(), out


def plain(page: str) -> str:
    """The page's text without tags or entities, for reading sentences."""
    import html

    return html.unescape(re.sub(r"<[^>]+>", " ", page))


# ---------------------------------------------------------------- issue 19: statistics
@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_identical_settings_are_one_and_two_blocks_cannot_be_tested(tmp_path):
    """The label-noise preset's shape: two noise kinds of one data set, rate 0 the very
    same runs under both. Rate 0 is counted once; 2 blocks cannot reject."""
    losses = {"ce": 0.80, "gce": 0.85, "mae_cls": 0.83}
    rng = np.random.default_rng(1)
    for kind in ("pair", "symmetric"):
        for loss, base in losses.items():
            for seed in range(2):
                for level in (0.0, 0.2, 0.4):
                    clean = base + 0.1 + 0.01 * seed  # rate 0: identical under both kinds
                    value = clean if level == 0 else base - level * 0.3 + 0.02 * rng.normal()
                    write_run(tmp_path / "runs", loss=loss, level=level, seed=seed,
                              final=value, task="multiclass", data="digits",
                              config={"data.corruption": kind})
    page, out = report(tmp_path / "runs")
    text = plain(page)
    assert ("digits, data.corruption=symmetric; label-noise rate 0 holds the same runs' "
            "results as digits, data.corruption=pair; label-noise rate 0") in text
    csv = pd.read_csv(out / "summary.csv")
    assert csv.setting.nunique() == 5  # 6 configs, 5 distinct settings
    assert "2 blocks from 1 data set" in text
    assert ("Across blocks: no test: with 2 blocks and 3 losses the smallest p Friedman's "
            "test can give is 0.135 > alpha = 0.05") in text
    assert "Blocks that share a data set share its draws and seeds" in text
    assert "cannot be told apart" not in text


def auc_by_hand(levels, values):
    x, y = np.asarray(levels, float), np.asarray(values, float)
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2) / (x[-1] - x[0]))


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_levels_of_one_data_set_are_repeated_measures_tested_over_seeds(tmp_path):
    """The regression preset's shape: one data set at nested outlier fractions with
    the same seeds. Levels are never blocks; the test runs over seeds on each seed's
    robustness AUC, and says so."""
    levels = (0.0, 0.2, 0.4)
    losses = {"mse": 0.2, "huber": 0.2, "mae": 0.21, "tukey": 0.2}
    slope = {"mse": 8.0, "huber": 1.2, "mae": 0.3, "tukey": 0.1}
    grid(tmp_path / "runs", losses, levels, range(6), slope=slope)
    page, out = report(tmp_path / "runs")
    text = plain(page)
    assert "Across data sets: one block (toy), so no test across data sets is possible" in text
    assert "are repeated measures (the same data and seeds at increasing corruption)" in text
    # the Friedman statistic is scipy's on each seed's AUC, computed here independently
    summaries = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/summary.json")]
    finals = pd.DataFrame([{**s["config"], "value": s["final"]["test.rmse"]} for s in summaries])
    auc = finals.pivot_table(index="seed", columns=["loss", "data.outlier_frac"],
                             values="value")
    per_seed = pd.DataFrame({loss: [auc_by_hand(levels, auc.loc[s, loss].loc[list(levels)])
                                    for s in auc.index] for loss in losses})
    ref = sps.friedmanchisquare(*per_seed.to_numpy().T)
    stat = re.search(r"Friedman's test over 6 seeds and 4 losses, chi-square = ([\d.]+), "
                     r"p = ([\d.e-]+)", text)
    assert stat, text
    assert float(stat.group(1)) == pytest.approx(ref.statistic, rel=1e-2)
    assert "over 3 settings" not in text and "settings and 4 losses" not in text
    assert (out / "ranking_rmse.png").is_file()  # 6 seeds, 4 losses: a diagram can say something
    assert "cannot be told apart" not in text


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_two_losses_get_wilcoxon_and_no_diagram(tmp_path):
    """Issue 19's case: with 2 losses the old page drew a CD diagram (CD 1.13 > 1) saying
    'cannot be told apart' while paired tests gave p < 1e-4."""
    grid(tmp_path / "runs", {"mse": 1.0, "mae": 0.5}, (0.0, 0.3), range(16), noise=0.01)
    page, out = report(tmp_path / "runs")
    text = plain(page)
    assert not (out / "ranking_rmse.png").exists()
    assert ("two losses, so the two-sided Wilcoxon signed-rank test over 16 seeds") in text
    assert "mae ranks better than mse" in text
    assert "< 1e-4" in text  # the paired per-setting tests, 16 seeds each
    assert "cannot be told apart" not in text and "Critical-difference" not in text


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_three_losses_over_two_seeds_draw_no_diagram_and_say_why(tmp_path):
    grid(tmp_path / "runs", {"a": 1.0, "b": 0.5, "c": 0.2}, (0.0, 0.3), range(2))
    page, out = report(tmp_path / "runs")
    text = plain(page)
    assert not (out / "ranking_rmse.png").exists()
    assert ("with 2 seeds and 3 losses the smallest p Friedman's test can give is 0.135 > "
            "alpha = 0.05, so it could not reject whatever the results; it needs at least "
            "3 seeds") in text
    assert "No per-setting paired comparisons shown: with at most 2 paired seed(s)" in text


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_one_seed_has_no_paired_table_but_says_why(tmp_path):
    grid(tmp_path / "runs", {"a": 1.0, "b": 0.5}, (0.0, 0.3), range(1))
    page, _ = report(tmp_path / "runs")
    assert "Paired comparisons with the best loss" not in page
    assert "No paired comparisons: one seed per loss and setting" in plain(page)


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_several_data_sets_are_the_blocks_of_the_friedman_test(tmp_path):
    rng = np.random.default_rng(3)
    for d in ("d1", "d2", "d3", "d4"):
        for loss, base in {"a": 0.5, "b": 0.7, "c": 0.9}.items():
            for seed in range(1):
                write_run(tmp_path / "runs", loss=loss, level=0.0, seed=seed, data=d,
                          final=base + 0.01 * rng.normal())
    page, out = report(tmp_path / "runs")
    text = plain(page)
    assert "4 blocks from 4 data sets" in text
    assert "Across blocks: Friedman's test over 4 blocks and 3 losses, chi-square = 8" in text
    assert "it rejects that all losses rank equally" in text
    assert (out / "ranking_rmse.png").is_file()


# ---------------------------------------------------------------- issue 19: time
def test_stacked_runs_show_each_members_share_and_say_seconds_do_not_compare(tmp_path):
    grid(tmp_path / "runs", {"a": 0.3, "b": 0.5}, (0.0,), range(2), stacked=4,
         seconds_per_epoch=2.0)
    page, out = report(tmp_path / "runs")
    text = plain(page)
    assert "Every run was trained stacked with others" in text
    assert "do not compare with the seconds of runs trained alone" in text
    assert ("whiskers: the 95% t-interval of the mean, clipped to the possible range (0 to "
            "3 epochs)") in text and "(n = 2 per bar, see the table)" in text
    csv = pd.read_csv(out / "summary.csv").set_index("loss")
    # "a" (1.0 -> 0.3, the best) gets 95% of the way at epoch 3 (epoch 2: 0.53): its
    # share of the stack's 3 x 2.0 s is a quarter; "b" (1.0 -> 0.5) never gets there
    assert csv.loc["a", "epochs_to_target"] == 3
    assert csv.loc["a", "seconds_to_target"] == pytest.approx(6.0 / 4)
    assert csv.loc["b", "reached_target"] == 0


def test_mixed_stacked_and_alone_show_epochs_only(tmp_path):
    grid(tmp_path / "runs", {"a": 0.3}, (0.0,), range(2), stacked=4)
    grid(tmp_path / "runs", {"b": 0.5}, (0.0,), range(2))
    page, out = report(tmp_path / "runs")
    assert "their training seconds are not comparable" in plain(page)
    assert pd.read_csv(out / "summary.csv").seconds_to_target.isna().all()
    assert not re.search(r"\d ep, [\d.]+ s", plain(page))


# ---------------------------------------------------------------- issue 19: figures
@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_eight_losses_get_small_multiples_and_no_merged_bands(tmp_path):
    losses = {f"loss{i}": 0.2 + 0.01 * i for i in range(8)}
    grid(tmp_path / "runs", losses, (0.0, 0.2, 0.4), range(3),
         slope={k: i * 0.5 for i, k in enumerate(losses)})
    page, out = report(tmp_path / "runs")
    text = plain(page)
    assert "one panel per loss" in text and "the other losses' means in grey" in text
    assert "no bands with 8 losses, they would overlap" in text
    assert "pull (top row)" in text  # the regression memorisation, explained
    for kind in ("robustness", "convergence", "memorisation", "speed"):
        assert (out / f"{kind}_rmse.png").stat().st_size > 5000


def curves_frame(levels=(0.0, 0.2), losses=("a", "b"), epochs=3):
    rows = []
    for loss in losses:
        for level in levels:
            for seed in range(2):
                for e in range(epochs + 1):
                    for split, metric, v in (("test", "rmse", 1 - 0.1 * e),
                                             ("val", "rmse", 1 - 0.1 * e),
                                             ("train", "objective", (1 + 50 * level) / (1 + e))):
                        rows.append({"run_id": f"{loss}{level}{seed}", "epoch": e,
                                     "split": split, "metric": metric, "value": v,
                                     "loss_label": loss, "context": "toy", "level": level,
                                     "setting": f"toy; {level}", "seed": seed})
    return pd.DataFrame(rows)


def test_convergence_has_integer_epochs_clean_validation_and_own_objective_scales():
    from harness.report import figures

    curves = curves_frame()
    fig = figures.convergence(curves, "rmse", "outlier fraction",
                              figures.palette(["a", "b"]), True)
    axes = np.array(fig.axes[:6]).reshape(3, 2)
    for ax in axes.flat:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert all(float(t).is_integer() for t in ticks), ticks
    assert axes[1, 0].get_ylabel().startswith("clean validation RMSE")
    # the objective row: each level on its own scale (level 0.2's is 11x level 0's)
    assert axes[2, 0].get_ylim()[1] < axes[2, 1].get_ylim()[1] / 3
    assert axes[0, 0].get_ylim() == axes[0, 1].get_ylim()  # test row shares its scale


def test_sensitivity_puts_validation_and_test_on_separate_axes():
    from harness.report import figures

    rows = []
    for x, val, test in ((1e-3, 4.4, 0.7), (1e-2, 4.5, 0.72), (1e-1, 4.9, 0.9)):
        for split, v in (("val", val), ("test", test)):
            rows.append({"setting": "s", "loss_label": "huber", "param": "optim.lr", "x": x,
                         "split": split, "value": v, "selected": x == 1e-3, "n_params": 1})
    fig = figures.sensitivity(pd.DataFrame(rows), "rmse", {"huber": (0.1, 0.2, 0.7)})
    top, bottom = fig.axes[0], fig.axes[1]
    assert "validation" in top.get_ylabel() and "test" in bottom.get_ylabel()
    assert top.get_ylim()[0] > 4 and bottom.get_ylim()[1] < 1


# ---------------------------------------------------------------- the page and its files
@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_embed_inlines_every_figure_and_tables_scroll(tmp_path):
    grid(tmp_path / "runs", {"a": 0.3, "b": 0.5}, (0.0, 0.2), range(3))
    page, out = report(tmp_path / "runs", "--embed")
    figures = sorted(p.name for p in out.glob("*.png"))
    assert figures and "src='" + figures[0] not in page
    assert page.count("src='data:image/png;base64,") == len(figures)
    assert "<div class='scroll'><h3>Final clean test rmse</h3>" in page
    assert ".scroll { overflow-x: auto;" in page


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_summary_tex_is_booktabs_with_the_best_in_bold(tmp_path):
    grid(tmp_path / "runs", {"huber": 0.3, "mse": 0.5, "l_1": 0.4}, (0.0, 0.2), range(3))
    _, out = report(tmp_path / "runs")
    tex = (out / "summary.tex").read_text()
    assert "\\usepackage{booktabs}" in tex
    table = tex[tex.index("\\begin{tabular}"):tex.index("\\end{tabular}")]
    for rule in ("\\toprule", "\\midrule", "\\bottomrule"):
        assert table.count(rule) == 1
    rows = [r for r in table.split("\\midrule")[1].splitlines() if r.endswith("\\\\")]
    assert len(rows) == 3 and all(r.count("&") == 2 for r in rows)
    assert "l\\_1" in table and "$\\pm$" in table
    csv = pd.read_csv(out / "summary.csv")
    best = csv[csv.best]
    for row in rows:
        loss = row.split(" & ")[0].replace("\\_", "_")
        bold = row.count("\\textbf{")
        assert bold == int((best.loss == loss).sum()), row


# ---------------------------------------------------------------- issue 16
@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_a_level_that_prints_the_same_is_one_setting(tmp_path):
    """Case 3: a float sweep's 0.30000000000000004 and a typed 0.3 are one level."""
    grid(tmp_path / "runs", {"a": 0.3, "b": 0.5}, (0.0, 0.30000000000000004), range(2))
    grid(tmp_path / "runs", {"a": 0.3, "b": 0.5}, (0.3,), range(2, 4))
    page, out = report(tmp_path / "runs")
    csv = pd.read_csv(out / "summary.csv")
    assert sorted(csv.level.unique()) == [0.0, 0.3]
    assert set(csv[csv.level == 0.3].n) == {4}


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_a_config_key_some_runs_lack_is_a_dash_not_a_crash(tmp_path):
    """Case 6: one data set has a key the other lacks (NaN under pandas 3)."""
    for scale in (10.0, 5.0):
        grid(tmp_path / "runs", {"mse": 0.3 + scale / 100, "mae": 0.2}, (0.0,), range(2),
             data="outliers", config={"data.outlier_scale": scale})
    grid(tmp_path / "runs", {"mse": 0.4, "mae": 0.3}, (0.0,), range(2), data="diabetes")
    page, out = report(tmp_path / "runs")
    csv = pd.read_csv(out / "summary.csv")
    assert sorted(csv.setting.unique()) == [
        "diabetes, data.outlier_scale=-; outlier fraction 0",
        "outliers, data.outlier_scale=10; outlier fraction 0",
        "outliers, data.outlier_scale=5; outlier fraction 0"]
    means = csv.groupby("context")["mean"].mean()
    assert means["diabetes, data.outlier_scale=-"] == pytest.approx(0.35, abs=0.05)


def test_stacked_runs_of_this_version_already_record_their_own_share():
    """The lifecycle records a stacked member's elapsed_s as its own share of the stack's
    time (and stack_train_time_s beside it): the report takes it as it is; a stacked run
    of an older harness (the stack's whole time, no stack_train_time_s) is divided by
    its members."""
    from harness.report.sections import time_share

    runs = pd.DataFrame({"run_id": ["new", "old", "alone"], "stacked_members": [4, 4, None],
                         "train_time_s": [1.5, 6.0, 2.0],
                         "stack_train_time_s": [6.0, None, None]})
    assert time_share(runs).to_dict() == {"new": 1.0, "old": 0.25, "alone": 1.0}
