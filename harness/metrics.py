"""Evaluation metrics, the same for every loss of a task so losses are comparable.

Computed with torch on the device, all of one split at once, so an epoch's evaluation
costs one host sync. Definitions follow scikit-learn (the tests compare against it):
regression ``rmse``, ``mae``, ``r2``; classification ``accuracy``, ``macro_f1`` (over the
classes present in the targets or the predictions) and ``log_loss`` (of the model's
sigmoid / softmax probabilities, computed from logits).

Memorisation (:func:`memorisation`), on the corrupted training points only:

- ``memorised``: the fraction of them the model fits to their corrupted (wrong) target;
- ``corrupted_correct``: the fraction it still gets right (their clean target);
- ``pull``: how far, on average, the fit has moved towards the corrupted targets,
  0 = it ignores them, 1 = it fits them.

For classification the fractions are "predicted label == corrupted label" and "== clean
label" (a multiclass point can be neither), and ``pull`` is the mean probability the
model gives the corrupted label. For regression a prediction counts as memorised when it
is nearer the corrupted than the clean target and as correct when it is nearer the clean
one (so the two add up to 1, barring exact ties); with gross outliers a model only
crosses that half-way mark late, so these fractions stay near 0 while the fit is already
bending. ``pull`` sees the bend: for each corrupted point
``(pred - clean) / (noisy - clean)``, the prediction's position on the segment from the
clean (0) to the corrupted (1) target, averaged over the corrupted points (it can leave
[0, 1]: below 0 the model errs away from the outlier, above 1 it overshoots it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where it is used: reports read METRICS without it
    import torch

METRICS = {
    "regression": ("rmse", "mae", "r2"),
    "binary": ("accuracy", "macro_f1", "log_loss"),
    "multiclass": ("accuracy", "macro_f1", "log_loss"),
}
# on the training split, only for runs with corrupted training points
MEMORISATION = ("memorised", "corrupted_correct", "pull")
# which way is better, for summaries and reports
HIGHER_IS_BETTER = {"rmse": False, "mae": False, "r2": True, "accuracy": True,
                    "macro_f1": True, "log_loss": False, "objective": False,
                    "memorised": False, "corrupted_correct": True, "pull": False}


def _macro_f1(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Macro F1 over the last axis, one value per leading index (one confusion matrix per
    stacked run, counted by a single ``bincount``)."""
    import torch

    lead = target.shape[:-1]
    runs = math.prod(lead)
    offset = torch.arange(runs, device=target.device).unsqueeze(1) * (n_classes * n_classes)
    both = offset + (target * n_classes + pred).reshape(runs, -1)
    cm = torch.bincount(both.reshape(-1), minlength=runs * n_classes * n_classes)
    cm = cm.reshape(runs, n_classes, n_classes)
    tp = cm.diagonal(dim1=-2, dim2=-1).float()
    support, predicted = cm.sum(-1).float(), cm.sum(-2).float()
    present = (support + predicted) > 0
    f1 = 2 * tp / (support + predicted).clamp_min(1)
    return ((f1 * present).sum(-1) / present.sum(-1)).reshape(lead)


def compute(task: str, pred: torch.Tensor, target: torch.Tensor,
            n_classes: int | None = None) -> list[torch.Tensor]:
    """The task's metrics (order of ``METRICS[task]``), each reduced over the sample axis.

    ``target`` is ``[..., n]`` and ``pred`` ``[..., n]`` (``[..., n, C]`` logits for
    multiclass): leading axes are independent stacked runs, and each metric has shape
    ``target.shape[:-1]`` (0-dim for one run).
    """
    import torch.nn.functional as F

    pred = pred.detach()
    if task == "regression":
        err = pred - target
        sse = err.square().sum(-1)
        sst = (target - target.mean(-1, keepdim=True)).square().sum(-1)
        return [(sse / err.shape[-1]).sqrt(), err.abs().mean(-1), 1.0 - sse / sst]
    if task == "binary":
        labels = _labels(task, pred)
        t = target.long()
        return [(labels == t).float().mean(-1), _macro_f1(labels, t, 2),
                F.binary_cross_entropy_with_logits(pred, target.float(),
                                                   reduction="none").mean(-1)]
    labels = _labels(task, pred)
    log_loss = F.cross_entropy(pred.reshape(-1, pred.shape[-1]), target.reshape(-1),
                               reduction="none").reshape(target.shape).mean(-1)
    return [(labels == target).float().mean(-1), _macro_f1(labels, target, n_classes),
            log_loss]


def _labels(task: str, pred: torch.Tensor) -> torch.Tensor:
    return (pred > 0).long() if task == "binary" else pred.argmax(-1)


def memorisation(task: str, pred: torch.Tensor, noisy: torch.Tensor, clean: torch.Tensor,
                 mask: torch.Tensor | None = None) -> list[torch.Tensor]:
    """``[memorised, corrupted_correct, pull]`` (the order of :data:`MEMORISATION`), from
    predictions and the corrupted (``noisy``) and ``clean`` targets, reduced over the last
    (sample) axis; see the module docstring for what each means.

    ``pred`` has the targets' shape (``[..., n, C]`` logits for multiclass). Without
    ``mask`` every given point is a corrupted one; with a boolean ``mask`` of the targets'
    shape only its points count (stacked runs corrupt different points). No corrupted
    point gives NaN (the harness does not log these metrics then). A regression point
    whose corrupted target equals its clean one has no direction to be pulled in and is
    left out of ``pull``.

    >>> import torch
    >>> clean, noisy = torch.tensor([0.0, 0.0]), torch.tensor([10.0, -4.0])
    >>> [round(float(v), 3) for v in memorisation("regression", torch.tensor([6.0, -1.0]),
    ...                                           noisy, clean)]
    [0.5, 0.5, 0.425]
    """
    import torch

    pred = pred.detach()
    if mask is None:
        mask = torch.ones(noisy.shape, dtype=torch.bool, device=noisy.device)
    if task == "regression":
        to_noisy, to_clean = (pred - noisy).abs(), (pred - clean).abs()
        fits_noisy, fits_clean = to_noisy < to_clean, to_clean < to_noisy
        gap = noisy - clean
        moved = gap != 0
        position = torch.where(moved, (pred - clean) / torch.where(moved, gap, 1.0), 0.0)
        pull_mask = mask & moved
    else:
        labels = _labels(task, pred)
        fits_noisy, fits_clean = labels == noisy.long(), labels == clean.long()
        if task == "binary":
            p_one = torch.sigmoid(pred.float())
            position = torch.where(noisy.long() == 1, p_one, 1.0 - p_one)
        else:
            probs = torch.softmax(pred.float(), dim=-1)
            position = probs.gather(-1, noisy.long().unsqueeze(-1)).squeeze(-1)
        pull_mask = mask
    count = mask.sum(-1)
    return [(fits_noisy & mask).sum(-1) / count, (fits_clean & mask).sum(-1) / count,
            (position * pull_mask).sum(-1) / pull_mask.sum(-1)]
