"""Shared fixtures: compose the real Hydra config (as the CLI does) without a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from harness.config import register_configs

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
TINY = ["data.n_samples=200", "trainer.epochs=2", "trainer.progress=false"]


def make_cfg(*overrides: str):
    """The composed config for ``overrides``, exactly as ``python -m harness`` builds it."""
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.fixture
def cfg_factory():
    return make_cfg


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run ``python -m harness ARGS`` in a subprocess, as a user would."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    env.pop("HYDRA_FULL_ERROR")
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd or ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
