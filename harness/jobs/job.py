"""One job's stages: a :class:`Task` is prepared (:func:`prepare`: config checked, data,
model and loss built), trained (:func:`train`, alone or stacked with others), and written
(:func:`finish`, or :func:`write_failed` when it failed before training).

:mod:`harness.jobs.lifecycle` strings these together with one failure policy for every
runner; this module is what each stage does.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import inspect
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig

import harness
import losses
from harness import results
from harness.config import as_container, canonicalise, flatten, validate
from harness.errors import HarnessError
from harness.seeding import derive_seeds
from harness.training.loop import Alone, EarlyStop, FitResult, fit, member_splits
from losses import InvalidParameterError

# config keys that change how a run looks, how fast it goes or what it keeps, not what it
# computes: left out of the run id (and of sweep folder names:
# hydra.job.config.override_dirname in conf/config.yaml)
COSMETIC_KEYS = ("trainer.progress", "trainer.threads", "trainer.save_weights",
                 "trainer.trackers", "trainer.tracking_uri")
# keys added after 0.2.0 that change nothing while off: left out of the run id while
# early stopping is off, so earlier runs keep their ids
EARLY_STOPPING = ("trainer.early_stopping.patience", "trainer.early_stopping.min_delta",
                  "trainer.early_stopping.monitor", "trainer.early_stopping.restore_best")
# model keys added after 0.2.0, left out of the run id at the value that changes nothing
NEUTRAL = {"model.residual": False, "model.padding": None}
SPLIT_ORDER = ("train", "train_clean", "val", "val_corrupted", "test")


@dataclass
class Task:
    """One job to run: its composed config (no ``hydra`` node needed), its group choices
    (``{"loss": "huber", ...}``), its run folder, and, for a parallel launcher's job, the
    slot that picks its GPU. ``ref`` is the caller's own handle on it."""

    cfg: DictConfig
    choices: dict[str, str]
    out_dir: str | Path
    ref: Any = None
    device_slot: int | None = None
    checked: bool = False  # :func:`check` already passed on ``cfg`` (a sweep's plan)
    identity: tuple[dict[str, Any], str] | None = None  # :func:`identity`, when known


@dataclass
class Prepared:
    """A task ready to train: its checked config, loss, data and initialised model, and
    the summary so far."""

    task: Task
    loss: losses.Loss | None  # None for a classical baseline (its estimator has its own)
    data_name: str
    device: torch.device
    seeds: dict[str, int]
    data: Any  # harness.data.Dataset
    model: Any  # a torch.nn.Module, or a scikit-learn estimator (a baseline)
    summary: dict[str, Any]
    t0: float = field(default_factory=time.perf_counter)

    @property
    def cfg(self) -> DictConfig:
        return self.task.cfg


# ---------------------------------------------------------------- building blocks
def bind(node: DictConfig, **extra: Any) -> tuple[Any, dict[str, Any]]:
    """The callable a config node's ``_target_`` names and the keyword arguments it will
    get (the node's other keys plus ``extra``), checked against its signature; a
    :class:`HarnessError` naming the node when they do not fit. Only targets from this
    project, torch and scikit-learn are resolved (:mod:`harness.safety`)."""
    from harness.safety import resolve, target_key

    kwargs = as_container(node)
    target = kwargs.pop("_target_", None)
    key = target_key(node)
    fn = resolve(target, key)
    try:
        _signature(fn).bind(**kwargs, **extra)
    except TypeError as err:  # a target that does not take this node's keys
        raise HarnessError(f"{key}={target} cannot be called with the keys of "
                           f"{key.rsplit('.', 1)[0]} ({', '.join([*kwargs, *extra])}): {err}; "
                           "use the _target_ of its group's config in conf/.") from None
    except ValueError:  # no signature to check (some builtins): let the call decide
        pass
    return fn, {**kwargs, **extra}


@functools.lru_cache(maxsize=256)  # the few callables a sweep's jobs name, over and over
def _signature(fn: Any) -> inspect.Signature:
    return inspect.signature(fn)


def call(node: DictConfig, **extra: Any) -> Any:
    """Call a config node's ``_target_`` with its other keys plus ``extra`` (see
    :func:`bind`). Unlike ``hydra.utils.instantiate`` this does not wrap the callee's
    exceptions, so a :class:`HarnessError` raised by a builder reaches the user as its
    own one line."""
    fn, kwargs = bind(node, **extra)
    return fn(**kwargs)


def build_loss(cfg: DictConfig) -> losses.Loss:
    """The configured loss (``cfg.loss``: ``name`` and its parameters)."""
    params = as_container(cfg.loss)
    params.pop("_target_", None)
    name = params.pop("name")
    try:
        return losses.get(name, **params)
    except InvalidParameterError as err:
        raise err.renamed(f"loss.{err.key}") from None


def data_task(cfg: DictConfig) -> str:
    """The task of the configured data set, known before any data is generated."""
    from harness.data import task_of

    return task_of(cfg.data._target_, as_container(cfg.data))


def check_fit(loss: losses.Loss, task: str, data_name: str) -> None:
    """A :class:`HarnessError` unless ``loss`` is a loss for ``task``."""
    if loss.task != task:
        raise HarnessError(
            f"loss '{loss.name}' is a {loss.task} loss and does not fit data '{data_name}' "
            f"({task}); losses for {task}: {', '.join(losses.available(task))}.")


def check_monitor(cfg: DictConfig, task: str) -> None:
    """A :class:`HarnessError` unless early stopping's monitor is a metric of ``task``."""
    from harness.metrics import METRICS

    node = cfg.trainer.get("early_stopping")
    if node is None or node.get("patience") is None:
        return
    allowed = ("objective", *METRICS[task])
    if node.monitor not in allowed:
        raise HarnessError(f"trainer.early_stopping.monitor={node.monitor} is not a {task} "
                           f"metric; choose one of {', '.join(allowed)} (on val_corrupted).")


def resolve_device(name: str, slot: int | None = None) -> torch.device:
    """The device of ``trainer.device``: ``auto`` picks CUDA when present (``slot``, a
    parallel job's number, spreads parallel jobs over the visible GPUs, one each in
    turn), else Apple's MPS, else the CPU; any torch device string (``cpu``, ``cuda``,
    ``cuda:1``, ``mps``, ...) names one, which must be available. Raises
    :class:`HarnessError` (one line) for a name torch does not know or a device this
    machine does not have."""
    name = str(name)
    if name == "auto":
        if torch.cuda.is_available():
            count = torch.cuda.device_count()
            return torch.device("cuda", 0 if slot is None else slot % count)
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise HarnessError(f"trainer.device={name} is not a torch device; use auto, cpu, "
                           "cuda, cuda:<index>, mps or another torch device name.") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise HarnessError(f"trainer.device={name} but CUDA is not available to torch "
                               f"{torch.__version__}; use trainer.device=auto or cpu.")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise HarnessError(f"trainer.device={name} but this machine has {count} CUDA "
                               f"device(s): cuda:0 to cuda:{count - 1}.")
        if device.index is None:
            return torch.device("cuda", 0 if slot is None else slot % count)
        return device
    backend = getattr(torch.backends, device.type, None) or getattr(torch, device.type, None)
    available = getattr(backend, "is_available", None)
    if available is None or not available():
        raise HarnessError(f"trainer.device={name} but torch {torch.__version__} has no "
                           f"{device.type} device here; use trainer.device=auto or cpu.")
    return device


def set_threads(threads: int | None) -> int:
    """Use ``threads`` CPU threads for torch's kernels (None or 0: every core); return the
    number set. One thread is the default: these models are too small to gain from a
    second one, and torch's OpenMP threads busy-wait for cores another process holds
    (measured: 3-5x slower training beside one CPU-bound process with 2 threads, no
    slower with 1; see README "Threads")."""
    n = int(threads) if threads else (os.cpu_count() or 1)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def baseline(cfg: DictConfig) -> bool:
    """Whether the config's model is a classical baseline (a scikit-learn estimator,
    ``model=sklearn_*``): it brings its own loss, and ``loss`` is not read."""
    return _estimator(str(cfg.model._target_))


@functools.lru_cache(maxsize=64)
def _estimator(target: str) -> bool:
    if not target.startswith("sklearn."):
        return False
    from sklearn.base import BaseEstimator

    from harness.safety import resolve

    try:
        obj = resolve(target, "model._target_")
    except HarnessError:
        return False  # refused or absent: the run says why where it builds the model
    return isinstance(obj, type) and issubclass(obj, BaseEstimator)


def identity(cfg: DictConfig, choices: dict[str, str]) -> tuple[dict[str, Any], str]:
    """The flattened config (with the canonical loss name; a baseline's is its model
    option, e.g. ``sklearn_huber``) and the run id it gives."""
    flat = flatten(cfg, choices)
    if baseline(cfg):
        flat = {k: v for k, v in flat.items() if not k.startswith("loss.")}
        flat["loss"] = choices.get("model") or str(cfg.model._target_).rsplit(".", 1)[-1]
        return flat, run_id(flat)
    try:
        flat["loss"] = losses.spec(cfg.loss.name).name
    except losses.LossError:
        flat["loss"] = str(cfg.loss.name)  # unknown: the run fails, its id stays defined
    except Exception:  # a loss node of the wrong shape: refused by validate(), id defined
        pass
    return flat, run_id(flat)


def run_id(flat: dict[str, Any]) -> str:
    """Deterministic id of a run: a hash of its flattened config and the harness version.

    >>> run_id({"loss": "mse", "seed": 0}) == run_id({"seed": 0, "loss": "mse"})
    True
    """
    keep = {k: v for k, v in flat.items() if k not in COSMETIC_KEYS}
    if keep.get("trainer.early_stopping.patience") is None:
        keep = {k: v for k, v in keep.items() if k not in EARLY_STOPPING}
    keep = {k: v for k, v in keep.items() if k not in NEUTRAL or v != NEUTRAL[k]
            or type(v) is not type(NEUTRAL[k])}
    blob = json.dumps({"config": keep, "version": harness.__version__}, sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def check(cfg: DictConfig) -> list:
    """What every config passes before anything is built from it, in this order: every
    ``_target_`` is allowed (:func:`harness.safety.check_config`, before anything it
    names is imported), floats are made canonical (0.30000000000000004 is 0.3, as in
    the run id), and the schemas' ranges and rules hold (:func:`harness.config.validate`).
    Raises :class:`HarnessError` (one line) on the first mistake. Returns the floats
    made canonical (:func:`harness.config.as_given` shows them as given)."""
    from harness.config import containers
    from harness.safety import check_config

    values, raw = containers(cfg)  # one pass over the config's nodes, read below
    check_config(values)
    changed = canonicalise(cfg, values=values)
    validate(cfg, containers(cfg) if changed else (values, raw))
    return changed


def base_summary(cfg: DictConfig, choices: dict[str, str],
                 known: tuple[dict[str, Any], str] | None = None) -> dict[str, Any]:
    """A run's summary before it runs; ``known``: its :func:`identity`, if computed."""
    flat, rid = known or identity(cfg, choices)
    return {"run_id": rid, "status": "running", "config": flat,
            "harness_version": harness.__version__, "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "started_at": dt.datetime.now(dt.timezone.utc).isoformat()}


# ---------------------------------------------------------------- the stages
def prepare(cfg: DictConfig, choices: dict[str, str] | None = None,
            device_slot: int | None = None, *, task: Task | None = None) -> Prepared:
    """Check the config, build the data and the model (initialised from the run's own
    seed): everything before the optimiser. User mistakes raise :class:`HarnessError` (or
    the loss registry's errors) before any data is built where the config shows them."""
    task = task or Task(cfg, choices or {}, "", device_slot=device_slot)
    cfg, choices = task.cfg, task.choices
    t0 = time.perf_counter()
    if not task.checked:  # a sweep checks every job before the first starts
        check(cfg)
        task.checked = True
    threads = set_threads(cfg.trainer.get("threads"))  # before any work
    kind = data_task(cfg)
    data_name = choices.get("data", str(cfg.data._target_).rsplit(".", 1)[-1])
    if baseline(cfg):
        return _prepare_baseline(task, kind, data_name, threads, t0)
    loss = build_loss(cfg)
    check_fit(loss, kind, data_name)
    check_monitor(cfg, kind)
    bind(cfg.optim, params=[])  # an optimiser that cannot be built stops here, not later
    device = resolve_device(cfg.trainer.device, task.device_slot)
    summary = base_summary(cfg, choices, task.identity)
    seeds = derive_seeds(int(cfg.seed))
    data = call(cfg.data, seeds=seeds)
    for split in SPLIT_ORDER:
        try:
            loss.check_target(data.split(split)[1], data.n_classes)
        except losses.LossError as err:
            hint = ""
            if cfg.data.get("targets") == "standardised":  # the source's units may fit
                hint = (" Regression targets are standardised (mean 0, some negative); "
                        "data.targets=raw keeps the source's own units.")
            raise HarnessError(f"data '{data_name}' ({split} split) does not fit loss "
                               f"'{loss.name}': {err}{hint}") from None
    # model initialisation draws from the global CPU generator (models are built on the
    # CPU, then moved); seeding it alone costs a tenth of torch.manual_seed's bookkeeping
    torch.default_generator.manual_seed(seeds["init"])
    model = call(cfg.model, in_features=data.n_features, out_features=data.n_outputs)
    if not isinstance(model, torch.nn.Module):
        raise HarnessError(f"model._target_={cfg.model._target_} built a "
                           f"{type(model).__name__}, not a torch.nn.Module; use model=<name>, "
                           "one of conf/model/.")
    model = model.to(device)
    from harness.plugins import LOADED

    summary.update(task=kind, loss_id=loss.id, data_info=data.info, device=str(device),
                   threads=threads, plugins=sorted(LOADED))
    return Prepared(task, loss, data_name, device, seeds, data, model, summary, t0)


def _prepare_baseline(task: Task, kind: str, data_name: str, threads: int,
                      t0: float) -> Prepared:
    """:func:`prepare` for a classical baseline: its estimator (checked against the task)
    and the data, as a network's."""
    from sklearn.base import is_classifier, is_regressor

    cfg, choices = task.cfg, task.choices
    estimator = call(cfg.model)
    fits = is_regressor(estimator) if kind == "regression" else is_classifier(estimator)
    if not fits:
        wanted = "a regressor" if kind == "regression" else "a classifier"
        raise HarnessError(f"model={choices.get('model', cfg.model._target_)} is not "
                           f"{wanted} and does not fit data '{data_name}' ({kind}); "
                           "baselines: sklearn_huber, sklearn_quantile, sklearn_sgd_regressor "
                           "(regression); sklearn_sgd_classifier, sklearn_linear_svc, "
                           "sklearn_logistic (classification).")
    summary = base_summary(cfg, choices, task.identity)
    seeds = derive_seeds(int(cfg.seed))
    data = call(cfg.data, seeds=seeds)
    from harness.plugins import LOADED

    summary.update(task=kind, loss_id=summary["config"]["loss"], data_info=data.info,
                   device="cpu", threads=threads, plugins=sorted(LOADED), baseline=True)
    return Prepared(task, None, data_name, torch.device("cpu"), seeds, data, estimator,
                    summary, t0)


def optim_settings(cfg: DictConfig) -> dict:
    """The optimiser node's keyword arguments (without ``_target_``)."""
    node = as_container(cfg.optim)
    node.pop("_target_", None)
    return node


def train(jobs: Sequence[Prepared], results_: Sequence[FitResult], *, progress: bool = False,
          desc: str | None = None) -> None:
    """Train ``jobs`` (one, or several of one shape: see
    :func:`harness.jobs.lifecycle.group_key`) for their ``trainer.epochs``, appending each
    job's rows to its ``results_`` entry. One job trains alone with its torch optimiser;
    several train as one stack (:class:`harness.training.stacked.Stacked`)."""
    first = jobs[0]
    trainer = first.cfg.trainer
    if baseline(first.cfg):  # one estimator, fitted once (never stacked: group_key)
        from harness.training.baseline import fit_baseline

        vars(results_[0]).update(vars(fit_baseline(first.model, first.data,
                                                   first.seeds["init"])))
        return
    if len(jobs) == 1:
        from harness.training import eager

        optimizer = eager.build(lambda: call(first.cfg.optim, params=first.model.parameters()))
        members = Alone(first.model, first.loss, optimizer)
        desc = desc or f"{first.loss.id} | {first.data_name}"
    else:
        from harness.training.stacked import OPTIMIZERS, Stacked

        members = Stacked([j.model for j in jobs], [j.loss for j in jobs],
                          OPTIMIZERS[str(first.cfg.optim._target_)],
                          [optim_settings(j.cfg) for j in jobs], first.device)
        desc = desc or f"{len(jobs)} stacked runs | {first.data_name}"
    device = first.device
    fit(members, member_splits([j.data for j in jobs], device), results_,
        task=first.data.task, n_classes=first.data.n_classes,
        corrupted=torch.stack([j.data.corrupted for j in jobs]).to(device),
        generators=[torch.Generator(device=device).manual_seed(j.seeds["shuffle"])
                    for j in jobs],
        epochs=int(trainer.epochs), batch_size=int(trainer.batch_size),
        progress=progress, desc=desc, stop=early_stop(first.cfg),
        keep_weights=bool(trainer.get("save_weights", False)))


def early_stop(cfg: DictConfig) -> EarlyStop | None:
    """``trainer.early_stopping`` for the loop, None while it is off."""
    from harness.metrics import HIGHER_IS_BETTER

    node = cfg.trainer.get("early_stopping")
    if node is None or node.get("patience") is None:
        return None
    return EarlyStop(int(node.patience), float(node.min_delta), str(node.monitor),
                     HIGHER_IS_BETTER[str(node.monitor)], bool(node.restore_best))


WEIGHTS_FILE = "model.safetensors"


def finish(job: Prepared, result: FitResult, extra: dict[str, Any] | None = None
           ) -> dict[str, Any]:
    """Complete ``job.summary`` from ``result`` (and ``extra``) and write the run folder."""
    summary = job.summary
    last = max((r[0] for r in result.rows), default=0)
    stop = early_stop(job.cfg)
    chosen = last
    if stop is not None:  # the epoch the run is reported at (the best, when restored)
        if stop.restore_best and result.best_epoch is not None and result.status != "diverged":
            chosen = result.best_epoch
        summary.update(best_epoch=result.best_epoch, stopped_epoch=result.stopped_epoch,
                       selected_epoch=chosen)
    if result.weights is not None:
        from safetensors.torch import save

        results.atomic_write_data(Path(job.task.out_dir) / WEIGHTS_FILE,
                                  save({k: v.contiguous() for k, v in result.weights.items()},
                                       metadata={"run_id": summary["run_id"],
                                                 "epoch": str(chosen)}))
        summary["weights"] = {"file": WEIGHTS_FILE, "epoch": chosen}
    summary.update({
        "epochs_run": result.epochs_run, "diverged_epoch": result.diverged_epoch,
        "final": {f"{s}.{m}": v for e, s, m, v in result.rows if e == chosen},
        "train_time_s": result.train_seconds,
        "wall_time_s": time.perf_counter() - job.t0,
        **(extra or {}),
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(),
    })
    metrics = results.metrics_table([(summary["run_id"], *r) for r in result.rows])
    results.write_run(job.task.out_dir, metrics, summary)
    trackers = list(job.cfg.trainer.get("trackers") or [])
    if trackers:  # after the files: a tracker that fails never loses a run
        from harness.trackers import log_run

        log_run(trackers, summary, result.rows, job.task.out_dir,
                job.cfg.trainer.get("tracking_uri"))
    return summary


def write_failed(task: Task, err: BaseException) -> dict[str, Any]:
    """Record a task that failed before training: its config, status and one-line error."""
    summary = base_summary(task.cfg, task.choices or {})
    summary.update(status="failed", error=error_text(err), final={},
                   finished_at=dt.datetime.now(dt.timezone.utc).isoformat())
    empty = pd.DataFrame(columns=results.METRIC_COLUMNS)
    results.write_run(task.out_dir, empty, summary)
    return summary


def error_text(err: BaseException) -> str:
    """``HarnessError: data.n_samples=5 ...``: an error's type and first line."""
    return f"{type(err).__name__}: {err}".splitlines()[0]


# ---------------------------------------------------------------- the console
def summary_table(rows: list[tuple[int, str, str, float]], epoch: int) -> pd.DataFrame:
    """The final epoch's metrics as a split x metric table."""
    df = pd.DataFrame(rows, columns=["epoch", "split", "metric", "value"])
    last = df[(df.epoch == epoch) & (df.metric != "elapsed_s")]
    table = last.pivot(index="split", columns="metric", values="value")
    order = [s for s in SPLIT_ORDER if s in table.index]
    cols = [c for c in ("objective",) if c in table.columns] + \
        [c for c in table.columns if c != "objective"]
    return table.loc[order, cols]


def print_summary(summary: dict[str, Any], result: FitResult, out_dir: str | Path) -> None:
    """Print a finished run's summary table to stdout. A reader that stopped early
    (``| head``) does not fail the run: its files are written; stdout goes to devnull."""
    try:
        _print_summary(summary, result, out_dir)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _print_summary(summary: dict[str, Any], result: FitResult, out_dir: str | Path) -> None:
    c = summary["config"]
    status = summary["status"]
    if result.diverged_epoch:
        status += f" at epoch {result.diverged_epoch}"
    shown = summary.get("selected_epoch", result.epochs_run)
    if summary.get("best_epoch") is not None:
        stopped = (f", stopped at epoch {result.stopped_epoch}" if result.stopped_epoch
                   else "")
        status += f"; best epoch on val_corrupted {summary['best_epoch']}{stopped}"
    optim = "" if summary.get("baseline") else f"optim {c['optim']} lr={c.get('optim.lr')} | "
    print(f"\n{summary['loss_id']} on {c['data']} ({summary['task']}) | model {c['model']} | "
          f"{optim}seed {c['seed']} | {result.epochs_run} epochs, {status}")
    inferred = (summary.get("data_info") or {}).get("task_inferred")
    if inferred:
        print(f"task {inferred}; set data.task to choose")
    if result.rows:
        if shown != result.epochs_run:
            print(f"metrics at epoch {shown} (the best, restored):")
        table = summary_table(result.rows, shown)
        print(table.to_string(float_format="%.4f", na_rep=""))
    print(f"train {result.train_seconds:.2f} s, wall {summary['wall_time_s']:.2f} s "
          f"on {summary['device']}; results: {out_dir}")
