"""Sweeps and the protocol where a folder or the jobs are not what they seem: two
spellings of one config, a folder made by another harness version, a launcher whose
worker process dies. In-process (``run_main``; the sweeper's recovery with a launcher
that breaks as joblib's does); a real killed worker: ``tests/e2e/test_worker_death.py``."""

from __future__ import annotations

import json
from concurrent.futures import BrokenExecutor
from pathlib import Path

import pandas as pd
import pytest

from harness import results
from tests.helpers import CONF, TINY, run_main

KEYS = ["run_id", "epoch", "split", "metric"]


def test_two_spellings_of_one_config_run_once(tmp_path):
    proc = run_main("-m", "loss=huber", "loss.delta=1,1.0", *TINY, f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    said = proc.stdout + proc.stderr
    assert "2 jobs: 1 duplicate of another job's config, 0 done, 1 to run" in said
    assert "duplicate: loss.delta=1.0 gives the config of loss.delta=1 (one run id)" in said
    assert proc.stdout.strip().splitlines()[-1].startswith("1 runs: 1 completed")
    assert len(list(tmp_path.rglob(results.SUMMARY_FILE))) == 1
    merged = pd.read_parquet(tmp_path / results.MERGED_FILE)
    assert merged.run_id.nunique() == 1 and not merged.duplicated(KEYS).any()
    manifest = json.loads((tmp_path / "sweep.json").read_text())
    assert manifest["total"] == 1 and manifest["duplicates"] == 1
    again = run_main("-m", "loss=huber", "loss.delta=1.0,1", *TINY, f"hydra.sweep.dir={tmp_path}")
    assert "2 jobs: 1 duplicate of another job's config, 1 done, 0 to run" in \
        again.stdout + again.stderr


@pytest.fixture(scope="module")
def old_sweep(tmp_path_factory):
    """A finished sweep whose runs say they were made by harness 0.1.0."""
    root = tmp_path_factory.mktemp("old")
    proc = run_main("-m", "loss=mse,mae", *TINY, f"hydra.sweep.dir={root}")
    assert proc.returncode == 0, proc.stderr
    for path in root.rglob(results.SUMMARY_FILE):
        summary = json.loads(path.read_text())
        summary["harness_version"] = "0.1.0"
        summary["run_id"] = "old-" + summary["run_id"]  # a run id hashes the version
        path.write_text(json.dumps(summary))
    return root


def test_resuming_a_folder_of_another_version_is_refused_and_touches_nothing(old_sweep):
    before = {p: p.read_bytes() for p in old_sweep.rglob("*") if p.is_file()}
    proc = run_main("-m", "loss=mse,mae", *TINY, f"hydra.sweep.dir={old_sweep}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {old_sweep} holds 2 run(s) made by "
                                                   "harness 0.1.0, and this is harness ")
    assert "none of them would be reused" in lines[0]
    assert "hydra.sweeper.rerun=true" in lines[0] and "new hydra.sweep.dir" in lines[0]
    after = {p: p.read_bytes() for p in old_sweep.rglob("*") if p.is_file()}
    assert after == before


def test_rerun_true_replaces_another_versions_runs_when_asked(old_sweep, tmp_path):
    import shutil

    import harness

    folder = tmp_path / "sweep"
    shutil.copytree(old_sweep, folder)
    proc = run_main("-m", "loss=mse,mae", *TINY, "hydra.sweeper.rerun=true",
                    f"hydra.sweep.dir={folder}")
    assert proc.returncode == 0, proc.stderr
    versions = {json.loads(p.read_text())["harness_version"]
                for p in folder.rglob(results.SUMMARY_FILE)}
    assert versions == {harness.__version__}


def test_a_protocol_folder_of_another_version_is_refused(tmp_path):
    import harness

    args = ["regression_diabetes", "losses=[mse]", "budget=1", "space=[optim.lr=0.01]",
            "tune_seeds=[0]", "seeds=[1]", "trainer.epochs=1", "data.outlier_frac=0.2",
            f"out={tmp_path}"]
    old = tmp_path / "tune" / "some-run"
    old.mkdir(parents=True)
    (old / results.SUMMARY_FILE).write_text(json.dumps(
        {"run_id": "abc", "status": "completed", "config": {}, "final": {},
         "task": "regression", "harness_version": "0.0.1"}))
    proc = run_main(*args, module="harness.protocol")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: {tmp_path}/tune holds 1 run(s) made by harness 0.0.1, and this is harness "
        f"{harness.__version__}")
    assert "rerun=true" in lines[0] and "new out=" in lines[0]
    assert sorted(p.name for p in (tmp_path / "tune").iterdir()) == ["some-run"]


def test_protocol_candidates_that_are_one_config_are_refused(tmp_path):
    proc = run_main("regression_diabetes", "losses=[huber]", "budget=2", "space=[]",
                    "loss_space={huber:['loss.delta=1,1.0']}", "tune_seeds=[0]", "seeds=[1]",
                    "trainer.epochs=1", f"out={tmp_path}/p", module="harness.protocol")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "loss.delta=1 and loss.delta=1.0 are one configuration" in \
        lines[0], lines
    assert not (tmp_path / "p" / "tune").exists()


# ---------------------------------------------------------------- a worker process dies
class BreakingLauncher:
    """A parallel launcher whose pool breaks as joblib's does when a worker is killed:
    jobs in ``kills`` kill their worker (every time they run); the batch they are in is
    lost, except the jobs ``ends_first`` that ended before the pool broke."""

    def __init__(self, composer, sweep_dir: Path, kills: set[str], ends_first: set[str]):
        self.composer, self.sweep_dir = composer, sweep_dir
        self.kills, self.ends_first = kills, ends_first
        self.launches: list[list[str]] = []

    def launch(self, batch, initial_job_idx):
        from harness.sweep import job_folder

        names = [" ".join(job) for job in batch]
        self.launches.append(names)
        for job, name in zip(batch, names, strict=True):
            folder = job_folder(self.composer(list(job)), self.sweep_dir)
            (folder / ".hydra").mkdir(parents=True, exist_ok=True)
            (folder / ".hydra" / "config.yaml").write_text("started\n")  # Hydra opened it
            lost = any(k in name for k in self.kills)
            if not lost and (len(batch) == 1 or any(k in name for k in self.ends_first)):
                (folder / results.SUMMARY_FILE).write_text(json.dumps(
                    {"run_id": name, "status": "completed", "config": {}, "final": {},
                     "task": "regression"}))
        if any(k in name for k in self.kills for name in names):
            raise BrokenExecutor("A worker process managed by the executor was unexpectedly "
                                 "terminated (SIGKILL)")
        return [name for name in names]


def test_a_dead_worker_loses_only_its_own_job(tmp_path):
    from harness.jobs.compose import Composer
    from hydra_plugins.harness_sweeper.sweeper import HarnessSweeper

    composer = Composer.for_conf_dir(CONF, [f"hydra.sweep.dir={tmp_path}"])
    jobs = [[f"loss={loss}", *TINY] for loss in ("mse", "mae", "huber")]
    sweeper = HarnessSweeper()
    sweeper.launcher = BreakingLauncher(composer, tmp_path, kills={"loss=mae"},
                                        ends_first={"loss=mse"})
    sweeper._launch(jobs, 0, composer, tmp_path)
    launches = sweeper.launcher.launches
    assert len(launches) == 3  # the batch; then, one at a time, the two that were running
    assert [len(b) for b in launches] == [3, 1, 1]
    statuses = {p.parent.name.split(",")[1]: json.loads(p.read_text())
                for p in tmp_path.rglob(results.SUMMARY_FILE)}
    assert statuses["loss=mse"]["status"] == "completed"  # ended first: kept, not re-run
    assert statuses["loss=huber"]["status"] == "completed"  # the other worker's: re-run
    lost = statuses["loss=mae"]
    assert lost["status"] == "failed"
    assert lost["error"].startswith("RuntimeError: its worker process died while it ran")
    assert lost["config"]["loss"] == "mae"


@pytest.mark.parametrize("launcher", ["basic", "vectorized"])
@pytest.mark.parametrize("folders", [
    ["hydra.job.config.override_dirname.exclude_keys=[seed]"],  # folders without the seed
    ["hydra.sweep.subdir=same"],  # one folder for every job
])
def test_two_configs_that_would_share_a_run_folder_are_refused_before_anything_runs(
        tmp_path, launcher, folders):
    """Two jobs with different run ids and one folder: the second would write over the
    first, and each resume would train one of them again. One line naming both jobs and
    the folder, exit 2, nothing trained."""
    got = run_main("-m", *TINY, "model=linear", "seed=0,1", f"hydra/launcher={launcher}",
                   *folders, f"hydra.sweep.dir={tmp_path}")
    assert got.returncode == 2
    line = got.stderr.strip()
    assert line.startswith("error: the jobs ") and "\n" not in line, line
    assert "seed=0" in line and "seed=1" in line and "same run folder" in line
    assert not list(tmp_path.rglob("summary.json")) and not list(tmp_path.rglob(".hydra"))


def test_two_protocol_jobs_whose_names_are_one_folder_get_two_folders(tmp_path):
    """A protocol stage names run folders by the overrides, made safe for a file system:
    two values that differ only in characters a folder name cannot hold give one name.
    The second job gets the name plus its run id, as a folder of another spec's finished
    run does, so neither writes over the other."""
    from harness.protocol.run import Job, _job_folder

    a = Job("test", ["data.path=/t a.csv"], "huber", [], 0, run_id="aaaaaaaaaaaa")
    b = Job("test", ["data.path=/t_a.csv"], "huber", [], 0, run_id="bbbbbbbbbbbb")
    assert a.name == b.name  # the premise
    taken: set[Path] = set()
    first, second = _job_folder(tmp_path, a, taken), _job_folder(tmp_path, b, taken)
    assert first == tmp_path / a.name
    assert second == tmp_path / f"{b.name}-bbbbbbbbbbbb"
    assert _job_folder(tmp_path, Job("test", ["x=1"], "mse", [], 1, run_id="c"), taken) \
        == tmp_path / Job("test", ["x=1"], "mse", [], 1).name
