"""Multiclass losses: logits ``z`` of shape ``[N, C]`` against class indices ``[N]``
(integer) or a probability matrix ``[N, C]`` (float)."""

from __future__ import annotations

import torch

from losses.registry import register


def target_log_prob(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``sum_c q_c log softmax(z)_c``: for indices, the log-probability of the true class."""
    logp = torch.log_softmax(logits, dim=-1)
    if target.is_floating_point():
        # 0 * log(0) counts as 0, so a masked (-inf) logit with no target mass is fine
        return torch.where(target == 0, 0.0, target * logp).sum(dim=-1)
    return logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)


@register("ce", task="multiclass", aliases=("softmax_ce",))
def ce(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Softmax cross-entropy: :math:`-\sum_c q_c \log \mathrm{softmax}(z)_c`.

    With class indices, :math:`q` is one-hot and this is :math:`-\log \mathrm{softmax}(z)_y`.
    Computed through ``log_softmax`` (stable for large logits).
    Reference: ``sklearn.metrics.log_loss``; ``torch.nn.CrossEntropyLoss``.
    """
    return -target_log_prob(pred, target)
