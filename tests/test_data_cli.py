"""Every data set trains end to end through the command line (in this process, tiny runs),
and every experiment preset composes into a valid sweep.

Each CLI run is a tiny training in this process (``tests.helpers.run_main``); one data
set per task runs by default, ``python -m pytest -m slow`` runs the others.
"""

from __future__ import annotations

import itertools
import json

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

import losses
from harness import results
from harness.config import register_configs, validate
from harness.data import LEVEL_KEY
from harness.jobs.job import data_task
from tests.helpers import CONF, TINY, run_main

FIRST_METRIC = {"regression": "rmse", "binary": "accuracy", "multiclass": "accuracy"}
# data set -> (task, loss, extra overrides); the fast ones also corrupt their training split
CASES = {
    "friedman": ("regression", "huber", ["data.corruption=leverage", "data.outlier_frac=0.2"]),
    "breast_cancer": ("binary", "hinge", ["data.corruption=pair", "data.label_noise=0.2"]),
    "mnist1d": ("multiclass", "ce", ["model=cnn1d", "data.label_noise=0.3"]),
    "outliers": ("regression", "mse", []),
    "diabetes": ("regression", "mae", ["data.corruption=heavy_tail", "data.outlier_frac=1"]),
    "binary": ("binary", "bce", ["model=linear"]),
    "moons": ("binary", "bce", ["data.label_noise=0.1"]),
    "multiclass": ("multiclass", "ce", ["data.corruption=pair", "data.label_noise=0.2"]),
    "iris": ("multiclass", "ce", ["data.n_samples=null"]),
    "wine": ("multiclass", "ce", ["data.n_samples=null", "model=linear"]),
    "digits": ("multiclass", "ce", ["data.label_noise=0.4"]),
    "table": ("regression", "huber", ["data.path=examples/data/diabetes.csv",
                                      "data.target=progression", "data.outlier_frac=0.2"]),
}
FAST = ("friedman", "breast_cancer", "mnist1d")


def test_every_data_config_has_a_cli_case():
    assert sorted(CASES) == sorted(p.stem for p in (CONF / "data").glob("*.yaml"))


@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow)
                                  for n in CASES])
def test_every_data_config_trains_end_to_end(tmp_path, name):
    task, loss, extra = CASES[name]
    out = tmp_path / "run"
    proc = run_main(f"data={name}", f"loss={loss}", *TINY, *extra, f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr
    assert "completed" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["task"] == task
    assert f"test.{FIRST_METRIC[task]}" in summary["final"]
    info = summary["data_info"]
    level = summary["config"][f"data.{LEVEL_KEY[task]}"]
    from harness.data.corruptions import DEFAULT_KIND

    kind = summary["config"]["data.corruption"]  # "auto" (data=table): the task's default
    assert info["corruption_level"] == level
    assert info["corruption"] == (DEFAULT_KIND[task] if kind == "auto" else kind)
    m = results.load(out)
    assert m.epoch.max() == 2
    memo = m[m.metric.isin(["memorised", "corrupted_correct"])]
    if level > 0:  # memorisation is logged on the training split, every epoch
        assert info["n_corrupted"] > 0 and set(memo.split) == {"train"}
        assert sorted(memo.epoch.unique()) == [0, 1, 2]
        assert memo.value.between(0, 1).all()
    else:
        assert memo.empty and info["n_corrupted"] == 0


# ---------------------------------------------------------------- experiment presets
PRESETS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def compose_preset(name: str, *overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=[f"+experiment={name}", *overrides],
                       return_hydra_config=True)


def sweep(params) -> dict[str, list[str]]:
    return {k: [v.strip() for v in str(vals).split(",")] for k, vals in params.items()}


def test_there_are_presets_for_each_study():
    assert {"regression_robustness", "label_noise_mnist1d", "label_noise_digits",
            "binary_margin"} <= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_is_documented_overrides_only_and_launches_with_one_line(name):
    text = (CONF / "experiment" / f"{name}.yaml").read_text()
    assert text.startswith("# @package _global_\n")
    assert f"python -m harness -m +experiment={name}" in text
    assert "_target_" not in text  # overrides only; the group files hold the rest


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
@pytest.mark.parametrize("name", PRESETS)
def test_preset_sweeps_only_registered_losses_that_fit_its_data(name):
    cfg = compose_preset(name)
    params = sweep(cfg.hydra.sweeper.params)
    assert "seed" in params and len(params["seed"]) >= 3
    assert any(k in params for k in ("data.outlier_frac", "data.label_noise"))
    data_options = params.get("data", [cfg.hydra.runtime.choices.data])
    for loss, data in itertools.product(params.get("loss", [cfg.loss.name]), data_options):
        assert loss in losses.available(), loss
        one = compose_preset(name, f"loss={loss}", f"data={data}",
                             *(f"{k}={v[-1]}" for k, v in params.items()
                               if k not in ("loss", "data")))
        validate(one)
        assert losses.spec(loss).task == data_task(one), (loss, data)


@pytest.mark.slow
def test_a_preset_runs_through_the_cli(tmp_path):
    proc = run_main("-m", "+experiment=label_noise_digits", "seed=0", "data.label_noise=0.2",
                   "data.corruption=pair", "loss=gce", *TINY, f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    df = results.summaries(tmp_path)
    assert len(df) == 1 and (df.status == "completed").all()
    m = results.load(tmp_path)
    assert isinstance(m, pd.DataFrame) and "memorised" in set(m.metric)
