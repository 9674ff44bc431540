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

    >>> import losses, math, torch
    >>> z = torch.tensor([[math.log(3.0), 0.0]])  # p = (3/4, 1/4)
    >>> round(float(losses.get("ce")(z, torch.tensor([1]))), 6)  # -log(1/4)
    1.386294
    >>> round(float(losses.get("ce")(z, torch.tensor([[0.5, 0.5]]))), 6)  # the same as a mixture
    0.836988
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
    distribution (or the one-hot of the class index) after label smoothing, with
    :math:`0 \log 0 = 0` (``scipy.special.rel_entr``'s convention). KL is cross-entropy
    minus the target's entropy, so it has the same gradients as ``label_smoothing_ce`` and
    is 0 exactly when the prediction matches the target (up to rounding: nothing is
    clamped); at smoothing 0 with class indices it equals ``ce``. A probability target
    must be a distribution per row (checked: a row such as [0.2, 0.3, 0] is an error, not
    a number).
    Reference: Kullback & Leibler, 1951; ``torch.nn.KLDivLoss``; ``scipy.special.rel_entr``.

    >>> import losses, torch
    >>> logits = torch.tensor([[1.0, 0.0, -1.0]], dtype=torch.float64)
    >>> round(float(losses.get("kl")(logits, torch.tensor([[0.2, 0.3, 0.5]]).double())), 6)
    0.677953
    """
    c = pred.shape[-1]
    if not target.is_floating_point():  # entropy of the smoothed one-hot: a constant
        return (_flat_class_loss(F.cross_entropy, pred, target, label_smoothing=smoothing)
                - smoothed_entropy(c, smoothing))
    t = smoothed(target, c, smoothing)
    logp = torch.log_softmax(pred, dim=-1)
    # t log t - t log p per class, 0 where t = 0 (the log is taken of 1 there, so neither
    # the value nor a gradient with respect to t meets log 0)
    log_t = torch.log(torch.where(t > 0, t, 1.0))
    return torch.where(t > 0, t * (log_t - logp), 0.0).sum(dim=-1)


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


def _true_class_log_prob(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``log p_y`` from ``log_softmax`` (class indices)."""
    return _gather(torch.log_softmax(pred, dim=-1), target)


@register("phuber_ce", task="multiclass", soft_targets=False, bounded=True,
          params=[Param("tau", 10.0, "(1, inf)",
                        "threshold: below p_y = 1/tau the loss turns linear in p_y")])
def phuber_ce(pred: torch.Tensor, target: torch.Tensor, *, tau: float) -> torch.Tensor:
    r"""Partially Huberised cross-entropy: :math:`-\log p_y`, linear below :math:`p_y = 1/\tau`.

    .. math::
        \ell = -\tau p_y + \log\tau + 1 \text{ if } p_y \le 1/\tau, \quad
        -\log p_y \text{ otherwise.}

    The tangent of :math:`-\log p` at :math:`1/\tau` replaces it below: the gradient with
    respect to :math:`p_y` is capped at :math:`\tau` (loss-based gradient clipping), and the
    loss is bounded by :math:`\log\tau + 1`. Class indices only (defined on
    :math:`p_y`). tau in {2, 10} in the paper's experiments; default 10.
    Reference: Menon, Rawat, Reddi & Kumar, "Can gradient clipping mitigate label noise?",
    ICLR 2020, section 4 (no official code).

    >>> import losses, math, torch
    >>> z = torch.tensor([[0.0, math.log(18.0)]])  # p_0 = 1/19 < 1/tau
    >>> round(float(losses.get("phuber_ce")(z, torch.tensor([0]))), 6)
    2.776269
    """
    logp_y = _true_class_log_prob(pred, target)
    linear = -tau * logp_y.exp() + (math.log(tau) + 1.0)
    return torch.where(logp_y <= -math.log(tau), linear, -logp_y)


@register("taylor_ce", task="multiclass", soft_targets=False, bounded=True,
          symmetric=When("order = 1", lambda p: p["order"] == 1),
          params=[Param("order", 2, "[1, 100]", "terms of the Taylor series of -log p_y kept",
                        kind=int)])
def taylor_ce(pred: torch.Tensor, target: torch.Tensor, *, order: int) -> torch.Tensor:
    r"""Taylor cross-entropy: :math:`\sum_{k=1}^{t} (1 - p_y)^k / k`, t = ``order``.

    The Taylor series of :math:`-\log p_y` around :math:`p_y = 1`, cut after t terms:
    t = 1 is :math:`1 - p_y` (half of ``mae_cls``, symmetric), t = 2 adds a squared
    term, and t -> inf is ``ce``. Bounded by the harmonic number
    :math:`H_t = \sum_{k \le t} 1/k`, so fewer terms fit noisy labels less. Class indices
    only. :math:`1 - p_y` is computed as ``-expm1(log p_y)``. The paper chooses t per
    data set; default 2.
    Reference: Feng, Shu, Lin, Lv, Li & An, "Can Cross Entropy Loss Be Robust to Label
    Noise?", IJCAI 2020.

    >>> import losses, math, torch
    >>> z = torch.tensor([[0.0, 0.0]])  # p_y = 1/2
    >>> float(losses.get("taylor_ce", order=2)(z, torch.tensor([0])))
    0.625
    """
    u = -torch.expm1(_true_class_log_prob(pred, target))  # 1 - p_y
    total = torch.zeros_like(u)
    for k in range(int(order), 0, -1):  # Horner: u (1 + u (1/2 + u (1/3 + ...)))
        total = u * (1.0 / k + total)
    return total


@register("agce", task="multiclass", soft_targets=False, bounded=True,
          params=[Param("a", 0.6, "(0, inf)", "shift of p_y inside the power"),
                  Param("q", 0.6, "(0, inf)", "exponent")])
def agce(pred: torch.Tensor, target: torch.Tensor, *, a: float, q: float) -> torch.Tensor:
    r"""Asymmetric generalized cross-entropy: :math:`((a + 1)^q - (a + p_y)^q) / q`.

    One of the "asymmetric" losses of Zhou et al., robust to label noise without being
    symmetric; 0 at :math:`p_y = 1`, bounded by :math:`((a + 1)^q - a^q)/q`. Class
    indices only. Defaults a = 0.6, q = 0.6 are the authors' CIFAR-10 setting.
    Reference: Zhou, Liu, Jiang, Gao & Ji, "Asymmetric Loss Functions for Learning with
    Noisy Labels", ICML 2021; official code ``AGCELoss`` in github.com/hitcszx/ALFs
    (lnl/losses.py, lnl/config.py).

    >>> import losses, torch
    >>> z = torch.tensor([[0.0, 0.0]])  # p_y = 1/2
    >>> round(float(losses.get("agce", a=1.0, q=2.0)(z, torch.tensor([0]))), 6)
    0.875
    """
    p_y = _true_class_log_prob(pred, target).exp()
    return ((a + 1.0) ** q - (a + p_y).pow(q)) / q


@register("aul", task="multiclass", soft_targets=False, bounded=True,
          params=[Param("a", 5.5, "(1, inf)", "shift: the loss is a power of (a - p_y)"),
                  Param("q", 3.0, "(0, inf)", "exponent")])
def aul(pred: torch.Tensor, target: torch.Tensor, *, a: float, q: float) -> torch.Tensor:
    r"""Asymmetric unhinged loss: :math:`((a - p_y)^q - (a - 1)^q) / q`.

    The second asymmetric loss of Zhou et al. (their AUL, ``AUELoss`` in the code): 0 at
    :math:`p_y = 1`, bounded by :math:`(a^q - (a - 1)^q)/q`; large a makes it nearly
    linear in :math:`p_y` (MAE-like). Class indices only. Defaults a = 5.5, q = 3 are the
    authors' CIFAR-10 setting.
    Reference: Zhou, Liu, Jiang, Gao & Ji, "Asymmetric Loss Functions for Learning with
    Noisy Labels", ICML 2021; official code ``AUELoss`` in github.com/hitcszx/ALFs.

    >>> import losses, torch
    >>> z = torch.tensor([[0.0, 0.0]])  # p_y = 1/2
    >>> float(losses.get("aul", a=2.0, q=2.0)(z, torch.tensor([0])))
    0.625
    """
    p_y = _true_class_log_prob(pred, target).exp()
    return ((a - p_y).pow(q) - (a - 1.0) ** q) / q


ANL_MIN_PROB = 1e-7  # the paper's p_min: log-probabilities are clamped at log(1e-7)


@register("anl_ce", task="multiclass", soft_targets=False, bounded=True, symmetric=True,
          params=[Param("alpha", 5.0, "[0, inf)", "weight of the normalized cross-entropy"),
                  Param("beta", 5.0, "[0, inf)",
                        "weight of the normalized negative cross-entropy")])
def anl_ce(pred: torch.Tensor, target: torch.Tensor, *, alpha: float,
           beta: float) -> torch.Tensor:
    r"""Active negative loss: :math:`\alpha\,\mathrm{NCE} + \beta\,\mathrm{NNCE}`.

    :math:`\mathrm{NCE} = \log p_y / \sum_k \log p_k` (as in ``nce_rce``) and the
    normalized negative cross-entropy
    :math:`\mathrm{NNCE} = 1 - (A + \log p_y) / \sum_k (A + \log p_k)` with
    :math:`\log p` clamped below at :math:`\log p_{\min}`, :math:`p_{\min} = 10^{-7}` and
    :math:`A = -\log p_{\min}`: a "negative" loss that pushes the other classes' probability
    down instead of the true class's up. Both are normalized, hence symmetric and bounded
    (by alpha + beta); summed over the C labels the loss is alpha + beta (C - 1). The
    clamp gives classes below :math:`p_{\min}` no gradient, as in the paper. The paper
    also adds an L1 penalty :math:`\delta \|\theta\|_1` on the weights: that belongs to the
    optimiser, not to a loss of (pred, target), and is not included. Class indices only.
    Defaults alpha = beta = 5 are the authors' CIFAR-10 setting.
    Reference: Ye, Li, Wang, Sun & Wang, "Active Negative Loss Functions for Learning with
    Noisy Labels", NeurIPS 2023; official code ``NormalizedNegativeCrossEntropy`` in
    github.com/Virusdoll/Active-Negative-Loss (loss.py, config/cifar10_anl_ce.json).
    """
    logp = torch.log_softmax(pred, dim=-1)
    nce = _gather(logp, target) / logp.sum(dim=-1)
    shifted = logp.clamp_min(math.log(ANL_MIN_PROB)) - math.log(ANL_MIN_PROB)  # A + log p
    nnce = 1.0 - _gather(shifted, target) / shifted.sum(dim=-1)
    return alpha * nce + beta * nnce


def _as_distribution(target: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The probability target itself, or the one-hot rows of class indices."""
    if target.is_floating_point():
        return target
    return F.one_hot(target, like.shape[-1]).to(like.dtype)


def _log_or_minus_inf(t: torch.Tensor) -> torch.Tensor:
    """``log t`` with ``log 0 = -inf``, and no NaN in a gradient with respect to t at 0."""
    positive = t > 0
    return torch.where(positive, torch.log(torch.where(positive, t, 1.0)), -math.inf)


@register("js", task="multiclass", aliases=("jensen_shannon",), bounded=True,
          params=[Param("pi1", 0.7, "(0, 1)",
                        "weight of the label in the mixture m = pi1 t + (1 - pi1) p")])
def js(pred: torch.Tensor, target: torch.Tensor, *, pi1: float) -> torch.Tensor:
    r"""Jensen-Shannon divergence loss: :math:`\mathrm{JS}_{\pi_1}(t, p) / Z`.

    .. math::
        \mathrm{JS}_{\pi_1}(t, p) = \pi_1 \mathrm{KL}(t \,\|\, m)
        + (1 - \pi_1) \mathrm{KL}(p \,\|\, m), \quad m = \pi_1 t + (1 - \pi_1) p,
        \quad Z = -(1 - \pi_1) \log(1 - \pi_1)

    with :math:`p = \mathrm{softmax}(z)` and :math:`t` the label (one-hot) or a probability
    target. The scaling Z makes it tend to ``ce`` as :math:`\pi_1 \to 0`; as
    :math:`\pi_1 \to 1` it behaves like MAE. Bounded by
    :math:`H(\pi_1) / Z` (:math:`H` the binary entropy). Computed in log space
    (:math:`\log m` by ``logaddexp``, :math:`0 \log 0 = 0`), without the authors'
    clamp of m at :math:`10^{-7}` (which changes values by less than about
    :math:`10^{-6}`). Default pi1 = 0.7, the authors' CIFAR-10 setting.
    Reference: Englesson & Azizpour, "Generalized Jensen-Shannon Divergence Loss for
    Learning with Noisy Labels", NeurIPS 2021 (the scaled JS loss);
    official code ``JensenShannonDivergenceWeightedScaled`` in github.com/ErikEnglesson/GJS.
    """
    t = _as_distribution(target, pred)
    logp = torch.log_softmax(pred, dim=-1)
    log_t = _log_or_minus_inf(t)
    log_m = torch.logaddexp(math.log(pi1) + log_t, math.log1p(-pi1) + logp)
    kl_t = torch.where(t > 0, t * (log_t.clamp_min(-1e30) - log_m), 0.0).sum(dim=-1)
    kl_p = (logp.exp() * (logp - log_m)).sum(dim=-1)
    scale = -(1.0 - pi1) * math.log1p(-pi1)
    return (pi1 * kl_t + (1.0 - pi1) * kl_p) / scale


BT_NEWTON_STEPS = 30  # enough for C <= 1000 classes at t2 <= 4 (tested), in float64


def tempered_log_softmax(logits: torch.Tensor, t2: float) -> torch.Tensor:
    r"""``log`` of the tempered softmax :math:`\exp_{t_2}(z - \lambda_{t_2}(z))`.

    :math:`\exp_t(x) = [1 + (1 - t) x]_+^{1/(1 - t)}` and :math:`\lambda` normalises the
    row to sum 1. For t2 > 1 there is no closed form: :math:`\lambda` is found by Newton's
    method on :math:`f(\lambda) = \sum_i \exp_t(z_i - \lambda) - 1` (convex, decreasing;
    started at :math:`\max z`, where :math:`f \ge 0`, the iterates rise monotonically to
    the root) for a fixed number of steps, without a gradient; the gradient of
    :math:`\lambda` is then put back exactly by the implicit function theorem,
    :math:`\partial\lambda / \partial z_i = \exp_t(z_i - \lambda)^t / \sum_j
    \exp_t(z_j - \lambda)^t`. The log is returned (:math:`\log(\text{base}) / (1 - t)`),
    finite even where the probability underflows.
    """
    if t2 == 1.0:
        return torch.log_softmax(logits, dim=-1)
    k = t2 - 1.0
    with torch.no_grad():
        top = logits.max(dim=-1, keepdim=True).values
        below = top - logits  # >= 0
        lam = torch.zeros_like(top)  # lambda - max z
        for _ in range(BT_NEWTON_STEPS):
            base = 1.0 + k * (lam + below)  # >= 1
            e = base.pow(-1.0 / k)  # exp_t(z - lambda)
            lam = lam + (e.sum(dim=-1, keepdim=True) - 1.0) / (e / base).sum(dim=-1,
                                                                           keepdim=True)
        base = 1.0 + k * (lam + below)
        weight = base.pow(-t2 / k)  # exp_t(...)^t
        weight = weight / weight.sum(dim=-1, keepdim=True)
        lam = lam + top
    # lambda as a function of the logits, to first order: the exact gradient, no new value
    lam = lam + (weight * (logits - logits.detach())).sum(dim=-1, keepdim=True)
    return -torch.log1p(k * (lam - logits)) / k


def _log_t(log_x: torch.Tensor, t: float) -> torch.Tensor:
    r"""The tempered logarithm :math:`\log_t x = (x^{1-t} - 1)/(1 - t)` from :math:`\log x`."""
    if t == 1.0:
        return log_x
    return torch.expm1((1.0 - t) * log_x) / (1.0 - t)


@register("bi_tempered", task="multiclass",
          bounded=When("t1 < 1", lambda p: p["t1"] < 1.0),
          params=[Param("t1", 0.8, "[0, 1]",
                        "temperature of the log: < 1 bounds the loss (1: the usual log)"),
                  Param("t2", 1.2, "[1, 4]",
                        "temperature of the softmax: > 1 gives it heavy tails (1: softmax)")])
def bi_tempered(pred: torch.Tensor, target: torch.Tensor, *, t1: float,
                t2: float) -> torch.Tensor:
    r"""Bi-tempered logistic loss: a Bregman divergence between t and a tempered softmax.

    .. math::
        \ell = \sum_c \left[ t_c (\log_{t_1} t_c - \log_{t_1} \hat p_c)
        - \tfrac{1}{2 - t_1} (t_c^{2 - t_1} - \hat p_c^{2 - t_1}) \right],
        \quad \hat p = \exp_{t_2}(z - \lambda_{t_2}(z))

    with :math:`\log_t x = (x^{1-t} - 1)/(1 - t)`, :math:`\exp_t` its inverse and
    :math:`\lambda` the normaliser (see :func:`tempered_log_softmax`). For a class index
    this is :math:`-\log_{t_1}\hat p_y - \tfrac{1}{2 - t_1}(1 - \sum_c \hat p_c^{2-t_1})`.
    t1 < 1 bounds the loss (by :math:`1/(1 - t_1)`, approached when one wrong class takes
    all the mass); t2 > 1 gives the softmax heavy tails; t1 = t2 = 1 is ``ce`` (``kl``
    with a probability target); t2 = 1 and t1 < 1 is a bias-corrected ``gce``. The
    supported t2 <= 4 is where the fixed number of Newton steps converges for up to 1000
    classes (the authors' fixed-point iteration, 5 steps by default, is not converged
    there; this computes the loss to float precision). Defaults t1 = 0.8, t2 = 1.2 are a
    moderate setting, not the paper's (it tunes both per data set).
    Reference: Amid, Warmuth, Anil & Koren, "Robust Bi-Tempered Logistic Loss Based on
    Bregman Divergences", NeurIPS 2019; official code ``bi_tempered_logistic_loss`` in
    github.com/google/bi-tempered-loss (tensorflow/loss.py).
    """
    t = _as_distribution(target, pred)
    log_p = tempered_log_softmax(pred, t2)
    log_t = _log_or_minus_inf(t)
    # t (log_t1 t - log_t1 p), 0 where t = 0; the log is of 1 there (no -inf reaches it)
    cross = torch.where(t > 0, t * (_log_t(log_t.clamp_min(-1e30), t1) - _log_t(log_p, t1)),
                        0.0)
    power = 2.0 - t1
    return (cross - (t.pow(power) - (power * log_p).exp()) / power).sum(dim=-1)
