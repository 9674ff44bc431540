"""The training loop, readable top to bottom, for one run or many stacked runs.

Everything here works over a leading *member* axis: ``K`` runs trained at once, each with
its own data, model, loss, optimiser state and shuffle order. A run alone is ``K = 1``.
What trains is a :class:`Members` object: :class:`Alone` (one ``nn.Module`` and a torch
optimiser) or :class:`harness.training.stacked.Stacked` (K models as stacked parameters,
one batched matmul per layer, an elementwise optimiser). The loop never knows which.

Data lives on the device as whole tensors (:func:`member_splits`); each epoch draws one
permutation per member and slices mini-batches from the permuted tensors (no DataLoader,
no per-sample Python work). After every epoch (and once before training, epoch 0) every
member is evaluated on every split and the values come back to the host in one sync.
When some training points are corrupted, that evaluation also measures, on the training
split, how the model treats them (:data:`harness.metrics.MEMORISATION`).

A member whose objective is not finite on some split at the end of an epoch is recorded
as diverged at that epoch and dropped; the others go on undisturbed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
from tqdm.auto import tqdm

from harness import metrics as M

EVAL_ROWS = 2 ** 18  # members x rows per evaluation forward pass
EPOCH_GATHER = 2 ** 24  # up to this many elements, an epoch's batches are views of one gather


@dataclass
class FitResult:
    """One member's record: ``rows`` are ``(epoch, split, metric, value)`` in the order
    they were measured; ``train_seconds`` is this member's share of the training time
    (the stack's time per epoch divided by the members trained in it) and
    ``stack_seconds`` the whole stack's time over the same epochs (equal for a run alone)."""

    rows: list[tuple[int, str, str, float]] = field(default_factory=list)
    status: str = "completed"  # or "diverged"
    epochs_run: int = 0
    diverged_epoch: int | None = None
    train_seconds: float = 0.0
    stack_seconds: float = 0.0
    best_epoch: int | None = None  # with early stopping: the epoch its monitor was best
    stopped_epoch: int | None = None  # with early stopping: the epoch it stopped early
    weights: dict | None = None  # parameter name -> CPU tensor, when asked to keep them


# ---------------------------------------------------------------- data
@dataclass
class Split:
    """One split of every member: ``X`` the distinct input tensors ``[U, n, F]``, ``xid``
    which of them each member reads ``[K]``, ``y`` the members' targets ``[K, n]``.
    ``inputs_of`` names another split with the very same inputs (one forward pass)."""

    X: torch.Tensor
    xid: torch.Tensor
    y: torch.Tensor
    inputs_of: str | None = None

    @property
    def direct(self) -> bool:
        """Each member reads its own input tensor, in order: no gather needed."""
        return self.X.shape[0] == self.xid.shape[0] and bool(
            (self.xid == torch.arange(len(self.xid), device=self.xid.device)).all())

    def keep(self, rows: torch.Tensor) -> None:
        self.xid, self.y = self.xid[rows], self.y[rows]

    def features(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """``[K, rows, F]``: each member's inputs, rows ``start:stop``."""
        X = self.X[:, start:stop]
        return X if self._direct else X[self.xid]

    def __post_init__(self) -> None:
        self._direct = self.direct


def _unique(tensors: Sequence[torch.Tensor], device: torch.device
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(distinct tensors stacked ``[U, ...]`` on ``device``, index of each input ``[K]``):
    members built from the same data seed share one copy of their features."""
    if len(tensors) == 1:
        return tensors[0].unsqueeze(0).to(device), torch.zeros(1, dtype=torch.long,
                                                                 device=device)
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


SPLIT_TWINS = (("train", None), ("train_clean", "train"), ("val", None),
               ("val_corrupted", "val"), ("test", None))


def member_splits(datasets: Sequence, device: torch.device) -> dict[str, Split]:
    """The evaluation splits of every member (each a :class:`harness.data.Dataset`):
    ``train`` (what the model trains on: corrupted, if corruption is on), ``train_clean``
    (the clean training targets, and inputs), ``val`` and ``test`` (clean), and
    ``val_corrupted`` (the validation rows corrupted as training is: what model selection
    reads). A split whose inputs are its twin's (the corruption moved no features) shares
    the twin's forward pass."""
    out: dict[str, Split] = {}
    for name, twin in SPLIT_TWINS:
        xs = [d.split(name)[0] for d in datasets]
        y = torch.stack([d.split(name)[1] for d in datasets]).to(device)
        if twin and all(x is d.split(twin)[0] for x, d in zip(xs, datasets, strict=True)):
            out[name] = Split(out[twin].X, out[twin].xid, y, inputs_of=twin)
            continue
        X, xid = _unique(xs, device)
        out[name] = Split(X, xid, y)
    return out


# ---------------------------------------------------------------- what trains
class Members(Protocol):
    """K runs to train: the loop's only view of models, losses and optimisers."""

    def objective(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """The sum over members of each member's loss on its batch (a 0-dim tensor whose
        gradient is each member's own), from inputs ``[K, B, F]`` and targets ``[K, B]``."""

    def step(self, total: torch.Tensor) -> None:
        """Back-propagate ``total`` and update every member's parameters."""

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions ``[K, n]`` (``[K, n, C]``) for inputs ``[K, n, F]``, in eval mode."""

    def losses(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``[K]``: each member's reduced loss."""

    def in_target_units(self, pred: torch.Tensor) -> torch.Tensor:
        """Predictions as the metrics compare them with the targets (each member's loss's
        inverse link: ``exp`` for a log-link loss, else the predictions themselves)."""

    def keep(self, rows: torch.Tensor) -> None:
        """Drop every member but ``rows``."""

    def weights(self, row: int) -> dict[str, torch.Tensor]:
        """Member ``row``'s parameters and buffers by their ``nn.Module`` names, copied
        to the CPU."""


class Alone:
    """One run: an ``nn.Module``, its loss and a torch optimiser (``K = 1``). Its forward
    pass, loss and update are exactly those of a hand-written loop (the member axis is a
    view)."""

    def __init__(self, model: torch.nn.Module, loss, optimizer: torch.optim.Optimizer):
        from harness.training import eager

        self.model, self.loss, self.optimizer = model, loss, optimizer
        if optimizer is not None:  # (None: a model that is only evaluated)
            # the optimiser's step and zero_grad without importing torch._dynamo (eager.py)
            self._step = eager.stepper(optimizer)
            self._zero = eager.zero_grad([p for g in optimizer.param_groups
                                          for p in g["params"]])

    def objective(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return self.loss(self.model(xb[0]), yb[0])

    def step(self, total: torch.Tensor) -> None:
        self._zero()
        total.backward()
        self._step()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        was_training = self.model.training
        self.model.eval()
        try:
            return self.model(x[0]).unsqueeze(0)
        finally:
            self.model.train(was_training)

    def losses(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss(pred[0], y[0]).reshape(1)

    def in_target_units(self, pred: torch.Tensor) -> torch.Tensor:
        return self.loss.inverse_link(pred)

    def weights(self, row: int) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def keep(self, rows: torch.Tensor) -> None:
        if len(rows) != 1:
            raise ValueError("a run alone cannot drop its only member and go on")


# ---------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(members: Members, splits: dict[str, Split], mask: torch.Tensor, task: str,
             n_classes: int | None) -> tuple[list[tuple[str, str]], list[list[float]]]:
    """(keys, values per key per member): the objective and the task's metrics on every
    split, and on ``train`` the memorisation metrics over each member's corrupted points
    (``mask`` ``[K, n_train]``; NaN for a member without any), in one host sync."""
    keys: list[tuple[str, str]] = []
    values: list[torch.Tensor] = []
    step = max(1, EVAL_ROWS // max(1, mask.shape[0]))
    preds: dict[str, torch.Tensor] = {}
    for name, s in splits.items():
        n = s.y.shape[1]
        if s.inputs_of:
            pred = preds[s.inputs_of]
        elif n <= step:
            pred = members.predict(s.features())
        else:
            pred = torch.cat([members.predict(s.features(i, i + step))
                              for i in range(0, n, step)], dim=1)
        preds[name] = pred
        keys.append((name, "objective"))
        values.append(members.losses(pred, s.y))
        shown = members.in_target_units(pred)  # what metrics compare with the targets
        keys += [(name, m) for m in M.METRICS[task]]
        values += M.compute(task, shown, s.y, n_classes)
        if name == "train":
            keys += [(name, m) for m in M.MEMORISATION]
            values += M.memorisation(task, shown, s.y, splits["train_clean"].y, mask)
    table = torch.stack([v.float().reshape(-1) for v in values]).tolist()  # [keys, members]
    return keys, table


# ---------------------------------------------------------------- the loop
@dataclass(frozen=True)
class EarlyStop:
    """Early stopping (``trainer.early_stopping``): a member stops when ``monitor`` on
    the corrupted validation split (never a clean one) has not improved by more than
    ``min_delta`` for ``patience`` epochs; its best epoch is recorded, and with
    ``restore_best`` it is the epoch its results (and weights) are reported at."""

    patience: int
    min_delta: float = 0.0
    monitor: str = "objective"
    higher: bool = False  # whether a larger monitor value is better
    restore_best: bool = True
    split: str = "val_corrupted"

    def better(self, value: float, best: float) -> bool:
        if not math.isfinite(value):
            return False
        if not math.isfinite(best):
            return True
        return value > best + self.min_delta if self.higher else value < best - self.min_delta


def fit(members: Members, splits: dict[str, Split], results: Sequence[FitResult], *,
        task: str, n_classes: int | None, corrupted: torch.Tensor,
        generators: Sequence[torch.Generator], epochs: int, batch_size: int,
        progress: bool = False, desc: str = "", stop: EarlyStop | None = None,
        keep_weights: bool = False) -> None:
    """Train ``members`` for ``epochs``, appending each member's metric rows to its
    ``results`` entry as they come (a caller that keeps ``results`` keeps them if
    training raises).

    ``corrupted`` ``[K, n_train]`` marks each member's corrupted training points;
    ``generators`` are the members' shuffle generators (one permutation per epoch each).
    A member stops, ``status="diverged"``, at the first epoch whose objective is not
    finite on some split (training, or a prediction that overflowed on held-out data);
    its rows up to and including that epoch are kept. With ``stop`` a member also stops
    when its corrupted validation split stops improving (:class:`EarlyStop`; the others
    go on). ``keep_weights``: each result gets its member's weights (CPU tensors by
    parameter name) at its reported epoch (the best one when ``stop.restore_best``).
    """
    device = corrupted.device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    has_corruption = corrupted.any(dim=1).tolist()
    alive = list(range(len(results)))  # result index of each member still training
    gens = list(generators)
    mask = corrupted
    first = M.METRICS[task][0]
    best = [math.nan] * len(results)
    since = [0] * len(results)  # epochs since a member's last improvement
    snapshot = keep_weights and stop is not None and stop.restore_best

    def record(epoch: int) -> list[int]:
        """Log the epoch's rows for the live members; return the rows that stop now
        (diverged, or no longer improving)."""
        keys, table = evaluate(members, splits, mask, task, n_classes)
        objective = [k for k, (_, m) in enumerate(keys) if m == "objective"]
        watched = keys.index((stop.split, stop.monitor)) if stop else None
        ended = []
        for row, j in enumerate(alive):
            res = results[j]
            res.rows += [(epoch, s, m, table[k][row]) for k, (s, m) in enumerate(keys)
                         if m not in M.MEMORISATION or has_corruption[j]]
            res.rows.append((epoch, "train", "elapsed_s", res.train_seconds))
            if epoch:
                res.epochs_run = epoch
                if not all(math.isfinite(table[k][row]) for k in objective):
                    res.status, res.diverged_epoch = "diverged", epoch
                    ended.append(row)
                    continue
            if stop is None:
                continue
            if stop.better(table[watched][row], best[j]):
                best[j], res.best_epoch, since[j] = table[watched][row], epoch, 0
                if snapshot:
                    res.weights = members.weights(row)
            elif epoch:
                since[j] += 1
                if since[j] >= stop.patience:
                    res.stopped_epoch = epoch
                    ended.append(row)
        if len(alive) == 1:
            value = table[keys.index(("val", first))][0]
            bar.set_postfix({f"val_{first}": f"{value:.4g}"}, refresh=False)
        else:
            bar.set_postfix({"members": len(alive) - len(ended)}, refresh=False)
        return ended

    def finish(rows: list[int]) -> None:
        """Keep the last weights of the members at ``rows`` (unless a best was kept)."""
        for row in rows:
            res = results[alive[row]]
            if keep_weights and not (snapshot and res.weights is not None):
                res.weights = members.weights(row)

    bar = tqdm(range(1, epochs + 1), desc=desc, unit="epoch", leave=False,
               disable=None if progress else True)  # None: quiet when not a TTY
    record(0)
    train = splits["train"]
    n = train.y.shape[1]
    for epoch in bar:
        t0 = time.perf_counter()
        perm = torch.stack([torch.randperm(n, device=device, generator=g) for g in gens])
        if len(alive) * n * train.X.shape[-1] <= EPOCH_GATHER:  # one gather; batches are views
            Xp, yp = train.X[train.xid.unsqueeze(1), perm], train.y.gather(1, perm)
            batches = ((Xp[:, i:i + batch_size], yp[:, i:i + batch_size])
                       for i in range(0, n, batch_size))
        else:  # a large stack: gather each batch
            batches = ((train.X[train.xid.unsqueeze(1), perm[:, i:i + batch_size]],
                        train.y.gather(1, perm[:, i:i + batch_size]))
                       for i in range(0, n, batch_size))
        for xb, yb in batches:
            members.step(members.objective(xb, yb))
        sync()
        elapsed = time.perf_counter() - t0
        for j in alive:
            results[j].train_seconds += elapsed / len(alive)
            results[j].stack_seconds += elapsed
        ended = record(epoch)
        if ended:  # drop the members that stopped; the others go on
            finish(ended)
            keep = [r for r in range(len(alive)) if r not in ended]
            if not keep:
                alive = []
                break
            rows = torch.tensor(keep, device=device)
            alive, gens = [alive[r] for r in keep], [gens[r] for r in keep]
            members.keep(rows)
            mask = mask[rows]
            for s in splits.values():
                s.keep(rows)  # twins share X; each keeps its own member index
                s._direct = s.direct
    finish(list(range(len(alive))))
    bar.close()
