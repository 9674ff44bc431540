"""Evaluation metrics, the same for every loss of a task so losses are comparable.

Computed with torch on the device, all of one split at once, so an epoch's evaluation
costs one host sync. Definitions follow scikit-learn (the tests compare against it):
regression ``rmse``, ``mae``, ``r2``; classification ``accuracy``, ``macro_f1`` (over the
classes present in the targets or the predictions) and ``log_loss`` (of the model's
sigmoid / softmax probabilities, computed from logits).

Memorisation (:func:`memorisation`), on the corrupted training points only, as fractions
of them: ``memorised`` counts the points the model fits to their corrupted (wrong)
target, ``corrupted_correct`` those it still gets right (their clean target). For
classification these are "predicted label == corrupted label" and "== clean label" (a
multiclass point can be neither). For regression, a prediction counts as memorised when
it is nearer the corrupted than the clean target, and as correct when it is nearer the
clean one (so the two add up to 1, barring exact ties).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

METRICS = {
    "regression": ("rmse", "mae", "r2"),
    "binary": ("accuracy", "macro_f1", "log_loss"),
    "multiclass": ("accuracy", "macro_f1", "log_loss"),
}
# on the training split, only for runs with corrupted training points
MEMORISATION = ("memorised", "corrupted_correct")
# which way is better, for summaries and reports
HIGHER_IS_BETTER = {"rmse": False, "mae": False, "r2": True, "accuracy": True,
                    "macro_f1": True, "log_loss": False, "objective": False,
                    "memorised": False, "corrupted_correct": True}


def _macro_f1(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Macro F1 over the last axis, one value per leading index (one confusion matrix per
    stacked run, counted by a single ``bincount``)."""
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
    """``[memorised, corrupted_correct]``, from predictions and the corrupted (``noisy``)
    and ``clean`` targets, reduced over the last (sample) axis.

    Without ``mask`` every given point is a corrupted one; with a boolean ``mask`` of the
    targets' shape only its points count (stacked runs corrupt different points). No
    corrupted point gives NaN (the harness does not log these metrics then).
    """
    pred = pred.detach()
    if task == "regression":
        to_noisy, to_clean = (pred - noisy).abs(), (pred - clean).abs()
        fits_noisy, fits_clean = to_noisy < to_clean, to_clean < to_noisy
    else:
        labels = _labels(task, pred)
        fits_noisy, fits_clean = labels == noisy.long(), labels == clean.long()
    if mask is None:
        return [fits_noisy.float().mean(-1), fits_clean.float().mean(-1)]
    count = mask.sum(-1)
    return [(fits_noisy & mask).sum(-1) / count, (fits_clean & mask).sum(-1) / count]
