"""Evaluation metrics, the same for every loss of a task so losses are comparable.

Computed with torch on the device, all of one split at once, so an epoch's evaluation
costs one host sync. Definitions follow scikit-learn (the tests compare against it):
regression ``rmse``, ``mae``, ``r2``; classification ``accuracy``, ``macro_f1`` (over the
classes present in the targets or the predictions) and ``log_loss`` (of the model's
sigmoid / softmax probabilities, computed from logits).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

METRICS = {
    "regression": ("rmse", "mae", "r2"),
    "binary": ("accuracy", "macro_f1", "log_loss"),
    "multiclass": ("accuracy", "macro_f1", "log_loss"),
}
# which way is better, for summaries and reports
HIGHER_IS_BETTER = {"rmse": False, "mae": False, "r2": True, "accuracy": True,
                    "macro_f1": True, "log_loss": False, "objective": False}


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
        labels = (pred > 0).long()
        t = target.long()
        return [(labels == t).float().mean(), _macro_f1(labels, t, 2),
                F.binary_cross_entropy_with_logits(pred, target.float())]
    labels = pred.argmax(-1)
    return [(labels == target).float().mean(), _macro_f1(labels, target, n_classes),
            F.cross_entropy(pred, target)]
