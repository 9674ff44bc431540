"""``hydra/sweeper=harness``: Hydra's basic grid sweep that resumes.

Before launching, every job's config is composed and its run id computed; jobs whose run
already finished in the sweep folder (:func:`harness.jobs.resume.finished_runs`) are
skipped, and the sweeper says so ("16 jobs: 12 done, 4 to run"); two spellings of one
config (one run id) run once ("2 jobs: 1 duplicate of another job's config, ...").
``hydra.sweeper.rerun=true`` runs everything again (and is how to resume a folder made
by another harness version, which is otherwise refused). The logic lives in
:mod:`harness.sweep`; this class only wires it into Hydra's sweeper interface, and hands
its composer to a launcher that can use it (the vectorised launcher).

Two faults are handled here, where the sweep's folder and its jobs are known:

- an interrupt (Ctrl-C, SIGTERM) carries the sweep folder to the command line, which
  says what was kept there and how to resume;
- a parallel launcher whose worker process dies (killed, out of memory: joblib's
  ``TerminatedWorkerError``, any ``concurrent.futures.BrokenExecutor``) loses the whole
  batch it was running. The batch's jobs that ended are kept; those that had started
  and not ended run again one at a time (so one job that kills its worker cannot take
  another down with it), those not started run again together; a job whose worker dies
  on its own is recorded as failed (its ``summary.json`` says so) and the sweep goes on.
"""

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional  # noqa: UP035  (OmegaConf needs these)

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf, open_dict, read_write

from harness.jobs.compose import Composer, basic_sweeper

log = logging.getLogger("harness")


@dataclass
class HarnessSweeperConf:
    _target_: str = "hydra_plugins.harness_sweeper.sweeper.HarnessSweeper"
    max_batch_size: Optional[int] = None  # noqa: UP045
    params: Optional[Dict[str, str]] = None  # noqa: UP006, UP045
    rerun: bool = False  # true: run every job again, even those already finished


ConfigStore.instance().store(group="hydra/sweeper", name="harness", node=HarnessSweeperConf,
                             provider="harness")


class HarnessSweeper(basic_sweeper()):
    def __init__(self, max_batch_size: Optional[int] = None,  # noqa: UP045
                 params: Optional[Dict[str, str]] = None,  # noqa: UP006, UP045
                 rerun: bool = False) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.rerun = rerun

    def sweep(self, arguments: List[str]) -> Any:  # noqa: UP006
        from harness.startup import import_settled, settle

        import_settled("harness.jobs.lifecycle", "harness.sweep")  # torch, pandas, pyarrow
        from harness.sweep import plan, write_manifest

        assert self.config is not None and self.launcher is not None
        assert self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides([*self._parse_config(), *arguments])
        jobs = [job for batch in self.split_arguments(overrides, None) for job in batch]

        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        composer = Composer(self.hydra_context.config_loader, self.config)
        if hasattr(self.launcher, "use_composer"):  # it need not compose the jobs again
            self.launcher.use_composer(composer)
        try:
            planned = plan(jobs, composer, sweep_dir, self.rerun)
            _check_numbered_folders(self.config, planned)
            _check_distinct_folders(self.config, planned, composer)
            log.info("%s (sweep folder %s)", planned.describe(), sweep_dir)
            for job, first in planned.duplicates[:5]:
                log.info("duplicate: %s gives the config of %s (one run id): it runs once",
                         " ".join(o for o in job if o not in first) or " ".join(job),
                         " ".join(o for o in first if o not in job) or " ".join(first))
            write_manifest(sweep_dir, planned.total, len(planned.done), len(planned.todo),
                           len(planned.duplicates))
            # What exists now (the imports, torch's included, the compositions, the plan)
            # lives as long as the sweep: frozen out of the cyclic garbage collector, so
            # its full collections during the jobs walk only what the jobs make (in a
            # command's process only: see harness.startup)
            settle()

            returns = []
            todo = planned.todo
            self.overrides = (list(self.split_overrides_to_chunks(todo, self.max_batch_size))
                              if todo else [])
            self.batch_index, next_num = 0, 0
            while not self.is_done():
                batch = self.get_job_batch()
                returns.append(self._launch(batch, next_num, composer, sweep_dir))
                next_num += len(batch)
        except KeyboardInterrupt as stop:  # the command line says what was kept, and where
            stop.harness_folder = str(sweep_dir)  # type: ignore[attr-defined]
            stop.harness_resume = (f"to resume, run the same command with hydra.sweep.dir="
                                   f"{sweep_dir} (finished runs are not run again)")  # type: ignore[attr-defined]
            raise
        finally:
            if hasattr(self.launcher, "use_composer"):
                self.launcher.use_composer(None)  # its configs belong to this sweep only
        return returns

    def _launch(self, batch: List[List[str]], first_num: int, composer: Any,  # noqa: UP006
                sweep_dir: Path, retry: bool = False) -> Any:
        """Launch ``batch``; when the launcher's worker pool breaks (see the module
        docstring), keep what ended and run the rest again. ``retry``: this batch is
        itself a re-run, whose jobs run one at a time if the pool breaks again."""
        from concurrent.futures import BrokenExecutor

        from harness.sweep import job_folder

        started = time.time()
        try:
            return self.launcher.launch(batch, initial_job_idx=first_num)
        except BrokenExecutor as err:
            why = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        folders = [job_folder(composer(list(job)), sweep_dir) for job in batch]
        ended = [i for i, f in enumerate(folders) if _ended_since(f, started)]
        running = [i for i, f in enumerate(folders)
                   if i not in ended and (retry or _started_since(f, started))]
        waiting = [i for i in range(len(batch)) if i not in ended and i not in running]
        log.warning("a worker process died (%s): %d job(s) of this batch ended and are kept; "
                    "%d that were running run again one at a time, %d not started run again",
                    why, len(ended), len(running), len(waiting))
        returns: list[Any] = []
        for i in running:
            try:
                returns.extend(self.launcher.launch([batch[i]],
                                                    initial_job_idx=first_num + i))
            except BrokenExecutor as again:
                self._record_lost(batch[i], composer, folders[i], again)
        if waiting:
            returns.extend(self._launch([batch[i] for i in waiting], first_num + len(batch),
                                        composer, sweep_dir, retry=True))
        return returns

    @staticmethod
    def _record_lost(job: List[str], composer: Any, folder: Path,  # noqa: UP006
                     err: BaseException) -> None:
        """A job whose worker died while it ran alone: a failed ``summary.json``."""
        from harness.jobs.job import Task, write_failed
        from harness.sweep import record_progress

        cfg = composer(list(job))
        task_cfg = cfg.copy()
        with read_write(task_cfg), open_dict(task_cfg):
            del task_cfg["hydra"]
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        lost = RuntimeError(f"its worker process died while it ran ({why})")
        try:
            summary = write_failed(Task(task_cfg, dict(cfg.hydra.runtime.choices), folder),
                                   lost)
        except Exception as write_err:  # e.g. a full disk: said, and the sweep goes on
            log.error("cannot record the failure of %s: %s", folder, write_err)
            summary = {"status": "failed", "error": str(lost)}
        log.error("%s: its worker process died twice; recorded as failed", ",".join(job))
        record_progress(cfg.hydra.sweep.dir,
                        cfg.hydra.job.override_dirname or "(no overrides)", summary)


def _subdir_text(config: Any) -> str:
    """``hydra.sweep.subdir`` as written (its interpolations not resolved)."""
    node = config.hydra.sweep._get_node("subdir")
    return str(node._value()) if node is not None else ""


def _numbered(subdir: str) -> bool:
    """Whether job folders are named by job number (``${hydra.job.num}``, ``.id``)."""
    return "hydra.job.num" in subdir or "hydra.job.id" in subdir


def _check_numbered_folders(config: Any, planned: Any) -> None:
    """A sweep whose job folders are named by job number (``hydra.sweep.subdir`` using
    ``${hydra.job.num}`` or ``${hydra.job.id}``) cannot resume: the jobs left to run are
    numbered from 0 again, so their folders would be those of finished runs, written
    over. Refused with one line when some jobs are done and some are not."""
    from harness.errors import HarnessError

    raw = _subdir_text(config)
    if planned.done and planned.todo and _numbered(raw):
        raise HarnessError(
            f"hydra.sweep.subdir={raw} names job folders by job number, and {len(planned.done)} "
            f"of this sweep's jobs are done in {config.hydra.sweep.dir}: the "
            f"{len(planned.todo)} left would be numbered again and written over finished "
            "runs; nothing ran. Resume with the default subdir (folders named by the "
            "overrides), add hydra.sweeper.rerun=true to run every job again, or choose a "
            "new hydra.sweep.dir.")


def _check_distinct_folders(config: Any, planned: Any, composer: Any) -> None:
    """Two jobs of different configs (two run ids) must not share a run folder: the one
    that runs second would write over the first's files, and each resume would train one
    of them again. Folder names come from the overrides, so this happens when
    ``hydra.job.config.override_dirname.exclude_keys`` leaves out what tells two jobs
    apart (``[seed]`` in a sweep over seeds), or when two values differ only in
    characters a folder name cannot hold (``data.path=/a b`` and ``data.path=/a_b``).
    Refused with one line naming both jobs, before anything runs. Folders named by job
    number are distinct by construction (and refused on resume, above)."""
    from harness.errors import HarnessError
    from harness.jobs.resume import DEFAULT_SUBDIR, job_dirname
    from harness.sweep import job_folder

    raw = _subdir_text(config)
    if _numbered(raw):
        return
    named: Dict[str, List[str]] = {}  # noqa: UP006
    for job in [*planned.done, *planned.todo]:
        light = composer.light(list(job)) if raw == DEFAULT_SUBDIR else None
        folder = (job_dirname(light.override_dirname) if light is not None
                  else str(job_folder(composer(list(job)), "")))
        first = named.setdefault(folder, list(job))
        if first != list(job):
            raise HarnessError(
                f"the jobs {' '.join(first)} and {' '.join(job)} would write the same run "
                f"folder {Path(str(config.hydra.sweep.dir)) / folder}, the second over the "
                "first; nothing ran. Keep what tells them apart in the folder names "
                "(hydra.sweep.subdir, hydra.job.config.override_dirname.exclude_keys), or "
                "give values that differ in more than characters a folder name cannot hold "
                "(spaces, /, :).")


def _ended_since(folder: Path, t0: float) -> bool:
    """A job whose ``summary.json`` was written after ``t0`` (this launch) ended."""
    try:
        return (folder / "summary.json").stat().st_mtime >= t0
    except OSError:
        return False


def _started_since(folder: Path, t0: float) -> bool:
    """A job whose folder Hydra opened after ``t0`` (its ``.hydra/`` record) started."""
    try:
        return (folder / ".hydra" / "config.yaml").stat().st_mtime >= t0
    except OSError:
        return False
