"""``hydra/launcher=vectorized``: train a sweep's compatible jobs as stacked ensembles.

Jobs that share a data set and its shape, a model, an optimiser kind, epochs, batch size
and device (they may differ in seed, corruption level, loss and its parameters, learning
rate, weight decay and momentum; see :func:`harness.jobs.lifecycle.group_key`) are
trained together, one stack per group, split into chunks that fit the device's memory
(``hydra.launcher.max_members``, or sized automatically). Every job still gets its own
run folder, ``.hydra/`` record, log, ``metrics.parquet`` and ``summary.json``, exactly as
the basic launcher writes them. Jobs that cannot be stacked, and groups smaller than
``hydra.launcher.min_group``, run one by one through Hydra's own job runner and the
ordinary task function, as do the members of a stack whose training raised. All of it
goes through :func:`harness.jobs.lifecycle.run_jobs`.

Stacked jobs get Hydra's job callbacks (``on_job_start`` / ``on_job_end``), but not
``hydra.job.chdir`` or ``hydra.job.env_set`` (they share one process and one training),
and their log file is opened when they end: messages during a stack's training go to the
console.
"""


import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence  # noqa: UP035  (OmegaConf needs these)

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import (
    JobReturn,
    JobStatus,
    configure_log,
    filter_overrides,
    run_job,
    setup_globals,
)
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

log = logging.getLogger("harness")


@dataclass
class VectorizedLauncherConf:
    _target_: str = "hydra_plugins.harness_vectorized.launcher.VectorizedLauncher"
    # members per stacked training; null: as many as fit in half the device's free memory
    max_members: Optional[int] = None  # noqa: UP045
    min_group: int = 2  # smaller groups run one by one through the ordinary runner


ConfigStore.instance().store(group="hydra/launcher", name="vectorized",
                             node=VectorizedLauncherConf, provider="harness")


@dataclass
class _Job:
    idx: int
    overrides: List[str]  # noqa: UP006
    config: DictConfig  # the job's whole config, hydra node included
    hydra_cfg: Optional[DictConfig] = None  # noqa: UP045  (its hydra node, as Hydra keeps it)
    ret: Optional[JobReturn] = None  # noqa: UP045


class VectorizedLauncher(Launcher):
    def __init__(self, max_members: Optional[int] = None,  # noqa: UP045
                 min_group: int = 2) -> None:
        self.max_members, self.min_group = max_members, min_group
        self.config: Optional[DictConfig] = None  # noqa: UP045
        self.task_function: Optional[TaskFunction] = None  # noqa: UP045
        self.hydra_context: Optional[HydraContext] = None  # noqa: UP045
        self.composer: Any = None  # the sweeper's, when it hands one over

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def use_composer(self, composer: Any) -> None:
        """Take job configs from the sweeper's composer (None: compose them here)."""
        self.composer = composer

    # ------------------------------------------------------------ launching
    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        from harness.jobs.job import Task
        from harness.jobs.lifecycle import run_jobs

        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)

        tasks = []
        for i, overrides in enumerate(job_overrides):
            config = self.composer.take(overrides) if self.composer is not None else None
            if config is None:
                config = self.hydra_context.config_loader.load_sweep_config(self.config,
                                                                            list(overrides))
            with open_dict(config):
                config.hydra.job.id = config.hydra.job.num = initial_job_idx + i
            job = _Job(initial_job_idx + i, list(overrides), config)
            tasks.append(Task(self._task_cfg(config), dict(config.hydra.runtime.choices),
                              "", ref=job))
        run_jobs(tasks, self._done, stack=True, limit=self.max_members,
                 min_group=self.min_group, alone=self._run_alone, on_start=self._open,
                 log=log.info)
        return [task.ref.ret for task in tasks]

    def _run_alone(self, task: Any) -> None:
        """The basic launcher's way: Hydra's ``run_job`` calls the task function."""
        assert self.hydra_context is not None and self.task_function is not None
        job = task.ref
        log.info("\t#%d : %s", job.idx, " ".join(filter_overrides(job.overrides)))
        job.ret = run_job(hydra_context=self.hydra_context, task_function=self.task_function,
                          config=job.config, job_dir_key="hydra.sweep.dir",
                          job_subdir_key="hydra.sweep.subdir")
        assert self.config is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)

    def _open(self, task: Any) -> None:
        """What ``run_job`` does before calling a task: the job's output folder (its
        ``out_dir``) and its ``.hydra/`` record."""
        from harness.jobs.compose import write_job_record

        job = task.ref
        config = job.config
        # the sweep folder and subfolder interpolate nodes of the config itself
        out = os.path.join(str(OmegaConf.select(config, "hydra.sweep.dir")),
                           str(OmegaConf.select(config, "hydra.sweep.subdir")))
        with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
            config.hydra.runtime.output_dir = os.path.abspath(out)
        HydraConfig.instance().set_config(config)
        job.hydra_cfg = HydraConfig.instance().cfg
        Path(out).mkdir(parents=True, exist_ok=True)
        assert self.hydra_context is not None
        self.hydra_context.callbacks.on_job_start(config=config,
                                                  task_function=self.task_function)
        if config.hydra.output_subdir is not None:
            write_job_record(Path(config.hydra.runtime.output_dir)
                             / str(config.hydra.output_subdir),
                             task.cfg, job.hydra_cfg, config.hydra.overrides.task)
        task.out_dir = out

    @staticmethod
    def _task_cfg(config: DictConfig) -> DictConfig:
        task_cfg = config.copy()
        with read_write(task_cfg), open_dict(task_cfg):
            del task_cfg["hydra"]
        return task_cfg

    def _done(self, task: Any, summary: dict) -> None:
        """The job's log line (in its own log file, as a job run alone) and its return."""
        from harness.sweep import record_progress

        job = task.ref
        config = job.config  # its log file's path interpolates nodes of the config itself
        configure_log(config.hydra.job_logging, config.hydra.verbose)
        name = config.hydra.job.override_dirname or "(no overrides)"
        record_progress(config.hydra.sweep.dir, name, summary)
        job.ret = JobReturn(overrides=list(job.overrides), cfg=task.cfg,
                            hydra_cfg=job.hydra_cfg, working_dir=os.getcwd(),
                            task_name=str(config.hydra.job.name),
                            status=JobStatus.COMPLETED,
                            _return_value=summary.get("final", {}).get("val.objective"))
        assert self.hydra_context is not None
        self.hydra_context.callbacks.on_job_end(config=config, job_return=job.ret)
        assert self.config is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
