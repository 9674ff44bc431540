"""The training loop and one in-process run: rows, reproducibility, divergence, files."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from harness import metrics as M
from harness import results
from harness.run import run, run_id
from tests.conftest import TINY, make_cfg

CHOICES = {"data": "outliers", "model": "mlp", "loss": "huber", "optim": "adam",
           "trainer": "default"}


def test_run_writes_tidy_metrics_and_summary(tmp_path):
    cfg = make_cfg("loss=huber", *TINY)
    summary = run(cfg, tmp_path, CHOICES, echo=False)
    m = pd.read_parquet(tmp_path / "metrics.parquet")
    assert list(m.columns) == results.METRIC_COLUMNS
    assert sorted(m.epoch.unique()) == [0, 1, 2]
    assert set(m.split) == {"train", "train_clean", "val", "val_corrupted", "test"}
    assert set(m.metric) == {"objective", "rmse", "mae", "r2", "elapsed_s", *M.MEMORISATION}
    # one row per (epoch, split, metric): tidy
    assert not m.duplicated(["epoch", "split", "metric"]).any()
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["status"] == "completed" and saved["run_id"] == summary["run_id"]
    assert saved["config"]["loss"] == "huber" and saved["config"]["loss.delta"] == 1.0
    assert saved["loss_id"] == "huber[delta=1.0]" and saved["task"] == "regression"
    assert saved["torch_version"] == torch.__version__ and saved["device"] == "cpu"
    last = m[(m.epoch == 2) & (m.split == "test") & (m.metric == "rmse")].value.item()
    assert saved["final"]["test.rmse"] == pytest.approx(last)


def test_same_config_same_numbers_and_id(tmp_path):
    cfg = make_cfg("loss=mae", *TINY)
    a = run(cfg, tmp_path / "a", CHOICES, echo=False)
    b = run(cfg, tmp_path / "b", CHOICES, echo=False)
    assert a["run_id"] == b["run_id"]
    assert without_time(a["final"]) == without_time(b["final"])  # bit-identical
    c = run(make_cfg("loss=mae", "seed=1", *TINY), tmp_path / "c", CHOICES, echo=False)
    assert c["run_id"] != a["run_id"] and c["final"]["test.rmse"] != a["final"]["test.rmse"]


def without_time(final: dict) -> dict:
    return {k: v for k, v in final.items() if not k.endswith("elapsed_s")}


def test_progress_flag_does_not_change_the_run_id():
    flat = {"loss": "mse", "seed": 0, "trainer.progress": True}
    assert run_id(flat) == run_id({**flat, "trainer.progress": False})
    assert run_id(flat) != run_id({**flat, "seed": 1})


def test_divergence_stops_early_and_is_recorded(tmp_path):
    cfg = make_cfg("loss=mse", "optim=sgd", "optim.lr=1e6", "trainer.epochs=5",
                   "data.n_samples=200", "trainer.progress=false")
    summary = run(cfg, tmp_path, CHOICES, echo=False)
    assert summary["status"] == "diverged"
    assert 1 <= summary["diverged_epoch"] < 5 == cfg.trainer.epochs
    assert summary["epochs_run"] == summary["diverged_epoch"]
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "diverged"


def test_training_reduces_the_objective(tmp_path):
    cfg = make_cfg("loss=ce", "data=multiclass", "data.n_samples=400", "trainer.epochs=10",
                   "trainer.progress=false")
    run(cfg, tmp_path, {**CHOICES, "data": "multiclass"}, echo=False)
    m = pd.read_parquet(tmp_path / "metrics.parquet")
    val = m[(m.split == "val") & (m.metric == "accuracy")].set_index("epoch").value
    assert val[10] > val[0] + 0.2
