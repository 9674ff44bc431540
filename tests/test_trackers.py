"""Experiment trackers (issue 20): a sweep's runs logged to MLflow (one experiment per
sweep, one run per job, params, per-epoch metrics, tags) and TensorBoard, read back
with MLflow's client and TensorBoard's event reader."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from harness import results
from tests.helpers import TINY, run_main

mlflow = pytest.importorskip("mlflow", reason="pip install -e '.[mlflow]'")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("tracked")
    uri = f"sqlite:///{root}/mlflow.db"
    proc = run_main("-m", "loss=mse,huber", *TINY, "trainer.trackers=[mlflow,tensorboard]",
                    f"trainer.tracking_uri={uri}", "hydra/launcher=vectorized",
                    f"hydra.sweep.dir={root}/sweep")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return root, uri


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_a_sweep_is_one_mlflow_experiment_with_a_run_per_job(sweep):
    from mlflow.tracking import MlflowClient

    root, uri = sweep
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(str((root / "sweep").resolve()))
    runs = client.search_runs([experiment.experiment_id])
    summaries = results.summaries(root / "sweep").set_index("run_id")
    assert sorted(r.data.tags["harness.run_id"] for r in runs) == sorted(summaries.index)
    metrics = results.load(root / "sweep")
    for run in runs:
        rid = run.data.tags["harness.run_id"]
        assert run.data.params["loss"] == summaries.loc[rid, "loss"]
        assert run.data.params["seed"] == "0" and run.info.status == "FINISHED"
        history = client.get_metric_history(run.info.run_id, "test.rmse")
        rows = metrics[(metrics.run_id == rid) & (metrics.split == "test")
                       & (metrics.metric == "rmse")].set_index("epoch").value
        assert {h.step: h.value for h in history} == pytest.approx(rows.to_dict())


def test_tensorboard_events_hold_every_epoch(sweep):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root, _ = sweep
    metrics = results.load(root / "sweep")
    for folder in results.run_dirs(root / "sweep"):
        rid = results.read_summary(folder)["run_id"]
        events = EventAccumulator(str(folder / "tensorboard"))
        events.Reload()
        got = {e.step: e.value for e in events.Scalars("val/mae")}
        want = metrics[(metrics.run_id == rid) & (metrics.split == "val")
                       & (metrics.metric == "mae")].set_index("epoch").value.to_dict()
        assert got == pytest.approx(want)


def test_a_tracker_that_fails_loses_nothing(tmp_path):
    """An MLflow store it cannot open: one warning line, the run's files written."""
    proc = run_main("loss=mse", *TINY, "trainer.trackers=[mlflow]",
                    "trainer.tracking_uri=sqlite:////proc/no/such/mlflow.db",
                    f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0
    assert "warning: mlflow could not log run" in proc.stdout + proc.stderr
    summary = results.read_summary(tmp_path)
    assert summary["status"] == "completed" and not math.isnan(summary["final"]["test.rmse"])
    assert len(pd.read_parquet(tmp_path / "metrics.parquet")) > 0
