"""``hydra/sweeper=harness``: Hydra's basic grid sweep that resumes.

Before launching, every job's config is composed and its run id computed; jobs whose run
already finished in the sweep folder (:func:`harness.jobs.resume.finished_runs`) are
skipped, and the sweeper says so ("16 jobs: 12 done, 4 to run").
``hydra.sweeper.rerun=true`` runs everything again. The logic lives in
:mod:`harness.sweep`; this class only wires it into Hydra's sweeper interface, and hands
its composer to a launcher that can use it (the vectorised launcher).
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional  # noqa: UP035  (OmegaConf needs these)

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

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
        todo, done = plan(jobs, composer, sweep_dir, self.rerun)
        log.info("%d jobs: %d done, %d to run (sweep folder %s)", len(jobs), len(done),
                 len(todo), sweep_dir)
        write_manifest(sweep_dir, len(jobs), len(done), len(todo))

        returns = []
        self.overrides = (list(self.split_overrides_to_chunks(todo, self.max_batch_size))
                          if todo else [])
        self.batch_index, next_num = 0, 0
        try:
            while not self.is_done():
                batch = self.get_job_batch()
                returns.append(self.launcher.launch(batch, initial_job_idx=next_num))
                next_num += len(batch)
        finally:
            if hasattr(self.launcher, "use_composer"):
                self.launcher.use_composer(None)  # its configs belong to this sweep only
        return returns
