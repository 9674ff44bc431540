"""Nothing runs that nobody chose (issue 15): whatever a config can make Hydra build
(callbacks, launcher, sweeper, logging handlers, filters and streams, job environment)
passes one allow-list before Hydra imports it, and Hydra's pickle-loading rerun flag is
refused however it is abbreviated. Each hostile input names a function that would leave
a marker folder behind; the marker must not appear."""

from __future__ import annotations

import os
import pickle

import pytest

from tests.helpers import TINY, run_main


class LeavesAMark:
    """Unpickling this calls os.mkdir(path): proof that a pickle was loaded."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (str(self.path),))


@pytest.mark.parametrize("flag", ["--experimental-rerun", "--experimental-rer",
                                  "--experimental"])
def test_the_rerun_flag_is_refused_however_abbreviated(tmp_path, flag):
    marker = tmp_path / "unpickled"
    payload = tmp_path / "config.pickle"
    payload.write_bytes(pickle.dumps(LeavesAMark(marker)))
    proc = run_main(flag, str(payload))
    assert proc.returncode == 2 and not marker.exists()
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: --experimental-rerun loads a pickle"), proc.stderr


HOSTILE = {
    "callback": ("callbacks:\n    evil:\n      _target_: os.mkdir\n      path: {marker}\n",
                 "hydra.callbacks.evil._target_='os.mkdir' is not allowed"),
    "logging filter factory": ("job_logging:\n    filters:\n      f:\n        (): os.mkdir\n"
                               "        path: {marker}\n",
                               "hydra.job_logging.filters.f.()='os.mkdir' is not allowed"),
    "logging handler class": ("job_logging:\n    handlers:\n      h:\n        class: os.mkdir\n"
                              "        path: {marker}\n",
                              "hydra.job_logging.handlers.h.class='os.mkdir' is not allowed"),
    "logging stream": ("hydra_logging:\n    handlers:\n      h:\n"
                       "        class: logging.StreamHandler\n        stream: ext://os.mkdir\n",
                       "hydra.hydra_logging.handlers.h.stream='ext://os.mkdir' is not "
                       "allowed"),
    # a launcher or sweeper node is typed (no new keys), but its _target_ is a string
    "launcher": ("launcher:\n    _target_: os.mkdir\n",
                 "hydra.launcher._target_='os.mkdir' is not allowed"),
    "sweeper": ("sweeper:\n    _target_: os.mkdir\n",
                "hydra.sweeper._target_='os.mkdir' is not allowed"),
    "job environment": ("job:\n    env_set:\n      LD_PRELOAD: {marker}/evil.so\n",
                        "hydra.job.env_set.LD_PRELOAD="),
}


@pytest.mark.parametrize("multirun", [False, True], ids=["run", "sweep"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_config_file_cannot_make_hydra_build_anything_else(tmp_path, name, multirun):
    marker = tmp_path / "ran"
    body, message = HOSTILE[name]
    (tmp_path / "conf" / "experiment").mkdir(parents=True)
    (tmp_path / "conf" / "experiment" / "evil.yaml").write_text(
        "# @package _global_\nhydra:\n  " + body.format(marker=marker))
    args = ["--config-dir", str(tmp_path / "conf"), "+experiment=evil", *TINY]
    args = ["-m", *args, "seed=0,1", f"hydra.sweep.dir={tmp_path}/s"] if multirun else \
        [*args, f"hydra.run.dir={tmp_path}/r"]
    proc = run_main(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line, line
    assert not marker.exists()
    assert not (tmp_path / "r" / "summary.json").exists()
    assert not list(tmp_path.glob("s/*/summary.json"))


def test_the_harness_own_hydra_settings_pass():
    from omegaconf import OmegaConf

    from harness import safety
    from tests.helpers import make_cfg

    cfg = make_cfg()
    assert "hydra" not in cfg  # the job config; the whole one is checked on every run
    safety.check_hydra(OmegaConf.create({
        "callbacks": {"sweep": {"_target_": "harness.sweep.SweepCallback"}},
        "launcher": {"_target_": "hydra_plugins.hydra_joblib_launcher."
                                 "joblib_launcher.JoblibLauncher"},
        "job_logging": {"handlers": {"console": {"class": "logging.StreamHandler",
                                                 "stream": "ext://sys.stdout"}}}}))
