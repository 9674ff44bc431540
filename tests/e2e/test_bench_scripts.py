"""The sweep benchmarks run (they name harness functions they time; a rename must not
leave them broken until someone measures)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ROOT


@pytest.mark.slow  # CI's second step: two small sweeps in a fresh interpreter
def test_bench_stages_times_every_stage_of_a_small_sweep():
    proc = subprocess.run([sys.executable, "benchmarks/bench_stages.py", "--jobs", "6"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("tiny vectorised sweep of 6 jobs in one process")
    times = {line.split()[0]: float(line.split()[1]) for line in lines[2:]
             if line.split()[0] != "the"}
    assert set(times) == {"compose", "check", "record", "data", "train", "write",
                          "progress", "merge"}
    assert all(t > 0 for t in times.values()), times  # each stage was reached and timed
