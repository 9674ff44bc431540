"""One run: validate the config, build data, model, loss and optimiser, train, write results.

:func:`run` is what ``python -m harness`` calls for each job; it also works without
Hydra's command line (tests and notebooks compose a config and pass an output folder).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

import harness
import losses
from harness import results
from harness.config import flatten, validate
from harness.errors import HarnessError
from harness.seeding import derive_seeds
from harness.train import FitResult, fit
from losses import InvalidParameterError

# config keys that change how a run looks, not what it computes: left out of the run id
# (and of sweep folder names, see hydra.job.config.override_dirname in conf/config.yaml)
COSMETIC_KEYS = ("trainer.progress",)
SPLIT_ORDER = ("train", "train_clean", "val", "val_corrupted", "test")


def call(node: DictConfig, **extra: Any) -> Any:
    """Call a config node's ``_target_`` with its other keys plus ``extra``.

    Unlike ``hydra.utils.instantiate`` this does not wrap the callee's exceptions, so a
    :class:`HarnessError` raised by a builder reaches the user as its own one line. Only
    targets from this project, torch and scikit-learn are called (:mod:`harness.safety`).
    """
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
    return fn(**kwargs, **extra)


def build_loss(cfg: DictConfig) -> losses.Loss:
    params = OmegaConf.to_container(cfg.loss, resolve=True)
    params.pop("_target_", None)
    name = params.pop("name")
    try:
        return losses.get(name, **params)
    except InvalidParameterError as err:
        raise err.renamed(f"loss.{err.key}") from None


def data_task(cfg: DictConfig) -> str:
    """The task of the configured data set, known before any data is generated."""
    from harness.safety import resolve

    task = getattr(resolve(cfg.data._target_, "data._target_"), "task", None)
    if task not in ("regression", "binary", "multiclass"):
        raise HarnessError(f"data._target_={cfg.data._target_} is not a data set builder "
                           "(it declares no task); use data=<name>, one of conf/data/, "
                           "whose _target_ is a builder in harness.data.")
    return task


def check_fit(loss: losses.Loss, task: str, data_name: str) -> None:
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


def identity(cfg: DictConfig, choices: dict[str, str]) -> tuple[dict[str, Any], str]:
    """The flattened config (with the canonical loss name) and the run id it gives."""
    flat = flatten(cfg, choices)
    try:
        flat["loss"] = losses.spec(cfg.loss.name).name
    except losses.LossError:
        flat["loss"] = str(cfg.loss.name)  # unknown: the run fails, its id stays defined
    return flat, run_id(flat)


def run_id(flat: dict[str, Any]) -> str:
    """Deterministic id of a run: a hash of its flattened config and the harness version."""
    keep = {k: v for k, v in flat.items() if k not in COSMETIC_KEYS}
    blob = json.dumps({"config": keep, "version": harness.__version__}, sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def summary_table(rows: list[tuple[int, str, str, float]], epoch: int) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["epoch", "split", "metric", "value"])
    last = df[(df.epoch == epoch) & (df.metric != "elapsed_s")]
    table = last.pivot(index="split", columns="metric", values="value")
    order = [s for s in SPLIT_ORDER if s in table.index]
    cols = ["objective"] + [c for c in table.columns if c != "objective"]
    return table.loc[order, cols]


def base_summary(cfg: DictConfig, choices: dict[str, str]) -> dict[str, Any]:
    flat, rid = identity(cfg, choices)
    return {"run_id": rid, "status": "running", "config": flat,
            "harness_version": harness.__version__, "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "started_at": dt.datetime.now(dt.timezone.utc).isoformat()}


def write_failed(cfg: DictConfig, out_dir: str | Path, choices: dict[str, str],
                 err: BaseException) -> dict[str, Any]:
    """Record a run that failed before training: its config, status and one-line error."""
    summary = base_summary(cfg, choices or {})
    summary.update(status="failed", error=f"{type(err).__name__}: {err}".splitlines()[0],
                   final={}, finished_at=dt.datetime.now(dt.timezone.utc).isoformat())
    empty = pd.DataFrame(columns=results.METRIC_COLUMNS)
    results.write_run(out_dir, empty, summary)
    return summary


@dataclass
class Prepared:
    """A run ready to train: its checked config, loss, data and initialised model, and
    the summary so far. :func:`run` trains it alone; :mod:`harness.vectorized` stacks
    several on one device."""

    cfg: DictConfig
    choices: dict[str, str]
    loss: losses.Loss
    data_name: str
    device: torch.device
    seeds: dict[str, int]
    data: Any  # harness.data.Dataset
    model: torch.nn.Module
    summary: dict[str, Any]
    t0: float = field(default_factory=time.perf_counter)


def prepare(cfg: DictConfig, choices: dict[str, str] | None = None,
            device_slot: int | None = None) -> Prepared:
    """Check the config, build the data and the model (initialised from the run's own
    seed): everything before the optimiser. User mistakes raise before any data is built
    where they can be seen from the config."""
    from harness.safety import check_config

    t0 = time.perf_counter()
    check_config(cfg)  # before anything named by a _target_ is imported
    validate(cfg)
    if cfg.optim.get("nesterov") and not cfg.optim.get("momentum"):
        raise HarnessError(f"optim.nesterov=true needs optim.momentum > 0 (Nesterov "
                           f"momentum without momentum); got optim.momentum="
                           f"{cfg.optim.get('momentum')}. Set optim.momentum (e.g. 0.9) or "
                           "optim.nesterov=false.")
    choices = choices or {}
    loss = build_loss(cfg)
    task = data_task(cfg)
    data_name = choices.get("data", str(cfg.data._target_).rsplit(".", 1)[-1])
    check_fit(loss, task, data_name)
    device = resolve_device(cfg.trainer.device, device_slot)
    summary = base_summary(cfg, choices)
    seeds = derive_seeds(int(cfg.seed))
    data = call(cfg.data, seeds=seeds)
    for split, target in {**data.y, "train_clean": data.y_train_clean,
                          "val_corrupted": data.y_val_corrupted}.items():
        try:
            loss.check_target(target, data.n_classes)
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
    summary.update(task=task, loss_id=loss.id, data_info=data.info, device=str(device))
    return Prepared(cfg, choices, loss, data_name, device, seeds, data, model, summary, t0)


def finish(job: Prepared, result: FitResult, out_dir: str | Path,
           extra: dict[str, Any] | None = None) -> dict[str, Any]:
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
    results.write_run(out_dir, metrics, summary)
    return summary


def run(cfg: DictConfig, out_dir: str | Path, choices: dict[str, str] | None = None,
        echo: bool = True, progress: bool | None = None,
        device_slot: int | None = None) -> dict[str, Any]:
    """Train one configuration and write its results to ``out_dir``; return the summary.

    ``progress`` overrides ``trainer.progress``; ``device_slot`` picks the GPU of a
    parallel job (see :func:`resolve_device`).
    """
    job = prepare(cfg, choices, device_slot)
    optimizer = call(cfg.optim, params=job.model.parameters())
    result = FitResult()
    error: BaseException | None = None
    try:
        fit(job.model, job.loss, optimizer, job.data, job.device, epochs=cfg.trainer.epochs,
            batch_size=cfg.trainer.batch_size, shuffle_seed=job.seeds["shuffle"],
            progress=cfg.trainer.progress if progress is None else progress,
            desc=f"{job.loss.id} | {job.data_name}", result=result)
        job.summary["status"] = result.status
    except KeyboardInterrupt as err:  # keep what was computed, then stop as asked
        job.summary["status"], job.summary["error"], error = "interrupted", "KeyboardInterrupt", err
    except Exception as err:
        job.summary["status"], error = "failed", err
        job.summary["error"] = f"{type(err).__name__}: {err}".splitlines()[0]
    summary = finish(job, result, out_dir)
    if error is not None:
        raise error
    if echo:
        print_summary(summary, result, out_dir)
    return summary


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
