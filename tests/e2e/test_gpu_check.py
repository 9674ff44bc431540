"""benchmarks/gpu_check.py works before a GPU run is spent on it: on the CPU it skips
the CUDA steps with a line saying so, runs the rest, exits 0 and writes its results.
Slow (about 2 minutes on 2 cores)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT


@pytest.mark.slow
def test_the_gpu_check_runs_and_records_every_step(tmp_path):
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    steps = {s["step"]: s for s in result["steps"]}
    assert list(steps) == ["device", "gpu tests", "default run", "cuda vs cpu", "throughput"]
    assert all(s["status"] in ("passed", "skipped") for s in steps.values())
    if not result["device"]["cuda"]:
        assert "CUDA is not available: the CUDA steps are skipped" in proc.stdout
        assert steps["default run"]["status"] == "skipped"
        assert any("runs |" in line for line in steps["throughput"]["table"])
