"""Experiment trackers, opt-in: ``trainer.trackers=[mlflow]``, ``[tensorboard]`` or both.

Every run (alone or stacked) is logged once it is written, with the same rows as its
``metrics.parquet``: each ``<split>.<metric>`` at every epoch (the epoch as the step;
non-finite values are left out: the run's status says it diverged).

- **MLflow** (``pip install -e '.[mlflow]'``): one MLflow run per job, its params the
  flattened config, its tags the harness's run id, status, task, loss id and folder; a
  sweep (or a protocol stage) is one experiment, named by its folder; a single run goes
  to the experiment ``harness``. The store is ``trainer.tracking_uri``, by default a
  local SQLite file ``outputs/mlflow.db`` (MLflow's own file store is in maintenance
  mode and refused by MLflow 3 unless told otherwise; SQLite is its recommended local
  store). ``mlflow ui --backend-store-uri sqlite:///outputs/mlflow.db`` shows them.
- **TensorBoard** (``pip install -e '.[tensorboard]'``): ``<run folder>/tensorboard``
  event files (scalars ``<split>/<metric>``, the config as text), written with torch's
  ``SummaryWriter``; ``tensorboard --logdir <sweep folder>`` shows every run.

A tracker that fails (not installed, a store it cannot reach) never fails the run: its
results are written first, and the failure is one warning line.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("harness")
TRACKERS = ("mlflow", "tensorboard")
DEFAULT_URI = "sqlite:///outputs/mlflow.db"
MARKERS = ("sweep.json", "protocol.json")  # a folder of runs: one experiment


def experiment_of(out_dir: str | Path) -> tuple[str, str | None]:
    """(experiment name, sweep folder or None) of a run folder: the nearest folder above
    it that holds a sweep's or a protocol's record, else ``harness``."""
    here = Path(out_dir).resolve()
    for folder in here.parents:
        if any((folder / m).is_file() for m in MARKERS):
            return str(folder), str(folder)
    return "harness", None


def log_run(trackers: list[str], summary: dict[str, Any], rows: list[tuple],
            out_dir: str | Path, tracking_uri: str | None = None) -> None:
    """Log one written run to each tracker of ``trackers`` (see the module docstring)."""
    for name in trackers:
        try:
            (_mlflow if name == "mlflow" else _tensorboard)(summary, rows, Path(out_dir),
                                                             tracking_uri)
        except ImportError as err:
            log.warning("warning: trainer.trackers=[%s] but %s is not installed (%s); "
                        "pip install -e '.[%s]'. The run's files are written.", name, name,
                        err.name or err, name)
        except Exception as err:  # a store it cannot reach: the results are written
            log.warning("warning: %s could not log run %s: %s", name, summary.get("run_id"),
                        str(err).splitlines()[0] if str(err) else type(err).__name__)


_CLIENTS: dict[str, Any] = {}


def _mlflow(summary: dict[str, Any], rows: list[tuple], out_dir: Path,
            tracking_uri: str | None) -> None:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    uri = tracking_uri or DEFAULT_URI
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):  # relative
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    client = _CLIENTS.get(uri) or _CLIENTS.setdefault(uri, MlflowClient(tracking_uri=uri))
    name, sweep = experiment_of(out_dir)
    found = client.get_experiment_by_name(name)
    experiment = found.experiment_id if found else client.create_experiment(name)
    tags = {"harness.run_id": summary["run_id"], "harness.status": summary.get("status", ""),
            "harness.task": summary.get("task", ""), "harness.loss_id":
            summary.get("loss_id", ""), "harness.folder": str(out_dir.resolve())}
    if sweep:
        tags["harness.sweep"] = sweep
    run = client.create_run(experiment, run_name=out_dir.name, tags=tags)
    now = int(time.time() * 1000)
    params = [Param(k, json.dumps(v) if not isinstance(v, str) else v)
              for k, v in sorted(summary.get("config", {}).items())]
    metrics = [Metric(f"{split}.{metric}", float(value), now, int(epoch))
               for epoch, split, metric, value in rows
               if isinstance(value, (int, float)) and math.isfinite(value)]
    for i in range(0, max(len(metrics), 1), 1000):  # MLflow's batch limit
        client.log_batch(run.info.run_id, metrics=metrics[i:i + 1000],
                         params=params if i == 0 else [])
    client.set_terminated(run.info.run_id,
                          "FINISHED" if summary.get("status") in ("completed", "diverged")
                          else "FAILED")


def _tensorboard(summary: dict[str, Any], rows: list[tuple], out_dir: Path,
                 tracking_uri: str | None) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(out_dir / "tensorboard"))
    try:
        for epoch, split, metric, value in rows:
            if isinstance(value, (int, float)) and math.isfinite(value):
                writer.add_scalar(f"{split}/{metric}", float(value), int(epoch))
        writer.add_text("config", json.dumps(summary.get("config", {}), indent=1,
                                             default=str))
    finally:
        writer.close()
