"""Sweeps: the Hydra glue around the job lifecycle (resume, progress, one results table).

- :func:`plan` splits a sweep's jobs into those already finished in the sweep folder
  (:func:`harness.jobs.resume.finished_runs`: same run id, ``completed`` or ``diverged``,
  readable files), those to run, and duplicates: two spellings of one config
  (``loss.delta=1,1.0``) are one run id, which runs once. A sweep folder holding runs
  of another harness version is refused unless ``rerun`` is asked for
  (:func:`harness.jobs.resume.check_versions`). The harness sweeper
  (``hydra_plugins/harness_sweeper``) launches only the jobs to run.
- :func:`record_progress` is called by each job when it ends and logs ``[k/N] ...``;
  it works under parallel launchers because it counts lines of a shared append-only file.
- :class:`SweepCallback` merges every run of the sweep folder into ``results.parquet``
  when the multirun ends, prints one closing line, and exits non-zero if any run failed
  or the merge itself failed (Hydra would turn a callback's exception into a warning and
  exit 0).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from harness.startup import import_settled

# Hydra imports this module for the sweep callback, before any job: pandas and pyarrow
# are imported settled (see harness.startup)
import_settled("harness.results")
from harness import results  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.jobs.resume import check_versions, headline, merge_runs, scan  # noqa: E402

log = logging.getLogger("harness")

MANIFEST = "sweep.json"
PROGRESS = ".progress"


@dataclass
class Plan:
    """A sweep's jobs (each a list of overrides): ``todo`` to run, ``done`` finished in
    the sweep folder, and ``duplicates``, (job, the earlier job with its run id): two
    spellings of one config, run once."""

    todo: list[list[str]] = field(default_factory=list)
    done: list[list[str]] = field(default_factory=list)
    duplicates: list[tuple[list[str], list[str]]] = field(default_factory=list)

    @property
    def total(self) -> int:
        """The distinct runs of the sweep (duplicates are not runs of their own)."""
        return len(self.todo) + len(self.done)

    def describe(self) -> str:
        """``16 jobs: 12 done, 4 to run`` (``2 jobs: 1 duplicate of another job's config,
        0 done, 1 to run``)."""
        n = len(self.duplicates)
        dup = (f"{n} duplicate{'s' if n > 1 else ''} of another job's config, " if n else "")
        return (f"{self.total + n} jobs: {dup}{len(self.done)} done, {len(self.todo)} "
                "to run")


RERUN_HOW = ("add hydra.sweeper.rerun=true to run every job again here, replacing them, or "
             "choose a new hydra.sweep.dir to keep them.")


def plan(jobs: Sequence[Sequence[str]], compose: Callable[[list[str]], DictConfig] | Any,
         sweep_dir: str | Path, rerun: bool = False) -> Plan:
    """Split ``jobs`` (see :class:`Plan`); ``rerun``: run every distinct job again.
    ``compose`` is a :class:`harness.jobs.compose.Composer` (its light jobs when it can
    make them) or any function from overrides to a composed config.

    Raises :class:`HarnessError` when ``sweep_dir`` holds runs of another harness
    version and ``rerun`` is false, or when a job's config is refused by
    :func:`harness.config.validate` (a value out of range, a key no schema has): ranges
    are checked before anything runs, in a sweep as in one run, and the line names the
    job. A job's composition error goes through (Hydra's one-line error). What only the
    data can tell (a loss that does not fit the targets) fails that job when it runs."""
    from harness.config import validate
    from harness.errors import user_errors
    from harness.jobs.job import check, identity  # torch-heavy; only when a sweep starts

    found = scan(sweep_dir)
    if not rerun:
        check_versions(found, sweep_dir, RERUN_HOW)
    finished = {} if rerun else found.finished
    light = getattr(compose, "light", None)
    out, seen = Plan(), {}
    refused: list[tuple[list[str], str]] = []
    for job in jobs:
        made = light(list(job)) if light is not None else None
        if made is not None:
            cfg, choices = made.task, made.choices
        else:
            cfg = compose(list(job))
            choices = dict(cfg.hydra.runtime.choices)
        try:  # a light job is checked once, here: it runs with this very config
            given = check(cfg) if made is not None else validate(cfg)
        except user_errors() as err:
            refused.append((list(job), str(err).splitlines()[0]))
            continue
        try:
            known = identity(cfg, choices)
        except Exception:  # refused when it runs, with the reason in its summary
            out.todo.append(list(job))
            continue
        rid = known[1]
        if made is not None:
            made.checked, made.identity, made.given = True, known, given
        if rid in seen:
            out.duplicates.append((list(job), seen[rid]))
            continue
        seen[rid] = list(job)
        (out.done if rid in finished else out.todo).append(list(job))
    if refused:
        job, why = refused[0]
        more = f" ({len(refused) - 1} more job(s) refused too)" if len(refused) > 1 else ""
        raise HarnessError(f"nothing ran: {len(refused)} of {len(jobs)} jobs cannot run; "
                           f"the job {' '.join(job)}: {why}{more}")
    return out


def job_folder(cfg: DictConfig, sweep_dir: str | Path) -> Path:
    """The run folder of a sweep job whose composed config (``hydra`` node included)
    is ``cfg``: ``<sweep_dir>/<hydra.sweep.subdir>``."""
    return Path(sweep_dir) / str(cfg.hydra.sweep.subdir)


def write_manifest(sweep_dir: str | Path, total: int, done: int, to_run: int,
                   duplicates: int = 0) -> None:
    """``sweep.json`` (counts, and the harness version that planned the sweep) and an
    empty progress file."""
    import harness

    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    results.write_json(sweep_dir / MANIFEST,
                       {"total": total, "done_before": done, "to_run": to_run,
                        "duplicates": duplicates, "harness_version": harness.__version__})
    results.atomic_write(sweep_dir / PROGRESS, lambda p: Path(p).write_text(""))


_MANIFESTS: dict[str, tuple[tuple, Any]] = {}  # path -> (its stat, its contents)


def _manifest(path: Path) -> Any:
    """``sweep.json``, read again only when it changed (a sweep's jobs each read it)."""
    info = os.stat(path)
    key = (info.st_ino, info.st_size, info.st_mtime_ns)
    found = _MANIFESTS.get(str(path))
    if found is None or found[0] != key:
        found = _MANIFESTS[str(path)] = (key, json.loads(path.read_text()))
    return found[1]


def record_progress(sweep_dir: str | Path, name: str, summary: dict[str, Any]) -> None:
    """Log ``[k/N] <job>: <status>, <metric>`` for a job that just ended."""
    sweep_dir = Path(sweep_dir)
    line = f"{name}\t{summary.get('status')}\n"
    try:
        # O_NOFOLLOW: a link someone left at .progress is refused, not written through
        fd = os.open(sweep_dir / PROGRESS,
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0),
                     0o666)
        try:
            os.write(fd, line.encode())  # one small O_APPEND write: lines never interleave
        finally:
            os.close(fd)
    except OSError as err:  # a full disk: the count is cosmetic, the job's files are not
        log.warning("cannot count %s in %s: %s", name, sweep_dir / PROGRESS,
                    err.strerror or err)
    try:
        manifest = _manifest(sweep_dir / MANIFEST)
        with open(sweep_dir / PROGRESS, "rb") as progress:
            count = manifest["done_before"] + progress.read().count(b"\n")
        where = f"[{count}/{manifest['total']}]"
    except (OSError, ValueError, KeyError, TypeError):
        where = "[?]"  # a sweeper that writes no manifest (e.g. Optuna's)
    log.info("%s %s: %s", where, name, headline(summary))


class SweepCallback(Callback):
    """At the end of a multirun: merge the sweep folder, count, and set the exit code.
    Before a single run: refuse a run folder that holds another config's run."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        """A single run into a folder that already holds a run of *another* config
        (``hydra.run.dir=X`` given twice with different overrides) would write over it:
        refused with one line, exit 2, before Hydra writes anything there. The same
        config again replaces its own run; default folders never collide
        (``harness_fresh``), so only a folder the user named is checked."""
        node = config.hydra.run._get_node("dir")
        raw = str(node._value()) if node is not None else ""
        if "harness_fresh" in raw:
            return
        folder = Path(str(config.hydra.run.dir))
        try:
            theirs = json.loads((folder / results.SUMMARY_FILE).read_text())["run_id"]
        except (OSError, ValueError, KeyError, TypeError):
            return  # no finished run there (or none readable): nothing to lose
        from harness.jobs.job import identity

        try:
            _, mine = identity(config, dict(config.hydra.runtime.choices))
        except Exception:  # refused by validation when the run starts
            return
        if mine != theirs:
            print(f"error: {folder} holds run {theirs} of another config; nothing was "
                  "written: choose another hydra.run.dir, or remove that folder to replace "
                  "it.", file=sys.stderr)
            raise SystemExit(2)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Merge and print the closing line; exit 1 when a run failed or was interrupted,
        2 with one line when the merge cannot be written or finds no run (the runs stay
        in their folders), 1 with the traceback for a bug in the merge. Hydra turns a
        callback's exception into a warning, so each of these ends the command itself
        (``SystemExit``)."""
        folder = Path(config.hydra.sweep.dir)
        try:
            merged = merge_runs(folder)
        except KeyboardInterrupt as stop:  # the runs are kept; results.parquet is whole
            stop.harness_folder = str(folder)  # type: ignore[attr-defined]
            stop.harness_resume = f"to merge them, run the same command with " \
                f"hydra.sweep.dir={folder}"  # type: ignore[attr-defined]
            raise
        except HarnessError as err:  # a full disk, no run at all: one line
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        except Exception:  # a bug: its traceback, and a non-zero exit all the same
            traceback.print_exc()
            print(f"error: merging the runs of {folder} into {results.MERGED_FILE} failed "
                  "(a bug: the traceback is above); every run is kept in its folder.",
                  file=sys.stderr)
            raise SystemExit(1) from None
        statuses = merged.statuses
        parts = ", ".join(f"{statuses[s]} {s}" for s in ("completed", "diverged", "failed",
                                                         "interrupted") if statuses[s])
        print(f"{sum(statuses.values())} runs: {parts}; {len(merged.run_ids)} with metrics in "
              f"{folder / results.MERGED_FILE}")
        if statuses["failed"] or statuses["interrupted"]:
            raise SystemExit(1)
