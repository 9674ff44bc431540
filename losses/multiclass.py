r"""Multiclass losses: logits ``z`` of shape ``[N, C]`` against class indices ``[N]``
(integer) or a probability matrix ``[N, C]`` (float).

Notation: :math:`p = \mathrm{softmax}(z)`, :math:`t` the target distribution (one-hot
for a class index :math:`y`), :math:`p_t = \sum_c t_c p_c` (:math:`p_y` for an index).
Every loss works from ``log_softmax`` (stable for logits of any size), and takes the fast
path of one gather or one fused torch op when the target is a class index. With a
probability target, a loss uses its docstring's formula with t in place of the one-hot
(``sparse_ce`` and ``multiclass_hinge`` take class indices only).
"""

from __future__ import annotations

import math

from losses._lazy import lazy_import
from losses.params import Param
from losses.registry import When, register

torch = lazy_import(globals(), "torch")
F = lazy_import(globals(), "torch.nn.functional", as_="F")

SMOOTHING = Param("smoothing", 0.0, "[0, 1)",
                  "label smoothing: the target is (1 - smoothing) * t + smoothing / C")
RCE_LOG_ZERO = -4.0  # Wang et al.'s A = log(0) of the reverse cross-entropy


def target_log_prob(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``sum_c q_c log softmax(z)_c``: for indices, the log-probability of the true class."""
    logp = torch.log_softmax(logits, dim=-1)
    if target.is_floating_point():
        return weighted_sum(target, logp)
    return logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)


def weighted_sum(target: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``sum_c t_c v_c``, where 0 * v counts as 0 even for v = -inf (a masked logit)."""
    return torch.where(target == 0, 0.0, target * values).sum(dim=-1)


def _gather(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return values.gather(-1, index.unsqueeze(-1)).squeeze(-1)


def _flat_class_loss(fn, pred: torch.Tensor, target: torch.Tensor, reduction: str = "none",
                     **kw) -> torch.Tensor:
    """A torch loss that wants ``[M, C]`` logits and ``[M]`` (or ``[M, C]``) targets,
    applied to any leading dimensions; per sample, or the mean with ``reduction="mean"``."""
    c = pred.shape[-1]
    flat_target = target.reshape(-1, c) if target.is_floating_point() else target.reshape(-1)
    out = fn(pred.reshape(-1, c), flat_target, reduction=reduction, **kw)
    return out if reduction == "mean" else out.reshape(pred.shape[:-1])


def smoothed(target: torch.Tensor, n_classes: int, smoothing: float) -> torch.Tensor:
    """A probability target mixed with the uniform distribution."""
    return target if smoothing == 0.0 else (1.0 - smoothing) * target + smoothing / n_classes


def smoothed_entropy(n_classes: int, smoothing: float) -> float:
    """Entropy of a one-hot target after label smoothing (0 at smoothing 0)."""
    if smoothing == 0.0:
        return 0.0
    off = smoothing / n_classes
    on = 1.0 - smoothing + off
    return -(on * math.log(on) + (n_classes - 1) * off * math.log(off))


def _ce(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -target_log_prob(pred, target)


def _ce_mean(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy: torch's fused kernel on class indices (the training path)."""
    if target.is_floating_point():
        return _ce(pred, target).mean()
    return _flat_class_loss(F.cross_entropy, pred, target, reduction="mean")


@register("ce", task="multiclass", aliases=("softmax_ce",),
          fused_mean=_ce_mean)
def ce(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Softmax cross-entropy: :math:`-\sum_c t_c \log \mathrm{softmax}(z)_c`.

    With class indices, :math:`t` is one-hot and this is :math:`-\log \mathrm{softmax}(z)_y`.
    Computed through ``log_softmax`` (stable for large logits); the mean over class
    indices by torch's fused ``cross_entropy``.
    Reference: ``sklearn.metrics.log_loss``; ``torch.nn.CrossEntropyLoss``.
    """
    return _ce(pred, target)


@register("sparse_ce", task="multiclass", soft_targets=False,
          fused_mean=_ce_mean)
def sparse_ce(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Sparse softmax cross-entropy: :math:`-\log \mathrm{softmax}(z)_y` for a class index y.

    The same numbers as ``ce`` on class indices, from torch's fused ``cross_entropy``;
    a probability target is an error (use ``ce``), as in Keras'
    ``SparseCategoricalCrossentropy``.
    Reference: ``torch.nn.functional.cross_entropy``; ``sklearn.metrics.log_loss``.
    """
    return _flat_class_loss(F.cross_entropy, pred, target)


@register("kl", task="multiclass", params=[SMOOTHING])
def kl(pred: torch.Tensor, target: torch.Tensor, *, smoothing: float) -> torch.Tensor:
    r"""Kullback-Leibler divergence: :math:`\sum_c t_c (\log t_c - \log p_c)`.

    This is :math:`\mathrm{KL}(t \,\|\, p)`, the target :math:`t` being the given
    distribution (or the one-hot of the class index) after label smoothing. KL is
    cross-entropy minus the target's entropy, so it has the same gradients as
    ``label_smoothing_ce`` and is 0 exactly when the prediction matches the target; at
    smoothing 0 with class indices it equals ``ce``.
    Reference: Kullback & Leibler, 1951; ``torch.nn.KLDivLoss``; ``scipy.special.rel_entr``.
    """
    # cross-entropy minus entropy; the clamp removes the rounding error below 0 at a match
    c = pred.shape[-1]
    if not target.is_floating_point():
        return (_flat_class_loss(F.cross_entropy, pred, target, label_smoothing=smoothing)
                - smoothed_entropy(c, smoothing)).clamp_min(0.0)
    t = smoothed(target, c, smoothing)
    logp = torch.log_softmax(pred, dim=-1)
    return (torch.xlogy(t, t).sum(dim=-1) - weighted_sum(t, logp)).clamp_min(0.0)


def _smoothed_soft_ce(pred: torch.Tensor, target: torch.Tensor, *,
                      smoothing: float) -> torch.Tensor:
    t = smoothed(target, pred.shape[-1], smoothing)
    return -weighted_sum(t, torch.log_softmax(pred, dim=-1))


def _label_smoothing_mean(pred: torch.Tensor, target: torch.Tensor, *,
                          smoothing: float) -> torch.Tensor:
    if target.is_floating_point():
        return _smoothed_soft_ce(pred, target, smoothing=smoothing).mean()
    return _flat_class_loss(F.cross_entropy, pred, target, reduction="mean",
                            label_smoothing=smoothing)


@register("label_smoothing_ce", task="multiclass",
          params=[Param("smoothing", 0.1, "[0, 1)", SMOOTHING.doc)],
          fused_mean=_label_smoothing_mean)
def label_smoothing_ce(pred: torch.Tensor, target: torch.Tensor, *,
                       smoothing: float) -> torch.Tensor:
    r"""Cross-entropy with label smoothing: :math:`-\sum_c \tilde t_c \log p_c`.

    :math:`\tilde t = (1 - \epsilon)\,t + \epsilon / C` (epsilon is ``smoothing``). Keeps
    the logits from growing without bound on clean labels and softens the pull of wrong
    ones. Its minimum is the entropy of :math:`\tilde t`, not 0 (``kl`` is the same
    loss shifted to 0). smoothing = 0 is ``ce``.
    Reference: Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016;
    ``torch.nn.functional.cross_entropy(label_smoothing=...)``.
    """
    if not target.is_floating_point():
        return _flat_class_loss(F.cross_entropy, pred, target, label_smoothing=smoothing)
    return _smoothed_soft_ce(pred, target, smoothing=smoothing)


@register("focal_ce", task="multiclass",
          params=[Param("gamma", 2.0, "[0, inf)",
                        "focusing: down-weights well-classified points by (1 - p_y)^gamma")])
def focal_ce(pred: torch.Tensor, target: torch.Tensor, *, gamma: float) -> torch.Tensor:
    r"""Multiclass (softmax) focal loss: :math:`-(1 - p_y)^\gamma \log p_y`.

    gamma = 0 is ``ce``; larger gamma spends less of the gradient on points already
    classified well. :math:`1 - p_y` is computed as ``-expm1(log p_y)`` (accurate when
    :math:`p_y \to 1`) and floored at the smallest normal float, so the gradient of the
    power stays finite for gamma < 1.
    Reference: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.
    """
    tiny = torch.finfo(pred.dtype).tiny

    def per_class(logp: torch.Tensor) -> torch.Tensor:
        return -(-torch.expm1(logp)).clamp_min(tiny).pow(gamma) * logp

    logp = torch.log_softmax(pred, dim=-1)
    if not target.is_floating_point():
        return per_class(_gather(logp, target))
    return weighted_sum(target, per_class(logp))


@register("mae_cls", task="multiclass", bounded=True, symmetric=True)
def mae_cls(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""MAE on probabilities: :math:`\sum_c |p_c - t_c|`, i.e. :math:`2(1 - p_y)` for an index.

    Bounded by 2 and symmetric (summed over all C labels it is the constant 2(C - 1)), so
    it is provably robust to symmetric label noise, but it learns slowly (its gradient
    vanishes where :math:`p_y` is small).
    Reference: Ghosh, Kumar & Sastry, "Robust Loss Functions under Label Noise for Deep
    Neural Networks", AAAI 2017.
    """
    if not target.is_floating_point():
        return -2.0 * torch.expm1(target_log_prob(pred, target))
    return (torch.softmax(pred, dim=-1) - target).abs().sum(dim=-1)


@register("gce", task="multiclass", bounded=True,
          symmetric=When("q = 1", lambda p: p["q"] == 1.0),
          params=[Param("q", 0.7, "(0, 1]",
                        "interpolates between ce (q -> 0) and mae_cls / 2 (q = 1)")])
def gce(pred: torch.Tensor, target: torch.Tensor, *, q: float) -> torch.Tensor:
    r"""Generalized cross-entropy: :math:`(1 - p_y^q)/q`.

    The negative Box-Cox transform of :math:`p_y`: ``ce`` as q -> 0, half of ``mae_cls``
    at q = 1; bounded by 1/q. Computed as :math:`-\mathrm{expm1}(q \log p_y)/q`.
    Reference: Zhang & Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural
    Networks with Noisy Labels", NeurIPS 2018 (default q = 0.7 as there).
    """
    logp = torch.log_softmax(pred, dim=-1)
    if not target.is_floating_point():
        return torch.expm1(q * _gather(logp, target)) / -q
    return (target * torch.expm1(q * logp)).sum(dim=-1) / -q


def reverse_ce(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Reverse cross-entropy :math:`-\sum_c p_c \log t_c` with :math:`\log 0 := A = -4`:
    :math:`-A (1 - p_y)` for a class index."""
    if not target.is_floating_point():
        return RCE_LOG_ZERO * torch.expm1(target_log_prob(pred, target))
    # clamping before the log (not after) keeps the gradient in the target finite
    log_t = target.clamp_min(math.exp(RCE_LOG_ZERO)).log()
    return -(torch.softmax(pred, dim=-1) * log_t).sum(dim=-1)


@register("sce", task="multiclass",
          bounded=When("alpha = 0", lambda p: p["alpha"] == 0.0),
          symmetric=When("alpha = 0", lambda p: p["alpha"] == 0.0),
          params=[Param("alpha", 0.1, "[0, inf)", "weight of the cross-entropy"),
                  Param("beta", 1.0, "[0, inf)", "weight of the reverse cross-entropy")])
def sce(pred: torch.Tensor, target: torch.Tensor, *, alpha: float,
        beta: float) -> torch.Tensor:
    r"""Symmetric cross-entropy: :math:`\alpha\,\mathrm{CE} + \beta\,\mathrm{RCE}`.

    The reverse cross-entropy :math:`\mathrm{RCE} = -\sum_c p_c \log t_c`, with
    :math:`\log 0` taken as A = -4 (so :math:`4(1 - p_y)` for an index, and target
    probabilities below :math:`e^{-4}` count as :math:`e^{-4}`), is bounded and symmetric;
    the CE term speeds up learning. At alpha = 0 the loss is bounded and symmetric.
    Defaults alpha = 0.1, beta = 1 are the paper's CIFAR-10 values.
    Reference: Wang et al., "Symmetric Cross Entropy for Robust Learning with Noisy
    Labels", ICCV 2019.
    """
    out = beta * reverse_ce(pred, target)
    if alpha:
        out = out - alpha * target_log_prob(pred, target)
    return out


@register("nce_rce", task="multiclass", bounded=True, symmetric=True,
          params=[Param("alpha", 1.0, "[0, inf)", "weight of the normalized cross-entropy"),
                  Param("beta", 1.0, "[0, inf)", "weight of the reverse cross-entropy")])
def nce_rce(pred: torch.Tensor, target: torch.Tensor, *, alpha: float,
            beta: float) -> torch.Tensor:
    r"""Active-passive loss: :math:`\alpha\,\mathrm{NCE} + \beta\,\mathrm{RCE}`.

    The normalized cross-entropy :math:`\mathrm{NCE} = \log p_y / \sum_k \log p_k` (an
    "active" loss, in [0, 1]) divides CE by its sum over every possible label, which
    makes it symmetric; the reverse cross-entropy (``sce``'s,
    "passive", :math:`\log 0 := -4`) fixes NCE's underfitting. Both are bounded and
    symmetric, so is the sum (bounded by alpha + 4 beta). The denominator is at most
    :math:`-C \log C < 0`, so the ratio is always defined.
    Reference: Ma et al., "Normalized Loss Functions for Deep Learning with Noisy Labels",
    ICML 2020.
    """
    logp = torch.log_softmax(pred, dim=-1)
    if target.is_floating_point():
        active = weighted_sum(target, logp)
    else:
        active = _gather(logp, target)
    return alpha * (active / logp.sum(dim=-1)) + beta * reverse_ce(pred, target)


@register("poly1", task="multiclass",
          params=[Param("epsilon", 1.0, "[-1, inf)",
                        "weight of the first polynomial term (1 - p_y)")])
def poly1(pred: torch.Tensor, target: torch.Tensor, *, epsilon: float) -> torch.Tensor:
    r"""Poly-1 loss: :math:`-\log p_y + \epsilon (1 - p_y)`.

    Cross-entropy with the first term of its Taylor expansion in :math:`(1 - p_y)`
    re-weighted; epsilon > 0 keeps a larger gradient on confident points. epsilon = 0
    is ``ce``; epsilon >= -1 keeps the loss non-negative.
    Reference: Leng et al., "PolyLoss: A Polynomial Expansion Perspective of
    Classification Loss Functions", ICLR 2022.
    """
    if not target.is_floating_point():
        logp_y = target_log_prob(pred, target)
        return -logp_y - epsilon * torch.expm1(logp_y)
    logp = torch.log_softmax(pred, dim=-1)
    return -weighted_sum(target, logp) + epsilon * (1.0 - (target * logp.exp()).sum(dim=-1))


@register("multiclass_hinge", task="multiclass", soft_targets=False,
          params=[Param("margin", 1.0, "(0, inf)",
                        "how far the true class's logit should beat each other one")])
def multiclass_hinge(pred: torch.Tensor, target: torch.Tensor, *,
                     margin: float) -> torch.Tensor:
    r"""Multiclass hinge (Weston-Watkins): :math:`\frac1C \sum_{c \ne y} (\Delta - z_y + z_c)_+`.

    :math:`(x)_+ = \max(0, x)` and :math:`\Delta` is ``margin``. Every class whose logit
    comes within the margin of the true class's adds a hinge (Crammer-Singer would count
    only the largest); divided by C as in ``torch.nn.MultiMarginLoss``. It uses the logits
    directly, not probabilities; class indices only. Computed here from its formula, not
    by torch's ``multi_margin_loss`` kernel, which reads uninitialised memory when there
    are no samples and drops a NaN logit (returning a finite loss for it).
    Reference: Weston & Watkins, "Support Vector Machines for Multi-Class Pattern
    Recognition", ESANN 1999; ``torch.nn.functional.multi_margin_loss``.
    """
    z_y = _gather(pred, target).unsqueeze(-1)
    hinges = (margin - z_y + pred).clamp_min(0.0)  # NaN stays NaN
    # the true class's own term (always margin) is left out: c != y
    hinges = hinges.scatter(-1, target.unsqueeze(-1), 0.0)
    return hinges.sum(dim=-1) / pred.shape[-1]
