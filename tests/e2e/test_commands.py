"""The real commands in new interpreters: what depends on the process itself (its exit
code, what reaches stderr, what it imports at start-up). Everything else about the
command lines runs in-process (``tests/test_cli.py``, ``tests/test_sweep.py``, ...)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import TINY, run_cli


def test_a_run_exits_0_and_writes_its_folder(tmp_path):
    out = tmp_path / "run"
    proc = run_cli("loss=huber", "data=outliers", *TINY, f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr
    assert "completed" in proc.stdout and "rmse" in proc.stdout
    assert (out / ".hydra" / "config.yaml").is_file()
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"


def test_output_read_by_head_ends_quietly_and_keeps_the_run(tmp_path):
    """``python -m harness ... | head -1``: the reader stops early; the run is written and
    the command says nothing on stderr (no BrokenPipeError traceback, no Hydra line)."""
    import shlex
    import subprocess
    import sys

    from tests.helpers import ROOT

    out = tmp_path / "run"
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "harness", *TINY,
                                               f"hydra.run.dir={out}"])
    proc = subprocess.run(["bash", "-c", f"{command} | head -c 1; exit ${{PIPESTATUS[0]}}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 141), proc.stderr  # 141: the pipe closed mid-print
    assert proc.stderr == "", proc.stderr
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"


def test_a_sweep_with_a_failed_job_exits_1_after_every_job_and_reports(tmp_path):
    proc = run_cli("-m", "loss=mse,hinge", *TINY, f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 1
    assert proc.stdout.strip().splitlines()[-1].startswith("2 runs: 1 completed, 1 failed")
    assert "Traceback" not in proc.stdout + proc.stderr
    # the report as a process, which reads the runs without importing torch (~3 s)
    import subprocess
    import sys

    from tests.helpers import ROOT

    probe = ("import runpy, sys; sys.argv = ['harness.report', sys.argv[1]]\n"
             "try:\n    runpy.run_module('harness.report', run_name='__main__')\n"
             "finally:\n    print('torch' in sys.modules)")
    report = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr
    assert report.stdout.startswith(f"report: {tmp_path / 'report' / 'index.html'}")
    assert report.stdout.strip().splitlines()[-1] == "False", "the report imported torch"


def test_an_unknown_protocol_is_one_line_and_exit_2():
    proc = run_cli("protocol=nope", module="harness.protocol")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown protocol 'nope'")
    assert proc.stderr.count("\n") == 1


@pytest.mark.slow  # two interpreters at once: ~15 s
def test_two_commands_started_together_never_share_a_folder(tmp_path):
    """Two runs resolving the same default folder name (here forced: the same base, as
    two commands started in the same second get from ${now:}) get two folders, each
    with its own run (harness.jobs.resume.fresh_dir)."""
    import subprocess
    import sys

    folder = f"hydra.run.dir=${{harness_fresh:{tmp_path}/runs/same-second}}"
    procs = [subprocess.Popen([sys.executable, "-m", "harness", f"loss={loss}", *TINY, folder],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for loss in ("mse", "huber")]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    runs = {json.loads(p.read_text())["config"]["loss"]: p.parent.name
            for p in (tmp_path / "runs").glob("*/summary.json")}
    assert sorted(runs) == ["huber", "mse"]
    assert sorted(runs.values()) == ["same-second", "same-second-2"]


HEAVY = ("torch", "sklearn", "pandas", "matplotlib", "seaborn", "scipy")
PROBE = """import runpy, sys
sys.argv = [{module!r}, "--help"]
try:
    runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
except SystemExit as stop:
    assert stop.code in (0, None), stop.code
print("heavy:", ",".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize("module", ["harness", "harness.protocol", "harness.report",
                                    "harness.zoo"])
def test_help_imports_neither_torch_nor_sklearn_nor_pandas(module):
    import subprocess
    import sys

    from tests.helpers import ROOT

    proc = subprocess.run([sys.executable, "-c", PROBE.format(module=module, heavy=HEAVY)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage" in proc.stdout.lower() or "== Config ==" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "heavy:", proc.stdout[-500:]


def test_a_run_imports_no_torch_dynamo():
    """torch's optimisers import torch._dynamo (about 1 s) on their first use unless the
    harness steps them itself (harness/training/eager.py)."""
    import subprocess
    import sys

    from tests.helpers import ROOT

    code = ("import sys; from harness.jobs.lifecycle import run_one; "
            "from tests.helpers import make_cfg, TINY; import tempfile; "
            "run_one(make_cfg(*TINY), tempfile.mkdtemp(), echo=False); "
            "print('dynamo' if 'torch._dynamo' in sys.modules else 'no dynamo')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "no dynamo", proc.stderr[-2000:]


def test_the_zoo_command_exits_0(tmp_path):
    """``python -m harness.zoo`` returns its figures to Python callers; as a command it
    exits 0 with nothing on stderr."""
    proc = run_cli("--no-plots", "--out", str(tmp_path), module="harness.zoo")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
