"""Run results on disk, and loading them back as one tidy pandas table.

A run folder holds:

- ``metrics.parquet``: one row per (epoch, split, metric): columns ``run_id``, ``epoch``,
  ``split`` (train / train_clean / val / val_corrupted / test), ``metric``, ``value``;
- ``summary.json``: run id, status, flattened config, final metrics, wall time, device,
  versions. Written last: a folder with a summary is a finished run;
- ``.hydra/``: Hydra's own record of the composed config and overrides.

A sweep folder also gets ``results.parquet`` when its multirun ends: :func:`load`'s table
of every run in it, with a fingerprint of the run summaries it was built from. ``load``
reads it only while the fingerprint still matches the folder, and otherwise builds the
same table from the per-run files.

Files are written to a temporary name and renamed, so a killed run never leaves half a
file behind. JSON is strict: a non-finite number (a diverged metric, ``loss.alpha=-inf``)
is written as the string ``"nan"``, ``"inf"`` or ``"-inf"`` and read back as that float.

A results file that cannot be read (truncated, corrupt, hand-edited) does not stop
:func:`load` or :func:`summaries`: its run is skipped with a :class:`ResultsWarning` that
names the file, and the table is built from the rest.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import warnings
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


NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class ResultsWarning(UserWarning):
    """A results file was skipped because it cannot be read; ``path`` names it."""

    def __init__(self, path: Path, reason: str, run_id: str | None = None) -> None:
        super().__init__(f"skipped {path}: {reason}")
        self.path, self.reason, self.run_id = path, reason, run_id


def atomic_write(path: str | Path, write) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``:
    readers see the old file or the whole new one, never half of it. A folder that
    cannot be written is a :class:`HarnessError` naming it."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as err:
        raise HarnessError(f"cannot write {path}: {err.strerror or err}; choose a folder "
                           "you can write (hydra.run.dir=... or hydra.sweep.dir=...).") from None
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _strict(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its name (see NON_FINITE)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def _lenient(value: Any) -> Any:
    """The inverse of :func:`_strict`: ``"nan"``, ``"inf"``, ``"-inf"`` become floats."""
    if isinstance(value, str):
        return NON_FINITE.get(value, value)
    if isinstance(value, dict):
        return {k: _lenient(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lenient(v) for v in value]
    return value


def dumps(obj: Any) -> str:
    """Strict JSON text (no NaN/Infinity tokens) of ``obj``, indented, with a final newline;
    values JSON cannot hold (paths, numpy scalars) are written as their ``str``."""
    def default(value: Any) -> Any:
        try:
            return _strict(value.item())  # numpy / torch scalars
        except (AttributeError, TypeError, ValueError):
            return str(value)

    return json.dumps(_strict(obj), indent=2, allow_nan=False, default=default) + "\n"


def loads(text: str) -> Any:
    """Read JSON written by :func:`dumps` (older files with NaN tokens are read too)."""
    return _lenient(json.loads(text))


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` to ``path`` as strict JSON, atomically."""
    text = dumps(obj)
    atomic_write(path, lambda p: Path(p).write_text(text))


def write_run(run_dir: str | Path, metrics: pd.DataFrame, summary: dict[str, Any]) -> None:
    """Write one run's metrics and then its summary, each atomically."""
    run_dir = Path(run_dir)
    atomic_write(run_dir / METRICS_FILE, lambda p: metrics.to_parquet(p, index=False))
    write_json(run_dir / SUMMARY_FILE, summary)


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
    """One run's summary; a :class:`HarnessError` naming the file if it cannot be read."""
    path = Path(run_dir) / SUMMARY_FILE
    try:
        summary = loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise HarnessError(f"cannot read {path}: {err}") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("run_id"), str) \
            or not isinstance(summary.get("status"), str):
        raise HarnessError(f"cannot read {path}: not a run summary (a JSON object with "
                           "run_id and status).")
    return summary


def _readable(path: Path) -> tuple[list[Path], list[dict[str, Any]]]:
    """The run folders under ``path`` whose summary can be read, and those summaries;
    every other one is skipped with a :class:`ResultsWarning`."""
    dirs, found, bad = [], [], []
    for d in run_dirs(path):
        try:
            found.append(read_summary(d))
            dirs.append(d)
        except HarnessError as err:
            bad.append((d / SUMMARY_FILE, str(err)))
    if not dirs:
        raise HarnessError(f"no readable runs under {path}: {len(bad)} {SUMMARY_FILE} "
                           f"file(s) found, none readable ({bad[0][1]}); a run needs a "
                           f"readable {SUMMARY_FILE}.")
    for file, message in bad:
        _skip(file, message.removeprefix(f"cannot read {file}: "))
    return dirs, found


def _skip(path: Path, reason: str, run_id: str | None = None) -> None:
    warnings.warn(ResultsWarning(path, reason, run_id), stacklevel=3)


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
    """One row per run under ``path``: run id, status, config columns, final metrics.
    A run whose summary cannot be read is skipped with a :class:`ResultsWarning`."""
    return pd.DataFrame([summary_row(s) for s in _readable(Path(path))[1]])


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
    A run whose summary or metrics file cannot be read is skipped with a
    :class:`ResultsWarning` naming the file.
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
    atomic_write(sweep_dir / MERGED_FILE, lambda p: pq.write_table(arrow, p))
    return table


def _load(path: Path, use_merged: bool = True) -> tuple[pd.DataFrame, str]:
    dirs, summaries_ = _readable(path)
    fingerprint = _fingerprint(path, dirs, summaries_)
    merged = path / MERGED_FILE
    if use_merged and merged.is_file():
        try:
            meta = pq.read_schema(merged).metadata or {}
            if meta.get(FINGERPRINT_KEY) == fingerprint.encode():
                return pd.read_parquet(merged), fingerprint
        except Exception as err:  # a damaged merged file: fall back to the per-run files
            _skip(merged, f"{err}".splitlines()[0] or type(err).__name__)
    frames = []
    for d, summary in zip(dirs, summaries_, strict=True):
        try:
            metrics = pd.read_parquet(d / METRICS_FILE)
        except FileNotFoundError:
            continue  # a run that failed before its first epoch has a summary only
        except Exception as err:  # pyarrow raises several types for a damaged file
            _skip(d / METRICS_FILE, f"{err}".splitlines()[0] or type(err).__name__,
                  summary.get("run_id"))
            continue
        missing = [c for c in METRIC_COLUMNS if c not in metrics]
        if missing:
            _skip(d / METRICS_FILE, f"no column(s) {', '.join(missing)}", summary.get("run_id"))
            continue
        if metrics.empty:
            continue
        meta = {k: summary.get(k) for k in ("status", "task", "loss_id")}
        info = summary.get("data_info", {})
        meta.update({k: info.get(k) for k in CORRUPTION_COLUMNS})
        meta.update(summary.get("config", {}))
        frames.append(metrics.assign(**{k: [v] * len(metrics) for k, v in meta.items()}))
    if not frames:
        return pd.DataFrame(columns=METRIC_COLUMNS), fingerprint
    return pd.concat(frames, ignore_index=True), fingerprint
