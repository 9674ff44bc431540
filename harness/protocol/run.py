"""Running a protocol: tune every loss with the same budget, select on ``val_corrupted``,
measure the selection (and the defaults) over several seeds on the clean test split.

Every job is composed by Hydra exactly as ``python -m harness`` composes it (so run ids
and folder names are the ones a multirun would give), and runs through the one job
lifecycle (:func:`harness.jobs.lifecycle.run_jobs`, stacked where it can). Each stage
resumes by the one rule (:func:`harness.jobs.resume.finished_runs`): a job whose run
already finished in its stage folder is skipped; one that finished in another stage
folder with the same run id is copied. A protocol folder holding runs of another harness
version is refused before anything runs, unless ``rerun=true``
(:func:`harness.jobs.resume.check_versions`); two candidates or settings that are one
configuration (``loss.delta=1`` and ``1.0``) are refused too: every loss gets ``budget``
distinct trials.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

import harness
from harness.config import CONF_DIR
from harness.errors import HarnessError
from harness.jobs.resume import (
    check_versions,
    finished_runs,
    headline,
    job_dirname,
    merge_runs,
    scan,
)
from harness.protocol.record import STAGES, finite, rank, write_record
from harness.protocol.space import candidates, expand_settings
from harness.protocol.spec import SELECTION_SPLIT, SPEC_KEYS, Spec


@dataclass
class Job:
    """One protocol run: a stage, a setting, a loss, a candidate's overrides, a seed;
    its composed config, group choices, run id and task once :meth:`Composer.fill` ran."""

    stage: str
    setting: list[str]  # the setting's overrides
    loss: str
    tuned: list[str]  # the candidate's overrides (empty: the defaults)
    seed: int
    cfg: Any = None
    choices: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    task: str = ""

    @property
    def varying(self) -> list[str]:
        return sorted([*self.setting, f"loss={self.loss}", *self.tuned, f"seed={self.seed}"])

    @property
    def name(self) -> str:
        return job_dirname(",".join(self.varying))


class Composer:
    """Hydra's composition of the harness config, as a multirun of ``python -m harness``
    composes each job (:class:`harness.jobs.compose.Composer`), with every job's config
    checked before anything trains."""

    def __init__(self) -> None:
        from hydra.core.utils import setup_globals

        import harness.cli  # noqa: F401  (registers the schemas and the job-folder resolver)
        from harness.jobs.compose import Composer as FastComposer

        setup_globals()  # Hydra's own resolvers (${now:...}), as @hydra.main registers them
        self._compose = FastComposer.for_conf_dir(CONF_DIR)

    def fill(self, job: Job, fixed: list[str]) -> Job:
        from harness.config import validate
        from harness.jobs.job import build_loss, check_fit, data_task, identity
        from harness.safety import check_config

        overrides = [*fixed, *job.setting, f"loss={job.loss}", *job.tuned, f"seed={job.seed}"]
        try:
            cfg = self._compose(overrides)
        except Exception as err:  # Hydra's composition errors: a typo, a wrong type
            raise HarnessError(f"cannot compose {' '.join(overrides)}: "
                               f"{str(err).splitlines()[0]} (spec keys: "
                               f"{', '.join(SPEC_KEYS)}; other keys are harness "
                               "overrides)") from None
        job.choices = {k: v for k, v in cfg.hydra.runtime.choices.items()
                       if not k.startswith("hydra/") and v is not None}
        check_config(cfg)  # only allowed _target_s, before any is imported
        validate(cfg)  # a bad value in a search space stops before any training
        job.task = data_task(cfg)
        check_fit(build_loss(cfg), job.task, job.choices.get("data", "?"))
        job.cfg = cfg
        _, job.run_id = identity(cfg, job.choices)
        return job


def run_stage(jobs: list[Job], stage_dir: Path, out: Path, metric: dict[str, str],
              rerun: bool = False, log=print, vectorized: bool = True
              ) -> dict[str, dict[str, Any]]:
    """Run the jobs not yet finished in ``stage_dir``; return run id -> summary of every
    job. ``vectorized``: train the jobs that can share a stack together (every member
    computes what it would alone, to float tolerance)."""
    from harness import results
    from harness.jobs.job import Task
    from harness.jobs.lifecycle import run_jobs

    stage_dir.mkdir(parents=True, exist_ok=True)
    here = {} if rerun else finished_runs(stage_dir)
    elsewhere = {} if rerun else finished_runs(*[out / s for s in STAGES
                                                 if out / s != stage_dir])
    todo = [j for j in jobs if j.run_id not in here]
    log(f"{stage_dir.name}: {len(jobs)} jobs: {len(jobs) - len(todo)} done, {len(todo)} to run")
    count = iter(range(len(jobs) - len(todo) + 1, len(jobs) + 1))
    found: dict[str, dict[str, Any]] = {rid: results.read_summary(path)
                                        for rid, path in here.items()}

    def done(job: Job, summary: dict[str, Any], how: str | None = None) -> None:
        found[job.run_id] = summary
        split = SELECTION_SPLIT if job.stage == "tune" else "test"
        how = how or headline(summary, split, metric[job.task])
        log(f"[{next(count)}/{len(jobs)}] {stage_dir.name} {job.name}: {how}")

    fresh = []
    taken: set[Path] = set()  # folders given to this stage's jobs so far
    for job in todo:
        run_dir = _job_folder(stage_dir, job, taken)
        if run_dir.is_symlink():  # not the harness's: the link goes, not what it points to
            run_dir.unlink()
        elif run_dir.exists():  # a failed or unfinished attempt of this run: nothing is kept
            shutil.rmtree(run_dir)
        if job.run_id in elsewhere:  # the same config and seed: the same deterministic run
            tmp = run_dir.with_name(f".{run_dir.name}.copy")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(elsewhere[job.run_id], tmp)
            os.replace(tmp, run_dir)  # whole or not at all, like every file written
            done(job, results.read_summary(run_dir),
                 f"copied from {elsewhere[job.run_id].relative_to(out)}")
        else:
            fresh.append(Task(job.cfg, job.choices, run_dir, ref=job))
    run_jobs(fresh, lambda task, summary: done(task.ref, summary), stack=vectorized,
             log=lambda message: log(f"{stage_dir.name}: {message}"))
    if any(stage_dir.rglob(results.SUMMARY_FILE)):
        merged = merge_runs(stage_dir, say=log)
        other = len(set(merged.run_ids) - {j.run_id for j in jobs})
        if other:
            log(f"note: {other} run(s) in {stage_dir} are not part of this protocol (an "
                "earlier spec?); protocol.json, load() and the report leave them out.")
    return found


def _refuse_duplicates(jobs: list[Job]) -> None:
    """A :class:`HarnessError` when two jobs are one configuration (one run id): two
    spellings of one value in settings, space or loss_space would give a loss fewer
    distinct trials than its budget, or one setting twice."""
    seen: dict[str, Job] = {}
    for job in jobs:
        first = seen.setdefault(job.run_id, job)
        if first is not job:
            a = " ".join(o for o in first.varying if o not in job.varying)
            b = " ".join(o for o in job.varying if o not in first.varying)
            what = f"{a} and {b} are one configuration" if a and b else \
                f"{job.name} comes twice"
            raise HarnessError(f"{what} (one run id, {job.run_id}): list each value of "
                               "settings, space and loss_space once (1 and 1.0, 0.1 and 0.10 "
                               "are one value).")


def _job_folder(stage_dir: Path, job: Job, taken: set[Path]) -> Path:
    """The job's run folder: named by its overrides, unless that folder holds a finished
    run of another spec (the same overrides, other fixed keys such as trainer.epochs),
    or another job of this stage has it (``taken``; two values that differ only in
    characters a folder name cannot hold, ``/t a.csv`` and ``/t_a.csv``): that run is
    kept, and this job gets the name plus its run id. The folder is added to ``taken``."""
    folder = stage_dir / job.name
    other = finished_runs(folder)
    if (other and job.run_id not in other) or folder in taken:
        folder = stage_dir / f"{job.name}-{job.run_id}"
    taken.add(folder)
    return folder


# ---------------------------------------------------------------- selection
def score(summaries: list[dict[str, Any]], metric: str) -> float:
    """Mean over the tuning seeds of ``val_corrupted.<metric>`` at the final epoch; NaN
    unless every seed completed. Reads only the ``val_corrupted.`` entries of each
    summary."""
    values = []
    for s in summaries:
        prefix = f"{SELECTION_SPLIT}."
        val_only = {k: v for k, v in (s.get("final") or {}).items() if k.startswith(prefix)}
        value = val_only.get(f"{prefix}{metric}")
        if s.get("status") != "completed" or value is None or not math.isfinite(value):
            return math.nan
        values.append(float(value))
    return float(np.mean(values)) if values else math.nan


def select(scores: list[float], higher: bool) -> int | None:
    """Index of the best validation score (ties: the first); None when none is finite."""
    best = None
    for i, s in enumerate(scores):
        if math.isnan(s):
            continue
        if best is None or (s > scores[best] if higher else s < scores[best]):
            best = i
    return best


# ---------------------------------------------------------------- the protocol
def run_protocol(spec: Spec, log=print) -> dict[str, Any]:
    """Tune, select and measure; write and return the protocol record."""
    from harness.metrics import HIGHER_IS_BETTER, METRICS

    t_start = time.perf_counter()
    out = Path(spec.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise HarnessError(f"cannot create the protocol folder {out}: {err.strerror or err}; "
                           "choose a writable out=<folder>.") from None
    settings = expand_settings(spec)
    cands = {loss: candidates(spec, loss) for loss in spec.losses}
    if not spec.rerun:  # before anything trains: runs of another version are not redone
        for stage in STAGES:
            check_versions(scan(out / stage), out / stage,
                           "give rerun=true to run every job again (their runs stay in "
                           "their folders), or choose a new out=<folder>.")
    record: dict[str, Any] = {
        "name": spec.name, "description": spec.description,
        "harness_version": harness.__version__,
        "spec": OmegaConf.to_container(OmegaConf.structured(spec), resolve=True),
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "selection": {"split": SELECTION_SPLIT, "epoch": "final",
                      "statistic": "mean over tune_seeds"},
        "budget": spec.budget, "n_trials_per_loss": spec.budget * len(spec.tune_seeds),
        "stage_dirs": {s: s for s in STAGES}, "entries": [], "wall_s": {}}

    composer = Composer()
    fill = lambda job: composer.fill(job, spec.fixed)  # noqa: E731
    tune = {(si, loss): [[fill(Job("tune", setting, loss, c, seed))
                          for seed in spec.tune_seeds] for c in cands[loss]]
            for si, setting in enumerate(settings) for loss in spec.losses}
    _refuse_duplicates([j for jobs in tune.values() for per_c in jobs for j in per_c])
    tasks = {job.task for jobs in tune.values() for per_c in jobs for job in per_c}
    metric = {t: spec.metric or METRICS[t][0] for t in tasks}
    for t in sorted(tasks):  # before any training: a metric the runs will not have
        allowed = (*METRICS[t], "objective")
        if metric[t] not in allowed:
            raise HarnessError(f"metric={metric[t]} is not a {t} metric; choose one of "
                               f"{', '.join(allowed)}.")
    log(f"protocol {spec.name}: {len(spec.losses)} losses x {len(settings)} setting(s), "
        f"budget {spec.budget} candidates x {len(spec.tune_seeds)} tuning seed(s) per "
        f"loss; selection on {SELECTION_SPLIT} {'/'.join(sorted(set(metric.values())))}; final "
        f"seeds {list(spec.seeds)}; into {out}")
    t0 = time.perf_counter()
    tuned = run_stage([j for jobs in tune.values() for per_c in jobs for j in per_c],
                      out / "tune", out, metric, spec.rerun, log, spec.vectorized)
    record["wall_s"]["tune"] = time.perf_counter() - t0

    final_jobs, default_jobs = [], []
    for si, setting in enumerate(settings):
        for loss in spec.losses:
            trials = tune[(si, loss)]
            task = trials[0][0].task
            m, higher = metric[task], HIGHER_IS_BETTER[metric[task]]
            scores = [score([tuned.get(j.run_id, {}) for j in per_c], m)
                      for per_c in trials]
            best = select(scores, higher)
            entry = {
                "setting": setting, "setting_label": ", ".join(setting) or "default",
                "loss": loss, "task": task, "metric": m, "higher_is_better": higher,
                "candidates": [{"overrides": cands[loss][i], "val_score": finite(s),
                                "run_ids": [j.run_id for j in per_c],
                                "status": [tuned.get(j.run_id, {}).get("status", "missing")
                                           for j in per_c]}
                               for i, (per_c, s) in enumerate(zip(trials, scores,
                                                                  strict=True))],
                "selected": best,
                "selected_overrides": None if best is None else cands[loss][best],
                "selected_val_score": None if best is None else scores[best]}
            record["entries"].append(entry)
            for seed in spec.seeds:
                default_jobs.append(fill(Job("default", setting, loss, [], seed)))
                if best is not None:
                    final_jobs.append(fill(Job("final", setting, loss, cands[loss][best],
                                               seed)))
            # planned now, so a protocol.json read mid-run lists this spec's runs only
            for stage, jobs in (("final", final_jobs), ("default", default_jobs)):
                entry[stage] = {"run_ids": [j.run_id for j in jobs
                                            if j.setting == setting and j.loss == loss]}
            if best is None:
                log(f"warning: no candidate of {loss} on {entry['setting_label']} "
                    "completed; it has no tuned result.")
    write_record(out, record)  # the selections are on disk before stage 2 starts
    t0 = time.perf_counter()
    finals = run_stage(final_jobs, out / "final", out, metric, spec.rerun, log,
                       spec.vectorized)
    record["wall_s"]["final"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    defaults = run_stage(default_jobs, out / "default", out, metric, spec.rerun, log,
                         spec.vectorized)
    record["wall_s"]["default"] = time.perf_counter() - t0

    for entry in record["entries"]:
        m = entry["metric"]
        for stage, jobs, found in (("final", final_jobs, finals),
                                   ("default", default_jobs, defaults)):
            mine = [j for j in jobs if j.setting == entry["setting"] and j.loss == entry["loss"]]
            tests = [found.get(j.run_id, {}) for j in mine]
            values = [s["final"][f"test.{m}"] for s in tests
                      if s.get("status") == "completed" and f"test.{m}" in s.get("final", {})]
            entry[stage] = {"run_ids": [j.run_id for j in mine],
                            "overrides": mine[0].tuned if mine else None,
                            "test_values": values, "n": len(values), "runs": len(mine),
                            "test_mean": finite(np.mean(values)) if values else None,
                            "test_std": finite(np.std(values, ddof=1)) if len(values) > 1
                            else None}
    rank(record)
    record["runs"] = {stage: dict(Counter(s.get("status", "?") for s in found.values()))
                      for stage, found in (("tune", tuned), ("final", finals),
                                           ("default", defaults))}
    record["wall_s"]["total"] = time.perf_counter() - t_start
    record["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat()
    write_record(out, record)
    return record


