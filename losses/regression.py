r"""Regression losses: real prediction ``p`` against real target ``y``, residual ``r = p - y``.

Scale convention of the named robust losses (huber, pseudo_huber, cauchy, geman_mcclure,
welsch, tukey): every one is about :math:`r^2/2` near zero, whatever its scale parameter,
so a parameter only moves the tail and learning rates stay comparable between them.
``barron`` is Barron's :math:`\rho(r, \alpha, c)` exactly as published (about
:math:`\tfrac12 (r/c)^2` near zero); ``scaled_barron`` is :math:`c^2 \rho`, the same loss
in this module's convention, and equals the named losses at its special shapes.

The deviances (``poisson``, ``gamma``, ``tweedie``) use the log link of a generalised linear
model: the prediction is :math:`\eta = \log \mu`, the log of the predicted mean, so any
real output is valid; their targets must lie in the family's domain (checked once per
split by ``Loss.check_target``).
"""

from __future__ import annotations

import math

from losses._lazy import lazy_import
from losses._math import exp_tail, expm1_tail
from losses.params import Param
from losses.registry import When, register

torch = lazy_import(globals(), "torch")
F = lazy_import(globals(), "torch.nn.functional", as_="F")

DELTA = Param("delta", 1.0, "(0, inf)",
              "residual size where the loss turns from quadratic to linear")
SCALE = Param("c", 1.0, "(0, inf)", "scale: residuals well beyond c count as outliers")
LN2 = math.log(2.0)


@register("mse", task="regression", aliases=("l2",), symmetric=True,
          fused_mean="torch.nn.functional.mse_loss")
def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Mean squared error (L2): :math:`\ell(p, y) = (p - y)^2`.

    The maximum-likelihood loss under Gaussian noise; an outlier's pull grows with its
    residual, so gross outliers dominate the fit.
    Reference: Gauss (1809); ``sklearn.metrics.mean_squared_error``.
    """
    return (pred - target).square()


@register("mae", task="regression", aliases=("l1",), symmetric=True,
          fused_mean="torch.nn.functional.l1_loss")
def mae(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Mean absolute error (L1): :math:`\ell(p, y) = |p - y|`.

    Fits the conditional median; every residual pulls with the same force, so outliers
    cannot dominate. Its gradient does not shrink near the optimum (slow final convergence).
    Reference: Laplace (1774); ``sklearn.metrics.mean_absolute_error``.
    """
    return (pred - target).abs()


@register("rmse", task="regression", symmetric=True, reduction="rms")
def rmse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Root mean squared error: :math:`\sqrt{\tfrac1N \sum_i (p_i - y_i)^2}`.

    Not a mean of per-sample losses: the per-sample value is :math:`\ell_i = |p_i - y_i|`
    (the RMSE of that sample alone) and the reduction is the root mean square. Same
    minimiser as MSE, but its gradient is MSE's divided by :math:`2\,\mathrm{RMSE}`, so
    its step size does not shrink as the fit improves. The gradient at a perfect fit is 0,
    not NaN.
    Reference: ``sklearn.metrics.root_mean_squared_error``.
    """
    return (pred - target).abs()


@register("msle", task="regression", target_domain="[0, inf)")
def msle(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Mean squared logarithmic error: :math:`(\log(1 + p) - \log(1 + y))^2`.

    A squared error of relative size, for non-negative targets spanning orders of magnitude
    (counts, prices). Targets must be in [0, inf): the runner checks them once per split
    and stops with an error otherwise. Negative *predictions* (a model's output can be
    anything) follow the tangent of :math:`\log(1 + p)` at 0, i.e. :math:`\log(1 + p)`
    is replaced by :math:`p` for :math:`p < 0`: the loss stays finite and differentiable
    (C1) and its gradient pushes such predictions up, where scikit-learn raises and Keras
    clips to 0 (which gives no gradient).
    Reference: ``sklearn.metrics.mean_squared_log_error`` (for non-negative predictions).
    """
    # clamp first so the unused branch is finite (NaN in a discarded branch of where
    # still poisons the gradient)
    log_pred = torch.where(pred >= 0, torch.log1p(pred.clamp_min(0.0)), pred)
    return (log_pred - torch.log1p(target)).square()


@register("huber", task="regression", params=[DELTA], symmetric=True,
          fused_mean="torch.nn.functional.huber_loss")
def huber(pred: torch.Tensor, target: torch.Tensor, *, delta: float) -> torch.Tensor:
    r"""Huber loss: quadratic for small residuals, linear for large ones.

    .. math::
        \ell(r) = \tfrac12 r^2 \text{ if } |r| \le \delta,\quad
        \delta\,(|r| - \tfrac12\delta) \text{ otherwise.}

    ``delta`` is in target units.
    Reference: Huber, "Robust Estimation of a Location Parameter", 1964;
    ``scipy.special.huber``.

    >>> import losses, torch
    >>> losses.get("huber", delta=1.0).unreduced(torch.tensor([0.5, 3.0]), torch.zeros(2))
    tensor([0.1250, 2.5000])
    """
    return F.huber_loss(pred, target, reduction="none", delta=delta)  # one fused kernel


@register("pseudo_huber", task="regression", params=[DELTA], symmetric=True)
def pseudo_huber(pred: torch.Tensor, target: torch.Tensor, *, delta: float) -> torch.Tensor:
    r"""Pseudo-Huber loss, a smooth Huber: :math:`\delta^2(\sqrt{1 + (r/\delta)^2} - 1)`.

    About :math:`r^2/2` near zero and :math:`\delta |r|` far out; smooth everywhere.
    Barron's loss at alpha = 1 (the Charbonnier loss).
    Reference: Charbonnier et al., 1994; Hartley & Zisserman, "Multiple View Geometry",
    2003, A6.8; ``scipy.special.pseudo_huber``.
    """
    # sqrt(1 + a^2) - 1 == a^2 / (sqrt(1 + a^2) + 1): no cancellation for small a, and
    # written as a * (a / ...) so a large a does not overflow a^2
    a = ((pred - target) / delta).abs()
    return delta * delta * a * (a / (torch.hypot(torch.ones_like(a), a) + 1.0))


@register("log_cosh", task="regression", symmetric=True)
def log_cosh(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Log-cosh loss: :math:`\ell(r) = \log\cosh(r)`.

    About :math:`r^2/2` near zero and :math:`|r| - \log 2` far out, smooth everywhere (its
    derivative is :math:`\tanh r`): a smooth Huber with delta = 1 and no parameter.
    Computed as :math:`\mathrm{logaddexp}(r, -r) - \log 2`, which never overflows
    (``cosh`` does beyond :math:`|r| \approx 89` in float32); its absolute error is about
    one float eps, so very small residuals (:math:`|r| \lesssim 10^{-3}` in float32) lose
    relative precision in the value, not in the gradient.
    Reference: Saleh & Saleh, "Statistical Properties of the log-cosh Loss Function Used
    in Machine Learning", 2022; Keras ``LogCosh``.
    """
    r = pred - target
    return torch.logaddexp(r, -r) - LN2


@register("quantile", task="regression", symmetric=When("q = 0.5", lambda p: p["q"] == 0.5),
          params=[Param("q", 0.5, "(0, 1)", "the quantile level fitted")])
def quantile(pred: torch.Tensor, target: torch.Tensor, *, q: float) -> torch.Tensor:
    r"""Quantile (pinball) loss: :math:`\max(q\,u, (q - 1)\,u)` with :math:`u = y - p`.

    Its minimiser is the conditional q-quantile: under-prediction costs q per unit,
    over-prediction 1 - q. At q = 0.5 it is half the absolute error.
    Reference: Koenker & Bassett, "Regression Quantiles", 1978;
    ``sklearn.metrics.mean_pinball_loss`` (its ``alpha`` is q).

    >>> import losses, torch
    >>> losses.get("quantile", q=0.9).unreduced(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0]))
    tensor([0.9000, 0.1000])
    """
    u = target - pred
    return torch.maximum(q * u, (q - 1.0) * u)


@register("epsilon_insensitive", task="regression", symmetric=True,
          params=[Param("epsilon", 0.1, "[0, inf)",
                        "half-width of the zero-loss tube around the target")])
def epsilon_insensitive(pred: torch.Tensor, target: torch.Tensor, *,
                        epsilon: float) -> torch.Tensor:
    r"""Epsilon-insensitive loss of support vector regression: :math:`\max(0, |r| - \epsilon)`.

    Residuals inside the tube :math:`|r| \le \epsilon` cost nothing; outside it grows
    linearly, like MAE (which it is at epsilon = 0).
    Reference: Vapnik, "The Nature of Statistical Learning Theory", 1995;
    ``sklearn.svm.SVR``, ``sklearn.linear_model.SGDRegressor(loss="epsilon_insensitive")``.
    """
    return ((pred - target).abs() - epsilon).clamp_min(0.0)


@register("cauchy", task="regression", params=[SCALE], symmetric=True)
def cauchy(pred: torch.Tensor, target: torch.Tensor, *, c: float) -> torch.Tensor:
    r"""Cauchy (Lorentzian) loss: :math:`c^2 \log(1 + \tfrac12 (r/c)^2)`.

    Grows only logarithmically, so the pull of an outlier fades (redescending influence,
    yet unbounded). Barron's loss at alpha = 0. In the other common form,
    :math:`\tfrac{k^2}{2}\log(1 + (r/k)^2)`, this is :math:`k = c\sqrt2`.
    Reference: Black & Anandan, 1996; Barron, "A General and Adaptive Robust Loss
    Function", CVPR 2019.
    """
    x = (pred - target) / c
    return (c * c) * torch.log1p(0.5 * x.square())


@register("geman_mcclure", task="regression", params=[SCALE], symmetric=True, bounded=True)
def geman_mcclure(pred: torch.Tensor, target: torch.Tensor, *, c: float) -> torch.Tensor:
    r"""Geman-McClure loss: :math:`c^2 \cdot 2 (r/c)^2 / ((r/c)^2 + 4)`, bounded by :math:`2c^2`.

    Gross outliers add a constant and no gradient. Barron's loss at alpha = -2.
    Reference: Geman & McClure, 1985; Barron, CVPR 2019.
    """
    x2 = ((pred - target) / c).square()
    return (2.0 * c * c) * (x2 / (x2 + 4.0))


@register("welsch", task="regression", params=[SCALE], symmetric=True, bounded=True)
def welsch(pred: torch.Tensor, target: torch.Tensor, *, c: float) -> torch.Tensor:
    r"""Welsch (Leclerc) loss: :math:`c^2 (1 - \exp(-\tfrac12 (r/c)^2))`, bounded by :math:`c^2`.

    A Gaussian-shaped well: the influence of a residual decays exponentially beyond c.
    Barron's loss in the limit alpha -> -inf.
    Reference: Dennis & Welsch, 1978; Leclerc, 1989; Barron, CVPR 2019.
    """
    x = (pred - target) / c
    return -(c * c) * torch.expm1(-0.5 * x.square())


@register("tukey", task="regression", symmetric=True, bounded=True,
          params=[Param("c", 4.685, "(0, inf)",
                        "rejection point: residuals beyond c get no gradient")])
def tukey(pred: torch.Tensor, target: torch.Tensor, *, c: float) -> torch.Tensor:
    r"""Tukey's biweight (bisquare) loss, bounded by :math:`c^2/6`.

    .. math::
        \ell(r) = \tfrac{c^2}{6}\left(1 - (1 - (r/c)^2)^3\right) \text{ if } |r| \le c,
        \quad \tfrac{c^2}{6} \text{ otherwise.}

    Residuals beyond c are rejected outright (zero gradient), so a start far from the fit
    can stall. The default c = 4.685 gives 95% efficiency under Gaussian noise of unit
    variance.
    Reference: Beaton & Tukey, 1974; Hampel et al., "Robust Statistics", 1986.
    """
    u = ((pred - target) / c).square().clamp_max(1.0)
    return (c * c / 6.0) * (1.0 - (1.0 - u).pow(3))


BARRON_SHAPE = Param("alpha", 1.0, "[-inf, inf]",
                     "shape: 2 L2, 1 pseudo-Huber, 0 Cauchy, -2 Geman-McClure, -inf Welsch, "
                     "+inf exp(x^2/2) - 1")
BARRON_SCALE = Param("c", 1.0, "(0, inf)", "scale of the quadratic bowl near zero")


def barron_rho(x2: torch.Tensor, alpha: float) -> torch.Tensor:
    r"""Barron's :math:`\rho` as a function of :math:`x^2 = (r/c)^2`, with its limits."""
    if alpha == 2.0:
        return 0.5 * x2
    if alpha == 0.0:
        return torch.log1p(0.5 * x2)
    if alpha == -math.inf:
        return -torch.expm1(-0.5 * x2)
    if alpha == math.inf:
        return expm1_tail(0.5 * x2)
    b = abs(alpha - 2.0)
    return (b / alpha) * torch.expm1((0.5 * alpha) * torch.log1p(x2 / b))


def _barron_bound(p: dict[str, float]) -> float:
    """sup rho for alpha < 0: (2 - alpha) / -alpha, 1 at -inf."""
    a = p["alpha"]
    return 1.0 if a == -math.inf else (2.0 - a) / -a


@register("barron", task="regression", symmetric=True,
          bounded=When("alpha < 0", lambda p: p["alpha"] < 0),
          params=[BARRON_SHAPE, BARRON_SCALE])
def barron(pred: torch.Tensor, target: torch.Tensor, *, alpha: float, c: float) -> torch.Tensor:
    r"""Barron's general robust loss :math:`\rho(r, \alpha, c)`, as published (eq. 1).

    .. math::
        \rho(x, \alpha, c) = \frac{|\alpha - 2|}{\alpha}
        \left(\left(\frac{(x/c)^2}{|\alpha - 2|} + 1\right)^{\alpha/2} - 1\right)

    with the residual :math:`x = r` and its limits: alpha = 2 gives
    :math:`\tfrac12 (x/c)^2`, alpha = 0 :math:`\log(\tfrac12 (x/c)^2 + 1)` (Cauchy),
    alpha -> -inf :math:`1 - \exp(-\tfrac12 (x/c)^2)` (Welsch), alpha -> +inf
    :math:`\exp(\tfrac12 (x/c)^2) - 1`; alpha = 1 is the Charbonnier / pseudo-Huber loss
    and alpha = -2 Geman-McClure. About :math:`\tfrac12 (x/c)^2` near zero for every
    alpha, so its curvature there is :math:`1/c^2`: ``scaled_barron`` (:math:`c^2 \rho`)
    is the same loss with curvature 1, equal to ``pseudo_huber``, ``cauchy``,
    ``geman_mcclure`` and ``welsch`` of the same c. Bounded by :math:`(2 - \alpha)/|\alpha|`
    (1 at -inf) for alpha < 0. Computed as :math:`\frac{|\alpha-2|}{\alpha}\,
    \mathrm{expm1}(\frac\alpha2\,\mathrm{log1p}(x^2/(c^2|\alpha-2|)))`, accurate for
    small residuals and alpha near 0 and 2. At alpha = +inf, once :math:`\tfrac12 (x/c)^2`
    passes 50 (the value passes :math:`e^{50} \approx 5 \cdot 10^{21}`) the exponential
    continues along its tangent so values and gradients stay finite (the author's code
    clamps there instead, at 87.5, which zeroes the gradient); everywhere else this is
    the formula itself.
    Reference: Barron, "A General and Adaptive Robust Loss Function", CVPR 2019, eq. 1;
    ``robust_loss_pytorch.general.lossfun`` (github.com/jonbarron/robust_loss_pytorch).

    >>> import losses, torch
    >>> r = torch.tensor([2.0])  # (r/c)^2 = 1 at c = 2
    >>> [round(float(losses.get("barron", alpha=a, c=2.0)(r, torch.zeros(1))), 6)
    ...  for a in (2.0, 1.0, 0.0, -float("inf"))]
    [0.5, 0.414214, 0.405465, 0.393469]
    """
    return barron_rho(((pred - target) / c).square(), alpha)


@register("scaled_barron", task="regression", symmetric=True,
          bounded=When("alpha < 0", lambda p: p["alpha"] < 0),
          params=[BARRON_SHAPE, BARRON_SCALE])
def scaled_barron(pred: torch.Tensor, target: torch.Tensor, *, alpha: float,
                  c: float) -> torch.Tensor:
    r"""Barron's general loss scaled by :math:`c^2`: :math:`c^2 \rho(r, \alpha, c)`.

    The convention of this module's named robust losses: about :math:`r^2/2` near zero
    whatever c, so c moves only the tail. It equals ``pseudo_huber`` (delta = c) at
    alpha = 1, ``cauchy`` at 0, ``geman_mcclure`` at -2 and ``welsch`` at -inf (all with
    the same c), and half of ``mse`` at alpha = 2. Bounded by
    :math:`c^2 (2 - \alpha)/|\alpha|` for alpha < 0. See ``barron`` for :math:`\rho`
    (the published form) and its numerics.
    Reference: Barron, "A General and Adaptive Robust Loss Function", CVPR 2019, eq. 1,
    times :math:`c^2` (this registry's ``barron`` before it followed the paper).
    """
    return (c * c) * barron_rho(((pred - target) / c).square(), alpha)


@register("expectile", task="regression", symmetric=When("tau = 0.5", lambda p: p["tau"] == 0.5),
          params=[Param("tau", 0.5, "(0, 1)", "the expectile level fitted")])
def expectile(pred: torch.Tensor, target: torch.Tensor, *, tau: float) -> torch.Tensor:
    r"""Expectile (asymmetric least squares) loss: :math:`|\tau - \mathbb 1(u < 0)|\, u^2`.

    :math:`u = y - p`. Under-prediction (u > 0) costs :math:`\tau u^2`, over-prediction
    :math:`(1 - \tau) u^2`; its minimiser is the conditional tau-expectile, the squared
    error's counterpart of the quantile (``quantile``). tau = 0.5 is half of ``mse``.
    Reference: Newey & Powell, "Asymmetric Least Squares Estimation and Testing",
    Econometrica 1987; ``scipy.stats.expectile`` (the minimiser over constants).

    >>> import losses, torch
    >>> float(losses.get("expectile", tau=0.9)(torch.tensor([0.0, 0.0]), torch.tensor([1.0, -1.0])))
    0.5
    """
    u = target - pred
    weight = (tau - (u < 0).to(u.dtype)).abs()  # tau, or 1 - tau where u < 0
    return weight * u.square()


def _log_target(target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(y != 0, log y with log 1 = 0 where y = 0): no log 0 in a value or a gradient; a NaN
    target counts as non-zero, so its NaN reaches the loss."""
    nonzero = target != 0
    return nonzero, torch.log(torch.where(nonzero, target, 1.0))


@register("poisson", task="regression", target_domain="[0, inf)", link="log")
def poisson(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Poisson deviance with log link: :math:`2\,(y \log(y/\mu) - y + \mu)`, :math:`\mu = e^p`.

    The prediction is the log of the predicted mean (any real number); targets are counts
    or other non-negative values (:math:`0 \log 0 = 0`). Minimised at :math:`\mu = y`;
    the gradient is :math:`2(\mu - y)`. Computed as :math:`2y(\mathrm{expm1}(d) - d)`
    with :math:`d = p - \log y` (no cancellation near the fit) and :math:`2e^p` at y = 0;
    :math:`e^{(\cdot)}` continues along its tangent beyond 50 (as in ``exponential``) so a
    wild prediction gives finite values and gradients.
    Reference: McCullagh & Nelder, "Generalized Linear Models", 2nd ed., 1989;
    ``sklearn.metrics.mean_poisson_deviance(y, exp(p))``;
    twice ``torch.nn.PoissonNLLLoss(log_input=True)`` plus :math:`2(y \log y - y)`.

    >>> import losses, math, torch
    >>> float(losses.get("poisson")(torch.tensor([math.log(2.0)]), torch.tensor([0.0])))
    4.0
    """
    nonzero, log_y = _log_target(target)
    d = pred - log_y
    return 2.0 * torch.where(nonzero, target * (expm1_tail(d) - d), exp_tail(pred))


@register("gamma", task="regression", target_domain="(0, inf)", link="log")
def gamma(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Gamma deviance with log link: :math:`2\,(\log(\mu/y) + y/\mu - 1)`, :math:`\mu = e^p`.

    For positive targets whose noise grows with the mean (constant coefficient of
    variation): it depends on :math:`y/\mu` only, a relative error. The prediction is the
    log of the predicted mean. Computed as :math:`2(\mathrm{expm1}(-d) + d)` with
    :math:`d = p - \log y`, the exponential continuing along its tangent beyond 50.
    Reference: McCullagh & Nelder, "Generalized Linear Models", 2nd ed., 1989;
    ``sklearn.metrics.mean_gamma_deviance(y, exp(p))``.

    >>> import losses, math, torch
    >>> round(float(losses.get("gamma")(torch.tensor([math.log(2.0)]), torch.tensor([1.0]))), 6)
    0.386294
    """
    d = pred - torch.log(target)
    return 2.0 * (expm1_tail(-d) + d)


@register("tweedie", task="regression", target_domain="[0, inf)", link="log",
          params=[Param("power", 1.5, "(1, 2)",
                        "variance power: var = phi mu^power (1 Poisson, 2 gamma)")])
def tweedie(pred: torch.Tensor, target: torch.Tensor, *, power: float) -> torch.Tensor:
    r"""Tweedie deviance with log link, for 1 < power < 2 (compound Poisson-gamma).

    .. math::
        2\left(\frac{y^{2-\rho}}{(1-\rho)(2-\rho)} - \frac{y\,\mu^{1-\rho}}{1-\rho}
        + \frac{\mu^{2-\rho}}{2-\rho}\right), \quad \mu = e^p

    with :math:`\rho` = ``power``: non-negative targets with exact zeros and a skewed
    positive part (claims, rainfall). It tends to ``poisson`` as power -> 1 and to
    ``gamma`` as power -> 2. Computed as :math:`2 y^{2-\rho}(\mathrm{expm1}(b d)/b -
    \mathrm{expm1}(a d)/a)` with :math:`a = 1 - \rho`, :math:`b = 2 - \rho`,
    :math:`d = p - \log y`, and :math:`2\mu^{2-\rho}/(2-\rho)` at y = 0, exponentials
    continuing along their tangent beyond 50.
    Reference: Jorgensen, "The Theory of Dispersion Models", 1997; Dunn & Smyth, "Series
    evaluation of Tweedie exponential dispersion model densities", 2005;
    ``sklearn.metrics.mean_tweedie_deviance(y, exp(p), power=power)``.
    """
    a, b = 1.0 - power, 2.0 - power
    nonzero, log_y = _log_target(target)
    d = pred - log_y
    positive = torch.exp(b * log_y) * (expm1_tail(b * d) / b - expm1_tail(a * d) / a)
    return 2.0 * torch.where(nonzero, positive, exp_tail(b * pred) / b)
