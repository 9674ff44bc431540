"""The training loop, readable top to bottom.

Data lives on the device as whole tensors; each epoch draws one permutation and slices
contiguous mini-batches from the permuted tensors (no DataLoader, no per-sample Python
work). After every epoch (and once before training, epoch 0) the model is evaluated on
every split in one pass per split, and the values come back to the host in one sync.
When some training points are corrupted, that evaluation also measures, on the training
split, how many of them the model fits to their corrupted target (``memorised``) and how
many it still gets right (``corrupted_correct``); see :func:`harness.metrics.memorisation`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from harness import metrics as M
from harness.data import Dataset
from losses import Loss

EVAL_CHUNK = 65536  # rows per forward pass when evaluating a large split


@dataclass
class FitResult:
    # (epoch, split, metric, value), in the order they were measured
    rows: list[tuple[int, str, str, float]] = field(default_factory=list)
    status: str = "completed"  # or "diverged"
    epochs_run: int = 0
    diverged_epoch: int | None = None
    train_seconds: float = 0.0


def eval_splits(data: Dataset,
                device: torch.device) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Split name -> (X, y) on the device. ``train`` has what the model trains on
    (corrupted, if corruption is on); ``train_clean`` the clean training inputs and targets
    (the same input tensor unless the corruption moved features); ``val`` and ``test`` are
    clean; ``val_corrupted`` is the validation rows corrupted as training is (what model
    selection reads)."""
    X_train = data.X["train"].to(device)
    X_clean = X_train if data.X_train_clean is data.X["train"] else data.X_train_clean.to(device)
    X_val = data.X["val"].to(device)
    X_val_c = X_val if data.X_val_corrupted is data.X["val"] else data.X_val_corrupted.to(device)
    return {"train": (X_train, data.y["train"].to(device)),
            "train_clean": (X_clean, data.y_train_clean.to(device)),
            "val": (X_val, data.y["val"].to(device)),
            "val_corrupted": (X_val_c, data.y_val_corrupted.to(device)),
            "test": (data.X["test"].to(device), data.y["test"].to(device))}


def corrupted_targets(data: Dataset, device: torch.device
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """(rows, corrupted targets, clean targets) of the corrupted training points, on the
    device; None when nothing is corrupted."""
    rows = data.corrupted.nonzero().squeeze(1)
    if len(rows) == 0:
        return None
    return (rows.to(device), data.y["train"][rows].to(device),
            data.y_train_clean[rows].to(device))


@torch.no_grad()
def evaluate(model: torch.nn.Module, loss: Loss, splits: dict, task: str,
             n_classes: int | None,
             corrupted: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
             ) -> dict[tuple[str, str], float]:
    """(split, metric) -> value, for the objective and the task's metrics, plus the
    memorisation metrics on ``train`` when ``corrupted`` (see :func:`corrupted_targets`)
    is given."""
    was_training = model.training
    model.eval()
    keys, values = [], []
    preds: dict[int, torch.Tensor] = {}  # splits sharing their inputs share one forward pass
    for name, (X, y) in splits.items():
        if id(X) not in preds:
            preds[id(X)] = torch.cat([model(X[i:i + EVAL_CHUNK])
                                      for i in range(0, len(X), EVAL_CHUNK)])
        pred = preds[id(X)]
        keys.append((name, "objective"))
        values.append(loss(pred, y))
        keys += [(name, m) for m in M.METRICS[task]]
        values += M.compute(task, pred, y, n_classes)
        if name == "train" and corrupted is not None:
            rows, noisy, clean = corrupted
            keys += [(name, m) for m in M.MEMORISATION]
            values += M.memorisation(task, pred[rows], noisy, clean)
    model.train(was_training)
    return dict(zip(keys, torch.stack(values).float().tolist(), strict=True))


def fit(model: torch.nn.Module, loss: Loss, optimizer: torch.optim.Optimizer, data: Dataset,
        device: torch.device, *, epochs: int, batch_size: int, shuffle_seed: int,
        progress: bool = True, desc: str = "", result: FitResult | None = None) -> FitResult:
    """Train ``model`` for ``epochs`` and return every epoch's metric rows.

    Stops early, with ``status="diverged"``, at the first epoch whose objective is not
    finite on some split (training, or a prediction that overflowed on held-out data);
    the rows up to and including that epoch are kept. Rows are appended to ``result`` as
    they come, so a caller that passes one keeps them if training raises.
    """
    splits = eval_splits(data, device)
    corrupted = corrupted_targets(data, device)
    X, y = splits["train"]
    n = len(X)
    gen = torch.Generator(device=device).manual_seed(shuffle_seed)
    result = FitResult() if result is None else result
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def record(epoch: int) -> dict[tuple[str, str], float]:
        values = evaluate(model, loss, splits, data.task, data.n_classes, corrupted)
        result.rows += [(epoch, s, m, v) for (s, m), v in values.items()]
        result.rows.append((epoch, "train", "elapsed_s", result.train_seconds))
        return values

    record(0)
    bar = tqdm(range(1, epochs + 1), desc=desc, unit="epoch", leave=False,
               disable=None if progress else True)  # None: quiet when not a TTY
    model.train()
    for epoch in bar:
        t0 = time.perf_counter()
        perm = torch.randperm(n, device=device, generator=gen)
        Xp, yp = X[perm], y[perm]  # one gather per epoch; batches below are views
        for start in range(0, n, batch_size):
            out = loss(model(Xp[start:start + batch_size]), yp[start:start + batch_size])
            optimizer.zero_grad(set_to_none=True)
            out.backward()
            optimizer.step()
        sync()
        result.train_seconds += time.perf_counter() - t0
        values = record(epoch)
        result.epochs_run = epoch
        if not all(math.isfinite(v) for (_, m), v in values.items() if m == "objective"):
            result.status, result.diverged_epoch = "diverged", epoch
            break
        first = M.METRICS[data.task][0]
        bar.set_postfix({f"val_{first}": f"{values[('val', first)]:.4g}"}, refresh=False)
    bar.close()
    return result
