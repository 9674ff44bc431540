"""Regression losses: real prediction ``p`` against real target ``y``, residual ``r = p - y``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from losses.params import Param
from losses.registry import register

DELTA = Param("delta", 1.0, "(0, inf)",
              "residual size where the loss turns from quadratic to linear")


@register("mse", task="regression", aliases=("l2",))
def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Mean squared error (L2): :math:`\ell(p, y) = (p - y)^2`.

    The maximum-likelihood loss under Gaussian noise; an outlier's pull grows with its
    residual, so gross outliers dominate the fit.
    Reference: Gauss (1809); ``sklearn.metrics.mean_squared_error``.
    """
    return (pred - target).square()


@register("mae", task="regression", aliases=("l1",))
def mae(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Mean absolute error (L1): :math:`\ell(p, y) = |p - y|`.

    Fits the conditional median; every residual pulls with the same force, so outliers
    cannot dominate. Its gradient does not shrink near the optimum (slow final convergence).
    Reference: Laplace (1774); ``sklearn.metrics.mean_absolute_error``.
    """
    return (pred - target).abs()


@register("huber", task="regression", params=[DELTA])
def huber(pred: torch.Tensor, target: torch.Tensor, *, delta: float) -> torch.Tensor:
    r"""Huber loss: quadratic for small residuals, linear for large ones.

    .. math::
        \ell(r) = \tfrac12 r^2 \text{ if } |r| \le \delta,\quad
        \delta\,(|r| - \tfrac12\delta) \text{ otherwise.}

    Parameters: ``delta`` in (0, inf), default 1.0 (in target units).
    Reference: Huber, "Robust Estimation of a Location Parameter", 1964;
    ``scipy.special.huber``.
    """
    return F.huber_loss(pred, target, reduction="none", delta=delta)  # one fused kernel


@register("pseudo_huber", task="regression", params=[DELTA])
def pseudo_huber(pred: torch.Tensor, target: torch.Tensor, *, delta: float) -> torch.Tensor:
    r"""Pseudo-Huber loss, a smooth Huber: :math:`\delta^2(\sqrt{1 + (r/\delta)^2} - 1)`.

    About :math:`r^2/2` near zero and :math:`\delta |r|` far out; smooth everywhere.
    Parameters: ``delta`` in (0, inf), default 1.0.
    Reference: Charbonnier et al., 1994; Hartley & Zisserman, "Multiple View Geometry",
    2003, A6.8; ``scipy.special.pseudo_huber``.
    """
    # sqrt(1 + a^2) - 1 == a^2 / (sqrt(1 + a^2) + 1): no cancellation for small a, and
    # written as a * (a / ...) so a large a does not overflow a^2
    a = ((pred - target) / delta).abs()
    return delta * delta * a * (a / (torch.hypot(torch.ones_like(a), a) + 1.0))
