"""``python -m harness.protocol <preset>``: a fair comparison of losses.

Comparing losses at one shared learning rate is unfair: a loss whose gradient has another
scale (MAE vs MSE, GCE vs CE) needs another step size. The protocol gives every loss the
same tuning budget, selects on the *corrupted* validation split only (``val_corrupted``:
the validation rows corrupted exactly as training is, since a user never has clean
labels), and then measures the selected configuration over several seeds on the clean
test split:

1. **tune** (``<out>/tune/``): for each setting (the product of ``settings``, e.g. a data
   set at one corruption level) and each loss, exactly ``budget`` candidate
   configurations, each trained with every ``tune_seeds`` seed. The candidates come from
   the shared search space ``space`` (e.g. ``optim.lr``) times the loss's own
   ``loss_space`` (e.g. Huber ``loss.delta``): the whole grid when it has exactly
   ``budget`` points, else ``budget`` distinct points drawn from it with a fixed seed
   (``sampler_seed``; intervals such as ``tag(log,interval(1e-4,1e-1))`` are sampled).
   A loss with extra hyperparameters gets no extra trials: the budget is split over the
   joint space by the draw. The candidates of a loss are the same in every setting.
2. **select**: the candidate with the best mean over the tuning seeds of the corrupted
   validation split's primary metric (``rmse`` for regression, ``accuracy`` for classification, or
   ``metric``) at the final epoch, the epoch the final runs also report. Runs that
   diverged or failed are never selected; ties go to the earlier candidate. Selection
   reads nothing but ``val_corrupted.*`` values (:func:`score` keeps nothing else).
3. **final** (``<out>/final/``): the selected configuration with each of ``seeds``;
   **default** (``<out>/default/``): the configuration's own defaults (no tuned override)
   with the same seeds, for the "tuned vs default" comparison. Both are measured on the
   clean test split.

Every stage runs inside this one process (configs composed by Hydra exactly as
``python -m harness`` composes them, so run ids and folder names are the ones a multirun
would give) and resumes: a job whose run already finished in its stage folder is skipped;
one that finished in another stage folder with the same run id is copied. ``<out>/
protocol.json`` records the spec, every candidate, its trial run ids and validation
scores, the selections, the final and default test scores and the wall times.
:func:`load` and :func:`summaries` read a protocol folder with a ``stage`` column
(``tune`` / ``final`` / ``default``); ``python -m harness.report <out>`` builds its report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import math
import os
import shutil
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness.errors import USER_ERRORS, HarnessError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
PRESETS_DIR = CONF_DIR / "protocol"
SPEC_FILE = "protocol.json"
STAGES = ("tune", "final", "default")
KEEP = ("completed", "diverged")  # finished: a re-run does not redo them
SELECTION_SPLIT = "val_corrupted"  # the only split selection reads (see harness.data)


@dataclass
class Spec:
    """A protocol preset (``conf/protocol/<name>.yaml``); every key can be set on the
    command line as ``key=value`` (lists as ``seeds=[0,1,2]``)."""

    name: str = MISSING
    description: str = ""
    losses: list[str] = field(default_factory=list)  # the compared losses
    # Hydra override syntax; the product of the sweeps is the list of settings
    settings: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)  # harness overrides of every run
    space: list[str] = field(default_factory=list)  # tuned for every loss
    loss_space: dict[str, list[str]] = field(default_factory=dict)  # loss -> its own space
    budget: int = 4  # candidate configurations per loss and setting
    tune_seeds: list[int] = field(default_factory=lambda: [0])
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])  # final and default runs
    sampler_seed: int = 0  # draws candidates when the space has more than budget points
    metric: str | None = None  # selection metric on val; null: the task's primary metric
    out: str = "outputs/protocol/${name}"
    rerun: bool = False  # true: run every job again, even those already finished
    vectorized: bool = True  # train runs of one shape as stacks (harness.vectorized)


SPEC_KEYS = tuple(f.name for f in fields(Spec))


# ---------------------------------------------------------------- the spec
def presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_spec(protocol: str, args: list[str] = ()) -> tuple[Spec, list[str]]:
    """The spec of preset ``protocol`` (a name in ``conf/protocol/`` or a YAML path) with
    the command line's ``args`` applied; returns it and the resolved harness overrides.

    ``args`` are ``key=value``: a spec key (``budget=2``, ``seeds=[0,1]``,
    ``out=...``) sets it; anything else is a harness override: a sweep
    (``data.outlier_frac=0,0.2``) replaces or adds a setting key, a plain value
    (``trainer.epochs=20``) replaces that key wherever the preset sets it, else joins
    ``fixed``.
    """
    path = Path(protocol)
    if not (protocol.endswith((".yaml", ".yml")) and path.is_file()):
        path = PRESETS_DIR / f"{protocol}.yaml"
        if not path.is_file():
            raise HarnessError(f"unknown protocol '{protocol}'; choose one of: "
                               f"{', '.join(presets())} (conf/protocol/), or give a YAML file.")
    try:
        raw = OmegaConf.load(path)
        if "name" not in raw:
            raw.name = path.stem
        spec_args = [a for a in args if a.split("=", 1)[0].split(".", 1)[0] in SPEC_KEYS]
        merged = OmegaConf.merge(OmegaConf.structured(Spec), raw,
                                 OmegaConf.from_dotlist(spec_args))
        spec = OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        msg = str(err).splitlines()[0]
        raise HarnessError(f"protocol '{path.stem}': {msg}; its keys are: "
                           f"{', '.join(SPEC_KEYS)}.") from None
    harness_args = [a for a in args if a not in spec_args]
    for arg in harness_args:
        _apply_override(spec, arg)
    check_spec(spec)
    return spec, harness_args


def _parse(overrides: list[str]):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_overrides(list(overrides))
    except Exception as err:  # Hydra's OverrideParseException, with a multi-line message
        raise HarnessError(f"cannot parse override(s) {list(overrides)}: "
                           f"{str(err).splitlines()[0]}") from None


def _key(override: str) -> str:
    return _parse([override])[0].key_or_group


def _apply_override(spec: Spec, arg: str) -> None:
    if "=" not in arg:
        raise HarnessError(f"'{arg}' is not key=value; give spec keys "
                           f"({', '.join(SPEC_KEYS)}) or harness overrides such as "
                           "trainer.epochs=20 or data.outlier_frac=0,0.2.")
    ov = _parse([arg])[0]
    key = ov.key_or_group
    if key in ("loss", "seed"):
        use = "losses=[a,b]" if key == "loss" else "seeds=[..] / tune_seeds=[..]"
        raise HarnessError(f"'{arg}': the protocol sets {key} itself; use {use}.")
    for lst in (spec.settings, spec.fixed):
        for i, old in enumerate(lst):
            if _key(old) == key:
                lst[i] = arg
                return
    (spec.settings if ov.is_sweep_override() else spec.fixed).append(arg)


def check_spec(spec: Spec) -> None:
    """User mistakes in a spec, each as one line naming what is allowed."""
    import losses

    if not spec.losses:
        raise HarnessError("the protocol names no losses; set losses=[mse,mae,...].")
    known = losses.available()
    for name in spec.losses:
        try:
            losses.spec(name)
        except losses.LossError:
            raise HarnessError(f"unknown loss '{name}' in losses; choose from: "
                               f"{', '.join(known)}.") from None
    if len(set(spec.losses)) != len(spec.losses):
        raise HarnessError(f"losses lists a loss twice: {spec.losses}.")
    if not isinstance(spec.budget, int) or spec.budget < 1:
        raise HarnessError(f"budget must be an integer >= 1 (candidate configurations per "
                           f"loss and setting); got {spec.budget}.")
    for key in ("tune_seeds", "seeds"):
        seeds = getattr(spec, key)
        if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
            raise HarnessError(f"{key} must be a non-empty list of distinct integers >= 0; "
                               f"got {seeds}.")
    for where, items in [("settings", spec.settings), ("fixed", spec.fixed),
                         ("space", spec.space), *[(f"loss_space.{k}", v) for k, v in
                                                  spec.loss_space.items()]]:
        for ov in _parse(items):
            if ov.key_or_group in ("loss", "seed"):
                raise HarnessError(f"{where} sets '{ov.key_or_group}', which the protocol "
                                   "sets itself (losses, tune_seeds, seeds).")
            if where == "fixed" and ov.is_sweep_override():
                raise HarnessError(f"fixed override '{ov.input_line}' is a sweep; put it "
                                   "in settings (compared) or space (tuned).")
    tuned = {o.key_or_group for o in _parse(spec.space)}
    for items in spec.loss_space.values():
        tuned |= {o.key_or_group for o in _parse(items)}
    fixed = {o.key_or_group for o in _parse(spec.settings + spec.fixed)}
    if tuned & fixed:
        raise HarnessError(f"{', '.join(sorted(tuned & fixed))} is both tuned (space/"
                           "loss_space) and set by settings/fixed; keep it in one place.")
    if spec.metric is not None:
        from harness.metrics import HIGHER_IS_BETTER

        if spec.metric not in HIGHER_IS_BETTER or spec.metric in ("memorised",
                                                                  "corrupted_correct"):
            raise HarnessError(f"metric '{spec.metric}' is not a validation metric; choose "
                               "one of: rmse, mae, r2, accuracy, macro_f1, log_loss, objective.")


# ---------------------------------------------------------------- candidates
def _dimensions(overrides: list[str]) -> list[tuple[str, Any]]:
    """(key, values) per override: a list of value strings, or ``("interval", lo, hi,
    log)`` for an interval sweep."""
    dims = []
    for ov in _parse(overrides):
        key = ov.input_line.split("=", 1)[0]
        if ov.is_interval_sweep():
            sweep = ov.value()
            lo, hi, log = float(sweep.start), float(sweep.end), "log" in (sweep.tags or set())
            if not lo < hi or (log and lo <= 0):
                raise HarnessError(f"'{ov.input_line}': an interval needs start < end"
                                   + (" and start > 0 on a log scale" if log else "")
                                   + f"; got {lo:g}, {hi:g}.")
            dims.append((key, ("interval", lo, hi, log)))
        elif ov.is_sweep_override():
            dims.append((key, list(ov.sweep_string_iterator())))
        else:
            dims.append((key, [ov.get_value_element_as_str()]))
    return dims


def space_of(spec: Spec, loss: str) -> list[tuple[str, Any]]:
    return _dimensions(spec.space) + _dimensions(spec.loss_space.get(loss, []))


def candidates(spec: Spec, loss: str) -> list[list[str]]:
    """Exactly ``spec.budget`` distinct candidate override lists for ``loss``."""
    dims = space_of(spec, loss)
    budget = spec.budget
    if not dims:
        if budget != 1:
            raise HarnessError(f"nothing to tune for '{loss}' (empty space) but budget="
                               f"{budget}; add space: [optim.lr=...] or set budget=1.")
        return [[]]
    rng = np.random.default_rng([spec.sampler_seed, zlib.crc32(loss.encode())])
    if all(isinstance(v, list) for _, v in dims):
        grid = list(itertools.product(*[v for _, v in dims]))
        if len(grid) < budget:
            raise HarnessError(f"the search space of '{loss}' has {len(grid)} points, fewer "
                               f"than budget={budget}; widen space/loss_space.{loss} or "
                               f"lower the budget (every loss gets exactly budget trials).")
        if len(grid) > budget:
            grid = [grid[i] for i in sorted(rng.choice(len(grid), budget, replace=False))]
        return [[f"{k}={v}" for (k, _), v in zip(dims, point, strict=True)] for point in grid]
    out: list[list[str]] = []
    for _ in range(1000 * budget):
        point = [f"{k}={_draw(v, rng)}" for k, v in dims]
        if point not in out:
            out.append(point)
        if len(out) == budget:
            return out
    raise HarnessError(f"could not draw {budget} distinct candidates for '{loss}'; "
                       "widen its search space.")


def _draw(values: Any, rng: np.random.Generator) -> str:
    if isinstance(values, list):
        return values[int(rng.integers(len(values)))]
    _, lo, hi, log = values
    x = math.exp(rng.uniform(math.log(lo), math.log(hi))) if log else rng.uniform(lo, hi)
    return f"{x:.3g}"


# ---------------------------------------------------------------- jobs
@dataclass
class Job:
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
        from harness.cli import job_dirname

        return job_dirname(",".join(self.varying))


def expand_settings(spec: Spec) -> list[list[str]]:
    """The product of the settings' sweeps, each a list of plain overrides."""
    dims = _dimensions(spec.settings)
    for key, values in dims:
        if not isinstance(values, list):
            raise HarnessError(f"settings key '{key}' is an interval; list its values.")
    return [[f"{k}={v}" for (k, _), v in zip(dims, point, strict=True)]
            for point in itertools.product(*[v for _, v in dims])]


class Composer:
    """Hydra's composition of the harness config, as a multirun of ``python -m harness``
    composes each job (:class:`harness.sweep.Composer`: once per set of group choices,
    plain values applied to a copy)."""

    def __init__(self) -> None:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl
        from hydra._internal.utils import create_config_search_path
        from hydra.types import RunMode

        import harness.cli as cli  # registers the schemas and the job-folder resolver
        from harness.sweep import Composer as SweepComposer

        loader = ConfigLoaderImpl(config_search_path=create_config_search_path(cli.CONF_DIR))
        master = loader.load_configuration("config", overrides=[],
                                           run_mode=RunMode.MULTIRUN)
        self._compose = SweepComposer(loader, master)

    def __enter__(self) -> Composer:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def fill(self, job: Job, fixed: list[str]) -> Job:
        from harness import run as R
        from harness.config import validate
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
        job.task = R.data_task(cfg)
        R.check_fit(R.build_loss(cfg), job.task, job.choices.get("data", "?"))
        job.cfg = cfg
        _, job.run_id = R.identity(cfg, job.choices)
        return job


def run_stage(jobs: list[Job], stage_dir: Path, out: Path, metric: dict[str, str],
              rerun: bool = False, log=print, vectorized: bool = True
              ) -> dict[str, dict[str, Any]]:
    """Run the jobs not yet finished in ``stage_dir``; return run id -> summary of all.
    ``vectorized``: train the jobs that can share a stack together (every member computes
    what it would alone, to float tolerance; see :mod:`harness.vectorized`)."""
    from harness import results
    from harness import run as R
    from harness.sweep import finished_runs

    stage_dir.mkdir(parents=True, exist_ok=True)
    finished = {} if rerun else finished_runs(stage_dir)
    elsewhere = {} if rerun else _finished_elsewhere(out, stage_dir)
    todo = [j for j in jobs if finished.get(j.run_id) not in KEEP]
    log(f"{stage_dir.name}: {len(jobs)} jobs: {len(jobs) - len(todo)} done, {len(todo)} to run")
    count = iter(range(len(jobs) - len(todo) + 1, len(jobs) + 1))

    def done(job: Job, summary: dict[str, Any], how: str | None = None) -> None:
        how = how or _headline(summary, job.stage, metric[job.task])
        log(f"[{next(count)}/{len(jobs)}] {stage_dir.name} {job.name}: {how}")

    def run_alone(job: Job) -> None:
        run_dir = folder[id(job)]
        try:
            summary = R.run(job.cfg, run_dir, job.choices, echo=False, progress=False)
        except Exception as err:  # one job's failure must not stop the protocol
            if (run_dir / results.SUMMARY_FILE).is_file():  # failed while training
                summary = results.read_summary(run_dir)
            else:  # failed before training: record it as the sweep does
                summary = R.write_failed(job.cfg, run_dir, job.choices, err)
        done(job, summary)

    fresh, folder = [], {}
    for job in todo:
        run_dir = folder[id(job)] = _job_folder(stage_dir, job)
        if run_dir.exists():  # a failed or unfinished attempt of this run: nothing is kept
            shutil.rmtree(run_dir)
        if job.run_id in elsewhere:  # the same config and seed: the same deterministic run
            tmp = run_dir.with_name(f".{run_dir.name}.copy")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(elsewhere[job.run_id], tmp)
            os.replace(tmp, run_dir)  # whole or not at all, like every file written
            done(job, results.read_summary(run_dir),
                 f"copied from {elsewhere[job.run_id].relative_to(out)}")
        else:
            fresh.append(job)
    if vectorized:  # jobs of one shape train as one stack (harness.vectorized)
        from harness import vectorized as V

        tasks = [V.Task(j.cfg, j.choices, folder[id(j)], ref=j) for j in fresh]
        groups, fresh = V.plan_groups(tasks)
        if groups:
            log(f"{stage_dir.name}: {V.describe(groups, fresh)}")
        for group in groups:
            V.run_group(group, lambda t, s: done(t.ref, s), lambda t: run_alone(t.ref),
                        log=log)
        fresh = [t.ref for t in fresh]
    for job in fresh:
        run_alone(job)
    found: dict[str, dict[str, Any]] = {}
    if not any(stage_dir.rglob(results.SUMMARY_FILE)):
        return found  # no jobs (nothing was selected): nothing to merge
    wanted, other = {j.run_id for j in jobs}, 0
    for d in results.run_dirs(stage_dir):
        s = results.read_summary(d)
        if s.get("run_id") in wanted:
            found[s["run_id"]] = s
        else:
            other += 1
    if other:
        log(f"note: {other} run(s) in {stage_dir} are not part of this protocol (an earlier "
            "spec?); protocol.json, load() and the report leave them out.")
    results.merge(stage_dir)
    return found


def _job_folder(stage_dir: Path, job: Job) -> Path:
    """The job's run folder: named by its overrides, unless that folder holds a finished
    run of another spec (the same overrides, other fixed keys such as trainer.epochs):
    that run is kept, and this job gets the name plus its run id."""
    from harness import results

    run_dir = stage_dir / job.name
    try:
        other = results.read_summary(run_dir)
    except Exception:  # no summary, or an unreadable one: a failed or unfinished attempt
        return run_dir
    if other.get("run_id") != job.run_id and other.get("status") in KEEP:
        return stage_dir / f"{job.name}-{job.run_id}"
    return run_dir


def _finished_elsewhere(out: Path, stage_dir: Path) -> dict[str, Path]:
    from harness import results

    found: dict[str, Path] = {}
    for stage in STAGES:
        d = out / stage
        if d == stage_dir or not d.is_dir():
            continue
        for summary_path in d.rglob(results.SUMMARY_FILE):
            try:
                s = json.loads(summary_path.read_text())
            except (OSError, ValueError):
                continue
            if s.get("status") in KEEP:
                found.setdefault(s["run_id"], summary_path.parent)
    return found


def _headline(summary: dict[str, Any], stage: str, metric: str) -> str:
    """The job's status and, while tuning, its validation score only."""
    status = summary.get("status", "?")
    if status == "failed":
        return f"failed: {summary.get('error', '')}"
    split = SELECTION_SPLIT if stage == "tune" else "test"
    value = summary.get("final", {}).get(f"{split}.{metric}")
    return status if value is None else f"{status}, {split}.{metric}={value:.4g}"


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
    record: dict[str, Any] = {
        "name": spec.name, "description": spec.description,
        "spec": OmegaConf.to_container(OmegaConf.structured(spec), resolve=True),
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "selection": {"split": SELECTION_SPLIT, "epoch": "final",
                      "statistic": "mean over tune_seeds"},
        "budget": spec.budget, "n_trials_per_loss": spec.budget * len(spec.tune_seeds),
        "stage_dirs": {s: s for s in STAGES}, "entries": [], "wall_s": {}}

    with Composer() as composer:
        fill = lambda job: composer.fill(job, spec.fixed)  # noqa: E731
        tune = {(si, loss): [[fill(Job("tune", setting, loss, c, seed))
                              for seed in spec.tune_seeds] for c in cands[loss]]
                for si, setting in enumerate(settings) for loss in spec.losses}
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
                    "candidates": [{"overrides": cands[loss][i], "val_score": _num(s),
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
        _write_record(out, record)  # the selections are on disk before stage 2 starts
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
                            "test_mean": _num(np.mean(values)) if values else None,
                            "test_std": _num(np.std(values, ddof=1)) if len(values) > 1
                            else None}
    _rank(record)
    record["runs"] = {stage: dict(Counter(s.get("status", "?") for s in found.values()))
                      for stage, found in (("tune", tuned), ("final", finals),
                                           ("default", defaults))}
    record["wall_s"]["total"] = time.perf_counter() - t_start
    record["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat()
    _write_record(out, record)
    return record


def _num(x: Any) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _rank(record: dict[str, Any]) -> None:
    """Rank the tuned losses within each setting by mean final test metric (1 = best)."""
    by_setting: dict[str, list[dict]] = {}
    for e in record["entries"]:
        by_setting.setdefault(e["setting_label"], []).append(e)
    for entries in by_setting.values():
        means = pd.Series({e["loss"]: e["final"]["test_mean"] for e in entries}, dtype=float)
        higher = entries[0]["higher_is_better"]
        ranks = means.rank(ascending=not higher)
        for e in entries:
            r = ranks.get(e["loss"])
            e["rank"] = None if r is None or math.isnan(r) else float(r)


def _write_record(out: Path, record: dict[str, Any]) -> None:
    """Write ``protocol.json`` atomically (a temporary file renamed over it)."""
    from harness import results

    results.write_json(out / SPEC_FILE, record)


def ranking_table(record: dict[str, Any]) -> pd.DataFrame:
    """One row per setting and loss: selected overrides, val score, tuned and default
    test mean +- std, rank."""
    rows = []
    for e in record["entries"]:
        f, d = e["final"], e["default"]
        rows.append({"setting": e["setting_label"], "rank": e.get("rank"), "loss": e["loss"],
                     "selected": " ".join(e["selected_overrides"] or []) or "-",
                     f"{SELECTION_SPLIT} {e['metric']}": e["selected_val_score"],
                     f"test {e['metric']} tuned": _pm(f), "runs": f"{f['n']}/{f['runs']}",
                     f"test {e['metric']} default": _pm(d)})
    df = pd.DataFrame(rows)
    return df.sort_values(["setting", "rank"], na_position="last").reset_index(drop=True)


def _pm(stat: dict[str, Any]) -> str:
    if stat["test_mean"] is None:
        return "-"
    sd = f" ± {stat['test_std']:.3g}" if stat["test_std"] is not None else ""
    return f"{stat['test_mean']:.4g}{sd}"


# ---------------------------------------------------------------- reading a protocol folder
def read_record(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / SPEC_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise HarnessError(f"cannot read {path}: {err}") from None


def run_ids(record: dict[str, Any]) -> dict[str, set[str]]:
    """stage -> the run ids the protocol of ``record`` consists of."""
    ids: dict[str, set[str]] = {s: set() for s in STAGES}
    for e in record.get("entries", []):
        for c in e["candidates"]:
            ids["tune"].update(c["run_ids"])
        for stage in ("final", "default"):
            ids[stage].update((e.get(stage) or {}).get("run_ids", []))
    return ids


def _stage_frames(folder: str | Path, reader) -> pd.DataFrame:
    """``reader``'s table of each stage folder with a ``stage`` column; when the folder
    has a finished ``protocol.json``, only the runs it lists (not those of an earlier
    spec left in the same folder)."""
    folder = Path(folder)
    keep = run_ids(read_record(folder)) if (folder / SPEC_FILE).is_file() else {}
    frames = []
    for stage in STAGES:
        if not ((folder / stage).is_dir() and any((folder / stage).rglob("summary.json"))):
            continue
        frame = reader(folder / stage).assign(stage=stage)
        if keep:  # a protocol.json: exactly its runs (none, for a stage it has none in)
            frame = frame[frame.run_id.isin(keep.get(stage, set()))]
        frames.append(frame)
    if not frames:
        raise HarnessError(f"no protocol runs under {folder} (no tune/, final/ or default/ "
                           "folder with runs).")
    return pd.concat(frames, ignore_index=True)


def load(folder: str | Path) -> pd.DataFrame:
    """Every metric row of a protocol folder (:func:`harness.results.load`), with a
    ``stage`` column: ``tune``, ``final`` or ``default``."""
    from harness import results

    return _stage_frames(folder, results.load)


def summaries(folder: str | Path) -> pd.DataFrame:
    """One row per run of a protocol folder, with its ``stage``."""
    from harness import results

    return _stage_frames(folder, results.summaries)


# ---------------------------------------------------------------- command line
EPILOG = """\
examples:
  python -m harness.protocol regression_diabetes
  python -m harness.protocol label_noise_mnist1d seeds=[0,1,2,3,4]
  python -m harness.protocol regression_diabetes budget=2 trainer.epochs=5 out=/tmp/p
  python -m harness.protocol regression_diabetes data.outlier_frac=0,0.1,0.3
  python -m harness.report outputs/protocol/regression_diabetes      (its report)

key=value: a spec key (name, losses, settings, fixed, space, loss_space, budget,
tune_seeds, seeds, sampler_seed, metric, out, rerun, vectorized), or a harness override: a sweep
(a,b,c) replaces or adds a compared setting key; a single value replaces the preset's
or joins every run's overrides. Re-running the same command resumes.
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m harness.protocol",
        description="A fair comparison of losses: every loss gets the same tuning budget, "
                    "selected on the corrupted validation split only; the selected "
                    "configuration is "
                    "re-run over several seeds and measured on the clean test split.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("protocol", metavar="PROTOCOL",
                   help="a preset in conf/protocol/ (protocol=NAME works too) or a YAML "
                        f"file; presets: {', '.join(presets())}")
    p.add_argument("args", nargs="*", metavar="key=value")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    name = args.protocol.removeprefix("+").removeprefix("protocol=")
    try:
        spec, _ = load_spec(name, args.args)
        t0 = time.perf_counter()
        record = run_protocol(spec)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table = ranking_table(record)
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.max_colwidth", 60):
        print("\nranking (tuned on val, measured on the clean test split):")
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    counts = "; ".join(f"{stage} " + ", ".join(f"{n} {s}" for s, n in c.items())
                       for stage, c in record["runs"].items() if c)
    print(f"protocol {spec.name}: {time.perf_counter() - t0:.1f} s; runs: {counts}; "
          f"{Path(spec.out) / SPEC_FILE}; report: python -m harness.report {spec.out}")
    failed = any(c.get("failed") or c.get("interrupted") for c in record["runs"].values())
    return 1 if failed or any(e["selected"] is None for e in record["entries"]) else 0


if __name__ == "__main__":
    sys.exit(main())
