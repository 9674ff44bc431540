"""Binary losses: raw score (logit) ``s`` against label ``y`` in {0, 1}.

Margin losses map the label to ``t = 2y - 1`` in {-1, +1} themselves and use the margin
``m = t * s``; nothing else in the harness re-encodes labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from losses.registry import register


def margin(score: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(2y - 1) * s``: positive when the score is on the label's side."""
    return (2.0 * target - 1.0) * score


@register("hinge", task="binary")
def hinge(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Hinge loss of the SVM: :math:`\max(0, 1 - t s)`, :math:`t = 2y - 1`.

    Zero once a point is on the right side with margin 1; not a probability model, so its
    scores need not be calibrated.
    Reference: Cortes & Vapnik, 1995; ``sklearn.metrics.hinge_loss``.
    """
    return (1.0 - margin(pred, target)).clamp_min(0.0)


@register("bce", task="binary", aliases=("log_loss", "sigmoid_ce"))
def bce(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Binary cross-entropy from logits: :math:`-y \log\sigma(s) - (1-y)\log(1-\sigma(s))`.

    Computed stably from the logit as :math:`\log(1 + e^{s}) - y s` (no sigmoid is
    evaluated, so large scores neither overflow nor give ``log(0)``).
    Reference: ``sklearn.metrics.log_loss``; ``torch.nn.BCEWithLogitsLoss``.
    """
    return F.binary_cross_entropy_with_logits(pred, target.to(pred.dtype), reduction="none")
