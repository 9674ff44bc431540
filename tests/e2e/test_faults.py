"""Faults that need real processes: a sweep killed with SIGKILL resumes; parallel joblib
workers share one sweep folder. Slow (``python -m pytest -m slow``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from harness import results
from tests.helpers import ROOT, TINY, run_cli
from tests.test_reliability import strict_json

SWEEP = ["-m", "loss=mse,mae,huber,log_cosh", "data.n_samples=400", "trainer.epochs=40",
         "trainer.progress=false"]


@pytest.mark.slow
def test_sweep_killed_with_sigkill_resumes_without_losing_or_duplicating(tmp_path):
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "harness", *SWEEP, f"hydra.sweep.dir={sweep}"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while not list(sweep.rglob(results.SUMMARY_FILE)) and time.monotonic() < deadline:
        assert proc.poll() is None, "the sweep ended before it could be killed"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    finished = {p.parent for p in sweep.rglob(results.SUMMARY_FILE)}
    assert 1 <= len(finished) < 4, "kill the sweep mid-way"
    snapshot = {p: p.read_bytes() for d in finished for p in d.rglob("*") if p.is_file()}
    started = {p.parent.parent for p in sweep.rglob(".hydra/config.yaml")}
    unfinished = started - finished

    again = run_cli(*SWEEP, f"hydra.sweep.dir={sweep}", timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"4 jobs: {len(finished)} done, {4 - len(finished)} to run" in again.stdout + \
        again.stderr
    for path, data in snapshot.items():
        assert path.read_bytes() == data, f"{path} changed on resume"
    summaries = results.summaries(sweep)
    assert len(summaries) == 4 and summaries.run_id.is_unique
    assert set(summaries.status) == {"completed"}
    for d in unfinished:  # the job that was running when killed was done again
        assert strict_json(d / results.SUMMARY_FILE)["status"] == "completed"
    merged = pd.read_parquet(sweep / results.MERGED_FILE)
    assert not merged.duplicated(["run_id", "epoch", "split", "metric"]).any()
    assert merged.run_id.nunique() == 4 and merged.epoch.max() == 40
    assert not [p for p in sweep.rglob("*") if p.suffix in (".pkl", ".pickle", ".pt")]


@pytest.mark.slow
def test_parallel_joblib_jobs_in_one_sweep_folder_do_not_clobber(tmp_path):
    sweep = tmp_path / "sweep"
    losses = ["mse", "mae", "huber", "log_cosh", "cauchy", "welsch"]
    proc = run_cli("-m", f"loss={','.join(losses)}", "seed=0,1", *TINY,
                   "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                   f"hydra.sweep.dir={sweep}", timeout=400)
    assert proc.returncode == 0, proc.stderr
    summaries = results.summaries(sweep)
    assert len(summaries) == 12 and summaries.run_id.is_unique
    for d in results.run_dirs(sweep):  # each folder holds its own job's run
        s = strict_json(d / results.SUMMARY_FILE)
        assert f"loss={s['config']['loss']}" in d.name and f"seed={s['config']['seed']}" in d.name
        metrics = pd.read_parquet(d / results.METRICS_FILE)
        assert set(metrics.run_id) == {s["run_id"]}
    assert not [p for p in sweep.rglob(".*") if p.is_file() and p.name != ".progress"
                and ".hydra" not in p.parts]
    assert len((sweep / ".progress").read_text().splitlines()) == 12
    merged = pd.read_parquet(sweep / results.MERGED_FILE)
    assert merged.run_id.nunique() == 12
    assert not [p for p in sweep.rglob("*") if p.suffix in (".pkl", ".pickle", ".pt")]
    assert not merged.duplicated(["run_id", "epoch", "split", "metric"]).any()


