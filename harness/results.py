"""Run results on disk, and loading them back as one tidy pandas table.

A run folder holds:

- ``metrics.parquet``: one row per (epoch, split, metric): columns ``run_id``, ``epoch``,
  ``split`` (train / train_clean / val / test), ``metric``, ``value``;
- ``summary.json``: run id, status, flattened config, final metrics, wall time, device,
  versions. Written last: a folder with a summary is a finished run;
- ``.hydra/``: Hydra's own record of the composed config and overrides.

A sweep folder also gets ``results.parquet`` when its multirun ends: :func:`load`'s table
of every run in it, with a fingerprint of the run summaries it was built from. ``load``
reads it only while the fingerprint still matches the folder, and otherwise builds the
same table from the per-run files.

Files are written to a temporary name and renamed, so a killed run never leaves half a
file behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.errors import HarnessError

METRICS_FILE = "metrics.parquet"
SUMMARY_FILE = "summary.json"
MERGED_FILE = "results.parquet"
FINGERPRINT_KEY = b"harness.fingerprint"
METRIC_COLUMNS = ["run_id", "epoch", "split", "metric", "value"]


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_run(run_dir: str | Path, metrics: pd.DataFrame, summary: dict[str, Any]) -> None:
    """Write one run's metrics and then its summary, each atomically."""
    run_dir = Path(run_dir)
    _atomic_write(run_dir / METRICS_FILE, lambda p: metrics.to_parquet(p, index=False))

    def dump(p: str) -> None:
        with open(p, "w") as fh:
            json.dump(summary, fh, indent=2, default=str)
            fh.write("\n")

    _atomic_write(run_dir / SUMMARY_FILE, dump)


def run_dirs(path: str | Path) -> list[Path]:
    """Every run folder at or below ``path`` (a folder holding ``summary.json``), sorted."""
    path = Path(path)
    if not path.exists():
        raise HarnessError(f"{path} does not exist; give a run folder or a folder of runs "
                           "(e.g. outputs/runs/<time> or outputs/sweeps/<time>).")
    if (path / SUMMARY_FILE).is_file():
        return [path]
    found = sorted(p.parent for p in path.rglob(SUMMARY_FILE))
    if not found:
        raise HarnessError(f"no runs under {path}: no {SUMMARY_FILE} was found in it or "
                           "its subfolders (a run writes one when it finishes).")
    return found


def read_summary(run_dir: Path) -> dict[str, Any]:
    try:
        with open(run_dir / SUMMARY_FILE) as fh:
            return json.load(fh)
    except (OSError, json.JSONDecodeError) as err:
        raise HarnessError(f"cannot read {run_dir / SUMMARY_FILE}: {err}") from None


# what a run's data say about its corruption; columns of every results table
CORRUPTION_COLUMNS = ("corruption", "corruption_level", "realised_corruption")


def summary_row(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary as one flat row: meta fields, the config columns, what the data were
    (``corruption``, ``corruption_level``, ``n_train``, ...), ``final.<split>.<metric>``."""
    row = {k: v for k, v in summary.items() if not isinstance(v, dict)}
    row.update(summary.get("data_info", {}))
    row.update(summary.get("config", {}))
    row.update({f"final.{k}": v for k, v in summary.get("final", {}).items()})
    return row


def summaries(path: str | Path) -> pd.DataFrame:
    """One row per run under ``path``: run id, status, config columns, final metrics."""
    return pd.DataFrame([summary_row(read_summary(d)) for d in run_dirs(path)])


def _fingerprint(root: Path, dirs: list[Path], summaries: list[dict[str, Any]]) -> str:
    keys = sorted((str(d.relative_to(root)), s.get("run_id"), s.get("status"),
                   s.get("finished_at")) for d, s in zip(dirs, summaries, strict=True))
    return hashlib.sha256(json.dumps(keys, default=str).encode()).hexdigest()


def load(path: str | Path) -> pd.DataFrame:
    """All metric rows of the run(s) at or below ``path`` as one tidy DataFrame.

    Each row is one (run, epoch, split, metric) with its value, plus the run's config
    columns (``loss``, ``loss.delta``, ``data``, ``data.outlier_frac``, ``seed``, ...),
    ``status``, ``task``, ``loss_id`` and the data's ``corruption`` kind,
    ``corruption_level`` and ``realised_corruption``, so a ``groupby`` is all an analysis
    needs.
    Runs that failed before their first epoch have no rows (see :func:`summaries`).
    """
    return _load(Path(path))[0]


def merge(sweep_dir: str | Path) -> pd.DataFrame:
    """Write :func:`load`'s table of ``sweep_dir`` to ``sweep_dir/results.parquet``
    (atomically, with its fingerprint) and return it."""
    sweep_dir = Path(sweep_dir)
    table, fingerprint = _load(sweep_dir, use_merged=False)
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}),
                                           FINGERPRINT_KEY: fingerprint.encode()})
    _atomic_write(sweep_dir / MERGED_FILE, lambda p: pq.write_table(arrow, p))
    return table


def _load(path: Path, use_merged: bool = True) -> tuple[pd.DataFrame, str]:
    dirs = run_dirs(path)
    summaries_ = [read_summary(d) for d in dirs]
    fingerprint = _fingerprint(path, dirs, summaries_)
    merged = path / MERGED_FILE
    if use_merged and merged.is_file():
        try:
            meta = pq.read_schema(merged).metadata or {}
            if meta.get(FINGERPRINT_KEY) == fingerprint.encode():
                return pd.read_parquet(merged), fingerprint
        except Exception:  # a damaged merged file: fall back to the per-run files
            pass
    frames = []
    for d, summary in zip(dirs, summaries_, strict=True):
        try:
            metrics = pd.read_parquet(d / METRICS_FILE)
        except FileNotFoundError:
            continue  # a run that failed before its first epoch has a summary only
        except Exception as err:  # pyarrow raises several types for a damaged file
            raise HarnessError(f"cannot read {d / METRICS_FILE}: {err}") from None
        meta = {k: summary.get(k) for k in ("status", "task", "loss_id")}
        info = summary.get("data_info", {})
        meta.update({k: info.get(k) for k in CORRUPTION_COLUMNS})
        meta.update(summary.get("config", {}))
        frames.append(metrics.assign(**{k: [v] * len(metrics) for k, v in meta.items()}))
    if not frames:
        return pd.DataFrame(columns=METRIC_COLUMNS), fingerprint
    return pd.concat(frames, ignore_index=True), fingerprint
