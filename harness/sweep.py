"""Sweeps: the Hydra glue around the job lifecycle (resume, progress, one results table).

- :func:`plan` splits a sweep's jobs into those already finished in the sweep folder
  (:func:`harness.jobs.resume.finished_runs`: same run id, ``completed`` or ``diverged``,
  readable files) and those to run. The harness sweeper (``hydra_plugins/harness_sweeper``)
  launches only the latter.
- :func:`record_progress` is called by each job when it ends and logs ``[k/N] ...``;
  it works under parallel launchers because it counts lines of a shared append-only file.
- :class:`SweepCallback` merges every run of the sweep folder into ``results.parquet``
  when the multirun ends, prints one closing line, and exits non-zero if any run failed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from harness import results
from harness.errors import HarnessError
from harness.jobs.resume import finished_runs, headline, merge_runs

log = logging.getLogger("harness")

MANIFEST = "sweep.json"
PROGRESS = ".progress"


def plan(jobs: Sequence[Sequence[str]], compose: Any, sweep_dir: str | Path,
         rerun: bool = False) -> tuple[list[list[str]], list[list[str]]]:
    """(to run, already done) among ``jobs`` (each a list of overrides); ``compose`` is a
    :class:`harness.jobs.compose.Composer` (its light jobs when it can make them) or any
    function from overrides to a composed config."""
    from harness.jobs.job import identity  # torch-heavy; only when a sweep starts

    finished = {} if rerun else finished_runs(sweep_dir)
    light = getattr(compose, "light", None)
    todo, done = [], []
    for job in jobs:
        made = light(list(job)) if light is not None else None
        if made is not None:
            cfg, choices = made.task, made.choices
        else:
            cfg = compose(list(job))
            choices = dict(cfg.hydra.runtime.choices)
        _, rid = identity(cfg, choices)
        (done if rid in finished else todo).append(list(job))
    return todo, done


def write_manifest(sweep_dir: str | Path, total: int, done: int, to_run: int) -> None:
    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    results.write_json(sweep_dir / MANIFEST,
                       {"total": total, "done_before": done, "to_run": to_run})
    (sweep_dir / PROGRESS).write_text("")


def record_progress(sweep_dir: str | Path, name: str, summary: dict[str, Any]) -> None:
    """Log ``[k/N] <job>: <status>, <metric>`` for a job that just ended."""
    sweep_dir = Path(sweep_dir)
    line = f"{name}\t{summary.get('status')}\n"
    fd = os.open(sweep_dir / PROGRESS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one small O_APPEND write: lines never interleave
    finally:
        os.close(fd)
    try:
        manifest = json.loads((sweep_dir / MANIFEST).read_text())
        count = manifest["done_before"] + len((sweep_dir / PROGRESS).read_text().splitlines())
        where = f"[{count}/{manifest['total']}]"
    except (OSError, ValueError, KeyError):
        where = "[?]"  # a sweeper that writes no manifest (e.g. Optuna's)
    log.info("%s %s: %s", where, name, headline(summary))


class SweepCallback(Callback):
    """At the end of a multirun: merge the sweep folder, count, and set the exit code."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.sweep.dir)
        try:
            merged = merge_runs(folder)
        except HarnessError as err:  # e.g. every job was skipped and none exist
            print(f"error: {err}")
            raise SystemExit(1) from None
        statuses = merged.statuses
        parts = ", ".join(f"{statuses[s]} {s}" for s in ("completed", "diverged", "failed",
                                                         "interrupted") if statuses[s])
        print(f"{sum(statuses.values())} runs: {parts}; {len(merged.run_ids)} with metrics in "
              f"{folder / results.MERGED_FILE}")
        if statuses["failed"] or statuses["interrupted"]:
            raise SystemExit(1)
