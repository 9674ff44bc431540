"""Stacked training: many runs of one shape trained at once, as one ensemble on one device.

A loss comparison is many small models. Trained one after another they leave the device
idle between tiny kernels; stacked on a leading *member* axis (one batched matmul per
layer for all members, one elementwise optimiser update over all their parameters) they
keep it busy. ``hydra/launcher=vectorized`` (``hydra_plugins/harness_vectorized``) groups
a sweep's jobs with :func:`group_key` and trains each group with :func:`train_group`.

Each member's mathematics is its own, exactly as :func:`harness.run.run` would compute it
alone: its own data (built from its seed and corruption level), its model initialised
from its own seed (the same ``nn.Module`` the ordinary runner builds, then stacked), its
own shuffling order per epoch (its own generator, the same draws), its own loss (members
may differ in loss and loss parameters), learning rate, weight decay and momentum, and its
own optimiser state. Members never mix: the stacked objective is the *sum* of the
members' mean losses, so each member's gradient is that of its own loss. What differs
from a run alone is only floating-point summation order (batched matmuls), so metrics
agree to float tolerance.

A member whose objective is not finite on some split at the end of an epoch is recorded
as diverged at that epoch (as a run alone would be) and dropped from the stack; the others
go on undisturbed. Groups larger than the device's memory allows are split into chunks
(:func:`max_members`).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from harness import metrics as M
from harness.run import COSMETIC_KEYS, Prepared
from harness.train import FitResult

logger = logging.getLogger("harness")

# config keys that may differ between the members of one stacked training
PER_MEMBER = ("seed", "loss", "optim.lr", "optim.weight_decay", "optim.momentum",
              "data.outlier_frac", "data.label_noise")
MODELS = ("harness.models.MLP", "harness.models.Linear", "harness.models.CNN1D")
OPTIMIZERS = {"torch.optim.Adam": "adam", "torch.optim.AdamW": "adamw",
              "torch.optim.SGD": "sgd"}
MAX_MEMBERS = 1024  # per stacked training, whatever the memory
EVAL_ROWS = 2 ** 18  # members x rows per evaluation forward pass


def group_key(cfg: DictConfig, flat: dict[str, Any]) -> str | None:
    """What stacked jobs must share (data set and its shape, model, optimiser kind and
    its other settings, epochs, batch size, device); None when the job cannot be stacked
    (a model or optimiser this module does not know)."""
    model, optim = str(cfg.model._target_), str(cfg.optim._target_)
    if model not in MODELS or optim not in OPTIMIZERS:
        return None
    shared = {k: v for k, v in flat.items()
              if k not in COSMETIC_KEYS and k not in PER_MEMBER and not k.startswith("loss.")}
    shared["targets"] = [str(cfg.data._target_), model, optim]
    return json.dumps(shared, sort_keys=True, default=str)


# ---------------------------------------------------------------- memory
def _available_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 2 ** 30


def member_bytes(job: Prepared, batch_size: int) -> int:
    """A generous estimate of one member's memory while training: parameters with their
    gradients, optimiser state and update temporaries, activations of one mini-batch
    (forward and backward), and its targets."""
    n_params = sum(p.numel() for p in job.model.parameters())
    widths = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: widths.append(out[0].numel()))
             for m in job.model.modules() if not list(m.children())]
    with torch.no_grad():
        job.model(job.data.X["train"][:1].to(job.device))
    for h in hooks:
        h.remove()
    rows = sum(len(y) for y in job.data.y.values()) + len(job.data.y_train_clean)
    return 4 * (6 * n_params + 3 * batch_size * (sum(widths) + job.data.n_features)) + 8 * rows


def max_members(job: Prepared, batch_size: int, limit: int | None = None) -> int:
    """Members per stacked training: ``limit`` if given, else as many as fit in half the
    device's available memory (at most :data:`MAX_MEMBERS`)."""
    if limit is not None:
        return max(1, int(limit))
    fit = _available_bytes(job.device) // 2 // max(1, member_bytes(job, batch_size))
    return int(min(MAX_MEMBERS, max(1, fit)))


def chunks(items: Sequence, size: int) -> list[list]:
    """``items`` in ceil(len / size) chunks of near-equal length."""
    n = max(1, math.ceil(len(items) / size))
    bounds = [round(i * len(items) / n) for i in range(n + 1)]
    return [list(items[a:b]) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


# ---------------------------------------------------------------- optimisers
def _per_member(values: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor([float(v) for v in values], device=like.device, dtype=like.dtype)


class StackedOptimizer:
    """Adam, AdamW or SGD (torch's update rules, defaults as torch's) over stacked
    parameters ``[K, ...]``, with a learning rate, weight decay and momentum per member."""

    def __init__(self, kind: str, params: list[torch.Tensor], optim_cfgs: list[dict]):
        self.kind, self.params, self.step_count = kind, params, 0
        first = optim_cfgs[0]
        self.hyper = {k: _per_member([c.get(k, 0.0) for c in optim_cfgs], params[0])
                      for k in ("lr", "weight_decay", "momentum")}
        if kind in ("adam", "adamw"):
            self.beta1, self.beta2 = (float(b) for b in first.get("betas", (0.9, 0.999)))
            self.eps = float(first.get("eps", 1e-8))
            self.state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
        else:
            self.nesterov = bool(first.get("nesterov", False))
            self.state = [None for _ in params]

    def _view(self, name: str, p: torch.Tensor) -> torch.Tensor:
        return self.hyper[name].view(-1, *([1] * (p.dim() - 1)))

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor]) -> None:
        self.step_count += 1
        t = self.step_count
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            lr, wd = self._view("lr", p), self._view("weight_decay", p)
            if self.kind == "sgd":
                g = g + wd * p
                buf = self.state[i]
                buf = g.clone() if buf is None else buf.mul_(self._view("momentum", p)).add_(g)
                self.state[i] = buf
                g = g + self._view("momentum", p) * buf if self.nesterov else buf
                p.sub_(lr * g)
                continue
            if self.kind == "adamw":
                p.mul_(1 - lr * wd)
            else:
                g = g + wd * p
            m, v = self.state[i]
            m.lerp_(g, 1 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
            denom = (v.sqrt() / math.sqrt(1 - self.beta2 ** t)).add_(self.eps)
            p.sub_((lr / (1 - self.beta1 ** t)) * m / denom)

    def keep(self, rows: torch.Tensor) -> None:
        """Drop every member but ``rows`` from the optimiser's state."""
        self.hyper = {k: v[rows] for k, v in self.hyper.items()}
        self.state = [None if s is None else
                      (tuple(x[rows] for x in s) if isinstance(s, tuple) else s[rows])
                      for s in self.state]


# ---------------------------------------------------------------- stacked data
def _unique(tensors: list[torch.Tensor], device: torch.device
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(unique tensors stacked ``[U, ...]`` on ``device``, index of each input ``[K]``):
    members built from the same data seed share one copy of their features."""
    uniq: list[torch.Tensor] = []
    by_print: dict[tuple, list[int]] = {}
    ids = []
    for t in tensors:
        mark = (tuple(t.shape), float(t.double().sum()), float(t.double().square().sum()))
        found = next((j for j in by_print.get(mark, []) if torch.equal(uniq[j], t)), None)
        if found is None:
            found = len(uniq)
            uniq.append(t)
            by_print.setdefault(mark, []).append(found)
        ids.append(found)
    return torch.stack(uniq).to(device), torch.tensor(ids, device=device)


@dataclass
class Split:
    X: torch.Tensor  # [U, n, F] unique feature tensors
    xid: torch.Tensor  # [K] which of them each member reads
    y: torch.Tensor  # [K, n] targets
    inputs_of: str | None = None  # another split with the very same inputs (one forward)

    def keep(self, rows: torch.Tensor) -> None:
        self.xid, self.y = self.xid[rows], self.y[rows]

    def features(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        return self.X[:, start:stop][self.xid]


def stacked_splits(jobs: list[Prepared], device: torch.device) -> dict[str, Split]:
    """The four evaluation splits of every member, as in :func:`harness.train.eval_splits`."""
    out = {}
    for name, twin in (("train", None), ("train_clean", "train"), ("val", None),
                       ("val_corrupted", "val"), ("test", None)):
        if name == "train_clean":
            xs = [j.data.X_train_clean for j in jobs]
            ys = [j.data.y_train_clean for j in jobs]
        elif name == "val_corrupted":
            xs = [j.data.X_val_corrupted for j in jobs]
            ys = [j.data.y_val_corrupted for j in jobs]
        else:
            xs, ys = [j.data.X[name] for j in jobs], [j.data.y[name] for j in jobs]
        y = torch.stack(ys).to(device)
        if twin and all(x is j.data.X[twin] for x, j in zip(xs, jobs, strict=True)):
            out[name] = Split(out[twin].X, out[twin].xid, y, inputs_of=twin)
            continue  # the corruption moved no features: the twin's inputs, one forward
        X, xid = _unique(xs, device)
        out[name] = Split(X, xid, y)
    return out


# ---------------------------------------------------------------- training
def _layer_plan(model: torch.nn.Module) -> list | None:
    """For a stack of linear layers and elementwise activations (``mlp``, ``linear``):
    ``[("linear", weight name, bias name) | ("act", module), ...]``, so the stack runs one
    ``baddbmm`` per layer (measured 20-30% faster than ``vmap`` on CPU); else None."""
    from harness.models import ACTIVATIONS, _Head

    if not isinstance(model, _Head):
        return None
    body = model.body
    layers = [("", body)] if isinstance(body, torch.nn.Linear) else \
        list(body.named_children()) if isinstance(body, torch.nn.Sequential) else None
    if layers is None:
        return None
    plan: list = []
    for name, layer in layers:
        prefix = f"body.{name}." if name else "body."
        if isinstance(layer, torch.nn.Linear) and layer.bias is not None:
            plan.append(("linear", prefix + "weight", prefix + "bias"))
        elif isinstance(layer, tuple(ACTIVATIONS.values())):
            plan.append(("act", layer))
        else:
            return None
    return plan


class Stack:
    """The members' models as stacked parameters ``[K, ...]``: run as batched matmuls
    for linear/MLP models, with ``vmap`` over the model's own forward otherwise."""

    def __init__(self, models: list[torch.nn.Module], device: torch.device):
        params, buffers = stack_module_state(models)
        self.names = list(params)
        self.params = [params[n].detach().to(device).requires_grad_() for n in self.names]
        self.buffers = {k: v.to(device) for k, v in buffers.items()}
        self.plan = _layer_plan(models[0])
        self.squeeze = bool(getattr(models[0], "squeeze", False))
        if self.plan is None:  # vmap over the model's own forward, on a weightless copy
            base = copy.deepcopy(models[0]).to("meta")

            def one(p: dict, b: dict, x: torch.Tensor) -> torch.Tensor:
                return functional_call(base, (p, b), (x,))

            self._forward = vmap(one)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        named = dict(zip(self.names, self.params, strict=True))
        if self.plan is None:
            return self._forward(named, self.buffers, x)
        for step in self.plan:
            if step[0] == "linear":
                weight, bias = named[step[1]], named[step[2]]
                x = torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))
            else:
                x = step[1](x)
        return x.squeeze(-1) if self.squeeze else x

    def keep(self, rows: torch.Tensor) -> None:
        self.params = [p.detach()[rows].requires_grad_() for p in self.params]
        self.buffers = {k: v[rows] for k, v in self.buffers.items()}


class Objective:
    """Each member's loss, members grouped by loss (``loss.id``) so each distinct loss is
    computed once over its members."""

    def __init__(self, jobs: list[Prepared], device: torch.device):
        self.update([j.loss for j in jobs], device)

    def update(self, member_losses: list, device: torch.device) -> None:
        self.member_losses = member_losses
        groups: dict[str, list[int]] = {}
        for i, loss in enumerate(member_losses):
            groups.setdefault(loss.id, []).append(i)
        self.groups = [(member_losses[idx[0]], torch.tensor(idx, device=device))
                       for idx in groups.values()]
        self.whole = len(self.groups) == 1

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``[K]``: every member's reduced loss."""
        if self.whole:
            return self.groups[0][0].stacked(pred, target)
        out = pred.new_empty(target.shape[0])
        for loss, idx in self.groups:
            out[idx] = loss.stacked(pred[idx], target[idx]).to(out.dtype)
        return out

    def keep(self, rows: torch.Tensor, device: torch.device) -> None:
        self.update([self.member_losses[i] for i in rows.tolist()], device)


@torch.no_grad()
def evaluate(stack: Stack, objective: Objective, splits: dict[str, Split],
             mask: torch.Tensor, task: str, n_classes: int | None
             ) -> tuple[list[tuple[str, str]], list[list[float]]]:
    """(keys, values per key per member): the rows :func:`harness.train.evaluate` gives a
    run alone, for every member, in one host sync. Memorisation values are NaN for
    members without corrupted points (their rows are then left out)."""
    keys, values = [], []
    members = mask.shape[0]
    step = max(1, EVAL_ROWS // members)
    preds: dict[str, torch.Tensor] = {}
    for name, s in splits.items():
        n = s.y.shape[1]
        pred = preds[name] = preds[s.inputs_of] if s.inputs_of else torch.cat(
            [stack(s.features(i, i + step)) for i in range(0, n, step)], dim=1)
        keys.append((name, "objective"))
        values.append(objective(pred, s.y))
        keys += [(name, m) for m in M.METRICS[task]]
        values += M.compute(task, pred, s.y, n_classes)
        if name == "train":
            keys += [(name, m) for m in M.MEMORISATION]
            values += M.memorisation(task, pred, s.y, splits["train_clean"].y, mask)
    table = torch.stack([v.float() for v in values]).tolist()  # [keys, members]
    return keys, table


def train_group(jobs: list[Prepared], results: list[FitResult], *, epochs: int,
                batch_size: int, optim_kind: str, optim_cfgs: list[dict],
                progress: bool = False, desc: str = "") -> None:
    """Train ``jobs`` (one shape, see :func:`group_key`) as one stack for ``epochs``,
    appending each member's metric rows to its ``results`` entry as
    :func:`harness.train.fit` would."""
    device = jobs[0].device
    task, n_classes = jobs[0].data.task, jobs[0].data.n_classes
    splits = stacked_splits(jobs, device)
    mask = torch.stack([j.data.corrupted for j in jobs]).to(device)
    corrupted = [bool(j.data.corrupted.any()) for j in jobs]
    stack = Stack([j.model for j in jobs], device)
    objective = Objective(jobs, device)
    opt = StackedOptimizer(optim_kind, stack.params, optim_cfgs)
    gens = [torch.Generator(device=device).manual_seed(j.seeds["shuffle"]) for j in jobs]
    alive = list(range(len(jobs)))  # job index of each row of the stack
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    train_seconds = 0.0

    def record(epoch: int) -> list[int]:
        """Log the epoch's rows for the live members; return the rows that diverged."""
        keys, table = evaluate(stack, objective, splits, mask, task, n_classes)
        objective_rows = [k for k, (_, m) in enumerate(keys) if m == "objective"]
        bad = []
        for row, j in enumerate(alive):
            res = results[j]
            res.rows += [(epoch, s, m, table[k][row]) for k, (s, m) in enumerate(keys)
                         if m not in M.MEMORISATION or corrupted[j]]
            res.rows.append((epoch, "train", "elapsed_s", train_seconds))
            res.epochs_run, res.train_seconds = epoch, train_seconds
            if epoch and not all(math.isfinite(table[k][row]) for k in objective_rows):
                res.status, res.diverged_epoch = "diverged", epoch
                bad.append(row)
        return bad

    record(0)
    n = splits["train"].y.shape[1]
    bar = tqdm(range(1, epochs + 1), desc=desc, unit="epoch", leave=False,
               disable=None if progress else True)
    for epoch in bar:
        t0 = time.perf_counter()
        perm = torch.stack([torch.randperm(n, device=device, generator=g) for g in gens])
        train = splits["train"]
        for start in range(0, n, batch_size):
            rows = perm[:, start:start + batch_size]
            xb = train.X[train.xid.unsqueeze(1), rows]  # [K, B, F]
            yb = train.y.gather(1, rows)
            total = objective(stack(xb), yb).sum()
            opt.step(torch.autograd.grad(total, stack.params))
        sync()
        train_seconds += time.perf_counter() - t0
        bad = record(epoch)
        if bad:  # drop the diverged members; the others go on
            keep = [r for r in range(len(alive)) if r not in bad]
            if not keep:
                break
            idx = torch.tensor(keep, device=device)
            alive = [alive[r] for r in keep]
            gens = [gens[r] for r in keep]
            stack.keep(idx)
            opt.params = stack.params
            opt.keep(idx)
            objective.keep(idx, device)
            mask = mask[idx]
            for s in splits.values():
                s.keep(idx)  # twins share X; each keeps its own member index
        bar.set_postfix({"members": len(alive)}, refresh=False)
    bar.close()


def optim_settings(cfg: DictConfig) -> dict:
    """The optimiser node's keyword arguments (without ``_target_``)."""
    node = OmegaConf.to_container(cfg.optim, resolve=True)
    node.pop("_target_", None)
    return node


# ---------------------------------------------------------------- running many jobs
@dataclass
class Task:
    """One job for :func:`run_stacked`: its composed config (no ``hydra`` node needed),
    group choices, and run folder. ``ref`` is the caller's own handle on it."""

    cfg: DictConfig
    choices: dict[str, str]
    out_dir: str | Path
    ref: Any = None


def plan_groups(tasks: Sequence[Task], min_group: int = 2
                ) -> tuple[list[list[Task]], list[Task]]:
    """(groups to stack, tasks to run alone): tasks with the same :func:`group_key`
    share a group; those that cannot be stacked and groups smaller than ``min_group``
    run alone."""
    from harness.config import flatten

    groups: dict[str, list[Task]] = {}
    alone: list[Task] = []
    for task in tasks:
        try:
            key = group_key(task.cfg, flatten(task.cfg, task.choices))
        except Exception:  # a config the runner will reject: it says why, alone
            key = None
        (alone.append(task) if key is None else groups.setdefault(key, []).append(task))
    stacked = []
    for group in groups.values():
        (stacked.append(group) if len(group) >= max(1, min_group) else alone.extend(group))
    return stacked, alone


def describe(groups: list[list[Task]], alone: list[Task]) -> str:
    """``16 jobs: 2 stacked groups (8+8), 1 run one by one``."""
    total = sum(map(len, groups)) + len(alone)
    sizes = "+".join(str(len(g)) for g in groups) or "0"
    rest = f", {len(alone)} run one by one" if alone else ""
    return f"{total} jobs: {len(groups)} stacked groups ({sizes}){rest}"


def run_group(group: Sequence[Task], on_done: Callable[[Task, dict[str, Any]], None],
              run_alone: Callable[[Task], None], limit: int | None = None,
              log: Callable[[str], None] = print) -> None:
    """Prepare, train (in chunks that fit the device) and write every task of ``group``.

    Each task ends in exactly one of: ``on_done(task, summary)`` after its run folder is
    written (completed, diverged, or failed before training with its one-line error), or
    ``run_alone(task)`` when the stacked training of its chunk raised (a bug or, say, out
    of memory: the ordinary runner then redoes those tasks one by one).
    """
    from harness import run as R
    from harness.errors import USER_ERRORS

    def prepare(task: Task) -> Prepared | None:
        try:
            return R.prepare(task.cfg, task.choices)
        except Exception as err:  # one job's mistake must not take the group down
            if not isinstance(err, USER_ERRORS):
                logger.exception("job %s failed", task.out_dir)
            on_done(task, R.write_failed(task.cfg, task.out_dir, task.choices, err))
            return None

    ready: dict[int, Prepared] = {}
    size = None
    for i, task in enumerate(group):  # the first job that prepares sizes the chunks
        job = prepare(task)
        if job is not None:
            ready[i] = job
            try:
                size = max_members(job, int(job.cfg.trainer.batch_size), limit)
            except Exception:  # the estimate is a forward pass: a bug there is not fatal
                logger.exception("could not size the stack; using chunks of 64 members")
                size = 64
            break
    if size is None:
        return
    todo = [i for i in range(len(group)) if i >= min(ready)]
    parts = chunks(todo, size)
    if len(parts) > 1:
        log(f"group of {len(todo)} split into {len(parts)} chunks of at most {size} members")
    for part in parts:
        for i in part:
            if i not in ready:
                job = prepare(group[i])
                if job is not None:
                    ready[i] = job
        members = [i for i in part if i in ready]
        if members:
            _train_chunk([group[i] for i in members], [ready.pop(i) for i in members],
                         on_done, run_alone)


def _train_chunk(tasks: list[Task], jobs: list[Prepared],
                 on_done: Callable[[Task, dict[str, Any]], None],
                 run_alone: Callable[[Task], None]) -> None:
    from harness import run as R

    results = [FitResult() for _ in jobs]
    first = jobs[0]
    trainer = first.cfg.trainer
    extra = {"stacked_members": len(jobs)}
    try:
        train_group(jobs, results, epochs=int(trainer.epochs),
                    batch_size=int(trainer.batch_size),
                    optim_kind=OPTIMIZERS[str(first.cfg.optim._target_)],
                    optim_cfgs=[optim_settings(j.cfg) for j in jobs],
                    progress=bool(trainer.progress),
                    desc=f"{len(jobs)} stacked runs | {first.data_name}")
    except KeyboardInterrupt:  # keep what was computed, then stop as asked
        for task, job, res in zip(tasks, jobs, results, strict=True):
            job.summary.update(status="interrupted", error="KeyboardInterrupt")
            R.finish(job, res, task.out_dir, extra)
        raise
    except Exception:
        logger.exception("stacked training of %d jobs failed; running them one by one",
                         len(jobs))
        for task in tasks:
            run_alone(task)
        return
    for task, job, res in zip(tasks, jobs, results, strict=True):
        job.summary["status"] = res.status
        try:
            summary = R.finish(job, res, task.out_dir, extra)
        except Exception as err:  # e.g. a folder that cannot be written: this job only
            logger.exception("writing the results of %s failed", task.out_dir)
            try:
                summary = R.write_failed(task.cfg, task.out_dir, task.choices, err)
            except Exception:
                summary = {**job.summary, "status": "failed", "final": {},
                           "error": f"{type(err).__name__}: {err}".splitlines()[0]}
        on_done(task, summary)
