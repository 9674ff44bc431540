"""Bad input through real commands (a new interpreter each): exit code 2 and one line on
stderr, as in ``tests/test_bad_input.py``'s in-process cases (the ``real`` ones here), and
``HYDRA_FULL_ERROR=1`` giving Hydra's own report."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT, run_cli
from tests.test_bad_input import Case, check, make_runs, params, prepare


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return make_runs(tmp_path_factory.mktemp("results"))


def in_subprocess(case: Case, args: list[str]) -> tuple[int, str]:
    if case.command == "harness":
        proc = run_cli(*args)
    else:
        env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
        proc = subprocess.run([sys.executable, "-m", case.command, *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stderr



@pytest.mark.parametrize("case", params(real_only=True))
def test_bad_input_real_command(case, tmp_path, runs):
    args, expect = prepare(case, tmp_path, runs)
    code, err = in_subprocess(case, args)
    check(case, code, err, expect, tmp_path)


def test_hydra_full_error_keeps_hydras_own_report(tmp_path):
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    proc = subprocess.run([sys.executable, "-m", "harness", "loss=hubr",
                           f"hydra.run.dir={tmp_path}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "MissingConfigException" in proc.stderr


