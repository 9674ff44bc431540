"""Resume: which runs are finished, where a job's folder is, and one line per finished job.

One rule for every runner (a sweep, the vectorised launcher, the protocol): a run is
*finished* when its ``summary.json`` reads as a run summary with status ``completed`` or
``diverged`` (:data:`KEEP`) and its ``metrics.parquet`` can be read. Anything else (a
failed or interrupted run, a truncated or hand-edited file, a stray unreadable summary)
is not finished, and the job runs again.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEEP = ("completed", "diverged")  # finished results a re-run does not redo
MAX_DIRNAME = 120


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


def finished_runs(*folders: str | Path) -> dict[str, Path]:
    """run id -> run folder, for every finished run (see the module docstring) at or
    below ``folders`` (missing folders hold none). The first folder holding a run id
    wins."""
    import pyarrow.parquet as pq

    from harness import results
    found: dict[str, Path] = {}
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for summary_path in sorted(folder.rglob(results.SUMMARY_FILE)):
            run_dir = summary_path.parent
            try:
                summary = results.read_summary(run_dir)
                if summary["status"] not in KEEP:
                    continue
                pq.read_metadata(run_dir / results.METRICS_FILE)  # its footer
            except Exception:  # unreadable (bad JSON, Parquet, ...): redone
                continue
            found.setdefault(summary["run_id"], run_dir)
    return found


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
        table = results.merge(folder)
        statuses = Counter(results.summaries(folder).status)
    for said in dict.fromkeys(str(w.message) for w in caught
                              if isinstance(w.message, results.ResultsWarning)):
        say(f"warning: {said} (left out of {results.MERGED_FILE})")
    return Merged(sorted(set(table.run_id)) if "run_id" in table else [], statuses)
