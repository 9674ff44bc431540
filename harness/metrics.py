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
    both = target * n_classes + pred
    cm = torch.bincount(both, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    tp = cm.diagonal().float()
    support, predicted = cm.sum(1).float(), cm.sum(0).float()
    present = (support + predicted) > 0
    f1 = 2 * tp / (support + predicted).clamp_min(1)
    return f1[present].mean()


def compute(task: str, pred: torch.Tensor, target: torch.Tensor,
            n_classes: int | None = None) -> list[torch.Tensor]:
    """The task's metrics (order of ``METRICS[task]``) as 0-dim tensors."""
    pred = pred.detach()
    if task == "regression":
        err = pred - target
        sse = err.square().sum()
        sst = (target - target.mean()).square().sum()
        return [(sse / err.numel()).sqrt(), err.abs().mean(), 1.0 - sse / sst]
    if task == "binary":
        labels = _labels(task, pred)
        t = target.long()
        return [(labels == t).float().mean(), _macro_f1(labels, t, 2),
                F.binary_cross_entropy_with_logits(pred, target.float())]
    labels = _labels(task, pred)
    return [(labels == target).float().mean(), _macro_f1(labels, target, n_classes),
            F.cross_entropy(pred, target)]


def _labels(task: str, pred: torch.Tensor) -> torch.Tensor:
    return (pred > 0).long() if task == "binary" else pred.argmax(-1)


def memorisation(task: str, pred: torch.Tensor, noisy: torch.Tensor,
                 clean: torch.Tensor) -> list[torch.Tensor]:
    """``[memorised, corrupted_correct]`` as 0-dim tensors, from the predictions on the
    corrupted training points and their corrupted (``noisy``) and ``clean`` targets.

    Empty inputs give NaN (the harness does not log these metrics without corruption).
    """
    pred = pred.detach()
    if task == "regression":
        to_noisy, to_clean = (pred - noisy).abs(), (pred - clean).abs()
        return [(to_noisy < to_clean).float().mean(), (to_clean < to_noisy).float().mean()]
    labels = _labels(task, pred)
    return [(labels == noisy.long()).float().mean(), (labels == clean.long()).float().mean()]
