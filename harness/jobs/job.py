"""One job's stages: a :class:`Task` is prepared (:func:`prepare`: config checked, data,
model and loss built), trained (:func:`train`, alone or stacked with others), and written
(:func:`finish`, or :func:`write_failed` when it failed before training).

:mod:`harness.jobs.lifecycle` strings these together with one failure policy for every
runner; this module is what each stage does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import json
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

import harness
import losses
from harness import results
from harness.config import canonicalise, flatten, validate
from harness.errors import HarnessError
from harness.seeding import derive_seeds
from harness.training.loop import Alone, FitResult, fit, member_splits
from losses import InvalidParameterError

# config keys that change how a run looks or how fast it goes, not what it computes: left
# out of the run id (and of sweep folder names: hydra.job.config.override_dirname)
COSMETIC_KEYS = ("trainer.progress", "trainer.threads")
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


@dataclass
class Prepared:
    """A task ready to train: its checked config, loss, data and initialised model, and
    the summary so far."""

    task: Task
    loss: losses.Loss
    data_name: str
    device: torch.device
    seeds: dict[str, int]
    data: Any  # harness.data.Dataset
    model: torch.nn.Module
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

    kwargs = OmegaConf.to_container(node, resolve=True)
    target = kwargs.pop("_target_", None)
    key = target_key(node)
    fn = resolve(target, key)
    try:
        inspect.signature(fn).bind(**kwargs, **extra)
    except TypeError as err:  # a target that does not take this node's keys
        raise HarnessError(f"{key}={target} cannot be called with the keys of "
                           f"{key.rsplit('.', 1)[0]} ({', '.join([*kwargs, *extra])}): {err}; "
                           "use the _target_ of its group's config in conf/.") from None
    except ValueError:  # no signature to check (some builtins): let the call decide
        pass
    return fn, {**kwargs, **extra}


def call(node: DictConfig, **extra: Any) -> Any:
    """Call a config node's ``_target_`` with its other keys plus ``extra`` (see
    :func:`bind`). Unlike ``hydra.utils.instantiate`` this does not wrap the callee's
    exceptions, so a :class:`HarnessError` raised by a builder reaches the user as its
    own one line."""
    fn, kwargs = bind(node, **extra)
    return fn(**kwargs)


def build_loss(cfg: DictConfig) -> losses.Loss:
    """The configured loss (``cfg.loss``: ``name`` and its parameters)."""
    params = OmegaConf.to_container(cfg.loss, resolve=True)
    params.pop("_target_", None)
    name = params.pop("name")
    try:
        return losses.get(name, **params)
    except InvalidParameterError as err:
        raise err.renamed(f"loss.{err.key}") from None


def data_task(cfg: DictConfig) -> str:
    """The task of the configured data set, known before any data is generated."""
    from harness.data import task_of

    return task_of(cfg.data._target_)


def check_fit(loss: losses.Loss, task: str, data_name: str) -> None:
    """A :class:`HarnessError` unless ``loss`` is a loss for ``task``."""
    if loss.task != task:
        raise HarnessError(
            f"loss '{loss.name}' is a {loss.task} loss and does not fit data '{data_name}' "
            f"({task}); losses for {task}: {', '.join(losses.available(task))}.")


def resolve_device(name: str, slot: int | None = None) -> torch.device:
    """``auto`` picks CUDA when present. ``slot`` (a parallel job's number) spreads
    parallel jobs over the visible GPUs, one GPU each in turn."""
    if name == "cuda" and not torch.cuda.is_available():
        raise HarnessError(f"trainer.device=cuda but CUDA is not available to torch "
                           f"{torch.__version__}; use trainer.device=auto or cpu.")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    index = 0 if slot is None else slot % torch.cuda.device_count()
    return torch.device("cuda", index)


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


def identity(cfg: DictConfig, choices: dict[str, str]) -> tuple[dict[str, Any], str]:
    """The flattened config (with the canonical loss name) and the run id it gives."""
    flat = flatten(cfg, choices)
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
    blob = json.dumps({"config": keep, "version": harness.__version__}, sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def base_summary(cfg: DictConfig, choices: dict[str, str]) -> dict[str, Any]:
    flat, rid = identity(cfg, choices)
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
    from harness.safety import check_config

    task = task or Task(cfg, choices or {}, "", device_slot=device_slot)
    cfg, choices = task.cfg, task.choices
    t0 = time.perf_counter()
    check_config(cfg)  # before anything named by a _target_ is imported
    canonicalise(cfg)  # 0.30000000000000004 is 0.3, as in the run id
    validate(cfg)
    threads = set_threads(cfg.trainer.get("threads"))  # before any work
    loss = build_loss(cfg)
    kind = data_task(cfg)
    data_name = choices.get("data", str(cfg.data._target_).rsplit(".", 1)[-1])
    check_fit(loss, kind, data_name)
    bind(cfg.optim, params=[])  # an optimiser that cannot be built stops here, not later
    device = resolve_device(cfg.trainer.device, task.device_slot)
    summary = base_summary(cfg, choices)
    seeds = derive_seeds(int(cfg.seed))
    data = call(cfg.data, seeds=seeds)
    for split in SPLIT_ORDER:
        try:
            loss.check_target(data.split(split)[1], data.n_classes)
        except losses.LossError as err:
            raise HarnessError(f"data '{data_name}' ({split} split) does not fit loss "
                               f"'{loss.name}': {err}") from None
    torch.manual_seed(seeds["init"])  # model initialisation draws from the global RNG
    model = call(cfg.model, in_features=data.n_features, out_features=data.n_outputs)
    if not isinstance(model, torch.nn.Module):
        raise HarnessError(f"model._target_={cfg.model._target_} built a "
                           f"{type(model).__name__}, not a torch.nn.Module; use model=<name>, "
                           "one of conf/model/.")
    model = model.to(device)
    summary.update(task=kind, loss_id=loss.id, data_info=data.info, device=str(device),
                   threads=threads)
    return Prepared(task, loss, data_name, device, seeds, data, model, summary, t0)


def optim_settings(cfg: DictConfig) -> dict:
    """The optimiser node's keyword arguments (without ``_target_``)."""
    node = OmegaConf.to_container(cfg.optim, resolve=True)
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
    if len(jobs) == 1:
        members = Alone(first.model, first.loss, call(first.cfg.optim,
                                                      params=first.model.parameters()))
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
        progress=progress, desc=desc)


def finish(job: Prepared, result: FitResult, extra: dict[str, Any] | None = None
           ) -> dict[str, Any]:
    """Complete ``job.summary`` from ``result`` (and ``extra``) and write the run folder."""
    summary = job.summary
    last = max((r[0] for r in result.rows), default=0)
    summary.update({
        "epochs_run": result.epochs_run, "diverged_epoch": result.diverged_epoch,
        "final": {f"{s}.{m}": v for e, s, m, v in result.rows if e == last},
        "train_time_s": result.train_seconds,
        "wall_time_s": time.perf_counter() - job.t0,
        **(extra or {}),
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(),
    })
    metrics = pd.DataFrame([(summary["run_id"], *r) for r in result.rows],
                           columns=results.METRIC_COLUMNS)
    results.write_run(job.task.out_dir, metrics, summary)
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
    cols = ["objective"] + [c for c in table.columns if c != "objective"]
    return table.loc[order, cols]


def print_summary(summary: dict[str, Any], result: FitResult, out_dir: str | Path) -> None:
    c = summary["config"]
    status = summary["status"]
    if result.diverged_epoch:
        status += f" at epoch {result.diverged_epoch}"
    print(f"\n{summary['loss_id']} on {c['data']} ({summary['task']}) | model {c['model']} | "
          f"optim {c['optim']} lr={c.get('optim.lr')} | seed {c['seed']} | "
          f"{result.epochs_run} epochs, {status}")
    if result.rows:
        table = summary_table(result.rows, result.epochs_run)
        print(table.to_string(float_format="%.4f", na_rep=""))
    print(f"train {result.train_seconds:.2f} s, wall {summary['wall_time_s']:.2f} s "
          f"on {summary['device']}; results: {out_dir}")
