"""The fair-comparison protocol (python -m harness.protocol) and its report, on tiny data."""

from __future__ import annotations

import json
import math

import pytest

import harness.data.dataset
from harness import protocol as P
from harness.data import diabetes
from harness.seeding import derive_seeds
from tests.helpers import run_main

TINY = ["data.n_samples=200", "trainer.epochs=2"]
# 2 losses with different search spaces: mse tunes optim.lr (4 points), huber
# optim.lr x loss.delta (12 points); each gets exactly budget=2 candidates
SMALL = ["losses=[mse,huber]", "budget=2", "seeds=[1,2]", *TINY]


def poisoning(build):
    """``harness.data.build`` with adversarial *test* labels (sign flipped, scaled,
    shifted): anything that read the test split while tuning would tune differently."""

    def poisoned(*args, **kwargs):
        data = build(*args, **kwargs)
        data.y["test"] = -3.0 * data.y["test"] + 5.0
        return data

    return poisoned


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    """The whole protocol through its command line (in this process), as a user runs it."""
    out = tmp_path_factory.mktemp("protocol") / "p"
    proc = run_main("regression_diabetes", *SMALL, f"out={out}", module="harness.protocol")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_end_to_end_stages_selection_and_ranking(e2e):
    out, proc = e2e
    record = json.loads((out / P.SPEC_FILE).read_text())
    runs = P.summaries(out)
    # tuning and final runs are marked apart; each stage folder has its merged table
    assert runs.groupby("stage").size().to_dict() == {"tune": 4, "final": 4, "default": 4}
    assert set(runs.status) == {"completed"}
    for stage in P.STAGES:
        assert (out / stage / "results.parquet").is_file()
    assert set(P.load(out).stage) == set(P.STAGES)
    tune = runs[runs.stage == "tune"]
    assert set(tune.seed) == {0} and set(runs[runs.stage != "tune"].seed) == {1, 2}
    for entry in record["entries"]:
        scores = [c["val_score"] for c in entry["candidates"]]
        assert entry["metric"] == "mae" and not entry["higher_is_better"]  # the preset's
        # the selected candidate has the lowest val_corrupted mae of its loss's trials
        assert entry["selected_val_score"] == min(scores)
        chosen = entry["candidates"][entry["selected"]]
        final = runs[(runs.stage == "final") & runs.run_id.isin(entry["final"]["run_ids"])]
        assert len(final) == 2
        for override in chosen["overrides"]:  # the final runs use the selected values
            key, value = override.split("=")
            assert all(math.isclose(float(v), float(value)) for v in final[key])
        default = runs[(runs.stage == "default")
                       & runs.run_id.isin(entry["default"]["run_ids"])]
        assert list(default["optim.lr"]) == [0.001, 0.001]  # the config's own lr
        assert entry["final"]["n"] == 2 and entry["rank"] in (1.0, 2.0)
    assert "ranking (tuned on val" in proc.stdout
    assert "[4/4] tune" in proc.stdout and "test.mae" not in proc.stdout.split("final:")[0]
    assert "tune: 4 jobs: 1 stacked groups (4)" in proc.stdout  # same shape: one stack


def test_equal_budget_per_loss(e2e):
    out, _ = e2e
    record = json.loads((out / P.SPEC_FILE).read_text())
    tune = P.summaries(out).query("stage == 'tune'")
    assert tune.groupby("loss").size().to_dict() == {"mse": 2, "huber": 2}
    assert all(len(e["candidates"]) == record["budget"] == 2 for e in record["entries"])
    huber = next(e for e in record["entries"] if e["loss"] == "huber")
    assert all(len(c["overrides"]) == 2 for c in huber["candidates"])  # lr and delta


def test_candidates_same_budget_whatever_the_space():
    spec, _ = P.load_spec("regression_diabetes", ["budget=3"])
    spec.losses.append("welsch")
    spec.loss_space["welsch"] = ["loss.c=tag(log,interval(0.1,10))"]  # sampled
    for loss in spec.losses:
        cands = P.candidates(spec, loss)
        assert len(cands) == 3 and len({tuple(c) for c in cands}) == 3, loss
        assert cands == P.candidates(spec, loss)  # the same draw every time
        lrs = {float(c[0].split("=")[1]) for c in cands}
        assert lrs <= {1e-4, 3e-4, 1e-3, 3e-3}
    welsch = P.candidates(spec, "welsch")
    assert all(0.1 <= float(c[1].split("=")[1]) <= 10 for c in welsch)
    # a budget equal to the grid takes the whole grid, in order
    spec.budget = 4
    assert [c[0] for c in P.candidates(spec, "mse")] == [
        "optim.lr=0.0001", "optim.lr=0.0003", "optim.lr=0.001", "optim.lr=0.003"]


def test_selection_reads_the_corrupted_validation_split_only():
    good = {"status": "completed",
            "final": {"val_corrupted.rmse": 0.5, "val.rmse": 0.9, "test.rmse": 9.0}}
    bad = {"status": "completed",
           "final": {"val_corrupted.rmse": 0.7, "val.rmse": 0.1, "test.rmse": 0.1}}
    assert P.score([good], "rmse") == 0.5
    assert P.select([P.score([good], "rmse"), P.score([bad], "rmse")], higher=False) == 0
    # diverged, failed or missing trials are never selected; ties go to the first
    diverged = {"status": "diverged", "final": {"val_corrupted.rmse": 0.1}}
    assert math.isnan(P.score([good, diverged], "rmse"))
    assert P.select([math.nan, 0.3, 0.3], higher=False) == 1
    assert P.select([0.2, 0.9, 0.9], higher=True) == 1
    assert P.select([math.nan], higher=True) is None


def test_poisoned_test_labels_tune_identically(tmp_path, monkeypatch):
    """The no-test-leak property: the same protocol on data whose test labels are
    poisoned tunes and selects exactly as on the clean data; only test numbers move."""
    quiet = lambda *a: None  # noqa: E731
    records = {}
    for name in ("clean", "poisoned"):
        if name == "poisoned":  # every data set is now built with poisoned test labels
            monkeypatch.setattr(harness.data.dataset, "build",
                                poisoning(harness.data.dataset.build))
        spec, _ = P.load_spec("regression_diabetes",
                              [*SMALL, "seeds=[1]", f"out={tmp_path / name}"])
        records[name] = P.run_protocol(spec, log=quiet)
    assert {e["final"]["n"] for r in records.values() for e in r["entries"]} == {1}
    clean, poisoned = records["clean"]["entries"], records["poisoned"]["entries"]
    for a, b in zip(clean, poisoned, strict=True):
        assert a["candidates"] == b["candidates"]  # overrides, val scores, run ids
        assert a["selected"] == b["selected"]
        assert a["selected_val_score"] == b["selected_val_score"]
        assert a["final"]["test_mean"] != pytest.approx(b["final"]["test_mean"], rel=0.05)
    tune = {n: P.summaries(tmp_path / n).query("stage == 'tune'").set_index("run_id")
            for n in records}
    val_cols = [c for c in tune["clean"] if c.startswith("final.val_corrupted.")]
    assert val_cols
    assert tune["clean"][val_cols].equals(tune["poisoned"].loc[tune["clean"].index, val_cols])


def test_resume_skips_finished_runs(e2e, capsys):
    out, _ = e2e
    assert P.main(["regression_diabetes", *SMALL, f"out={out}"]) == 0
    said = capsys.readouterr().out
    for stage in P.STAGES:
        assert f"{stage}: 4 jobs: 4 done, 0 to run" in said


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_protocol_report(e2e, tmp_path):
    from harness.report.__main__ import main as report_main

    out, _ = e2e
    assert report_main([str(out), "--out", str(tmp_path / "r")]) == 0
    page = (tmp_path / "r" / "summary.md").read_text()
    for part in ("Runs by protocol stage", "Tuned vs default (test mae)",
                 "Tuning trials (validation mae)", "Final runs: the tuned losses compared",
                 "sensitivity_mae.png"):
        assert part in page, part
    assert (tmp_path / "r" / "sensitivity_mae.png").stat().st_size > 5000
    assert (tmp_path / "r" / "index.html").is_file()
    # final runs are labelled by loss, not split into settings by the tuned lr
    summary = __import__("pandas").read_csv(tmp_path / "r" / "summary.csv")
    assert sorted(summary.loss) == ["huber", "mse"] and summary.setting.nunique() == 1
    tvd = __import__("pandas").read_csv(tmp_path / "r" / "tuned_vs_default.csv")
    assert list(tvd.default_n) == [2, 2] and list(tvd.tuned_n) == [2, 2]


@pytest.mark.parametrize("args, message", [
    (["nope"], "unknown protocol 'nope'; choose one of: label_noise_mnist1d, "
               "regression_diabetes"),
    (["regression_diabetes", "budget=0"], "budget must be an integer >= 1"),
    (["regression_diabetes", "budget=5"], "the search space of 'mse' has 4 points, fewer "
                                          "than budget=5"),
    (["regression_diabetes", "losses=[mse,hinge]"], "loss 'hinge' is a binary loss"),
    (["regression_diabetes", "losses=[mse,nope]"], "unknown loss 'nope' in losses"),
    (["regression_diabetes", "seed=3"], "the protocol sets seed itself"),
])
def test_user_mistakes_are_one_line_exit_2(args, message, capsys):
    assert P.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_selection_split_is_corrupted_like_training():
    data = diabetes(seeds=derive_seeds(0), outlier_frac=0.2)
    ys = {**data.y, "val_corrupted": data.y_val_corrupted}
    far = {s: float((y.abs() > 8).float().mean()) for s, y in ys.items()}
    assert far["train"] > 0.15 and far["val_corrupted"] > 0.15, far
    assert far["val"] == far["test"] == 0.0, far


def test_runs_of_an_earlier_spec_are_left_out(e2e, tmp_path):
    """A run left in a stage folder by an earlier spec (e.g. another lr grid) is not part
    of the protocol: load(), summaries() and the report skip it."""
    import shutil

    out, _ = e2e
    copy = tmp_path / "p"
    shutil.copytree(out, copy)
    stray = next(d for d in (copy / "tune").iterdir() if d.is_dir())
    shutil.copytree(stray, copy / "final" / "stray")
    assert len(P.summaries(copy).query("stage == 'final'")) == 4
    assert P.load(copy).query("stage == 'final'").run_id.nunique() == 4


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_a_changed_spec_keeps_the_earlier_runs_and_reports_only_its_own(tmp_path, capsys):
    out = tmp_path / "p"
    assert P.main(["regression_diabetes", *SMALL, f"out={out}"]) == 0
    first = {s.parent.name for s in (out / "tune").glob("*/summary.json")}
    # the same overrides but another fixed key: other runs, in folders of their own
    assert P.main(["regression_diabetes", *SMALL, "trainer.epochs=3", f"out={out}"]) == 0
    names = {s.parent.name for s in (out / "tune").glob("*/summary.json")}
    assert first < names and len(names) == 2 * len(first)  # nothing was deleted
    runs = P.summaries(out)
    assert set(runs["trainer.epochs"]) == {3}  # only the newer protocol's runs
    assert len(runs) == 12
    capsys.readouterr()


@pytest.mark.parametrize(("args", "message"), [
    (["metric=accuracy"], "metric=accuracy is not a regression metric; choose one of rmse"),
    (["out=/proc/nope/p"], "cannot create the protocol folder /proc/nope/p"),
    (["space=['optim.lr=tag(log,interval(0,1))']"],
     "an interval needs start < end and start > 0 on a log scale; got 0, 1."),
])
def test_more_mistakes_stop_before_training_with_one_line(args, message, tmp_path, capsys):
    extra = [] if any(a.startswith("out=") for a in args) else [f"out={tmp_path}/p"]
    assert P.main(["regression_diabetes", *SMALL, *args, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "p" / "tune").exists()


def test_resume_follows_the_sweeps_rule_for_unreadable_files(e2e, tmp_path, capsys):
    """One rule for 'finished' (harness.jobs.resume.finished_runs): a run whose
    metrics.parquet cannot be read is not finished, so it is neither skipped nor copied
    from another stage folder but trained again; a stray unreadable summary.json is named
    in a warning and does not stop the protocol."""
    import shutil

    import pandas as pd

    out = tmp_path / "p"
    shutil.copytree(e2e[0], out)
    final = sorted((out / "final").glob("*/summary.json"))[0].parent
    elsewhere = out / "tune" / final.name  # the same run id, finished "elsewhere"...
    shutil.move(final, elsewhere)
    metrics = elsewhere / "metrics.parquet"
    metrics.write_bytes(metrics.read_bytes()[:50])  # ...but truncated: not finished
    stray = out / "default" / "stray"
    stray.mkdir()
    (stray / "summary.json").write_text('{"run_id": "x", "sta')
    assert P.main(["regression_diabetes", *SMALL, f"out={out}"]) == 0
    said = capsys.readouterr().out
    assert "final: 4 jobs: 3 done, 1 to run" in said
    assert "copied from" not in said  # trained again, never copied while unreadable
    assert f"warning: skipped {stray / 'summary.json'}" in said
    with pytest.warns(UserWarning, match="skipped .*stray"):  # named, left out
        assert len(P.summaries(out).query("stage == 'final'")) == 4
    assert len(pd.read_parquet(final / "metrics.parquet")) > 0


def test_a_finished_run_of_another_stage_is_copied(e2e, tmp_path, capsys):
    import shutil

    out = tmp_path / "p"
    shutil.copytree(e2e[0], out)
    final = sorted((out / "final").glob("*/summary.json"))[0].parent
    shutil.move(final, out / "tune" / final.name)
    assert P.main(["regression_diabetes", *SMALL, f"out={out}"]) == 0
    assert f"copied from tune/{final.name}" in capsys.readouterr().out
    assert (final / "summary.json").read_bytes() == \
        (out / "tune" / final.name / "summary.json").read_bytes()
