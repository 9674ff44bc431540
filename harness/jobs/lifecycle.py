"""The job lifecycle: prepare -> train (alone, or stacked with jobs of its shape) -> write.

Every runner goes through :func:`run_jobs`: the single run (``python -m harness``, via
:func:`run_one`), each job of Hydra's basic and parallel launchers, the vectorised
launcher's groups, and the protocol's stages. So there is one failure policy:

- a task that fails before training (a user mistake, or a bug) gets a ``summary.json``
  with ``status="failed"`` and the error's one line; a bug is also logged with its
  traceback;
- training that raises keeps every row computed so far (``status="failed"``, or
  ``"interrupted"`` for Ctrl-C and, inside :func:`harness.jobs.resume.interrupts`,
  SIGTERM, which then stop everything: a second signal while those rows are written
  waits until they are);
- a results file that cannot be written (a full disk, no permission:
  :class:`harness.results.CannotWrite`) fails that job only, which is recorded as failed
  where its folder can still be written;
- a stack whose training raised is trained again one job at a time (a bug or an
  out-of-memory in the stacked path must not lose the jobs);
- with ``errors="raise"`` (the single run) the error is raised after its files are
  written, so the command line can print it as one line and exit non-zero.

Every task ends in exactly one ``on_done(task, summary)`` call, which is how runners
report progress.
"""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, user_errors
from harness.jobs.job import (
    COSMETIC_KEYS,
    FitResult,
    Prepared,
    Task,
    error_text,
    finish,
    prepare,
    print_summary,
    train,
    write_failed,
)
from harness.jobs.resume import deferred_interrupts, signal_of
from harness.results import CannotWrite

logger = logging.getLogger("harness")

# config keys that may differ between the members of one stacked training
PER_MEMBER = ("seed", "loss", "optim.lr", "optim.weight_decay", "optim.momentum",
              "data.outlier_frac", "data.label_noise")

Done = Callable[[Task, dict[str, Any]], None]


def unstackable(cfg: Any) -> str | None:
    """Why a job cannot train in a stack (its model or optimiser has no stacked form),
    or None."""
    from harness.training.stacked import MODELS, OPTIMIZERS

    if str(cfg.model._target_) not in MODELS:
        return f"model {cfg.model._target_} has no stacked form"
    if str(cfg.optim._target_) not in OPTIMIZERS:
        return f"optimiser {cfg.optim._target_} has no stacked form"
    return None


def group_key(cfg: Any, flat: dict[str, Any]) -> str | None:
    """What stacked jobs must share (data set and its shape, model, optimiser kind and
    its other settings, epochs, batch size, device); None when the job cannot be stacked
    (:func:`unstackable`)."""
    if unstackable(cfg) is not None:
        return None
    shared = {k: v for k, v in flat.items()
              if k not in COSMETIC_KEYS and k not in PER_MEMBER and not k.startswith("loss.")}
    shared["targets"] = [str(cfg.data._target_), str(cfg.model._target_),
                         str(cfg.optim._target_)]
    return json.dumps(shared, sort_keys=True, default=str)


def plan_groups(tasks: Sequence[Task], min_group: int = 2
                ) -> tuple[list[list[Task]], list[Task]]:
    """(groups to stack, tasks to run alone): tasks with the same :func:`group_key`
    share a group; those that cannot be stacked and groups smaller than ``min_group``
    run alone."""
    from harness.config import flatten

    groups: dict[str, list[Task]] = {}
    alone: list[Task] = []
    for task in tasks:
        try:
            flat = task.identity[0] if task.identity else flatten(task.cfg, task.choices)
            key = group_key(task.cfg, flat)
        except Exception:  # a config the runner will reject: it says why, alone
            key = None
        (alone.append(task) if key is None else groups.setdefault(key, []).append(task))
    stacked = []
    for group in groups.values():
        (stacked.append(group) if len(group) >= max(1, min_group) else alone.extend(group))
    return stacked, alone


def describe(groups: list[list[Task]], alone: list[Task]) -> str:
    """``16 jobs: 2 stacked groups (8+8), 1 run one by one (model x has no stacked
    form)``."""
    total = sum(map(len, groups)) + len(alone)
    sizes = "+".join(str(len(g)) for g in groups) or "0"
    why: list[str] = []
    for task in alone:
        try:
            reason = unstackable(task.cfg) or "a group smaller than min_group"
        except Exception:
            reason = "a config that fails before training"
        if reason not in why:
            why.append(reason)
    rest = f", {len(alone)} run one by one ({'; '.join(why)})" if alone else ""
    return f"{total} jobs: {len(groups)} stacked groups ({sizes}){rest}"


class Lifecycle:
    """One call of :func:`run_jobs` (see there)."""

    def __init__(self, on_done: Done, errors: str, progress: bool, echo: bool,
                 alone: Callable[[Task], None] | None, on_start: Callable[[Task], None]):
        if errors not in ("record", "raise"):
            raise ValueError(f"errors must be 'record' or 'raise', not {errors!r}")
        self.on_done, self.errors, self.progress, self.echo = on_done, errors, progress, echo
        self.alone_hook, self.on_start = alone, on_start

    def _failed_early(self, task: Task, err: Exception) -> None:
        """A task that failed before training: recorded (and, for a bug, logged)."""
        if self.errors == "raise":
            raise err
        if not isinstance(err, user_errors()):
            logger.exception("job %s failed", task.out_dir)
        try:
            summary = write_failed(task, err)
        except Exception as write_err:  # e.g. a folder that cannot be written
            logger.error("cannot record the failure of %s: %s", task.out_dir, write_err)
            summary = {"status": "failed", "final": {}, "error": str(err).splitlines()[0]}
        self.on_done(task, summary)

    def prepare(self, task: Task) -> Prepared | None:
        if Path(task.out_dir).is_symlink():  # nothing is written through a link it found
            err = HarnessError(f"the run folder {task.out_dir} is a symbolic link the harness "
                               "did not make; nothing was written through it: remove the "
                               "link or choose another folder.")
            if self.errors == "raise":
                raise err
            logger.error("%s", err)
            self.on_done(task, {"status": "failed", "final": {}, "error": str(err)})
            return None
        self.on_start(task)
        try:
            return prepare(task.cfg, task=task)
        except Exception as err:  # one job's mistake must not take the others down
            self._failed_early(task, err)
            return None

    def train(self, jobs: list[Prepared], extra: dict[str, Any] | None = None) -> bool:
        """Train ``jobs`` together and write each; False if the training itself raised
        (a stack: nothing written, the caller runs them one by one)."""
        res = [FitResult() for _ in jobs]
        stacked = len(jobs) > 1
        try:
            train(jobs, res, progress=self.progress)
            for job, r in zip(jobs, res, strict=True):
                job.summary["status"] = r.status
        except KeyboardInterrupt as stop:  # keep what was computed, then stop as asked
            with deferred_interrupts():
                why = "SIGTERM" if signal_of(stop) == signal.SIGTERM else "SIGINT (Ctrl-C)"
                for job, r in zip(jobs, res, strict=True):
                    job.summary.update(status="interrupted", error=f"interrupted by {why}")
                    try:
                        self._write(job, r, extra)
                    except CannotWrite as err:  # the interrupt is what the user sees
                        logger.error("cannot keep the interrupted run %s: %s",
                                     job.task.out_dir, err)
            raise
        except Exception as err:
            if stacked:
                logger.exception("stacked training of %d jobs failed; running them one by "
                                 "one", len(jobs))
                return False
            job = jobs[0]
            job.summary.update(status="failed", error=error_text(err))
            self._write(job, res[0], extra)
            if self.errors == "raise":
                raise
            if not isinstance(err, user_errors()):
                logger.exception("job %s failed while training", job.task.out_dir)
            self.on_done(job.task, job.summary)
            return True
        for job, r in zip(jobs, res, strict=True):
            summary = self._write(job, r, extra)
            if summary is not None:
                if self.echo:
                    print_summary(summary, r, job.task.out_dir)
                self.on_done(job.task, summary)
        return True

    def _write(self, job: Prepared, result: FitResult, extra: dict[str, Any] | None
               ) -> dict[str, Any] | None:
        extra = dict(extra or {})
        if "stacked_members" in extra:
            extra["stack_train_time_s"] = result.stack_seconds
        try:
            return finish(job, result, extra)
        except Exception as err:  # e.g. a folder that cannot be written: this job only
            if self.errors == "raise" or job.summary.get("status") == "interrupted":
                raise
            self._failed_early(job.task, err)
            return None

    def run_alone(self, task: Task) -> None:
        if self.alone_hook is not None:
            self.alone_hook(task)
            return
        job = self.prepare(task)
        if job is not None:
            self.train([job])

    def run_group(self, group: Sequence[Task], limit: int | None, log: Callable[[str], None]
                  ) -> None:
        """Prepare, train in chunks that fit the device, and write every task of ``group``."""
        from harness.training.stacked import chunks, max_members

        ready: dict[int, Prepared] = {}
        size = None
        for i, task in enumerate(group):  # the first job that prepares sizes the chunks
            job = self.prepare(task)
            if job is None:
                continue
            ready[i] = job
            try:
                size = max_members(job.model, job.data, job.device,
                                   int(job.cfg.trainer.batch_size), limit)
            except Exception:  # the estimate is a forward pass: a bug there is not fatal
                logger.exception("could not size the stack; using chunks of 64 members")
                size = 64
            break
        if size is None:
            return
        todo = [i for i in range(len(group)) if i >= min(ready)]
        parts = chunks(todo, size)
        if len(parts) > 1:
            log(f"group of {len(todo)} split into {len(parts)} chunks of at most {size} "
                "members")
        for part in parts:
            for i in part:
                if i not in ready:
                    job = self.prepare(group[i])
                    if job is not None:
                        ready[i] = job
            members = [i for i in part if i in ready]
            if not members:
                continue
            jobs = [ready.pop(i) for i in members]
            if len(jobs) == 1:
                self.train(jobs, {"stacked_members": 1})
            elif not self.train(jobs, {"stacked_members": len(jobs)}):
                for i in members:
                    self.run_alone(group[i])


def run_jobs(tasks: Sequence[Task], on_done: Done | None = None, *, stack: bool = False,
             limit: int | None = None, min_group: int = 2, errors: str = "record",
             progress: bool = False, echo: bool = False,
             alone: Callable[[Task], None] | None = None,
             on_start: Callable[[Task], None] | None = None,
             log: Callable[[str], None] = print) -> None:
    """Run ``tasks`` through the lifecycle (see the module docstring).

    ``stack``: train tasks of one shape together (:func:`plan_groups`, ``min_group``),
    ``limit`` members per stack at most (default: as many as fit in half the device's
    free memory). ``alone``: how a task that is not stacked runs (default: in this
    process; the vectorised launcher hands it to Hydra's own job runner). ``on_start``:
    called for each task this process is about to prepare (the launcher opens its folder
    and writes its ``.hydra/`` record). ``echo``: print each run's summary table.
    ``errors``: ``"record"`` or ``"raise"``.
    """
    cycle = Lifecycle(on_done or (lambda task, summary: None), errors, progress, echo, alone,
                      on_start or (lambda task: None))
    groups, single = plan_groups(tasks, min_group) if stack else ([], list(tasks))
    if stack and tasks:
        log(describe(groups, single))
    for group in groups:
        cycle.run_group(group, limit, log)
    for task in single:
        cycle.run_alone(task)


def run_one(cfg: Any, out_dir: Any, choices: dict[str, str] | None = None, *,
            echo: bool = True, progress: bool | None = None,
            device_slot: int | None = None) -> dict[str, Any]:
    """Train one configuration and write its results to ``out_dir``; return the summary.

    The run of ``python -m harness``, usable without Hydra's command line (compose a
    config with ``hydra.compose`` and pass a folder). User mistakes raise
    :class:`~harness.errors.HarnessError` (or the loss registry's errors) before
    training; an error while training is raised after the rows so far are written.
    ``progress`` overrides ``trainer.progress``.
    """
    done: list[dict[str, Any]] = []
    task = Task(cfg, choices or {}, out_dir, device_slot=device_slot)
    run_jobs([task], lambda t, s: done.append(s), errors="raise", echo=echo,
             progress=bool(cfg.trainer.progress) if progress is None else progress)
    return done[0]
