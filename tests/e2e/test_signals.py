"""Ctrl-C (SIGINT) and SIGTERM sent to real, running commands: the runs being trained
are kept with ``status=interrupted``, finished ones untouched, and the command ends with
one line saying what was kept and where, exit 130 (SIGINT) or 143 (SIGTERM); the same
command resumes. Each command's stderr is a pseudo-terminal, as at a user's prompt, so
the progress bar shows that training has started before the signal is sent."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from harness import results
from tests.helpers import ROOT

LONG = ["data.n_samples=200", "trainer.epochs=1000000", "trainer.progress=true"]


def _as_a_terminal_job() -> None:
    """In the child, before it starts: the signals of a shell's foreground job. A SIGINT
    disposition of SIG_IGN or a blocked mask is inherited through exec, and a test
    worker may have either (seen once under load in CI: the command never saw the
    SIGINT and trained on); Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


class Command:
    """``python -m <module> ARGS`` with stderr on a pseudo-terminal (read as it comes)
    and stdout in a file."""

    def __init__(self, tmp: Path, *args: str, module: str = "harness") -> None:
        env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
        env["PYTHONUNBUFFERED"] = "1"  # stdout lines as they are printed
        master, slave = pty.openpty()
        # a terminal 120 columns wide: tqdm draws nothing in a 0-column one
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
        self.stdout = tmp / "stdout.txt"
        self.proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.stdout.open("wb"),
                                     stderr=slave, preexec_fn=_as_a_terminal_job)
        os.close(slave)
        self.err = bytearray()
        self.reader = threading.Thread(target=self._read, args=(master,), daemon=True)
        self.reader.start()

    def _read(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the command ended
                break
            if not chunk:
                break
            self.err += chunk
        os.close(fd)

    def wait_for(self, pattern: str, timeout: float = 120, ready=None) -> None:
        """Until stderr matches ``pattern`` (or ``ready()`` is true). On failure the
        command is killed first: a test that fails leaves no process behind."""
        deadline = time.monotonic() + timeout
        while not (ready() if ready else re.search(pattern, self.stderr)):
            problem = (f"ended before {pattern!r}" if self.proc.poll() is not None else
                       f"no {pattern!r} in {timeout} s" if time.monotonic() > deadline
                       else None)
            if problem:
                self.kill()
                raise AssertionError(f"{problem}: {self.stderr}")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def send(self, signum: int) -> int:
        self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self.reader.join(timeout=10)
        return code

    @property
    def stderr(self) -> str:
        return self.err.decode(errors="replace")

    def lines(self) -> list[str]:
        """stderr without the progress bar (its redraws and terminal escapes)."""
        text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", self.stderr)
        return [line.strip() for line in re.split(r"[\r\n]+", text)
                if line.strip() and not re.search(r"\d+/\d+ \[", line)]


def summaries(folder: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text())
            for p in folder.rglob(results.SUMMARY_FILE)}


@pytest.mark.parametrize("signum, code, name", [
    (signal.SIGINT, 130, "SIGINT \\(Ctrl-C\\)"),
    pytest.param(signal.SIGTERM, 143, "SIGTERM", marks=pytest.mark.slow),
])
def test_a_signal_in_a_run_keeps_its_rows_and_says_so_in_one_line(tmp_path, signum, code,
                                                                   name):
    out = tmp_path / "run"
    cmd = Command(tmp_path, *LONG, f"hydra.run.dir={out}")
    cmd.wait_for(r"mse \| outliers.*[1-9]\d*/1000000")  # the bar: an epoch ended
    assert cmd.send(signum) == code
    lines = cmd.lines()
    assert len(lines) == 1, cmd.stderr
    assert re.fullmatch(rf"interrupted by {name}: kept 1 run in {re.escape(str(out))}: 1 "
                        r"interrupted \(status=interrupted; its metrics up to epoch \d+ kept\)\.",
                        lines[0]), lines[0]
    summary = summaries(out)["run"]
    assert summary["status"] == "interrupted" and summary["epochs_run"] >= 1
    assert summary["error"] == f"interrupted by {name.replace(chr(92), '')}"
    table = results.load(out)
    assert table.epoch.max() == summary["epochs_run"]
    assert not [p for p in out.glob(".*") if p.is_file()]  # no half-written file


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["basic", "vectorized"])
def test_a_signal_in_a_sweep_keeps_what_ran_and_says_how_to_resume(tmp_path, launcher):
    sweep = tmp_path / "sweep"
    args = ["-m", "loss=mse,mae", "seed=0,1", *LONG, f"hydra.sweep.dir={sweep}"]
    if launcher == "vectorized":  # the four jobs train as one stack: all four interrupted
        cmd = Command(tmp_path, *args, "hydra/launcher=vectorized")
        cmd.wait_for("", ready=lambda: len(list(sweep.glob("*/.hydra/config.yaml"))) == 4)
        time.sleep(2)  # the stack is sized and trains
    else:  # the first job trains (its bar shows) and is interrupted
        cmd = Command(tmp_path, *args)
        cmd.wait_for(r"mse \| outliers.*[1-9]\d*/1000000")
    assert cmd.send(signal.SIGTERM) == 143
    lines = cmd.lines()
    assert len(lines) == 1, cmd.stderr
    assert lines[0].startswith("interrupted by SIGTERM: kept ") and str(sweep) in lines[0]
    assert lines[0].endswith(f"to resume, run the same command with hydra.sweep.dir={sweep} "
                             "(finished runs are not run again).")
    found = summaries(sweep)
    assert len(found) == (4 if launcher == "vectorized" else 1)
    assert {s["status"] for s in found.values()} == {"interrupted"}
    assert len(results.load(sweep)) > 0  # their rows so far (epoch 0 at least) are kept


@pytest.mark.slow
def test_a_signal_in_the_protocol_keeps_its_runs_and_says_how_to_resume(tmp_path):
    out = tmp_path / "p"
    cmd = Command(tmp_path, "regression_diabetes", "losses=[mse,mae]", "budget=1",
                  "space=[optim.lr=0.01]", "tune_seeds=[0]", "seeds=[1]",
                  "data.outlier_frac=0.2", "vectorized=false", "trainer.epochs=1500",
                  f"out={out}", module="harness.protocol")
    cmd.wait_for("", ready=lambda: list(out.glob("tune/*/summary.json")))  # one ended
    first = next(out.glob("tune/*/summary.json"))
    before = first.read_bytes()
    assert cmd.send(signal.SIGINT) == 130  # in the second job
    lines = cmd.lines()
    assert len(lines) == 1, cmd.stderr
    assert re.match(rf"interrupted by SIGINT \(Ctrl-C\): kept [12] runs? in {re.escape(str(out))}"
                    r": 1 completed", lines[0]), lines[0]
    assert lines[0].endswith("to resume, run the same command again (finished runs are not "
                             "run again).")
    assert first.read_bytes() == before
    statuses = sorted(s["status"] for s in summaries(out / "tune").values())
    assert statuses in (["completed"], ["completed", "interrupted"])
