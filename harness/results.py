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

Every file is read against its schema (:data:`SUMMARY_FIELDS`, :data:`METRIC_TYPES`): a
results file that cannot be read or has the wrong shape (truncated, corrupt, hand-edited,
``data_info: 5``, a ``value`` column of strings) does not stop :func:`load`,
:func:`summaries` or :func:`merge`: its run is skipped with a :class:`ResultsWarning` that
names the file, and the table is built from the rest. Two folders holding one run id
(one config given twice) are one run: the first is kept, the other named and skipped, so
a table never holds a (run, epoch, split, metric) row twice.

Files are created with the process's umask (0644 under the usual 022), like any other
file the user writes. A file that cannot be written (a full disk, no permission, a
read-only file system, a quota) raises :class:`CannotWrite`, a one-line
:class:`~harness.errors.HarnessError` naming the file; the old file, if any, is left whole.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import itertools
import json
import math
import os
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


class CannotWrite(HarnessError):
    """A results file could not be written: ``path`` is the file, ``errno`` and
    ``strerror`` the operating system's reason (ENOSPC, EDQUOT, EACCES, EROFS, ...).
    One line, ``cannot write <path>: <reason>; <what to do>``."""

    def __init__(self, path: Path, err: OSError) -> None:
        self.path, self.errno = Path(path), err.errno
        self.strerror = err.strerror or str(err) or type(err).__name__
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            hint = "free some space and run the command again (finished runs are kept)."
        else:
            hint = ("choose a folder you can write (hydra.run.dir=... or "
                    "hydra.sweep.dir=...).")
        super().__init__(f"cannot write {path}: {self.strerror}; {hint}")


_TEMP_NAMES = itertools.count()


def _create_temp(path: Path) -> tuple[Path, int]:
    """A new, empty file beside ``path`` (``.<name>.<pid>.<n>.tmp``) and its descriptor,
    open for writing: created with ``O_EXCL`` (never an existing file or a link) and the
    mode a plain ``open`` gives (``0o666`` less the umask, applied by the kernel). The
    folder is made (with its parents) when it does not exist yet."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    made = False
    while True:
        tmp = path.parent / f".{path.name}.{os.getpid()}.{next(_TEMP_NAMES)}.tmp"
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:  # left by a killed process of the same pid: the next name
            continue
        except FileNotFoundError:
            if made:
                raise
            path.parent.mkdir(parents=True, exist_ok=True)
            made = True


def atomic_write(path: str | Path, write) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``:
    readers see the old file or the whole new one, never half of it. The file gets the
    mode a plain ``open`` would give (``0o666`` less the umask).

    Any :class:`OSError` while creating, writing or renaming (a full disk, no
    permission, a read-only file system) removes the temporary file and raises
    :class:`CannotWrite` naming ``path``; any other exception from ``write`` is raised as
    it is, after the temporary file is removed."""
    _atomic(Path(path), write)


def atomic_write_data(path: str | Path, data: str | bytes) -> None:
    """:func:`atomic_write` of ``data`` (text is written as UTF-8), through the
    temporary file's own descriptor (one open, not two)."""
    _atomic(Path(path), data.encode("utf-8") if isinstance(data, str) else data)


def _atomic(path: Path, write: Any) -> None:
    try:
        tmp, fd = _create_temp(path)
    except OSError as err:
        raise CannotWrite(path, err) from None
    try:
        if isinstance(write, bytes):
            try:
                view = memoryview(write)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        else:
            mode = os.fstat(fd).st_mode & 0o7777  # what the kernel gave (0o666 - umask)
            os.close(fd)
            write(tmp)  # a writer may replace the file (safetensors makes it 0600)
            if os.stat(tmp).st_mode & 0o7777 != mode:
                os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise CannotWrite(path, err) from err
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
    atomic_write_data(path, dumps(obj))


@functools.cache
def _metrics_schema() -> pa.Schema:
    """The Arrow schema pandas gives a run's metric rows (``run_id``, ``epoch``,
    ``split``, ``metric``, ``value``: text, int64, text, text, float64), its pandas
    metadata included: the file :func:`metrics_table` makes is the one ``to_parquet``
    of the same rows as a DataFrame makes."""
    template = pd.DataFrame([("r", 1, "s", "m", 0.5)], columns=METRIC_COLUMNS)
    return pa.Table.from_pandas(template, preserve_index=False).schema


def metrics_table(rows: list[tuple]) -> pa.Table:
    """A run's metric rows, ``(run_id, epoch, split, metric, value)`` each, as the Arrow
    table :func:`write_run` writes (without building a DataFrame first)."""
    schema = _metrics_schema()
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in METRIC_COLUMNS]
    return pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, schema,
                                                                           strict=True)],
                                schema=schema)


def write_run(run_dir: str | Path, metrics: pd.DataFrame | pa.Table,
              summary: dict[str, Any]) -> None:
    """Write one run's metrics and then its summary, each atomically. A summary already
    there (an earlier, failed attempt in the same folder) is removed first, so a write
    that stops half-way leaves an unfinished run, never an old summary beside new
    metrics. Raises :class:`CannotWrite` when a file cannot be written."""
    run_dir = Path(run_dir)
    try:
        (run_dir / SUMMARY_FILE).unlink(missing_ok=True)
    except OSError as err:
        raise CannotWrite(run_dir / SUMMARY_FILE, err) from None
    table = metrics if isinstance(metrics, pa.Table) else \
        pa.Table.from_pandas(metrics, preserve_index=False)
    sink = pa.BufferOutputStream()  # the file made in memory, written in one call
    pq.write_table(table, sink)
    atomic_write_data(run_dir / METRICS_FILE, sink.getvalue().to_pybytes())
    text = dumps(summary)
    atomic_write_data(run_dir / SUMMARY_FILE, text)
    _remember(run_dir, table, text)


# ---------------------------------------------------------------- what this process wrote
# run folder -> (the (inode, size, mtime) of its two files as written, the summary's
# text, the metrics table): a merge at the end of a sweep takes the runs this
# process wrote from here instead of reading every file again. A file changed since
# (another process, a hand edit) no longer matches its stat and is read from disk.
_WRITTEN: dict[str, tuple[tuple, str, pa.Table]] = {}
_WRITTEN_BUDGET = 256 * 2**20  # bytes of runs remembered; the oldest go first
_WRITTEN_BYTES = [0]


def _key(run_dir: Path) -> str:
    return os.path.abspath(run_dir)


def _stat(run_dir: Path) -> tuple | None:
    try:
        a, b = os.stat(run_dir / SUMMARY_FILE), os.stat(run_dir / METRICS_FILE)
    except OSError:
        return None
    return (a.st_ino, a.st_size, a.st_mtime_ns, b.st_ino, b.st_size, b.st_mtime_ns)


def _remember(run_dir: Path, table: pa.Table, text: str) -> None:
    stat = _stat(run_dir)
    if stat is None:
        return
    key = _key(run_dir)
    if key in _WRITTEN:
        _forget(key)
    _WRITTEN[key] = (stat, text, table)
    _WRITTEN_BYTES[0] += len(text) + table.nbytes
    while len(_WRITTEN) > 1 and _WRITTEN_BYTES[0] > _WRITTEN_BUDGET:
        _forget(next(iter(_WRITTEN)))


def _forget(key: str) -> None:
    _, text, table = _WRITTEN.pop(key)
    _WRITTEN_BYTES[0] -= len(text) + table.nbytes


def _recall(run_dir: Path) -> tuple[dict[str, Any], pa.Table] | None:
    """The summary and metrics table this process wrote to ``run_dir``, if its files
    are still those it wrote (same inode, size and modification time); else None."""
    found = _WRITTEN.get(_key(run_dir))
    if found is None or found[0] != _stat(run_dir):
        return None
    return loads(found[1]), found[2]  # a fresh summary: the caller may change it


def run_dirs(path: str | Path) -> list[Path]:
    """Every run folder at or below ``path`` (a folder holding ``summary.json``), sorted."""
    path = Path(path)
    if not path.exists():
        raise HarnessError(f"{path} does not exist; give a run folder or a folder of runs "
                           "(e.g. outputs/runs/<time> or outputs/sweeps/<time>).")
    if not path.is_dir():
        raise HarnessError(f"{path} is a file, not a folder; give a run folder or a folder "
                           "of runs (e.g. outputs/runs/<time> or outputs/sweeps/<time>).")
    if (path / SUMMARY_FILE).is_file():
        return [path]
    found = sorted(p.parent for p in path.rglob(SUMMARY_FILE))
    if not found:
        raise HarnessError(f"no runs under {path}: no {SUMMARY_FILE} was found in it or "
                           "its subfolders (a run writes one when it finishes).")
    return found


# ---------------------------------------------------------------- schemas
STATUSES = ("completed", "diverged", "failed", "interrupted")  # what a summary may say


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_plain(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


# what each kind of value in a summary must be: (test, how it is said)
KINDS = {
    "text": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "status": (lambda v: v in STATUSES, f"one of {', '.join(STATUSES)}"),
    "count": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
              "an integer >= 0"),
    "count or null": (lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)
                                              and v >= 0), "an integer >= 0 or null"),
    "number or null": (lambda v: v is None or _is_number(v), "a number or null"),
    "plain object": (lambda v: isinstance(v, dict) and all(map(_is_plain, v.values())),
                     "a JSON object of plain values (strings, numbers, booleans, null)"),
    "info object": (lambda v: isinstance(v, dict) and all(
        _is_plain(v_) or (isinstance(v_, list) and all(map(_is_plain, v_)))
        for v_ in v.values()),
        "a JSON object of plain values (strings, numbers, booleans, null) or lists of them"),
    "metrics": (lambda v: isinstance(v, dict) and all(v_ is None or _is_number(v_)
                                                     for v_ in v.values()),
                "a JSON object of numbers ('nan', 'inf' and '-inf' included)"),
}
# summary.json: key -> (kind, required). "task" is required of every run that got as far
# as building its data (a run that failed before has no task); other keys may be added
# by later versions, and plain values of keys not listed here are read as they are.
SUMMARY_FIELDS = {
    "run_id": ("text", True), "status": ("status", True), "config": ("plain object", True),
    "final": ("metrics", True), "task": ("text", "unless failed"),
    "data_info": ("info object", False), "loss_id": ("text", False),
    "harness_version": ("text", False), "error": ("text", False),
    "epochs_run": ("count", False), "diverged_epoch": ("count or null", False),
    "stacked_members": ("count", False), "threads": ("count or null", False),
    "train_time_s": ("number or null", False), "wall_time_s": ("number or null", False),
    "stack_train_time_s": ("number or null", False),
}
# metrics.parquet and results.parquet: column -> the Arrow types it may have (``null``:
# the empty table of a run that failed before its first epoch)
METRIC_TYPES = {
    "run_id": (pa.types.is_string, pa.types.is_large_string, pa.types.is_null),
    "epoch": (pa.types.is_integer, pa.types.is_null),
    "split": (pa.types.is_string, pa.types.is_large_string, pa.types.is_null),
    "metric": (pa.types.is_string, pa.types.is_large_string, pa.types.is_null),
    # text only where every value reads as a number (see value_problem)
    "value": (pa.types.is_floating, pa.types.is_integer, pa.types.is_null,
              pa.types.is_string, pa.types.is_large_string),
}
KEYS = ["run_id", "epoch", "split", "metric"]  # one row per key in every table


def summary_problem(summary: Any) -> str | None:
    """What is wrong with ``summary`` (a parsed ``summary.json``) against
    :data:`SUMMARY_FIELDS`, or None when it is a run summary."""
    if not isinstance(summary, dict):
        return f"not a run summary (a JSON object), but a JSON {type(summary).__name__}"
    for key, (kind, required) in SUMMARY_FIELDS.items():
        if key not in summary:
            if required is True or (required == "unless failed"
                                    and summary.get("status") != "failed"):
                return f"not a run summary: no '{key}'"
            continue
        test, said = KINDS[kind]
        if not test(summary[key]):
            return f"not a run summary: '{key}' must be {said}, got {summary[key]!r:.60}"
    return None


def metrics_problem(schema: pa.Schema) -> str | None:
    """What is wrong with a metrics table's Arrow ``schema`` against
    :data:`METRIC_TYPES`, or None when it fits."""
    missing = [c for c in METRIC_TYPES if c not in schema.names]
    if missing:
        return f"no column(s) {', '.join(missing)}"
    for column, tests in METRIC_TYPES.items():
        kind = schema.field(column).type
        if not any(test(kind) for test in tests):
            return f"column '{column}' holds {kind} values"
    return None


def value_problem(table: pd.DataFrame, run_id: str | None = None
                  ) -> tuple[str | None, pd.DataFrame]:
    """A metrics table's ``value`` column held as text: each value must read as a
    number (``"0.25"``, ``"nan"``), and is read as one. Returns (what is wrong or None,
    the table with numeric values)."""
    values = table["value"]
    if pd.api.types.is_numeric_dtype(values) or values.isna().all():
        return None, table
    numbers = pd.to_numeric(values, errors="coerce")
    bad = values[numbers.isna() & values.notna() & ~values.astype(str).str.lower().isin(
        ["nan", "inf", "-inf"])]
    if len(bad):
        ids = ", ".join(sorted(set(table.loc[bad.index, "run_id"].astype(str)))[:3]) or run_id
        return (f"metric values that are not numbers in run(s) {ids} (e.g. "
                f"{bad.iloc[0]!r:.20})"), table
    return None, table.assign(value=numbers.astype(float))


def read_summary(run_dir: Path) -> dict[str, Any]:
    """One run's summary, checked against :data:`SUMMARY_FIELDS`; a
    :class:`HarnessError` naming the file if it cannot be read or has the wrong shape."""
    path = Path(run_dir) / SUMMARY_FILE
    try:
        summary = loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise HarnessError(f"cannot read {path}: {err}") from None
    problem = summary_problem(summary)
    if problem:
        raise HarnessError(f"cannot read {path}: {problem}.")
    return summary


def read_metrics(run_dir: Path, run_id: str | None = None) -> pd.DataFrame:
    """One run's ``metrics.parquet``, checked against :data:`METRIC_TYPES` (and, given
    ``run_id``, holding that run's rows only, each key once). Raises FileNotFoundError
    when there is none (a run that failed before its first epoch may have none) and
    :class:`HarnessError` naming the file when it cannot be read or has the wrong shape."""
    path = Path(run_dir) / METRICS_FILE
    try:
        problem = metrics_problem(pq.read_schema(path))
        table = None if problem else pd.read_parquet(path)
    except FileNotFoundError:
        raise
    except Exception as err:  # pyarrow raises several types for a damaged file
        problem = f"{err}".splitlines()[0] if str(err) else type(err).__name__
    if problem is None:
        problem, table = value_problem(table, run_id)
    if problem is None and run_id is not None and len(table):
        others = sorted(set(table.run_id.astype(str)) - {run_id})
        if others:
            problem = f"rows of run(s) {', '.join(others[:3])}, not of {run_id}"
        elif table.duplicated(KEYS).any():
            problem = "a (run, epoch, split, metric) row more than once"
    if problem:
        raise HarnessError(f"cannot read {path}: {problem}.")
    return table


def metrics_file_problem(run_dir: Path) -> str | None:
    """What is wrong with ``run_dir``'s ``metrics.parquet`` judged by its schema (the
    file's footer: cheap) against :data:`METRIC_TYPES`; None when it fits."""
    path = Path(run_dir) / METRICS_FILE
    try:
        schema = pq.read_schema(path)
        problem = metrics_problem(schema)
        kind = schema.field("value").type if problem is None else None
        if kind is not None and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            problem = value_problem(pd.read_parquet(path, columns=["run_id", "value"]))[0]
        return problem
    except Exception as err:  # missing, unreadable: pyarrow raises several types
        return f"{err}".splitlines()[0] if str(err) else type(err).__name__


def _readable(path: Path
              ) -> tuple[list[Path], list[dict[str, Any]], list[pa.Table | None]]:
    """The run folders under ``path`` whose summary can be read, those summaries, one
    folder per run id, and each run's metrics table where this process wrote it (else
    None); every other folder is skipped with a :class:`ResultsWarning`.

    Of two folders holding one run id, the first (in path order) whose run finished
    (completed or diverged) is kept, else the first."""
    dirs, found, tables, bad = [], [], [], []
    for d in run_dirs(path):
        recalled = _recall(d)
        try:
            found.append(recalled[0] if recalled else read_summary(d))
            tables.append(recalled[1] if recalled else None)
            dirs.append(d)
        except HarnessError as err:
            bad.append((d / SUMMARY_FILE, str(err)))
    if not dirs:
        raise HarnessError(f"no readable runs under {path}: {len(bad)} {SUMMARY_FILE} "
                           f"file(s) found, none readable ({bad[0][1]}); a run needs a "
                           f"readable {SUMMARY_FILE}.")
    keep: dict[str, int] = {}
    for i, summary in enumerate(found):
        rid, first = summary["run_id"], keep.get(summary["run_id"])
        if first is None or (found[first]["status"] not in ("completed", "diverged")
                             and summary["status"] in ("completed", "diverged")):
            keep[rid] = i
    for i, summary in enumerate(found):
        kept = keep[summary["run_id"]]
        if kept != i:
            bad.append((dirs[i] / SUMMARY_FILE,
                        f"run {summary['run_id']} is also in {dirs[kept]}, which was kept "
                        "(one config given twice: one run)"))
    for file, message in bad:
        _skip(file, message.removeprefix(f"cannot read {file}: "))
    order = sorted(keep.values())
    return [dirs[i] for i in order], [found[i] for i in order], [tables[i] for i in order]


def _skip(path: Path, reason: str, run_id: str | None = None) -> None:
    warnings.warn(ResultsWarning(path, reason, run_id), stacklevel=3)


# what a run's data say about its corruption; columns of every results table
CORRUPTION_COLUMNS = ("corruption", "corruption_level", "realised_corruption")


def summary_row(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary as one flat row: meta fields, the config columns, what the data were
    (``corruption``, ``corruption_level``, ``n_train``, ...), ``final.<split>.<metric>``."""
    row = {k: v for k, v in summary.items() if _is_plain(v)}
    row.update({k: json.dumps(v) if isinstance(v, list) else v  # one hashable cell
                for k, v in summary.get("data_info", {}).items()})
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
    return merge_with_summaries(sweep_dir)[0]


def merge_with_summaries(sweep_dir: str | Path) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """:func:`merge`, and the summaries of the runs it merged (every readable run, one
    per run id: what :func:`summaries` would read again)."""
    sweep_dir = Path(sweep_dir)
    table, fingerprint, found = _load(sweep_dir, use_merged=False)
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}),
                                           FINGERPRINT_KEY: fingerprint.encode()})
    atomic_write(sweep_dir / MERGED_FILE, lambda p: pq.write_table(arrow, p))
    return table, found


def _load(path: Path, use_merged: bool = True
          ) -> tuple[pd.DataFrame, str, list[dict[str, Any]]]:
    dirs, summaries_, recalled = _readable(path)
    fingerprint = _fingerprint(path, dirs, summaries_)
    merged = path / MERGED_FILE
    if use_merged and merged.is_file():
        try:
            schema = pq.read_schema(merged)
            if (schema.metadata or {}).get(FINGERPRINT_KEY) == fingerprint.encode():
                problem = metrics_problem(schema)
                if problem is None:
                    problem, table = value_problem(pd.read_parquet(merged))
                if problem is None:
                    if not table.duplicated(KEYS).any():
                        return table, fingerprint, summaries_
                    problem = "a (run, epoch, split, metric) row more than once"
                # the wrong shape though its fingerprint fits: rebuilt from the runs
                _skip(merged, f"{problem}; rebuilt from the run folders")
        except Exception as err:  # a damaged merged file: fall back to the per-run files
            _skip(merged, f"{err}".splitlines()[0] or type(err).__name__)
    frames, metas, sizes = [], [], []
    for d, summary, table in zip(dirs, summaries_, recalled, strict=True):
        try:  # a table this process wrote: Arrow, made a DataFrame below, with others
            metrics = table if table is not None else read_metrics(d, summary["run_id"])
        except FileNotFoundError:
            continue  # a run that failed before its first epoch has a summary only
        except HarnessError as err:
            _skip(d / METRICS_FILE, str(err).removeprefix(f"cannot read {d / METRICS_FILE}: "),
                  summary["run_id"])
            continue
        if len(metrics) == 0:
            continue
        meta = {k: summary.get(k) for k in ("status", "task", "loss_id")}
        info = summary.get("data_info", {})
        meta.update({k: info.get(k) for k in CORRUPTION_COLUMNS})
        meta.update(summary.get("config", {}))
        frames.append(metrics)
        metas.append(meta)
        sizes.append(len(metrics))
    if not frames:
        return pd.DataFrame(columns=METRIC_COLUMNS), fingerprint, summaries_
    return (_with_meta(_concat(frames), metas, sizes), fingerprint, summaries_)


def _concat(frames: list[pd.DataFrame | pa.Table]) -> pd.DataFrame:
    """The runs' metric tables one after another as one DataFrame; each run of Arrow
    tables (what this process wrote) is made a DataFrame in one conversion, which gives
    what converting each (reading its file back) and concatenating gives."""
    parts: list[pd.DataFrame] = []
    arrow: list[pa.Table] = []
    for frame in [*frames, None]:
        if isinstance(frame, pa.Table):
            arrow.append(frame)
            continue
        if arrow:
            try:
                parts.append(pa.concat_tables(arrow).to_pandas())
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # schemas that differ: one by one
                parts.extend(table.to_pandas() for table in arrow)
            arrow = []
        if frame is not None:
            parts.append(frame)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else \
        parts[0].reset_index(drop=True)


def _with_meta(table: pd.DataFrame, metas: list[dict[str, Any]], sizes: list[int]
               ) -> pd.DataFrame:
    """``table`` (the runs' metric rows, run after run, ``sizes[i]`` rows of run ``i``)
    with each run's ``metas[i]`` as columns: one column per key of any run, in the order
    the keys first appear; a key a run lacks is missing (NaN) on its rows. Each column is
    built whole, as one run after another would be concatenated."""
    import numpy as np

    columns: dict[str, Any] = {}
    for meta in metas:
        for key in meta:
            columns.setdefault(key, None)
    for key in columns:
        cells: list[Any] = []
        for meta, n in zip(metas, sizes, strict=True):
            cells.extend([meta.get(key, np.nan)] * n)
        columns[key] = cells
    extra = pd.DataFrame(columns, index=table.index)
    for key in [c for c in extra.columns if c in table.columns]:  # a meta key wins
        table[key] = extra.pop(key)
    return pd.concat([table, extra], axis=1)
