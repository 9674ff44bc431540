"""A joblib worker process killed in the middle of a sweep (as the out-of-memory killer
would): joblib aborts the whole batch, the harness sweeper keeps what ended and runs the
lost jobs again, one at a time, so the sweep ends with every run and a warning line, no
traceback. (A job whose worker dies again on its own is recorded as failed: see
``tests/test_faults_sweep.py``, which breaks the pool on purpose.) Slow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from harness import results
from tests.helpers import ROOT


def workers(parent: int) -> list[int]:
    """The loky worker processes of ``parent`` (from /proc: no psutil needed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"popen_loky" in cmdline:  # not loky's resource tracker
            found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_killing_one_worker_loses_no_run(tmp_path):
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to find the worker processes")
    sweep = tmp_path / "sweep"
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "-m", "loss=mse,mae", "data.n_samples=400",
         "trainer.epochs=200", "trainer.progress=false", "hydra/launcher=joblib",
         "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while len(list(sweep.glob("*/.hydra/config.yaml"))) < 2:  # two jobs are running
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    assert not list(sweep.rglob(results.SUMMARY_FILE)), "the jobs ended too soon to kill"
    victims = workers(proc.pid)
    assert victims, "no loky worker found"
    os.kill(victims[0], signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=400)
    assert proc.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stdout + stderr
    said = [line for line in (stdout + stderr).splitlines() if "a worker process died" in line]
    assert len(said) == 1 and "2 that were running run again one at a time" in said[0], said
    assert stdout.strip().splitlines()[-1].startswith("2 runs: 2 completed")
    merged = pd.read_parquet(sweep / results.MERGED_FILE)
    assert merged.run_id.nunique() == 2
    assert not merged.duplicated(["run_id", "epoch", "split", "metric"]).any()
