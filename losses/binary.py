"""Binary losses: raw score (logit) ``s`` against label ``y`` in {0, 1}.

Margin losses map the label to ``t = 2y - 1`` in {-1, +1} themselves and use the margin
``m = t * s``; nothing else in the harness re-encodes labels.
"""

from __future__ import annotations

from losses._lazy import lazy_import
from losses._math import exp_tail
from losses.params import Param
from losses.registry import When, register

torch = lazy_import(globals(), "torch")
F = lazy_import(globals(), "torch.nn.functional", as_="F")


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


def _bce_mean(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(pred, target.to(pred.dtype))


@register("bce", task="binary", aliases=("log_loss", "sigmoid_ce"), fused_mean=_bce_mean)
def bce(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Binary cross-entropy from logits: :math:`-y \log\sigma(s) - (1-y)\log(1-\sigma(s))`.

    Computed stably from the logit as :math:`\log(1 + e^{s}) - y s` (no sigmoid is
    evaluated, so large scores neither overflow nor give ``log(0)``).
    Reference: ``sklearn.metrics.log_loss``; ``torch.nn.BCEWithLogitsLoss``.

    >>> import losses, torch
    >>> round(float(losses.get("bce")(torch.tensor([0.0]), torch.tensor([1.0]))), 6)  # log 2
    0.693147
    """
    return F.binary_cross_entropy_with_logits(pred, target.to(pred.dtype), reduction="none")


@register("squared_hinge", task="binary")
def squared_hinge(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Squared hinge loss (L2-SVM): :math:`\max(0, 1 - t s)^2`, :math:`t = 2y - 1`.

    Differentiable everywhere (unlike hinge); punishes large violations quadratically, so
    it is less robust to mislabelled points.
    Reference: Mangasarian & Musicant, 2001; ``sklearn.svm.LinearSVC`` (its default loss).
    """
    return (1.0 - margin(pred, target)).clamp_min(0.0).square()


@register("focal", task="binary",
          params=[Param("gamma", 2.0, "[0, inf)",
                        "focusing: down-weights well-classified points by (1 - p_t)^gamma"),
                  Param("alpha", 0.25, "[0, 1]",
                        "weight of the positive class (1 - alpha for the negative)")])
def focal(pred: torch.Tensor, target: torch.Tensor, *, gamma: float,
          alpha: float) -> torch.Tensor:
    r"""Binary focal loss: :math:`-\alpha_t (1 - p_t)^\gamma \log p_t`.

    :math:`p_t = \sigma(t s)` is the probability given to the true label and
    :math:`\alpha_t = \alpha` for :math:`y = 1`, :math:`1 - \alpha` for :math:`y = 0`.
    gamma = 0, alpha = 0.5 is half of ``bce``. The defaults are the paper's (tuned for
    dense detection, where negatives dominate); on balanced data alpha = 0.5 weighs both
    classes alike. Computed from the logit: :math:`(1 - p_t)^\gamma =
    \exp(-\gamma\,\mathrm{softplus}(t s))` and :math:`-\log p_t` is ``bce``, so large
    scores neither overflow nor give NaN gradients.
    Reference: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017;
    ``torchvision.ops.sigmoid_focal_loss``.
    """
    y = target.to(pred.dtype)
    ce = F.binary_cross_entropy_with_logits(pred, y, reduction="none")
    modulating = torch.exp(-gamma * F.softplus(margin(pred, y)))
    alpha_t = (1.0 - alpha) + (2.0 * alpha - 1.0) * y
    return alpha_t * modulating * ce


@register("modified_huber", task="binary")
def modified_huber(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Modified Huber loss: :math:`\max(0, 1 - m)^2` for :math:`m \ge -1`, else :math:`-4m`.

    :math:`m = t s`. A squared hinge that turns linear for badly misclassified points
    (continuous first derivative at m = -1), so it is smooth and tolerant of outliers;
    :math:`(s + 1)/2`, clipped to [0, 1], estimates :math:`P(y = 1)`.
    Reference: Zhang, "Solving Large Scale Linear Prediction Problems Using Stochastic
    Gradient Descent Algorithms", ICML 2004; ``sklearn.linear_model.SGDClassifier``.
    """
    m = margin(pred, target)
    return torch.where(m >= -1.0, (1.0 - m).clamp_min(0.0).square(), -4.0 * m)


@register("exponential", task="binary")
def exponential(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Exponential loss of AdaBoost: :math:`e^{-m}`, :math:`m = t s`.

    Punishes misclassification exponentially, so it is very sensitive to label noise.
    :math:`e^{-m}` overflows float32 beyond m = -88 (and float64 beyond -709), so below
    m = -50 the loss continues along its tangent: :math:`e^{50}(1 - 50 - m)`. Values
    and gradients stay finite; a margin of -50 means training has already gone wrong.
    Reference: Freund & Schapire, 1997; Friedman, Hastie & Tibshirani, "Additive Logistic
    Regression", 2000; ``sklearn.ensemble.GradientBoostingClassifier(loss="exponential")``.
    """
    return exp_tail(-margin(pred, target))


@register("smooth_hinge", task="binary",
          params=[Param("gamma", 1.0, "(0, inf)",
                        "width of the quadratic piece below margin 1")])
def smooth_hinge(pred: torch.Tensor, target: torch.Tensor, *, gamma: float) -> torch.Tensor:
    r"""Smoothed hinge loss: the hinge with its kink at margin 1 rounded off.

    .. math::
        \ell(m) = 0 \text{ if } m \ge 1,\quad \frac{(1 - m)^2}{2\gamma}
        \text{ if } 1 - \gamma < m < 1,\quad 1 - m - \frac{\gamma}{2} \text{ otherwise.}

    :math:`m = t s`. This is :math:`\mathrm{huber}_\gamma(\max(0, 1 - m))/\gamma`: as
    gamma -> 0 it becomes the hinge; gamma = 1 is Rennie & Srebro's smooth hinge.
    Reference: Rennie & Srebro, "Loss Functions for Preference Levels", 2005;
    Shalev-Shwartz & Zhang, "Stochastic Dual Coordinate Ascent Methods", JMLR 2013.
    """
    u = (1.0 - margin(pred, target)).clamp_min(0.0)
    k = u.clamp_max(gamma)
    return k * (u - 0.5 * k) / gamma


@register("ramp", task="binary", bounded=True,
          symmetric=When("s = -1", lambda p: p["s"] == -1.0),
          params=[Param("s", -1.0, "(-inf, 1)",
                        "margin below which the loss stops growing (its cap is 1 - s)")])
def ramp(pred: torch.Tensor, target: torch.Tensor, *, s: float) -> torch.Tensor:
    r"""Ramp loss: the hinge capped at :math:`1 - s`: :math:`\min(1 - s, \max(0, 1 - m))`.

    :math:`m = t s_{\text{score}}`, :math:`t = 2y - 1`; this is
    :math:`H_1(m) - H_s(m)` with :math:`H_a(m) = \max(0, a - m)`. A margin below s
    (a point far on the wrong side, e.g. a flipped label) adds a constant and no
    gradient. Bounded by 1 - s; at s = -1 it is symmetric (:math:`\ell(m) + \ell(-m) = 2`),
    hence robust to symmetric label noise. Non-convex.
    Reference: Collobert, Sinz, Weston & Bottou, "Trading Convexity for Scalability",
    ICML 2006 (s = -1 there); Brooks, "Support Vector Machines with the Ramp Loss and the
    Hard Margin Loss", Operations Research 2011.

    >>> import losses, torch
    >>> losses.get("ramp")(torch.tensor([0.5, -3.0]), torch.tensor([1.0, 1.0]))
    tensor(1.2500)
    """
    return (1.0 - margin(pred, target)).clamp(min=0.0, max=1.0 - s)


@register("savage", task="binary", bounded=True)
def savage(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Savage loss: :math:`\left(1 + e^{2m}\right)^{-2} = \sigma(-2m)^2`, :math:`m = t s`.

    A non-convex, bounded (by 1) margin loss whose gradient vanishes for large negative
    margins, so points far on the wrong side (outliers, flipped labels) lose their pull;
    derived from the probability-elicitation view of losses with the link
    :math:`\tfrac12 \log(\eta / (1 - \eta))`. Computed with the sigmoid (stable for
    scores of any size).
    Reference: Masnadi-Shirazi & Vasconcelos, "On the Design of Loss Functions for
    Classification: theory, robustness to outliers, and SavageBoost", NeurIPS 2008.

    >>> import losses, torch
    >>> losses.get("savage")(torch.tensor([0.0]), torch.tensor([1.0]))
    tensor(0.2500)
    """
    return torch.sigmoid(-2.0 * margin(pred, target)).square()
