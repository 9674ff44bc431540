"""Resume: which runs are finished, where a job's folder is, one line per finished job,
and what an interrupted command kept.

One rule for every runner (a sweep, the vectorised launcher, the protocol): a run is
*finished* when its ``summary.json`` reads as a run summary with status ``completed`` or
``diverged`` (:data:`KEEP`) and its ``metrics.parquet`` has the columns of a metrics table
(both checked against the schemas of :mod:`harness.results`). Anything else (a failed or
interrupted run, a truncated or hand-edited file, a file of the wrong shape, a stray
unreadable summary) is not finished, and the job runs again.

A run id hashes the harness version, so a run made by another version is never reused;
a folder holding such runs is not resumed over them unless the user asks
(:func:`check_versions`).

Interrupts: SIGINT raises ``KeyboardInterrupt`` and, inside :func:`interrupts`, SIGTERM
raises :class:`Terminated` (a ``KeyboardInterrupt``), so both reach the job lifecycle the
same way: the rows computed so far are written with ``status=interrupted`` and the
command ends with :func:`interrupted_line` and exit code 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KEEP = ("completed", "diverged")  # finished results a re-run does not redo
MAX_DIRNAME = 120


# conf/config.yaml's hydra.sweep.subdir: a sweep job's folder named by its overrides
DEFAULT_SUBDIR = "${harness_job_dir:${hydra.job.override_dirname}}"


def job_dirname(overrides: str) -> str:
    """A sweep job's folder name from its overrides (``loss=mse,seed=0``): the same job
    always lands in the same folder, whatever order the sweep lists it in, which is what
    lets a re-run sweep find its finished jobs. Unsafe characters become ``_``; a long
    name is cut and given a hash of the whole.

    >>> job_dirname("loss=huber,seed=0")
    'loss=huber,seed=0'
    >>> job_dirname("data.path=/tmp/x y")
    'data.path=_tmp_x_y'
    """
    name = re.sub(r"[^A-Za-z0-9=,.+_\-\[\]]", "_", overrides) or "default"
    if len(name) > MAX_DIRNAME:
        digest = hashlib.sha256(overrides.encode()).hexdigest()[:10]
        name = f"{name[:MAX_DIRNAME - 11]}-{digest}"
    return name


_FRESH: dict[str, str] = {}


def fresh_dir(path: str) -> str:
    """A folder no other command uses: ``path`` itself if this process creates it, else
    ``path-2``, ``path-3``, ... (created now; ``mkdir`` fails if the folder exists, so two
    commands started in the same second never share one). The default run and sweep
    folders are ``${harness_fresh:outputs/runs/${now:...}}``; one process asking again
    gets the same folder."""
    if path not in _FRESH:
        base = Path(path)
        base.parent.mkdir(parents=True, exist_ok=True)
        for i in range(1, 10_000):
            candidate = base if i == 1 else base.with_name(f"{base.name}-{i}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            _FRESH[path] = str(candidate)
            break
        else:
            raise OSError(f"cannot find a free folder name next to {path}")
    return _FRESH[path]


@dataclass
class Scan:
    """What :func:`scan` found: run id -> folder of every finished run, and, by harness
    version, the folders of runs made by another version than this one."""

    finished: dict[str, Path] = field(default_factory=dict)
    other_versions: dict[str, list[Path]] = field(default_factory=dict)


def scan(*folders: str | Path) -> Scan:
    """One pass over the runs at or below ``folders`` (missing folders hold none): the
    finished ones (see the module docstring; the first folder holding a run id wins) and
    those of another harness version (a summary without one counts as ``unknown``)."""
    import harness
    from harness import results

    found = Scan()
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for summary_path in sorted(folder.rglob(results.SUMMARY_FILE)):
            run_dir = summary_path.parent
            try:
                summary = results.read_summary(run_dir)
            except Exception:  # unreadable or of the wrong shape: not finished
                continue
            version = summary.get("harness_version", "unknown")
            if version != harness.__version__:
                found.other_versions.setdefault(version, []).append(run_dir)
                continue
            if summary["status"] in KEEP and results.metrics_file_problem(run_dir) is None:
                found.finished.setdefault(summary["run_id"], run_dir)
    return found


def finished_runs(*folders: str | Path) -> dict[str, Path]:
    """run id -> run folder, for every finished run (see the module docstring) at or
    below ``folders`` (missing folders hold none). The first folder holding a run id
    wins."""
    return scan(*folders).finished


def check_versions(found: Scan, folder: str | Path, how: str) -> None:
    """Raise :class:`~harness.errors.HarnessError` when ``found`` (a :func:`scan` of
    ``folder``) holds runs made by another harness version: their run ids differ from
    this version's, so none would be reused and running here would replace or sit beside
    them. ``how`` says how to ask for it anyway, or where else to go."""
    import harness
    from harness.errors import HarnessError

    if not found.other_versions:
        return
    n = sum(map(len, found.other_versions.values()))
    versions = ", ".join(sorted(found.other_versions))
    raise HarnessError(f"{folder} holds {n} run(s) made by harness {versions}, and this is "
                       f"harness {harness.__version__}: a run id includes the harness "
                       "version, so none of them would be reused and running here would "
                       f"replace them; {how}")


def headline(summary: dict[str, Any], split: str = "test", metric: str | None = None) -> str:
    """``completed, test.rmse=0.8679``: the status and, when the run has it, ``metric``
    (default: the task's primary metric) on ``split`` at the final epoch."""
    from harness.metrics import METRICS

    status = summary.get("status", "?")
    if status == "failed":
        return f"failed: {summary.get('error', '')}"
    if summary.get("diverged_epoch"):
        status += f" at epoch {summary['diverged_epoch']}"
    metric = metric or METRICS.get(summary.get("task", ""), ("objective",))[0]
    value = (summary.get("final") or {}).get(f"{split}.{metric}")
    if not isinstance(value, (int, float)):
        return status
    return f"{status}, {split}.{metric}={value:.4g}"


@dataclass
class Merged:
    """What :func:`merge_runs` found: the merged table's run ids and every readable
    run's status."""

    run_ids: list[str]
    statuses: Counter


def merge_runs(folder: str | Path, say: Callable[[str], None] = print) -> Merged:
    """Merge every run under ``folder`` into its ``results.parquet``; each file that
    cannot be read is named once through ``say`` and left out (never an exception)."""
    import warnings

    from harness import results

    folder = Path(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", results.ResultsWarning)
        table, found = results.merge_with_summaries(folder)
        statuses = Counter(summary["status"] for summary in found)
    for said in dict.fromkeys(str(w.message) for w in caught
                              if isinstance(w.message, results.ResultsWarning)):
        say(f"warning: {said} (left out of {results.MERGED_FILE})")
    return Merged(sorted(set(table.run_id)) if "run_id" in table else [], statuses)


# ---------------------------------------------------------------- interrupts
class Terminated(KeyboardInterrupt):
    """SIGTERM, raised (inside :func:`interrupts`) where Python raises
    ``KeyboardInterrupt`` for SIGINT, so a terminated command keeps what it computed as
    an interrupted one does."""

    signum = signal.SIGTERM


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated()


@contextlib.contextmanager
def interrupts() -> Iterator[None]:
    """While the block runs (in the main thread), SIGTERM raises :class:`Terminated`;
    the previous handler is restored after. Elsewhere it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """While the block runs (in the main thread), SIGINT and SIGTERM wait: the block
    (writing what an interrupt kept) is not cut short by a second Ctrl-C; a signal that
    arrived meanwhile is raised when the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    before = {s: signal.signal(s, lambda signum, frame: pending.append(signum))
              for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    if pending:  # raised as the handler in place would have raised it
        raise Terminated() if pending[0] == signal.SIGTERM else KeyboardInterrupt()


def signal_of(stop: BaseException) -> int:
    """The signal behind an interrupt: SIGTERM for :class:`Terminated`, else SIGINT."""
    return int(getattr(stop, "signum", signal.SIGINT))


def exit_code(stop: BaseException) -> int:
    """The shell's exit code for a command ended by ``stop``'s signal: 130 for SIGINT,
    143 for SIGTERM."""
    return 128 + signal_of(stop)


def interrupted_line(stop: BaseException, folder: str | Path | None, *,
                     resume: str = "") -> str:
    """One line for the user after an interrupt: which signal, what was kept in
    ``folder`` (read from disk: finished and interrupted runs, the epochs the
    interrupted ones kept) and, when given, how to ``resume``. ``folder`` None: the
    command stopped before it chose one."""
    from harness import results

    name = "SIGTERM" if signal_of(stop) == signal.SIGTERM else "SIGINT (Ctrl-C)"
    if folder is None or not Path(folder).is_dir():
        return f"interrupted by {name} before any run started; nothing was written."
    statuses: Counter = Counter()
    epochs: list[int] = []
    for path in sorted(Path(folder).rglob(results.SUMMARY_FILE)):
        try:
            summary = results.read_summary(path.parent)
        except Exception:
            continue
        statuses[summary["status"]] += 1
        if summary["status"] == "interrupted":
            epochs.append(int(summary.get("epochs_run") or 0))
    if not statuses:
        return (f"interrupted by {name} before any run ended; nothing was kept in "
                f"{folder}.")
    parts = [f"{n} {s}" for s, n in sorted(statuses.items()) if s != "interrupted"]
    if epochs:
        lo, hi = min(epochs), max(epochs)
        span = f"epoch {hi}" if lo == hi else f"epochs {lo}-{hi}"
        whose = "its" if len(epochs) == 1 else "their"
        parts.append(f"{len(epochs)} interrupted (status=interrupted; {whose} metrics up to "
                     f"{span} kept)")
    run_s = "run" if sum(statuses.values()) == 1 else "runs"
    line = f"interrupted by {name}: kept {sum(statuses.values())} {run_s} in {folder}: " + \
        ", ".join(parts)
    return line + (f"; {resume}" if resume else "") + "."
