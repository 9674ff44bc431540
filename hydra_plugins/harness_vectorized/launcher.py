"""``hydra/launcher=vectorized``: train a sweep's compatible jobs as stacked ensembles.

Jobs that share a data set and its shape, a model, an optimiser kind, epochs, batch size
and device (they may differ in seed, corruption level, loss and its parameters, learning
rate, weight decay and momentum; see :func:`harness.vectorized.group_key`) are trained
together, one stack per group, split into chunks that fit the device's memory
(``hydra.launcher.max_members``, or sized automatically). Every job still gets its own
run folder, ``.hydra/`` record, log, ``metrics.parquet`` and ``summary.json``, exactly as
the basic launcher writes them. Jobs that cannot be stacked, and groups smaller than
``hydra.launcher.min_group``, run one by one through the ordinary task function, as do
the members of a stack whose training raised.
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
    _save_config,
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
    out_dir: str = ""
    ret: Optional[JobReturn] = None  # noqa: UP045


class VectorizedLauncher(Launcher):
    def __init__(self, max_members: Optional[int] = None,  # noqa: UP045
                 min_group: int = 2) -> None:
        self.max_members, self.min_group = max_members, min_group
        self.config: Optional[DictConfig] = None  # noqa: UP045
        self.task_function: Optional[TaskFunction] = None  # noqa: UP045
        self.hydra_context: Optional[HydraContext] = None  # noqa: UP045

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    # ------------------------------------------------------------ launching
    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        from harness.config import flatten
        from harness.vectorized import group_key

        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        jobs, groups, alone = [], {}, []
        for i, overrides in enumerate(job_overrides):
            config = self.hydra_context.config_loader.load_sweep_config(self.config,
                                                                        list(overrides))
            with open_dict(config):
                config.hydra.job.id = config.hydra.job.num = initial_job_idx + i
            job = _Job(initial_job_idx + i, list(overrides), config)
            jobs.append(job)
            try:
                key = group_key(config, flatten(config, dict(config.hydra.runtime.choices)))
            except Exception:  # a config the runner will reject: it says why, alone
                key = None
            (alone.append(job) if key is None else groups.setdefault(key, []).append(job))
        for key in [k for k, g in groups.items() if len(g) < max(1, self.min_group)]:
            alone += groups.pop(key)
        sizes = "+".join(str(len(g)) for g in groups.values()) or "0"
        log.info("%d jobs: %d stacked groups (%s)%s", len(jobs), len(groups), sizes,
                 f", {len(alone)} run one by one" if alone else "")
        for group in groups.values():
            self._launch_group(group)
        for job in sorted(alone, key=lambda j: j.idx):
            self._run_alone(job)
        return [job.ret for job in jobs]

    def _run_alone(self, job: _Job) -> None:
        assert self.hydra_context is not None and self.task_function is not None
        log.info("\t#%d : %s", job.idx, " ".join(filter_overrides(job.overrides)))
        job.ret = run_job(hydra_context=self.hydra_context, task_function=self.task_function,
                          config=job.config, job_dir_key="hydra.sweep.dir",
                          job_subdir_key="hydra.sweep.subdir")
        assert self.config is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)

    def _launch_group(self, group: list[_Job]) -> None:
        from harness import run as R
        from harness.errors import USER_ERRORS
        from harness.vectorized import chunks, max_members

        prepared: dict[int, Any] = {}
        for job in group:  # the first job that prepares fine sizes the chunks
            self._open(job)
            p = self._prepare(job, R, USER_ERRORS)
            if p is not None:
                prepared[job.idx] = p
                break
        if not prepared:
            for job in group:
                if job.ret is None:
                    self._open(job)
                    self._prepare(job, R, USER_ERRORS)
            return
        first = next(iter(prepared.values()))
        size = max_members(first, int(first.cfg.trainer.batch_size), self.max_members)
        todo = [j for j in group if j.ret is None]
        parts = chunks(todo, size)
        if len(parts) > 1:
            log.info("group of %d split into %d chunks of at most %d members", len(todo),
                     len(parts), size)
        for part in parts:
            for job in part:
                if job.idx not in prepared:
                    self._open(job)
                    p = self._prepare(job, R, USER_ERRORS)
                    if p is not None:
                        prepared[job.idx] = p
            ready = [j for j in part if j.idx in prepared]
            if ready:
                self._train(ready, [prepared.pop(j.idx) for j in ready], R)

    def _open(self, job: _Job) -> None:
        """What ``run_job`` does before calling a task: the job's output folder and its
        ``.hydra/`` record."""
        config = job.config
        HydraConfig.instance().set_config(config)
        out = os.path.join(str(OmegaConf.select(config, "hydra.sweep.dir")),
                           str(OmegaConf.select(config, "hydra.sweep.subdir")))
        with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
            config.hydra.runtime.output_dir = os.path.abspath(out)
        HydraConfig.instance().set_config(config)
        job.out_dir = out
        Path(out).mkdir(parents=True, exist_ok=True)
        if config.hydra.output_subdir is not None:
            record = Path(config.hydra.runtime.output_dir) / str(config.hydra.output_subdir)
            _save_config(self._task_cfg(config), "config.yaml", record)
            _save_config(HydraConfig.instance().cfg, "hydra.yaml", record)
            _save_config(config.hydra.overrides.task, "overrides.yaml", record)

    @staticmethod
    def _task_cfg(config: DictConfig) -> DictConfig:
        task_cfg = config.copy()
        with read_write(task_cfg), open_dict(task_cfg):
            del task_cfg["hydra"]
        return task_cfg

    def _prepare(self, job: _Job, R: Any, user_errors: tuple) -> Any:
        """The job ready to stack, or None after recording it as failed."""
        cfg = self._task_cfg(job.config)
        choices = dict(job.config.hydra.runtime.choices)
        try:
            return R.prepare(cfg, choices)
        except Exception as err:  # one job's mistake must not take the group down
            if not isinstance(err, user_errors):
                log.exception("job %s failed", job.config.hydra.job.override_dirname)
            self._finish(job, R.write_failed(cfg, job.out_dir, choices, err))
        return None

    def _train(self, part: list[_Job], ready: list, R: Any) -> None:
        from harness.train import FitResult
        from harness.vectorized import OPTIMIZERS, optim_settings, train_group

        results = [FitResult() for _ in ready]
        first = ready[0]
        trainer = first.cfg.trainer
        try:
            train_group(ready, results, epochs=int(trainer.epochs),
                        batch_size=int(trainer.batch_size),
                        optim_kind=OPTIMIZERS[str(first.cfg.optim._target_)],
                        optim_cfgs=[optim_settings(p.cfg) for p in ready],
                        progress=bool(trainer.progress),
                        desc=f"{len(ready)} stacked runs | {first.data_name}")
        except KeyboardInterrupt:  # keep what was computed, then stop as asked
            for job, p, res in zip(part, ready, results, strict=True):
                p.summary.update(status="interrupted", error="KeyboardInterrupt")
                R.finish(p, res, job.out_dir, {"stacked_members": len(ready)})
            raise
        except Exception:
            log.exception("stacked training of %d jobs failed; running them one by one",
                          len(ready))
            for job in part:
                self._run_alone(job)
            return
        for job, p, res in zip(part, ready, results, strict=True):
            p.summary["status"] = res.status
            self._finish(job, R.finish(p, res, job.out_dir, {"stacked_members": len(ready)}))

    def _finish(self, job: _Job, summary: dict) -> None:
        """The job's log line (in its own log file, as a job run alone) and its return."""
        from harness.sweep import record_progress

        config = job.config
        HydraConfig.instance().set_config(config)
        configure_log(config.hydra.job_logging, config.hydra.verbose)
        name = config.hydra.job.override_dirname or "(no overrides)"
        record_progress(config.hydra.sweep.dir, name, summary)
        ret = JobReturn(overrides=list(job.overrides), cfg=self._task_cfg(config),
                        hydra_cfg=HydraConfig.instance().cfg, working_dir=os.getcwd(),
                        task_name=str(config.hydra.job.name), status=JobStatus.COMPLETED,
                        _return_value=summary.get("final", {}).get("val.objective"))
        job.ret = ret
        assert self.config is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
