"""Sweeps through the command line (in this process: ``tests.helpers.run_main``): merged
table, resume, failure isolation, fast composition. Parallel launchers, which start
processes of their own: ``tests/e2e/test_launchers.py``."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harness import results
from harness.jobs.resume import MAX_DIRNAME, job_dirname
from tests.helpers import CONF, TINY, run_main

GRID = ["loss=mse,mae", "seed=0,1", "data.outlier_frac=0,0.2"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    proc = run_main("-m", *GRID, *TINY, f"hydra.sweep.dir={root}")
    assert proc.returncode == 0, proc.stderr
    return root, proc


def summaries_bytes(root):
    return {p.parent.name: p.read_bytes() for p in root.rglob("summary.json")}


def test_grid_gives_one_table_of_eight_runs(sweep):
    root, proc = sweep
    assert "8 jobs: 0 done, 8 to run" in proc.stdout + proc.stderr
    assert "8 runs: 8 completed" in proc.stdout
    merged = pd.read_parquet(root / "results.parquet")
    assert merged.run_id.nunique() == 8
    assert {"run_id", "epoch", "split", "metric", "value", "status", "loss",
            "data.outlier_frac", "seed", "optim.lr"} <= set(merged.columns)
    grid = merged[["loss", "seed", "data.outlier_frac"]].drop_duplicates()
    assert len(grid) == 8
    # load() gives the same table from the merged file and from the per-run files
    from_runs = results._load(root, use_merged=False)[0]
    pd.testing.assert_frame_equal(results.load(root), from_runs)
    pd.testing.assert_frame_equal(merged, from_runs)


def test_job_folders_are_named_by_their_overrides(sweep):
    root, _ = sweep
    names = sorted(p.parent.name for p in root.rglob("summary.json"))
    assert "data.n_samples=200,data.outlier_frac=0.2,loss=mae,seed=1,trainer.epochs=2" in names


def test_rerun_skips_finished_runs_and_redoes_a_missing_one(sweep):
    root, _ = sweep
    before = summaries_bytes(root)
    again = run_main("-m", *GRID, *TINY, f"hydra.sweep.dir={root}")
    assert again.returncode == 0, again.stderr
    assert "8 jobs: 8 done, 0 to run" in again.stdout + again.stderr
    assert summaries_bytes(root) == before  # nothing was trained or rewritten

    victim = next(iter(sorted(before)))
    (root / victim / "summary.json").unlink()
    third = run_main("-m", *GRID, *TINY, f"hydra.sweep.dir={root}")
    assert "8 jobs: 7 done, 1 to run" in third.stdout + third.stderr
    after = summaries_bytes(root)
    assert set(after) == set(before)
    assert {k for k in before if before[k] != after[k]} == {victim}
    assert results.load(root).run_id.nunique() == 8


def test_a_run_with_a_corrupt_metrics_file_is_redone(tmp_path):
    args = ["-m", "loss=mse,mae", *TINY, f"hydra.sweep.dir={tmp_path}"]
    assert run_main(*args).returncode == 0
    victim = next(tmp_path.glob("*loss=mae*/metrics.parquet"))
    victim.write_bytes(victim.read_bytes()[:100])  # truncated, summary.json intact
    merged = run_main("-m", "loss=mse", *TINY, f"hydra.sweep.dir={tmp_path}")
    said = merged.stdout + merged.stderr
    # merging names the skipped file on one line, no Python warning report
    assert f"warning: skipped {victim}" in said and "ResultsWarning" not in said
    again = run_main(*args)
    assert "2 jobs: 1 done, 1 to run" in again.stdout + again.stderr
    assert len(results.load(tmp_path).run_id.unique()) == 2


def test_rerun_flag_forces_every_job(tmp_path):
    args = ["-m", "loss=mse", *TINY, f"hydra.sweep.dir={tmp_path}"]
    assert run_main(*args).returncode == 0
    forced = run_main(*args, "hydra.sweeper.rerun=true")
    assert "1 jobs: 0 done, 1 to run" in forced.stdout + forced.stderr


def test_diverged_and_failed_runs_do_not_stop_the_sweep(tmp_path):
    proc = run_main("-m", "loss=mse,hinge", "optim=sgd", "optim.lr=0.01,1e6", *TINY,
                   f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 1  # failures make the sweep fail, after every job ran
    assert proc.stdout.strip().splitlines()[-1].startswith("4 runs: 1 completed, 1 diverged, "
                                                           "2 failed")
    s = results.summaries(tmp_path).set_index(["loss", "optim.lr"])
    assert s.loc[("mse", 0.01), "status"] == "completed"
    assert s.loc[("mse", 1e6), "status"] == "diverged"
    assert s.loc[("mse", 1e6), "diverged_epoch"] >= 1
    failed = s.loc[("hinge", 0.01)]
    assert failed.status == "failed" and "does not fit data 'outliers'" in failed.error
    # a failed run is redone on the next attempt, finished ones are not
    again = run_main("-m", "loss=mse,hinge", "optim=sgd", "optim.lr=0.01,1e6", *TINY,
                    f"hydra.sweep.dir={tmp_path}")
    assert "4 jobs: 2 done, 2 to run" in again.stdout + again.stderr


def test_job_dirname_is_safe_and_bounded():
    assert job_dirname("loss=mse,seed=0") == "loss=mse,seed=0"
    assert job_dirname("") == "default"
    assert "/" not in job_dirname("data.path=/tmp/x,loss=mse")
    long = ",".join(f"k{i}=v{i}" for i in range(100))
    name = job_dirname(long)
    assert len(name) <= MAX_DIRNAME and name != job_dirname(long + ",x=1")


def test_stale_merged_file_is_not_used(sweep, tmp_path):
    import shutil

    root, _ = sweep
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    gone = next(p.parent for p in copy.rglob("summary.json"))
    shutil.rmtree(gone)
    assert results.load(copy).run_id.nunique() == 7  # the merged file still lists 8
    results.merge(copy)
    meta = json.loads((copy / "sweep.json").read_text())
    assert meta["total"] == 8 and pd.read_parquet(copy / "results.parquet").run_id.nunique() == 7


def test_parallel_jobs_take_turns_over_the_gpus(monkeypatch):
    import torch

    from harness.jobs.job import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert [str(resolve_device("auto", slot)) for slot in range(4)] == [
        "cuda:0", "cuda:1", "cuda:2", "cuda:0"]
    assert str(resolve_device("auto")) == "cuda:0"
    assert str(resolve_device("cpu", 2)) == "cpu"
    # any torch device string: an index is kept, a plain cuda spreads like auto
    assert str(resolve_device("cuda:2", 0)) == "cuda:2"
    assert str(resolve_device("cuda", 4)) == "cuda:1"
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="has 3 CUDA device.s.: cuda:0 to cuda:2"):
        resolve_device("cuda:3")


# ---------------------------------------------------------------- fast composition
@pytest.mark.parametrize("overrides", [
    ["seed=3"],
    ["loss=huber", "loss.delta=2.5", "seed=1"],
    ["data=binary", "loss=hinge", "data.label_noise=0.2", "optim.lr=0.01"],
    ["model=linear", "trainer.epochs=7", "+experiment=regression_robustness"],
    ["optim=sgd", "optim.momentum=0.5", "model.hidden=[8,4]", "hydra.job.chdir=false"],
    ["optim.lr=0.1", "++optim.lr=0.5"],  # value overrides apply in command-line order
    ["seed=1", "~seed"],
])
def test_fast_composition_equals_hydras(overrides):
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from harness.config import register_configs
    from harness.jobs.compose import Composer

    register_configs()  # the schemas conf/ starts from (the CLI registers them at start)
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(CONF)))
    master = loader.load_configuration("config", overrides=["hydra.sweep.dir=/tmp/x"],
                                       run_mode=RunMode.MULTIRUN)
    composer = Composer(loader, master)
    fast = composer(overrides)
    assert composer(list(overrides)) is fast  # kept by override list
    full = loader.load_sweep_config(master, list(overrides))
    assert OmegaConf.to_container(fast) == OmegaConf.to_container(full)
    assert OmegaConf.to_yaml(fast) == OmegaConf.to_yaml(full)
    assert composer.take(overrides) is fast and composer.take(overrides) is None


def test_a_light_jobs_folder_name_follows_the_sweeps_dirname_settings():
    """hydra.job.config.override_dirname (separators, excluded keys), read once per
    composition by the light path: each job's folder name is the one Hydra gives."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.types import RunMode

    from harness.config import register_configs
    from harness.jobs.compose import Composer

    register_configs()
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(CONF)))
    master = loader.load_configuration("config", overrides=[
        "hydra.sweep.dir=/tmp/x", "hydra.job.config.override_dirname.kv_sep=@",
        "hydra.job.config.override_dirname.item_sep=+",
        "hydra.job.config.override_dirname.exclude_keys=[trainer.epochs]"],
        run_mode=RunMode.MULTIRUN)
    composer = Composer(loader, master)
    for seed in (0, 1, 2):
        job = ["loss=huber", f"seed={seed}", "trainer.epochs=1"]
        light = composer.light(job)
        full = loader.load_sweep_config(master, job)
        assert light.override_dirname == full.hydra.job.override_dirname == \
            f"loss@huber+seed@{seed}"


# ---------------------------------------------------------------- issue 16: sweep values and keys
@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_a_float_that_prints_the_same_is_one_setting_and_one_run(tmp_path):
    """range(0.1,0.4,0.1) gives 0.30000000000000004: the run id is made from 0.3
    (harness.config.canonical), so a later sweep of 0.3 finds it done, and the run
    computes with 0.3."""
    first = run_main("-m", "data.outlier_frac=range(0.1,0.4,0.1)", *TINY,
                     f"hydra.sweep.dir={tmp_path}")
    assert first.returncode == 0, first.stderr
    assert any("0.30000000000000004" in p.name for p in tmp_path.iterdir())
    again = run_main("-m", "data.outlier_frac=0.3", *TINY, f"hydra.sweep.dir={tmp_path}")
    assert "1 jobs: 1 done, 0 to run" in again.stdout + again.stderr
    s = results.summaries(tmp_path)
    assert sorted(s["data.outlier_frac"]) == [0.1, 0.2, 0.3, 0.4]
    assert sorted(s["corruption_level"]) == [0.1, 0.2, 0.3, 0.4]
    from harness.report.__main__ import main as report

    assert report([str(tmp_path), "--out", str(tmp_path / "r")]) == 0


def test_a_key_of_a_swept_group_reaches_each_option(tmp_path):
    """-m data=binary,moons data.label_noise=0.1: both data sets have the key, so both
    jobs run with it (the primary config's default data set, outliers, has none)."""
    proc = run_main("-m", "data=binary,moons", "data.label_noise=0.1", "loss=bce", *TINY,
                    f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    s = results.summaries(tmp_path).set_index("data")
    assert list(s.loc[["binary", "moons"], "data.label_noise"]) == [0.1, 0.1]
    names = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert len(names) == 2 and all("data.label_noise=0.1," in n for n in names)
    assert "choice" not in "".join(names)  # each job's own override, as if not swept


def test_a_default_folder_is_new_for_every_command(tmp_path):
    from harness.jobs import resume

    base = str(tmp_path / "runs" / "2026-11-29_10-00-00")
    first = resume.fresh_dir(base)
    assert first == base and resume.fresh_dir(base) == base  # asked again: the same
    resume._FRESH.clear()  # as another process would see it
    assert resume.fresh_dir(base) == base + "-2" and (tmp_path / "runs").is_dir()


# ---------------------------------------------------------------- issue 18: per-job parsing
@pytest.mark.parametrize("text", [
    "seed=5", "seed=-5", "seed=007", "seed=-0", "seed=1_000", "seed=5.5", "seed=abc",
    "seed=99999999999999999999999", "optim.lr=0.25", "optim.lr=1e-3", "optim.lr=.5",
    "optim.lr=3", "optim.lr=-0.0", "optim.lr=0.30000000000000004", "optim.lr=1.",
    "+seed=5", "seed=${x}", "seed='5'", "optim.lr=nan",
])
def test_a_number_parsed_like_its_key_is_what_hydras_grammar_gives(text):
    """The composer parses a sweep's plain numbers from an earlier parse of the same key
    (no grammar per job); where it does, the result is Hydra's own parse, field for
    field; what it cannot tell (leading zeros, exponents, strings) goes to Hydra."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from harness.jobs.compose import number_like

    parser = OverridesParser.create()
    known = {"seed": parser.parse_override("seed=0"),
             "optim.lr": parser.parse_override("optim.lr=0.1")}
    made = number_like(text, known)
    hydras = parser.parse_override(text)
    assert (made is not None) == (text in FAST)
    if made is not None:
        assert made == hydras and type(made._value) is type(hydras._value)


FAST = {"seed=5", "seed=-5", "seed=99999999999999999999999", "optim.lr=0.25",
        "optim.lr=-0.0", "optim.lr=0.30000000000000004"}


@pytest.mark.parametrize("overrides, kind", [
    (["seed=3"], "Plain"),
    (["loss=huber", "loss.delta=2", "seed=1"], "Plain"),  # an int given to a float key
    (["data=binary", "loss=hinge", "data.label_noise=0", "optim.lr=0.01"], "Plain"),
    (["model=mlp", "trainer.epochs=7", "trainer.device=cpu"], "Plain"),
    (["data=mnist1d", "seed=2"], "DictConfig"),  # its reference schedule interpolates
])
def test_a_light_jobs_plain_values_are_the_configs_values(overrides, kind):
    """Issue 18: a sweep job's task config is plain values (no config of its own) when
    its composition has no interpolation; they are, key for key and type for type, the
    values Hydra's composition of the same overrides holds."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from harness.config import register_configs
    from harness.jobs.compose import Composer

    register_configs()
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(CONF)))
    master = loader.load_configuration("config", overrides=["hydra.sweep.dir=/tmp/x"],
                                       run_mode=RunMode.MULTIRUN)
    composer = Composer(loader, master)
    for extra in ([], ["seed=11"]):  # the composition's first job, and a later one
        light = composer.light([*overrides, *extra])
        assert type(light.task).__name__ == kind
        full = loader.load_sweep_config(master, [*overrides, *extra])
        expected = OmegaConf.to_container(
            OmegaConf.masked_copy(full, [k for k in full if k != "hydra"]), resolve=True)
        got = (dict(light.task) if kind == "Plain"
               else OmegaConf.to_container(light.task, resolve=True))

        def typed(node):
            if isinstance(node, dict):
                return {k: typed(v) for k, v in node.items()}
            if isinstance(node, list):
                return [typed(v) for v in node]
            return (type(node).__name__, node)

        assert typed(got) == typed(expected)
    if kind == "Plain":
        assert light.task.trainer.epochs == light.task["trainer"]["epochs"]
        assert light.task.data._get_full_key(None) == "data"


def test_a_value_its_key_refuses_gets_hydras_own_error():
    """A value the config's type check refuses is not made plain: Hydra composes that
    job and says why, as for any sweep."""
    from hydra.errors import ConfigCompositionException

    from harness.config import register_configs
    from harness.jobs.compose import Composer

    register_configs()
    composer = Composer.for_conf_dir(CONF, ["hydra.sweep.dir=/tmp/x"])
    assert type(composer.light(["seed=1"]).task).__name__ == "Plain"
    with pytest.raises(ConfigCompositionException, match="optim.lr=abc"):
        composer.light(["seed=1", "optim.lr=abc"])


@pytest.mark.parametrize("launcher", ["basic", "vectorized"])
def test_a_negative_seed_in_a_sweep_is_refused_before_anything_runs(tmp_path, launcher):
    """A sweep job's config (without Hydra's node) is still checked against the root
    schema: ``seed=-1,2`` is one line and exit 2, as ``seed=-1`` alone is, and no job
    runs (it used to run the good one and fail the other with numpy's traceback)."""
    proc = run_main("-m", "seed=-1,2", "data.n_samples=200", "trainer.epochs=1",
                    "trainer.progress=false", f"hydra/launcher={launcher}",
                    f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: nothing ran: 1 of 2 jobs cannot run; the job seed=-1")
    assert "must be an int in the range [0, inf)" in line
    assert not list(tmp_path.rglob("summary.json"))


def test_a_sweep_with_numbered_job_folders_is_not_resumed_over_finished_runs(tmp_path):
    """``hydra.sweep.subdir=job${hydra.job.num}``: the jobs left to run would be
    numbered from 0 again and written over finished runs' folders. Resuming is refused
    with one line and nothing runs; the finished run's files are untouched."""
    args = ["-m", "loss=mse,huber", "hydra.sweep.subdir=job${hydra.job.num}", *TINY,
            f"hydra.sweep.dir={tmp_path}"]
    assert run_main(*args).returncode == 0
    kept = (tmp_path / "job0" / "summary.json").read_bytes()
    (tmp_path / "job1" / "summary.json").unlink()
    proc = run_main(*args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert "names job folders by job number" in line and "nothing ran" in line
    assert (tmp_path / "job0" / "summary.json").read_bytes() == kept
    assert run_main(*args, "hydra.sweeper.rerun=true").returncode == 0  # what it offers
