"""Fault injection: corrupt files, divergence, atomic writes, config safety, determinism.
What needs real processes (a SIGKILLed sweep, joblib workers): ``tests/e2e/test_faults.py``."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pandas as pd
import pytest

from harness import results, safety
from harness.errors import HarnessError
from harness.jobs.job import Task, call, write_failed
from harness.jobs.lifecycle import run_one as run
from tests.helpers import ROOT, TINY, make_cfg

CHOICES = {"data": "outliers", "model": "mlp", "loss": "mse", "optim": "adam",
           "trainer": "default"}


def strict_json(path: Path):
    """Parse ``path`` refusing NaN / Infinity tokens (they are not JSON)."""
    def refuse(token):
        raise ValueError(f"non-strict JSON token {token} in {path}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two completed runs, one diverged, one that failed before its first epoch."""
    root = tmp_path_factory.mktemp("runs")
    for loss in ("mse", "huber"):
        run(make_cfg(f"loss={loss}", *TINY), root / loss, {**CHOICES, "loss": loss}, echo=False)
    run(make_cfg("optim=sgd", "optim.lr=1e6", *TINY), root / "diverged",
        {**CHOICES, "optim": "sgd"}, echo=False)
    write_failed(Task(make_cfg("data.n_samples=5", *TINY[1:]), CHOICES, root / "failed"),
                 HarnessError("data.n_samples=5 is too small"))
    return root


# ---------------------------------------------------------------- divergence, strict JSON


def test_nan_run_is_recorded_as_diverged_never_as_a_number(runs):
    summary = strict_json(runs / "diverged" / results.SUMMARY_FILE)
    assert summary["status"] == "diverged" and summary["diverged_epoch"] == 1
    assert summary["final"]["train.objective"] in ("nan", "inf", "-inf")  # a name, no number
    table = results.summaries(runs).set_index("run_id")
    row = table.loc[summary["run_id"]]
    assert row["status"] == "diverged" and math.isnan(row["final.test.rmse"])

    from harness.report import data

    res = data.load([runs])
    panel = data.panel(res, "rmse", ["regression"])
    assert summary["run_id"] not in set(panel.finals.run_id)  # never compared or plotted
    assert set(panel.finals.run_id) == set(res.completed.run_id) and len(panel.finals) == 2


def test_every_summary_is_strict_json(runs):
    for path in runs.rglob(results.SUMMARY_FILE):
        assert isinstance(strict_json(path), dict)


def test_non_finite_numbers_round_trip_as_names(tmp_path):
    obj = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": "text", "d": {"e": 2}}
    text = results.dumps(obj)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["b"] == ["inf", "-inf", 1.5]
    back = results.loads(text)
    assert math.isnan(back["a"]) and back["b"] == [math.inf, -math.inf, 1.5]
    assert back["c"] == "text" and back["d"] == {"e": 2}
    assert results.loads('{"x": NaN}')["x"] != 0  # older files with NaN tokens still read


def test_infinite_loss_parameter_round_trips(tmp_path):
    cfg = make_cfg("loss=barron", "loss.alpha=-inf", *TINY)
    summary = run(cfg, tmp_path, {**CHOICES, "loss": "barron"}, echo=False)
    assert strict_json(tmp_path / results.SUMMARY_FILE)["config"]["loss.alpha"] == "-inf"
    row = results.summaries(tmp_path).iloc[0]
    assert row["loss.alpha"] == -math.inf and row["run_id"] == summary["run_id"]
    assert row["loss_id"] == "barron[alpha=-inf,c=1.0]"
    assert set(results.load(tmp_path)["loss.alpha"]) == {-math.inf}


# ---------------------------------------------------------------- atomic writes


def test_run_files_and_merged_table_are_written_by_rename(tmp_path, monkeypatch):
    renamed = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (renamed.append(Path(b).name), real(a, b)))
    run(make_cfg(*TINY), tmp_path / "r", CHOICES, echo=False)
    results.merge(tmp_path)
    assert renamed == [results.METRICS_FILE, results.SUMMARY_FILE, results.MERGED_FILE]
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no temp file left behind


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "summary.json"
    results.write_json(target, {"run_id": "a", "status": "completed"})

    def half_then_crash(tmp):
        Path(tmp).write_text('{"run_id": "b", "sta')
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        results.atomic_write(target, half_then_crash)
    assert strict_json(target) == {"run_id": "a", "status": "completed"}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_process_killed_mid_write_leaves_the_old_file(tmp_path):
    """SIGKILL between writing the temporary file and renaming it: the old file stays
    whole, and the half-written temporary file is ignored by load."""
    run_dir = tmp_path / "run"
    shutil.copytree(_one_run(tmp_path), run_dir)
    before = (run_dir / results.SUMMARY_FILE).read_bytes()
    code = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from harness import results
        def write(tmp):
            Path(tmp).write_text('{{"run_id": "half')
            os.kill(os.getpid(), signal.SIGKILL)
        results.atomic_write(Path({str(run_dir / results.SUMMARY_FILE)!r}), write)
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert (run_dir / results.SUMMARY_FILE).read_bytes() == before
    assert [p.name for p in run_dir.glob(".summary.json.*")]  # the orphan it left
    assert results.load(run_dir).run_id.nunique() == 1


def test_unwritable_results_folder_is_one_harness_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(HarnessError, match=r"cannot write .*file/run/summary.json: .*choose a "
                                           r"folder you can write"):
        results.write_json(blocker / "run" / results.SUMMARY_FILE, {})


def _one_run(tmp_path: Path) -> Path:
    out = tmp_path / "one"
    if not (out / results.SUMMARY_FILE).exists():
        run(make_cfg(*TINY), out, CHOICES, echo=False)
    return out


# ---------------------------------------------------------------- corrupt files


@pytest.fixture
def damaged(runs, tmp_path):
    """A copy of ``runs`` with a truncated summary and a corrupt metrics file."""
    root = tmp_path / "damaged"
    shutil.copytree(runs, root)
    summary = root / "huber" / results.SUMMARY_FILE
    summary.write_bytes(summary.read_bytes()[:40])  # truncated mid-file
    (root / "mse" / results.METRICS_FILE).write_bytes(b"PAR1 not really parquet")
    return root


def test_corrupt_files_are_named_and_skipped_by_load(damaged):
    with pytest.warns(results.ResultsWarning) as caught:
        table = results.load(damaged)
    named = {Path(w.message.path).relative_to(damaged).as_posix() for w in caught}
    assert named == {"huber/summary.json", "mse/metrics.parquet"}
    assert set(table.status) == {"diverged"}  # built from the rest
    with pytest.warns(results.ResultsWarning, match="huber/summary.json"):
        table = results.summaries(damaged)
    assert sorted(table.status) == ["completed", "diverged", "failed"]


def test_corrupt_merged_table_is_named_and_rebuilt_from_the_runs(runs, tmp_path):
    root = tmp_path / "sweep"
    shutil.copytree(runs, root)
    expected = results.merge(root)
    (root / results.MERGED_FILE).write_bytes(b"PAR1 truncated")
    with pytest.warns(results.ResultsWarning, match=r"skipped .*results.parquet"):
        table = results.load(root)
    pd.testing.assert_frame_equal(table, expected)


def test_only_unreadable_summaries_is_one_error_naming_one(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / results.SUMMARY_FILE).write_text("{trunc")
    with pytest.raises(HarnessError, match=r"no readable runs under .*bad/summary.json"):
        results.load(tmp_path)


def test_report_skips_corrupt_files_names_them_and_builds_from_the_rest(damaged, runs,
                                                                         tmp_path, capsys):
    from harness.report.__main__ import main

    good = tmp_path / "good"  # a readable copy of the mse run, and an empty summary
    shutil.copytree(runs / "mse", good / "mse")
    shutil.copytree(runs / "huber", good / "huber2")
    (good / "huber2" / results.SUMMARY_FILE).write_text("")
    assert main([str(good), str(damaged), "--out", str(tmp_path / "report")]) == 0
    err = capsys.readouterr().err
    for name in ("huber2/summary.json", "huber/summary.json", "mse/metrics.parquet"):
        assert re.search(rf"warning: skipped \S*{name}: .*left out of the report", err), err
    page = (tmp_path / "report" / "index.html").read_text()
    assert "huber2/summary.json" in page  # the page says what it left out
    summary = pd.read_csv(tmp_path / "report" / "summary.csv")
    assert len(summary) == 1 and "mse" in summary.iloc[0].to_string()


def test_runs_without_metric_rows_are_fine(runs):
    table = results.load(runs)
    failed = results.summaries(runs).query("status == 'failed'").run_id
    assert len(failed) == 1 and not table.run_id.isin(failed).any()
    assert table.run_id.nunique() == 3

    from harness.report import data

    res = data.load([runs])
    assert sorted(res.runs.status) == ["completed", "completed", "diverged", "failed"]


# ---------------------------------------------------------------- config safety


@pytest.mark.parametrize("target", [
    "harness.data.outliers", "harness.models.MLP", "losses.get", "torch.optim.SGD",
    "torch.nn.Linear", "sklearn.datasets.make_regression",
])
def test_allowed_targets_resolve(target):
    assert callable(safety.resolve(target))


@pytest.mark.parametrize("target, why", [
    ("os.system", "is not allowed"),
    ("subprocess.run", "is not allowed"),
    ("builtins.eval", "is not allowed"),
    ("torch.os.system", "defined in posix"),  # os.system reached through torch
    ("harness.jobs.job.DictConfig", "defined in omegaconf"),  # a re-export in our namespace
    ("torch.hub.load", "is not allowed"),
    ("torch.load", "is not allowed"),
    ("torch.jit.load", "is not allowed"),
    ("torch.utils.cpp_extension.load_inline", "is not allowed"),
    ("torch._C._get_tracing_state", "is not allowed"),
    ("sklearn.datasets.fetch_openml", "is not allowed"),
    ("losses.nope", "cannot be imported"),
    ("os.system; rm -rf /", "is not a dotted name"),
    (None, "is not a dotted name"),
])
def test_other_targets_are_refused_naming_key_target_and_rule(target, why):
    with pytest.raises(HarnessError) as err:
        safety.resolve(target, "model._target_")
    message = str(err.value)
    assert message.startswith("model._target_=") and str(target) in message
    assert why in message and "harness., losses., torch., sklearn." in message
    assert "\n" not in message


def test_refusals_and_signature_checks_hold_when_asked_again():
    """The checks a sweep repeats for every job are memoised (the refused prefixes of a
    name, a callable's signature): the thousandth job is refused as the first was."""
    from omegaconf import OmegaConf

    for _ in range(3):
        assert callable(safety.resolve("torch.nn.Linear"))
        with pytest.raises(HarnessError, match="defined in posix"):
            safety.resolve("torch.os.system", "model._target_")
        with pytest.raises(HarnessError, match="is not allowed"):
            safety.resolve("torch.utils.cpp_extension.load_inline", "model._target_")
        good = OmegaConf.create({"model": {"_target_": "torch.nn.Linear", "in_features": 2,
                                           "out_features": 1}})
        assert call(good.model).weight.shape == (1, 2)
        bad = OmegaConf.create({"model": {"_target_": "torch.nn.Linear", "in_features": 2,
                                          "widht": 1}})
        with pytest.raises(HarnessError, match=r"^model\._target_=torch\.nn\.Linear cannot be "
                                               r"called with the keys of model"):
            call(bad.model)


def test_call_refuses_before_calling(tmp_path):
    from omegaconf import OmegaConf

    marker = tmp_path / "ran"
    cfg = OmegaConf.create({"model": {"_target_": "os.system", "command": f"touch {marker}"}})
    with pytest.raises(HarnessError, match=r"^model\._target_=os\.system is not allowed"):
        call(cfg.model)
    assert not marker.exists()


def test_check_config_finds_nested_targets():
    from omegaconf import OmegaConf

    safety.check_config(make_cfg())  # the shipped configs pass
    cfg = OmegaConf.create({"hydra": {"launcher": {"_target_": "hydra._internal.x"}},
                            "optim": {"sched": [{"_target_": "torch.optim.SGD"},
                                                {"_target_": "pickle.loads"}]}})
    with pytest.raises(HarnessError, match=r"^optim\.sched\.1\._target_=pickle\.loads"):
        safety.check_config(cfg)


def test_no_pickles_written_or_read(runs):
    source = [p for d in ("harness", "losses", "hydra_plugins") for p in (ROOT / d).rglob("*.py")]
    for path in source:
        text = path.read_text()
        assert not re.search(r"\bimport pickle\b|\bpickle\.(load|dump)|joblib\.(load|dump)|"
                             r"\.to_pickle\(|read_pickle\(", text), path
        for call_ in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call_, (path, call_)
    written = [p for p in runs.rglob("*") if p.suffix in (".pkl", ".pickle", ".pt", ".pth")]
    assert written == []


# ---------------------------------------------------------------- determinism


def test_same_config_and_seed_give_identical_metrics_on_cpu(tmp_path):
    cfg = make_cfg("loss=huber", "seed=3", *TINY)
    first = run(cfg, tmp_path / "a", CHOICES, echo=False)
    second = run(cfg, tmp_path / "b", CHOICES, echo=False)
    a, b = (pd.read_parquet(tmp_path / d / results.METRICS_FILE) for d in ("a", "b"))
    timing = a.metric == "elapsed_s"  # wall-clock seconds differ, nothing else may
    assert first["run_id"] == second["run_id"]
    pd.testing.assert_frame_equal(a[~timing].reset_index(drop=True),
                                  b[~timing].reset_index(drop=True), check_exact=True)
    assert len(a[~timing]) > 0


def test_warnings_are_not_errors_for_readable_folders(runs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", results.ResultsWarning)
        assert results.load(runs).run_id.nunique() == 3


# ---------------------------------------------------------------- links the harness did not make
def snapshot_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_run_folder_that_is_a_link_is_refused_and_its_target_untouched(tmp_path):
    from harness.jobs.lifecycle import run_jobs

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "summary.json").write_text("not ours")
    link = tmp_path / "sweep" / "0"
    link.parent.mkdir()
    link.symlink_to(elsewhere)
    ok = tmp_path / "sweep" / "1"
    ended = {}
    run_jobs([Task(make_cfg(*TINY, "seed=0"), CHOICES, link),
              Task(make_cfg(*TINY, "seed=1"), CHOICES, ok)],
             lambda task, summary: ended.__setitem__(task.out_dir.name, summary))
    assert ended["0"]["status"] == "failed"
    assert ended["0"]["error"].startswith(f"the run folder {link} is a symbolic link")
    assert ended["1"]["status"] == "completed"  # the sweep goes on
    assert snapshot_of(elsewhere) == {"summary.json": b"not ours"} and link.is_symlink()
    with pytest.raises(HarnessError, match="remove the link or choose another folder"):
        run_jobs([Task(make_cfg(*TINY), CHOICES, link)], errors="raise")


def test_progress_and_job_records_replace_a_link_never_write_through_it(tmp_path, caplog):
    from harness.jobs.compose import write_job_record
    from harness.sweep import PROGRESS, record_progress

    target = tmp_path / "target.txt"
    target.write_text("precious\n")
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / PROGRESS).symlink_to(target)
    with caplog.at_level("WARNING", logger="harness.sweep"):
        record_progress(sweep, "job0", {"status": "completed", "final": {}})
    assert target.read_text() == "precious\n"
    assert "cannot count job0" in caplog.text
    record = sweep / "job0" / ".hydra"
    record.mkdir(parents=True)
    (record / "config.yaml").symlink_to(target)
    write_job_record(record, make_cfg(*TINY), None, [], hydra_text="x: 1\n")
    assert target.read_text() == "precious\n"
    assert not (record / "config.yaml").is_symlink()
    assert "seed: 0" in (record / "config.yaml").read_text()
