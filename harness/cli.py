"""The Hydra task function behind ``python -m harness``.

It lives in an importable module (not ``__main__``) so parallel launchers (joblib,
submitit, Ray) pickle it by reference: a worker process imports this module, which
registers the config schemas and the ``harness_job_dir`` resolver there too.

Single run: a user mistake ends with one line on stderr and exit code 2.
Multirun: every job ends with a ``summary.json`` whatever happens (``completed``,
``diverged`` or ``failed`` with the error's one-line message), one progress line, and
the sweep goes on; the sweep's last line counts the failures (see
:class:`harness.sweep.SweepCallback`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from harness.config import register_configs
from harness.errors import USER_ERRORS

log = logging.getLogger("harness")
MAX_DIRNAME = 120


def job_dirname(overrides: str) -> str:
    """A sweep job's folder name from its overrides (``loss=mse,seed=0``): the same job
    always lands in the same folder, whatever order the sweep lists it in, which is what
    lets a re-run sweep find its finished jobs. Unsafe characters become ``_``; a long
    name is cut and given a hash of the whole."""
    name = re.sub(r"[^A-Za-z0-9=,.+_\-\[\]]", "_", overrides) or "default"
    if len(name) > MAX_DIRNAME:
        digest = hashlib.sha256(overrides.encode()).hexdigest()[:10]
        name = f"{name[:MAX_DIRNAME - 11]}-{digest}"
    return name


if not OmegaConf.has_resolver("harness_job_dir"):
    OmegaConf.register_new_resolver("harness_job_dir", job_dirname)
register_configs()


# an absolute path: relative to a module, Hydra would look for an importable package
CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> float | None:
    from harness import run as R  # heavy imports (torch, sklearn) after --help is served
    from harness.sweep import record_progress

    hc = HydraConfig.get()
    out_dir = hc.runtime.output_dir
    choices = dict(hc.runtime.choices)
    if hc.mode != RunMode.MULTIRUN:
        try:
            summary = R.run(cfg, out_dir, choices)
        except USER_ERRORS as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        return summary["final"].get("val.objective")

    launcher = str(OmegaConf.select(hc.launcher, "_target_", default=""))
    parallel = not launcher.endswith("BasicLauncher")
    if "joblib" in launcher:
        _share_cores(int(OmegaConf.select(hc.launcher, "n_jobs", default=-1)))
    try:
        summary = R.run(cfg, out_dir, choices, echo=False,
                        progress=bool(cfg.trainer.progress) and not parallel,
                        device_slot=int(hc.job.num) if parallel else None)
    except Exception as err:  # one job's mistake or bug must not take the sweep down
        if not isinstance(err, USER_ERRORS):
            log.exception("job %s failed", hc.job.override_dirname)
        summary = R.write_failed(cfg, out_dir, choices, err)
    record_progress(hc.sweep.dir, hc.job.override_dirname or "(no overrides)", summary)
    return summary.get("final", {}).get("val.objective")


def _share_cores(n_jobs: int) -> None:
    """Parallel CPU jobs split the cores instead of each starting one thread per core."""
    import torch

    cores = os.cpu_count() or 1
    workers = cores if n_jobs < 1 else min(n_jobs, cores)
    torch.set_num_threads(max(1, cores // workers))
