"""A report killed (SIGKILL) while it redraws leaves the old report whole: a real
process, killed mid-draw. Slow (``python -m pytest -m slow``)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.report.__main__ import main
from tests.helpers import ROOT
from tests.test_report_cases import grid
from tests.test_report_files import snapshot


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return grid(tmp_path_factory.mktemp("small") / "runs", {"a": 0.3, "b": 0.5}, (0.0, 0.2),
                range(2))


@pytest.mark.slow
def test_a_killed_redraw_leaves_the_old_report_whole(small, tmp_path):
    """SIGKILL while the new report is being drawn: the old one is untouched, byte for
    byte, and the next run cleans the killed run's staging folder."""
    out = tmp_path / "r"
    assert main([str(small), "--out", str(out)]) == 0
    before = snapshot(out)
    proc = subprocess.Popen([sys.executable, "-m", "harness.report", str(small), "--out",
                             str(out), "--metric", "mae"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staging = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        found = [p for p in tmp_path.glob(".r.staging-*") if any(p.glob("*.png"))]
        if found:
            staging = found[0]
            break
        time.sleep(0.05)
    assert staging is not None, "the report finished before a figure was drawn"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert snapshot(out) == before
    assert staging.exists()  # what the killed run left ...
    assert main([str(small), "--out", str(out), "--metric", "mae"]) == 0
    assert not staging.exists()  # ... the next run removed
    assert any(n.endswith("_mae.png") for n in snapshot(out))
