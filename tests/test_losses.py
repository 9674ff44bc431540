"""Tests of the loss registry (``losses``): values, properties, stability, gradients, API.

Reference values come from independent implementations (scikit-learn, scipy, plain numpy in
float64, and torch.nn.functional ops the loss in question does not use), never from the
code under test. Tests that apply to every loss are parametrized over ``losses.available()``
(and over ``CASES``: every loss at its defaults plus parameter values that take other code
paths), so a newly registered loss is covered; where it needs a reference, a hand value or
a supremum, the suite fails until one is added.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sps
import torch
import torch.nn.functional as F
from sklearn import metrics as skm

import losses
from losses import InvalidParameterError, LossError, UnknownLossError
from losses.checks import CHECKS, extreme_inputs
from losses.multiclass import tempered_log_softmax

ALL = losses.available()
REGRESSION, BINARY, MULTICLASS = (losses.available(t) for t in losses.TASKS)
SOFT = [n for n in MULTICLASS if losses.spec(n).soft_targets]  # accept probability targets
N, C, K = 12, 4, 3

# parameter values beyond the defaults that take other code paths or matter for a property
EXTRA_PARAMS = {
    "huber": [{"delta": 0.5}, {"delta": 2.0}],
    "pseudo_huber": [{"delta": 0.3}],
    "quantile": [{"q": 0.1}, {"q": 0.9}],
    "epsilon_insensitive": [{"epsilon": 0.0}, {"epsilon": 0.5}],
    "cauchy": [{"c": 2.5}],
    "geman_mcclure": [{"c": 0.5}],
    "welsch": [{"c": 3.0}],
    "tukey": [{"c": 1.0}],
    "barron": [{"alpha": a, "c": c} for a, c in
               [(2.0, 1.0), (0.0, 2.0), (-2.0, 1.0), (-math.inf, 0.7), (0.5, 1.0),
                (-0.5, 1.5), (4.0, 1.0), (1.0, 2.5), (2.0, 0.6), (4.0, 1.7), (math.inf, 1.3)]],
    "scaled_barron": [{"alpha": a, "c": c} for a, c in
                      [(2.0, 1.0), (0.0, 2.0), (-2.0, 0.5), (-math.inf, 0.7), (math.inf, 1.3)]],
    "expectile": [{"tau": 0.1}, {"tau": 0.9}],
    "tweedie": [{"power": 1.01}, {"power": 1.99}],
    "ramp": [{"s": -0.5}, {"s": -3.0}],
    "focal": [{"gamma": 0.0, "alpha": 0.5}, {"gamma": 0.5, "alpha": 0.9}],
    "smooth_hinge": [{"gamma": 0.5}],
    "kl": [{"smoothing": 0.2}],
    "label_smoothing_ce": [{"smoothing": 0.0}, {"smoothing": 0.4}],
    "focal_ce": [{"gamma": 0.0}, {"gamma": 0.5}],
    "gce": [{"q": 1.0}, {"q": 0.2}],
    "sce": [{"alpha": 0.0, "beta": 1.0}, {"alpha": 1.0, "beta": 0.5}],
    "nce_rce": [{"alpha": 2.0, "beta": 0.5}],
    "poly1": [{"epsilon": -1.0}, {"epsilon": 2.0}],
    "multiclass_hinge": [{"margin": 2.0}],
    "phuber_ce": [{"tau": 2.0}],
    "taylor_ce": [{"order": 1}, {"order": 6}],
    "agce": [{"a": 1.0, "q": 2.0}, {"a": 4.0, "q": 0.2}],  # the code's default, MNIST
    "aul": [{"a": 3.0, "q": 0.1}, {"a": 1.5, "q": 0.9}],  # MNIST, the code's default
    "anl_ce": [{"alpha": 1.0, "beta": 1.0}, {"alpha": 1.0, "beta": 0.0}],
    "js": [{"pi1": 0.1}, {"pi1": 0.9}],
    "bi_tempered": [{"t1": 1.0, "t2": 1.0}, {"t1": 0.5, "t2": 1.0}, {"t1": 1.0, "t2": 2.0},
                    {"t1": 0.2, "t2": 4.0}],
}
CASES = [(n, {}) for n in ALL] + [(n, p) for n in ALL for p in EXTRA_PARAMS.get(n, [])]


def case_id(case) -> str:
    name, params = case
    return name + "".join(f"-{k}={v}" for k, v in params.items())


def cases(names=None):
    """``CASES`` of the given losses, ready for ``pytest.mark.parametrize``."""
    chosen = [c for c in CASES if names is None or c[0] in names]
    return pytest.mark.parametrize(("name", "params"), chosen, ids=[case_id(c) for c in chosen])


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tensors are tiny: threads only add overhead, and on a busy machine OpenMP's
    spin-waiting makes some ops 50x slower (gradcheck of a softmax: 0.1 s -> 5 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_extra_params_name_real_losses_and_params():
    for name, variants in EXTRA_PARAMS.items():
        known = {p.name for p in losses.spec(name).params}
        assert name in ALL and all(set(v) <= known for v in variants)


# --------------------------------------------------------------------------- helpers


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def away_from_kinks(g: np.random.Generator, size, scale: float = 1.0) -> np.ndarray:
    """Random signed magnitudes in [0.2, 0.7]*scale or [1.3, 3]*scale: far from 0 and +-scale.

    Regression residuals (kinks at 0 for mae, at +-delta for huber, +-epsilon, +-c for
    tukey) and binary scores (kinks at margins 1 and -1, and 1 - gamma for smooth_hinge)
    built this way avoid every kink.
    """
    small = g.uniform(0.2, 0.7, size)
    large = g.uniform(1.3, 3.0, size)
    mag = np.where(g.random(size) < 0.5, small, large) * scale
    return mag * g.choice([-1.0, 1.0], size)


def kink_scale(params: dict) -> float:
    for key in ("delta", "epsilon", "c"):
        if params.get(key):
            return params[key]
    return 1.0


def make_inputs(name: str, params: dict | None = None, *, batch: tuple[int, ...] = (),
                dtype=torch.float64, seed: int = 0,
                prob_target: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Canonical (pred, target) for loss ``name``, with leading dims ``batch`` + ``[N]``."""
    g = rng(seed)
    s = losses.spec(name)
    shape = (*batch, N)
    if s.task == "regression":
        if s.link == "log":  # the prediction is log(mu); targets in the family's domain
            target = g.exponential(2.0, shape)
            if 0.0 in s.target_domain:
                target.flat[0] = 0.0  # exact zeros: the y = 0 branch
            else:
                target += 0.1
            pred = np.log(target + 0.5) + g.normal(scale=0.7, size=shape)
        elif name == "msle":  # non-negative targets and (for scikit-learn) predictions
            target = g.exponential(2.0, shape)
            pred = target * np.exp(g.uniform(-1.0, 1.0, shape)) + g.uniform(0.1, 1.0, shape)
        else:
            scale = kink_scale(losses.get(name, **(params or {})).params)
            target = g.normal(size=shape)
            pred = target + away_from_kinks(g, shape, scale)
        return torch.tensor(pred, dtype=dtype), torch.tensor(target, dtype=dtype)
    if s.task == "binary":
        y = g.integers(0, 2, shape).astype(float)
        y.flat[0], y.flat[1] = 0.0, 1.0  # both classes always present
        return torch.tensor(away_from_kinks(g, shape), dtype=dtype), torch.tensor(y, dtype=dtype)
    logits = torch.tensor(g.normal(scale=2.0, size=(*shape, C)), dtype=dtype)
    if prob_target:
        q = sps.softmax(g.normal(size=(*shape, C)), axis=-1)
        return logits, torch.tensor(q, dtype=dtype)
    return logits, torch.tensor(g.integers(0, C, shape), dtype=torch.int64)


def np64(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().astype(np.float64)


def one_hot_np(y: np.ndarray, c: int) -> np.ndarray:
    return np.eye(c)[y] if y.dtype.kind in "iu" else y


# --------------------------------------------------------- 1. independent references
# Each takes numpy float64 (pred, target, **params) and returns what loss(pred, target)
# returns (usually the mean). Multiclass references take index or probability targets.


def rho_barron_np(x, alpha, c):
    """Barron (CVPR 2019) eq. 1 and its limits, transcribed: rho(x, alpha, c) per residual."""
    z = (x / c) ** 2
    if alpha == 2:
        return 0.5 * z
    if alpha == 0:
        return np.log(0.5 * z + 1.0)
    if alpha == -np.inf:
        return 1.0 - np.exp(-0.5 * z)
    if alpha == np.inf:
        return np.exp(0.5 * z) - 1.0
    b = abs(alpha - 2.0)
    return b / alpha * ((z / b + 1.0) ** (alpha / 2.0) - 1.0)


def ref_barron(p, y, *, alpha, c):
    return np.mean(rho_barron_np(p - y, alpha, c))


def ref_scaled_barron(p, y, *, alpha, c):
    return c**2 * ref_barron(p, y, alpha=alpha, c=c)


def ref_tukey(p, y, *, c):
    r = p - y
    return np.mean(np.where(np.abs(r) <= c, c**2 / 6 * (1 - (1 - (r / c) ** 2) ** 3), c**2 / 6))


def ref_hinge(s, y):
    # sklearn.metrics.hinge_loss re-encodes binary labels with LabelBinarizer(neg_label=-1)
    # fitted on y_true itself: {0, 1} -> {-1, +1} only when both classes occur in y_true.
    assert set(np.unique(y)) == {0.0, 1.0}, "sklearn hinge_loss needs both classes present"
    return skm.hinge_loss(y.astype(int), s)


def margin_np(s, y):
    return (2 * y - 1) * s


def ref_focal(s, y, *, gamma, alpha):
    p_t = sps.expit(margin_np(s, y))
    alpha_t = np.where(y == 1, alpha, 1 - alpha)
    return np.mean(-alpha_t * (1 - p_t) ** gamma * np.log(p_t))


def ref_modified_huber(s, y):
    m = margin_np(s, y)
    return np.mean(np.where(m >= -1, np.maximum(0, 1 - m) ** 2, -4 * m))


def ref_smooth_hinge(s, y, *, gamma):
    m = margin_np(s, y)
    return np.mean(np.where(m >= 1, 0.0, np.where(m > 1 - gamma, (1 - m) ** 2 / (2 * gamma),
                                                   1 - m - gamma / 2)))


def ref_ramp(score, y, *, s):
    # Collobert et al. (2006): H_1(m) - H_s(m), H_a(m) = max(0, a - m)
    m = margin_np(score, y)
    return np.mean(np.maximum(0.0, 1.0 - m) - np.maximum(0.0, s - m))


def smoothed_np(t, c, eps):
    return (1 - eps) * t + eps / c


def ref_softmax_ce(z, y, smoothing=0.0):
    t = smoothed_np(one_hot_np(y, z.shape[-1]), z.shape[-1], smoothing)
    return np.mean(-(t * sps.log_softmax(z, axis=-1)).sum(-1))


def ref_kl(z, y, *, smoothing):
    t = smoothed_np(one_hot_np(y, z.shape[-1]), z.shape[-1], smoothing)
    return np.mean(sps.rel_entr(t, sps.softmax(z, axis=-1)).sum(-1))


def ref_focal_ce(z, y, *, gamma):
    t, p = one_hot_np(y, z.shape[-1]), sps.softmax(z, axis=-1)
    return np.mean(-(t * (1 - p) ** gamma * np.log(p)).sum(-1))


def ref_mae_cls(z, y):
    return np.mean(np.abs(sps.softmax(z, axis=-1) - one_hot_np(y, z.shape[-1])).sum(-1))


def ref_gce(z, y, *, q):
    t, p = one_hot_np(y, z.shape[-1]), sps.softmax(z, axis=-1)
    return np.mean((t * (1 - p**q) / q).sum(-1))


def rce_np(z, y):
    t, p = one_hot_np(y, z.shape[-1]), sps.softmax(z, axis=-1)
    return -(p * np.log(np.maximum(t, np.exp(-4.0)))).sum(-1)  # log 0 := A = -4


def ref_sce(z, y, *, alpha, beta):
    return alpha * ref_softmax_ce(z, y) + beta * np.mean(rce_np(z, y))


def ref_nce_rce(z, y, *, alpha, beta):
    t, logp = one_hot_np(y, z.shape[-1]), sps.log_softmax(z, axis=-1)
    nce = (t * logp).sum(-1) / logp.sum(-1)
    return np.mean(alpha * nce + beta * rce_np(z, y))


def ref_poly1(z, y, *, epsilon):
    t, p = one_hot_np(y, z.shape[-1]), sps.softmax(z, axis=-1)
    return ref_softmax_ce(z, y) + epsilon * np.mean(1 - (t * p).sum(-1))


def ref_multiclass_hinge(z, y, *, margin):
    z_y = np.take_along_axis(z, y[..., None], -1)
    terms = np.maximum(0.0, margin - z_y + z)
    np.put_along_axis(terms, y[..., None], 0.0, -1)  # j != y
    return np.mean(terms.sum(-1) / z.shape[-1])


def softmax_np(z):
    return sps.softmax(z, axis=-1)


def p_true_np(z, y):
    """p_y for class indices y."""
    return np.take_along_axis(softmax_np(z), y[..., None], -1)[..., 0]


def ref_phuber_ce(z, y, *, tau):
    # Menon et al. (2020), section 4, on p = p_y
    p = p_true_np(z, y)
    return np.mean(np.where(p <= 1 / tau, -tau * p + np.log(tau) + 1, -np.log(p)))


def ref_taylor_ce(z, y, *, order):
    u = 1 - p_true_np(z, y)
    return np.mean(sum(u**k / k for k in range(1, order + 1)))


def ref_agce(z, y, *, a, q):
    # hitcszx/ALFs lnl/losses.py AGCELoss.forward, in numpy
    p = (one_hot_np(y, z.shape[-1]) * softmax_np(z)).sum(-1)
    return np.mean(((a + 1) ** q - (a + p) ** q) / q)


def ref_aul(z, y, *, a, q):
    # hitcszx/ALFs lnl/losses.py AUELoss.forward, in numpy
    p = (one_hot_np(y, z.shape[-1]) * softmax_np(z)).sum(-1)
    return np.mean(((a - p) ** q - (a - 1) ** q) / q)


def ref_anl_ce(z, y, *, alpha, beta):
    # Virusdoll/Active-Negative-Loss loss.py: NormalizedCrossEntropy and
    # NormalizedNegativeCrossEntropy(min_prob=1e-7), in numpy
    t = one_hot_np(y, z.shape[-1])
    logp = sps.log_softmax(z, axis=-1)
    nce = -(t * logp).sum(-1) / -logp.sum(-1)
    a_min = -np.log(1e-7)
    shifted = a_min + np.log(np.clip(softmax_np(z), 1e-7, 1))
    nnce = 1 - (t * shifted).sum(-1) / shifted.sum(-1)
    return np.mean(alpha * nce + beta * nnce)


def ref_js(z, y, *, pi1):
    # Englesson & Azizpour (2021): JS_pi(t, p) / Z, with scipy's rel_entr (0 log 0 = 0)
    t, p = one_hot_np(y, z.shape[-1]), softmax_np(z)
    m = pi1 * t + (1 - pi1) * p
    js_ = pi1 * sps.rel_entr(t, m).sum(-1) + (1 - pi1) * sps.rel_entr(p, m).sum(-1)
    return np.mean(js_ / (-(1 - pi1) * np.log(1 - pi1)))


def log_t_np(u, t):
    return np.log(u) if t == 1.0 else (u ** (1.0 - t) - 1.0) / (1.0 - t)


def exp_t_np(u, t):
    return np.exp(u) if t == 1.0 else np.maximum(1.0 + (1.0 - t) * u, 0.0) ** (1.0 / (1.0 - t))


def tempered_softmax_np(a, t, num_iters=2000):
    """google/bi-tempered-loss tensorflow/loss.py: compute_normalization_fixed_point and
    tempered_softmax, in numpy (the authors' fixed-point iteration, run to convergence)."""
    if t == 1.0:
        return softmax_np(a)
    mu = a.max(-1, keepdims=True)
    a0 = a - mu
    na = a0
    for _ in range(num_iters):
        partition = exp_t_np(na, t).sum(-1, keepdims=True)
        na = a0 * partition ** (1.0 - t)
    partition = exp_t_np(na, t).sum(-1, keepdims=True)
    return exp_t_np(a - (-log_t_np(1.0 / partition, t) + mu), t)


def ref_bi_tempered(z, y, *, t1, t2):
    # the authors' loss_values of bi_tempered_logistic_loss (without their 1e-10 added to
    # the labels inside log_t; y log_t y is taken as 0 at y = 0)
    t, p = one_hot_np(y, z.shape[-1]), tempered_softmax_np(z, t2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ylogy = np.where(t > 0, t * log_t_np(np.where(t > 0, t, 1.0), t1), 0.0)
    per = ylogy - t * log_t_np(p, t1) - (t ** (2 - t1) - p ** (2 - t1)) / (2 - t1)
    return np.mean(per.sum(-1))


def ref_log_loss(z, y):
    labels = list(range(z.shape[-1]))
    return skm.log_loss(y.reshape(-1), sps.softmax(z, axis=-1).reshape(-1, z.shape[-1]),
                        labels=labels)


REFERENCES = {
    # regression: scikit-learn metrics where one exists, scipy, closed forms
    "mse": lambda p, y: skm.mean_squared_error(y, p),
    "mae": lambda p, y: skm.mean_absolute_error(y, p),
    "rmse": lambda p, y: skm.root_mean_squared_error(y, p),
    "msle": lambda p, y: skm.mean_squared_log_error(y, p),
    "huber": lambda p, y, *, delta: np.mean(sps.huber(delta, p - y)),
    "pseudo_huber": lambda p, y, *, delta: np.mean(sps.pseudo_huber(delta, p - y)),
    "log_cosh": lambda p, y: np.mean(np.log(np.cosh(p - y))),
    "quantile": lambda p, y, *, q: skm.mean_pinball_loss(y, p, alpha=q),
    "epsilon_insensitive": lambda p, y, *, epsilon: np.mean(
        np.maximum(0.0, np.abs(p - y) - epsilon)),
    # cauchy in its other common form, k^2/2 log(1 + (r/k)^2) with k = c sqrt(2)
    "cauchy": lambda p, y, *, c: np.mean((2 * c**2) / 2 * np.log(1 + (p - y) ** 2 / (2 * c**2))),
    "geman_mcclure": lambda p, y, *, c: np.mean(2 * c**2 * (p - y) ** 2
                                                / ((p - y) ** 2 + 4 * c**2)),
    "welsch": lambda p, y, *, c: np.mean(c**2 * (1 - np.exp(-((p - y) ** 2) / (2 * c**2)))),
    "tukey": ref_tukey,
    "barron": ref_barron,
    "scaled_barron": ref_scaled_barron,
    "expectile": lambda p, y, *, tau: np.mean(np.where(y - p < 0, 1 - tau, tau) * (y - p) ** 2),
    # the log link: scikit-learn's deviances of mu = exp(p)
    "poisson": lambda p, y: skm.mean_poisson_deviance(y, np.exp(p)),
    "gamma": lambda p, y: skm.mean_gamma_deviance(y, np.exp(p)),
    "tweedie": lambda p, y, *, power: skm.mean_tweedie_deviance(y, np.exp(p), power=power),
    # binary
    "hinge": ref_hinge,
    "squared_hinge": lambda s, y: np.mean(np.maximum(0.0, 1 - margin_np(s, y)) ** 2),
    "bce": lambda s, y: skm.log_loss(y.astype(int), sps.expit(s), labels=[0, 1]),
    "focal": ref_focal,
    "modified_huber": ref_modified_huber,
    "exponential": lambda s, y: np.mean(np.exp(-margin_np(s, y))),
    "smooth_hinge": ref_smooth_hinge,
    "ramp": ref_ramp,
    "savage": lambda s, y: np.mean(1.0 / (1.0 + np.exp(2.0 * margin_np(s, y))) ** 2),
    # multiclass
    "ce": lambda z, y: ref_log_loss(z, y) if y.dtype.kind in "iu" else ref_softmax_ce(z, y),
    "sparse_ce": ref_log_loss,
    "kl": ref_kl,
    "label_smoothing_ce": lambda z, y, *, smoothing: ref_softmax_ce(z, y, smoothing),
    "focal_ce": ref_focal_ce,
    "mae_cls": ref_mae_cls,
    "gce": ref_gce,
    "sce": ref_sce,
    "nce_rce": ref_nce_rce,
    "poly1": ref_poly1,
    "multiclass_hinge": ref_multiclass_hinge,
    "phuber_ce": ref_phuber_ce,
    "taylor_ce": ref_taylor_ce,
    "agce": ref_agce,
    "aul": ref_aul,
    "anl_ce": ref_anl_ce,
    "js": ref_js,
    "bi_tempered": ref_bi_tempered,
}



@cases()
def test_matches_independent_reference(name, params):
    assert name in REFERENCES, f"add an independent reference for the new loss {name!r}"
    loss = losses.get(name, **params)
    pred, target = make_inputs(name, params)
    expected = REFERENCES[name](np64(pred), target.numpy(), **loss.params)
    assert float(loss(pred, target)) == pytest.approx(expected, rel=1e-10, abs=1e-12)
    # the default float32 path agrees to single precision
    got32 = float(loss(pred.float(), target if not target.is_floating_point() else target.float()))
    assert got32 == pytest.approx(expected, rel=2e-5, abs=1e-6)


@cases(SOFT)
def test_probability_target_matches_reference(name, params):
    loss = losses.get(name, **params)
    logits, q = make_inputs(name, params, prob_target=True, seed=11)
    expected = REFERENCES[name](np64(logits), q.numpy(), **loss.params)
    assert float(loss(logits, q)) == pytest.approx(expected, rel=1e-10, abs=1e-12)


@cases(SOFT)
def test_one_hot_probability_target_equals_index(name, params):
    loss = losses.get(name, **params)
    logits, idx = make_inputs(name, params, seed=4)
    one_hot = F.one_hot(idx, C).to(logits.dtype)
    torch.testing.assert_close(loss.unreduced(logits, one_hot), loss.unreduced(logits, idx))


def test_ce_indices_against_sklearn_log_loss_per_sample():
    g = rng(3)
    z = g.normal(size=(15, C))
    y = g.integers(0, C, 15)
    p = sps.softmax(z, axis=1)
    per_sample = [skm.log_loss([y[i]], p[i : i + 1], labels=list(range(C))) for i in range(15)]
    for name in ("ce", "sparse_ce"):
        got = losses.get(name).unreduced(torch.tensor(z), torch.tensor(y)).numpy()
        np.testing.assert_allclose(got, per_sample, rtol=1e-10)


@pytest.mark.parametrize("name", ["huber", "pseudo_huber"])
@pytest.mark.parametrize("delta", [0.5, 2.0])
def test_huber_family_against_scipy_per_sample(name, delta):
    r = np.array([-5.0, -2.5, -1.5, -0.9, -0.3, 0.0, 0.1, 0.4, 0.8, 1.2, 1.9, 3.0, 7.0])
    assert (np.abs(r) < delta).any() and (np.abs(r) > delta).any()  # both sides of delta
    scipy_fn = sps.huber if name == "huber" else sps.pseudo_huber
    y = torch.linspace(-1.0, 1.0, len(r), dtype=torch.float64)
    got = losses.get(name, delta=delta).unreduced(y + torch.tensor(r), y).numpy()
    np.testing.assert_allclose(got, scipy_fn(delta, r), rtol=1e-12, atol=1e-14)


# ------------------------------------- torch.nn.functional ops the losses do not use


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0])
def test_smooth_hinge_is_scaled_huber_of_the_hinge(gamma):
    s, y = make_inputs("smooth_hinge", seed=12)
    u = (1 - (2 * y - 1) * s).clamp_min(0)
    expected = F.huber_loss(u, torch.zeros_like(u), delta=gamma, reduction="none") / gamma
    torch.testing.assert_close(losses.get("smooth_hinge", gamma=gamma).unreduced(s, y), expected)


def test_modified_huber_is_twice_huber_of_the_hinge_at_delta_2():
    s = torch.linspace(-4.0, 4.0, 81, dtype=torch.float64)
    y = (torch.arange(81) % 2).double()
    u = (1 - (2 * y - 1) * s).clamp_min(0)
    expected = 2 * F.huber_loss(u, torch.zeros_like(u), delta=2.0, reduction="none")
    torch.testing.assert_close(losses.get("modified_huber").unreduced(s, y), expected)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.45])
def test_smoothing_losses_against_torch_cross_entropy_and_kl_div(smoothing):
    for prob in (False, True):
        z, t = make_inputs("kl", prob_target=prob, seed=13)
        want_ce = F.cross_entropy(z, t, label_smoothing=smoothing, reduction="none")
        got_ce = losses.get("label_smoothing_ce", smoothing=smoothing).unreduced(z, t)
        torch.testing.assert_close(got_ce, want_ce)
        dist = F.one_hot(t, C).double() if not prob else t
        dist = (1 - smoothing) * dist + smoothing / C
        want_kl = F.kl_div(torch.log_softmax(z, -1), dist, reduction="none").sum(-1)
        torch.testing.assert_close(losses.get("kl", smoothing=smoothing).unreduced(z, t), want_kl)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_focal_at_gamma_0_is_weighted_bce(dtype):
    s, y = make_inputs("focal", dtype=dtype, seed=14)
    bce = F.binary_cross_entropy_with_logits(s, y, reduction="none")
    focal = losses.get("focal", gamma=0.0, alpha=0.3).unreduced(s, y)
    torch.testing.assert_close(focal, torch.where(y == 1, 0.3, 0.7).to(dtype) * bce)


def test_multiclass_hinge_is_weston_watkins_not_crammer_singer():
    z = torch.tensor([[3.0, 2.5, 2.8, -1.0]], dtype=torch.float64)
    y = torch.tensor([0])
    # two classes violate the margin: WW sums both hinges (0.5 + 0.8) / C; CS counts one
    assert float(losses.get("multiclass_hinge")(z, y)) == pytest.approx((0.5 + 0.8) / 4)
    assert float(F.multi_margin_loss(z, y)) == pytest.approx((0.5 + 0.8) / 4)
    assert skm.hinge_loss([0], z.numpy(), labels=[0, 1, 2, 3]) == pytest.approx(0.8)


# ----------------------------------------------------- relations between the losses


def per_sample(name, pred, target, **params):
    return losses.get(name, **params).unreduced(pred, target)


@pytest.mark.parametrize("c", [0.5, 1.0, 3.0])
def test_barron_special_cases(c):
    """scaled_barron (c^2 rho) equals the named losses of the same c; barron (rho as
    published) is the same divided by c^2."""
    y = torch.zeros(41, dtype=torch.float64)
    r = torch.linspace(-10.0, 10.0, 41, dtype=torch.float64)
    special = {2.0: 0.5 * per_sample("mse", r, y),
               1.0: per_sample("pseudo_huber", r, y, delta=c),
               0.0: per_sample("cauchy", r, y, c=c),
               -2.0: per_sample("geman_mcclure", r, y, c=c),
               -math.inf: per_sample("welsch", r, y, c=c)}
    for alpha, expected in special.items():
        # at alpha = 2 that is r^2 / 2 whatever c: the robust losses share r^2/2 near 0
        got = per_sample("scaled_barron", r, y, alpha=alpha, c=c)
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)
        rho = per_sample("barron", r, y, alpha=alpha, c=c)
        torch.testing.assert_close(rho, expected / c**2, rtol=1e-12, atol=1e-14)


def barron_lossfun_np(x, alpha, scale):
    """jonbarron/robust_loss_pytorch general.py ``lossfun`` (approximate=False), in numpy
    with its util.*_safe clamps: the author's reference implementation."""
    squared_scaled_x = (x / scale) ** 2
    if alpha == -np.inf:
        return -np.expm1(-0.5 * squared_scaled_x)
    if alpha == 0:
        return np.log1p(np.minimum(0.5 * squared_scaled_x, 33e37))
    if alpha == 2:
        return 0.5 * squared_scaled_x
    if alpha == np.inf:
        return np.expm1(np.minimum(0.5 * squared_scaled_x, 87.5))
    eps = np.finfo(np.float32).eps
    beta_safe = max(eps, abs(alpha - 2.0))
    alpha_safe = np.sign(alpha) * max(eps, abs(alpha)) if alpha != 0 else eps
    return (beta_safe / alpha_safe) * ((squared_scaled_x / beta_safe + 1.0) ** (0.5 * alpha) - 1.0)


@pytest.mark.parametrize("c", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("alpha", [-math.inf, -2.0, 0.0, 1.0, 2.0, 4.0, math.inf])
def test_barron_equals_the_paper_and_the_authors_code(alpha, c):
    """Issue 17: rho(x, alpha, c) of Barron (CVPR 2019) eq. 1 and its limits, against this
    file's transcription of the paper and against the author's reference implementation,
    for residuals up to 10 c (where rho at alpha = +inf is e^50, the end of the exact range)."""
    r = np.linspace(-10.0, 10.0, 81) * c
    r = r[np.abs(r) > 0] if alpha == 0 else r
    y = np.zeros_like(r)
    got = per_sample("barron", torch.tensor(r), torch.tensor(y), alpha=alpha, c=c).numpy()
    np.testing.assert_allclose(got, rho_barron_np(r, alpha, c), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got, barron_lossfun_np(r, alpha, c), rtol=1e-9, atol=1e-15)
    scaled = per_sample("scaled_barron", torch.tensor(r), torch.tensor(y), alpha=alpha, c=c)
    np.testing.assert_allclose(scaled.numpy(), c**2 * got, rtol=1e-14)


def test_barron_at_plus_infinity_continues_along_its_tangent_beyond_e50():
    c = 0.5
    x = torch.tensor([9.0, 10.0, 11.0, 1e3], dtype=torch.float64) * c
    per = per_sample("barron", x, torch.zeros(4, dtype=torch.float64), alpha=math.inf, c=c)
    u = (x / c) ** 2 / 2  # 40.5, 50, 60.5, 5e5
    e50 = math.exp(50.0)
    expected = [math.expm1(40.5), e50 - 1, e50 - 1 + e50 * (60.5 - 50), e50 - 1 + e50 * (5e5 - 50)]
    torch.testing.assert_close(per, torch.tensor(expected, dtype=torch.float64), rtol=1e-8,
                               atol=0)
    assert float(u[1]) == pytest.approx(50.0)


@pytest.mark.parametrize("alpha", [2.0, 0.0])
def test_barron_is_continuous_at_its_special_cases(alpha):
    y = torch.zeros(21, dtype=torch.float64)
    r = torch.linspace(-5.0, 5.0, 21, dtype=torch.float64)
    at = per_sample("barron", r, y, alpha=alpha)
    for nearby in (alpha - 1e-7, alpha + 1e-7):
        torch.testing.assert_close(per_sample("barron", r, y, alpha=nearby), at, rtol=1e-6,
                                   atol=1e-12)
    far = per_sample("barron", r, y, alpha=-1e7)  # the alpha -> -inf limit is welsch
    torch.testing.assert_close(far, per_sample("welsch", r, y, c=1.0), rtol=1e-5, atol=1e-9)


def test_reductions_of_other_losses():
    """Each special case a docstring promises."""
    z, idx = make_inputs("ce", seed=15)
    ce = per_sample("ce", z, idx)
    for name, params in [("sparse_ce", {}), ("kl", {"smoothing": 0.0}),
                         ("label_smoothing_ce", {"smoothing": 0.0}), ("focal_ce", {"gamma": 0.0}),
                         ("poly1", {"epsilon": 0.0}), ("sce", {"alpha": 1.0, "beta": 0.0})]:
        torch.testing.assert_close(per_sample(name, z, idx, **params), ce, msg=name)
    torch.testing.assert_close(per_sample("gce", z, idx, q=1.0), per_sample("mae_cls", z, idx) / 2)
    torch.testing.assert_close(per_sample("gce", z, idx, q=1e-7), ce, rtol=1e-5, atol=1e-6)
    # kl and label_smoothing_ce differ by the target's entropy, a constant
    diff = per_sample("label_smoothing_ce", z, idx, smoothing=0.3) - per_sample(
        "kl", z, idx, smoothing=0.3)
    torch.testing.assert_close(diff, torch.full_like(diff, float(diff[0])))

    p, y = make_inputs("mae", seed=16)
    torch.testing.assert_close(per_sample("epsilon_insensitive", p, y, epsilon=0.0),
                               per_sample("mae", p, y))
    torch.testing.assert_close(per_sample("quantile", p, y, q=0.5), per_sample("mae", p, y) / 2)
    s, t = make_inputs("hinge", seed=17)
    torch.testing.assert_close(per_sample("focal", s, t, gamma=0.0, alpha=0.5),
                               per_sample("bce", s, t) / 2)
    torch.testing.assert_close(per_sample("smooth_hinge", s, t, gamma=1e-9),
                               per_sample("hinge", s, t), atol=1e-8, rtol=0)


def test_relations_of_the_added_losses():
    """The special cases and limits the new losses' docstrings promise."""
    z, idx = make_inputs("ce", seed=22)
    ce = per_sample("ce", z, idx)
    torch.testing.assert_close(per_sample("taylor_ce", z, idx, order=1),
                               per_sample("mae_cls", z, idx) / 2)
    p_y = torch.softmax(z, -1).gather(-1, idx[:, None])[:, 0]
    fast = p_y > 0.2  # the series of -log p_y in (1 - p_y) converges to ce, slowly near 0
    assert fast.sum() >= 3
    torch.testing.assert_close(per_sample("taylor_ce", z, idx, order=100)[fast], ce[fast])
    torch.testing.assert_close(per_sample("bi_tempered", z, idx, t1=1.0, t2=1.0), ce)
    torch.testing.assert_close(per_sample("js", z, idx, pi1=1e-6), ce, rtol=1e-4, atol=1e-6)
    # bi-tempered at t2 = 1: gce with q = 1 - t1, minus the bias term (1 - sum p^(2-t1))/(2-t1)
    p = torch.softmax(z, -1)
    bias = (1 - p.pow(1.5).sum(-1)) / 1.5
    torch.testing.assert_close(per_sample("bi_tempered", z, idx, t1=0.5, t2=1.0),
                               per_sample("gce", z, idx, q=0.5) - bias)
    # anl_ce without its negative part is nce_rce without its passive part
    torch.testing.assert_close(per_sample("anl_ce", z, idx, alpha=2.0, beta=0.0),
                               per_sample("nce_rce", z, idx, alpha=2.0, beta=0.0))
    # phuber_ce is ce wherever p_y > 1/tau
    above = p.gather(-1, idx[:, None])[:, 0] > 0.5
    assert above.any() and (~above).any()
    torch.testing.assert_close(per_sample("phuber_ce", z, idx, tau=2.0)[above], ce[above])
    # a probability target: bi_tempered at t1 = t2 = 1 is kl (the divergence), not ce
    zq, q = make_inputs("kl", prob_target=True, seed=23)
    torch.testing.assert_close(per_sample("bi_tempered", zq, q, t1=1.0, t2=1.0),
                               per_sample("kl", zq, q))

    pr, y = make_inputs("mse", seed=24)
    torch.testing.assert_close(per_sample("expectile", pr, y, tau=0.5),
                               per_sample("mse", pr, y) / 2)
    torch.testing.assert_close(per_sample("scaled_barron", pr, y, alpha=2.0, c=3.0),
                               per_sample("mse", pr, y) / 2)
    eta, counts = make_inputs("poisson", seed=25)
    torch.testing.assert_close(per_sample("tweedie", eta, counts, power=1 + 1e-7),
                               per_sample("poisson", eta, counts), rtol=1e-5, atol=1e-6)
    positive = counts + 0.5
    torch.testing.assert_close(per_sample("tweedie", eta, positive, power=2 - 1e-7),
                               per_sample("gamma", eta, positive), rtol=1e-5, atol=1e-6)
    s_, t_ = make_inputs("hinge", seed=26)
    torch.testing.assert_close(per_sample("ramp", s_, t_, s=-1e9), per_sample("hinge", s_, t_))


@pytest.mark.parametrize("tau", [0.1, 0.5, 0.9])
def test_expectile_is_minimised_at_scipy_s_expectile(tau):
    """The constant that minimises the mean expectile loss is the tau-expectile of the
    sample (``scipy.stats.expectile``): the gradient vanishes there and nowhere near it."""
    from scipy.stats import expectile as scipy_expectile

    y = torch.tensor(rng(27).standard_t(3, size=200))
    loss = losses.get("expectile", tau=tau)

    def grad_at(value):
        c = torch.full_like(y, value, requires_grad=True)
        loss(c, y).backward()
        return float(c.grad.sum())

    e = scipy_expectile(y.numpy(), alpha=tau)
    assert abs(grad_at(e)) < 1e-12
    assert grad_at(e - 0.01) < -1e-4 and grad_at(e + 0.01) > 1e-4


def test_poisson_deviance_against_torch_poisson_nll_up_to_terms_in_y():
    """torch's PoissonNLLLoss(log_input=True) is exp(p) - y p (the terms in y dropped): the
    deviance is twice that plus 2 (y log y - y)."""
    eta, y = make_inputs("poisson", seed=28)
    nll = F.poisson_nll_loss(eta, y, log_input=True, full=False, reduction="none")
    expected = 2 * nll + 2 * (torch.xlogy(y, y) - y)
    torch.testing.assert_close(per_sample("poisson", eta, y), expected)


def test_rmse_is_the_root_of_mse_and_has_a_gradient_at_a_perfect_fit():
    p, y = make_inputs("rmse", seed=18)
    assert float(losses.get("rmse")(p, y)) == pytest.approx(
        math.sqrt(float(losses.get("mse")(p, y))), rel=1e-12)
    pred = y.clone().requires_grad_(True)
    out = losses.get("rmse")(pred, y)
    out.backward()
    assert out.item() == 0.0 and torch.equal(pred.grad, torch.zeros_like(y))


def test_msle_negative_predictions_follow_the_tangent():
    pred = torch.tensor([-0.5, -3.0, 0.0, 1.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.0, 2.0, 0.0, 1.0], dtype=torch.float64)
    per = losses.get("msle").unreduced(pred, y)
    expected = torch.tensor([0.25, (-3.0 - math.log(3.0)) ** 2, 0.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(per, expected)
    per.sum().backward()
    assert (pred.grad[:2] < 0).all()  # descent moves negative predictions up
    assert torch.autograd.gradcheck(lambda p: losses.get("msle").unreduced(p, y),
                                    (torch.tensor([-0.7, -0.2, 0.3, 2.0], dtype=torch.float64,
                                                  requires_grad=True),))


def test_exponential_tail_is_linear_and_continuous():
    loss = losses.get("exponential")
    y = torch.ones(3, dtype=torch.float64)
    s = torch.tensor([-50.0 + 1e-9, -60.0, -1e4], dtype=torch.float64, requires_grad=True)
    per = loss.unreduced(s, y)
    e50 = math.exp(50.0)
    torch.testing.assert_close(per, torch.tensor([e50, 11 * e50, (1 + 1e4 - 50) * e50],
                                                 dtype=torch.float64), rtol=1e-8, atol=0)
    per.sum().backward()
    torch.testing.assert_close(s.grad, torch.full((3,), -e50, dtype=torch.float64), rtol=1e-8,
                               atol=0)


LN3, LN2 = math.log(3.0), math.log(2.0)
HAND = [
    # (name, params, pred, target, expected mean)
    ("mse", {}, [1.0, 2.0], [0.0, 0.0], 2.5),
    ("mae", {}, [1.0, -3.0], [0.0, 0.0], 2.0),
    ("rmse", {}, [3.0, 4.0], [0.0, 0.0], math.sqrt(12.5)),
    ("msle", {}, [math.e - 1.0], [0.0], 1.0),
    ("msle", {}, [-0.5], [0.0], 0.25),
    ("huber", {"delta": 1.0}, [3.0], [0.0], 2.5),
    ("huber", {"delta": 1.0}, [0.5], [0.0], 0.125),
    ("huber", {"delta": 0.5}, [0.0, 2.0], [0.0, 0.0], 0.4375),
    ("pseudo_huber", {"delta": 1.0}, [math.sqrt(3.0)], [0.0], 1.0),
    ("pseudo_huber", {"delta": 2.0}, [1.0 + 2.0 * math.sqrt(3.0)], [1.0], 4.0),
    ("log_cosh", {}, [math.log(2.0 + math.sqrt(3.0))], [0.0], LN2),  # cosh = 2
    ("quantile", {"q": 0.9}, [0.0, 1.0], [1.0, 0.0], 0.5),  # 0.9 under, 0.1 over
    ("epsilon_insensitive", {"epsilon": 0.5}, [2.0, 0.3], [0.0, 0.0], 0.75),
    ("cauchy", {"c": 1.0}, [math.sqrt(2.0 * (math.e - 1.0))], [0.0], 1.0),
    ("geman_mcclure", {"c": 2.0}, [4.0], [0.0], 4.0),
    ("welsch", {"c": 1.0}, [math.sqrt(2.0 * LN2)], [0.0], 0.5),
    ("tukey", {"c": 2.0}, [1.0, 5.0], [0.0, 0.0], (2 / 3 * (1 - 0.75**3) + 2 / 3) / 2),
    ("barron", {"alpha": 1.0, "c": 1.0}, [math.sqrt(3.0)], [0.0], 1.0),
    ("barron", {"alpha": 4.0, "c": 1.0}, [math.sqrt(2.0)], [0.0], 1.5),
    ("hinge", {}, [0.5], [1.0], 0.5),
    ("hinge", {}, [0.5], [0.0], 1.5),
    ("hinge", {}, [2.0, -2.0], [1.0, 0.0], 0.0),
    ("squared_hinge", {}, [0.5, 0.5], [1.0, 0.0], (0.25 + 2.25) / 2),
    ("bce", {}, [0.0], [1.0], LN2),
    ("bce", {}, [LN3], [1.0], math.log(4.0 / 3.0)),
    ("bce", {}, [LN3], [0.0], math.log(4.0)),
    ("focal", {"gamma": 2.0, "alpha": 0.25}, [0.0, 0.0], [1.0, 0.0],
     (0.25 + 0.75) * 0.25 * LN2 / 2),
    ("modified_huber", {}, [0.5, 2.0, -1.0], [1.0, 0.0, 1.0], (0.25 + 8.0 + 4.0) / 3),
    ("exponential", {}, [LN2], [0.0], 2.0),
    ("smooth_hinge", {"gamma": 1.0}, [0.5, -1.0, 2.0], [1.0, 1.0, 1.0], (0.125 + 1.5) / 3),
    ("ce", {}, [[0.0, 0.0, 0.0]], [2], LN3),
    ("ce", {}, [[LN2, 0.0]], [0], math.log(1.5)),
    ("ce", {}, [[LN2, 0.0]], [[0.5, 0.5]], 0.5 * math.log(1.5) + 0.5 * LN3),
    ("sparse_ce", {}, [[0.0, 0.0, 0.0]], [2], LN3),
    ("kl", {"smoothing": 0.0}, [[LN2, 0.0]], [[0.5, 0.5]], 0.5 * math.log(1.125)),
    ("label_smoothing_ce", {"smoothing": 0.5}, [[LN2, 0.0]], [0],
     0.75 * math.log(1.5) + 0.25 * LN3),
    ("focal_ce", {"gamma": 2.0}, [[LN2, 0.0]], [0], math.log(1.5) / 9),
    ("mae_cls", {}, [[LN2, 0.0]], [0], 2.0 / 3.0),
    ("gce", {"q": 0.5}, [[LN2, 0.0]], [0], (1 - math.sqrt(2 / 3)) / 0.5),
    ("sce", {"alpha": 0.1, "beta": 1.0}, [[LN2, 0.0]], [0], 0.1 * math.log(1.5) + 4 / 3),
    ("nce_rce", {"alpha": 1.0, "beta": 1.0}, [[LN2, 0.0]], [0],
     math.log(1.5) / math.log(4.5) + 4 / 3),
    ("poly1", {"epsilon": 1.0}, [[LN2, 0.0]], [0], math.log(1.5) + 1 / 3),
    ("multiclass_hinge", {"margin": 1.0}, [[2.0, 1.5, 0.0]], [0], 0.5 / 3),
    # Barron's rho as published: (r/c)^2 / 2 at alpha 2, whatever c
    ("barron", {"alpha": 2.0, "c": 2.0}, [2.0], [0.0], 0.5),
    ("barron", {"alpha": 0.0, "c": 2.0}, [2.0 * math.sqrt(2.0 * (math.e - 1.0))], [0.0], 1.0),
    ("barron", {"alpha": -math.inf, "c": 0.5}, [0.5 * math.sqrt(2.0 * LN2)], [0.0], 0.5),
    ("barron", {"alpha": math.inf, "c": 1.0}, [math.sqrt(2.0 * LN2)], [0.0], 1.0),
    ("scaled_barron", {"alpha": 1.0, "c": 2.0}, [2.0 * math.sqrt(3.0)], [0.0], 4.0),
    ("expectile", {"tau": 0.9}, [0.0, 0.0], [1.0, -1.0], 0.5),  # 0.9 under, 0.1 over
    ("poisson", {}, [LN2, 0.0], [0.0, math.e], (4.0 + 2.0) / 2),  # 2 mu at y = 0
    ("gamma", {}, [LN2], [1.0], 2.0 * LN2 - 1.0),
    # 2 (y^0.5 / (-0.25) + 2 y + 2) at mu = 1, y = 4; 2 mu^0.5 / 0.5 at y = 0, mu = 4
    ("tweedie", {"power": 1.5}, [0.0, math.log(4.0)], [4.0, 0.0], (4.0 + 8.0) / 2),
    ("ramp", {"s": -1.0}, [0.5, -3.0, 2.0], [1.0, 1.0, 1.0], (0.5 + 2.0 + 0.0) / 3),
    ("savage", {}, [0.0, LN3 / 2], [1.0, 1.0], (0.25 + 1 / 16) / 2),
    ("phuber_ce", {"tau": 10.0}, [[0.0, math.log(18.0)]] * 2, [0, 1],
     ((-10 / 19 + math.log(10.0) + 1) - math.log(18 / 19)) / 2),
    ("taylor_ce", {"order": 3}, [[0.0, 0.0]], [0], 0.5 + 0.125 + 1 / 24),
    ("agce", {"a": 1.0, "q": 2.0}, [[0.0, 0.0]], [0], (4.0 - 2.25) / 2),
    ("aul", {"a": 2.0, "q": 2.0}, [[0.0, 0.0]], [0], (2.25 - 1.0) / 2),
    # p = (3/4, 1/4): NCE = log(3/4) / log(3/16); NNCE = 1 - (A + log 3/4) / (2A + log 3/16)
    ("anl_ce", {"alpha": 1.0, "beta": 1.0}, [[LN3, 0.0]], [0],
     math.log(0.75) / math.log(3 / 16)
     + 1 - (-math.log(1e-7) + math.log(0.75)) / (-2 * math.log(1e-7) + math.log(3 / 16))),
    # p = t = uniform halves: m = (3/4, 1/4), JS = 3/4 log(4/3), Z = log(2) / 2
    ("js", {"pi1": 0.5}, [[0.0, 0.0]], [0], 1.5 * math.log(4 / 3) / LN2),
    ("bi_tempered", {"t1": 0.5, "t2": 1.0}, [[0.0, 0.0]], [0], (1 - math.sqrt(0.5)) * 4 / 3),
    # t2 = 2: exp_2(x) = 1/(1 - x); logits (0, -1) normalise at 1 + lambda = golden ratio,
    # p = (1/phi, 1/phi^2); at t1 = 1 the loss is -log p_0 = log phi
    ("bi_tempered", {"t1": 1.0, "t2": 2.0}, [[0.0, -1.0]], [0], math.log((1 + 5**0.5) / 2)),
]


@pytest.mark.parametrize(("name", "params", "pred", "target", "expected"), HAND,
                         ids=[f"{h[0]}-{i}" for i, h in enumerate(HAND)])
def test_hand_computed_value(name, params, pred, target, expected):
    got = losses.get(name, **params)(torch.tensor(pred), torch.tensor(target))
    assert float(got) == pytest.approx(expected, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("name", ALL)
def test_every_loss_has_a_hand_computed_value(name):
    assert name in {h[0] for h in HAND}, f"add a hand-computed value for {name!r} to HAND"


# ------------------------------------------------------------------------ 2. properties


def perfect(name: str, params: dict, dtype=torch.float64):
    """(pred, target) where the prediction is as good as it gets."""
    s = losses.spec(name)
    loss = losses.get(name, **params)
    if s.task == "regression":
        y = torch.tensor([0.0, 0.5, 2.0, 7.0], dtype=dtype)
        if s.link == "log":  # mu = exp(pred) = y needs y > 0
            y = y + 0.25
            return y.log(), y
        return y.clone(), y
    if s.task == "binary":
        y = torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=dtype)
        return 60.0 * (2 * y - 1), y
    idx = torch.arange(C)
    smoothing = loss.params.get("smoothing", 0.0)
    if smoothing:  # the best prediction is the smoothed target itself
        t = (1 - smoothing) * F.one_hot(idx, C).to(dtype) + smoothing / C
        return t.log(), idx
    if name == "bi_tempered" and loss.params["t2"] > 1:
        # a heavy-tailed softmax never reaches a one-hot: the divergence is 0 where the
        # target is the prediction's own tempered softmax
        z = torch.tensor(rng(21).normal(size=(C, C)), dtype=dtype)
        return z, tempered_log_softmax(z, loss.params["t2"]).exp()
    return 60.0 * F.one_hot(idx, C).to(dtype), idx


def minimum(name: str, params: dict) -> float:
    """The loss's smallest value: 0, except label_smoothing_ce's entropy of the target."""
    eps = losses.get(name, **params).params.get("smoothing", 0.0)
    if name == "label_smoothing_ce" and eps:
        t = np.full(C, eps / C)
        t[0] += 1 - eps
        return float(-(t * np.log(t)).sum())
    return 0.0


@cases()
def test_non_negative(name, params):
    loss = losses.get(name, **params)
    for seed in range(3):
        pred, target = make_inputs(name, params, seed=seed)
        for scale in (0.1, 1.0, 10.0):
            if loss.task == "regression" and name != "msle" and loss.spec.link == "identity":
                pred_s = target + scale * (pred - target)
            else:
                pred_s = pred * scale
            assert (loss.unreduced(pred_s, target) >= 0).all()


@cases()
def test_minimal_at_a_perfect_prediction(name, params):
    loss = losses.get(name, **params)
    pred, target = perfect(name, params)
    pred.requires_grad_(True)
    out = loss(pred, target)
    assert out.item() == pytest.approx(minimum(name, params), abs=1e-12)
    out.backward()
    if name == "quantile" and params.get("q", 0.5) != 0.5:
        return  # pinball loss: r = 0 is a kink, torch picks a non-zero subgradient there
    assert float(pred.grad.abs().max()) < 1e-10, "not a stationary point"


def harmonic(n: int) -> float:
    return sum(1.0 / k for k in range(1, n + 1))


def js_bound(pi1: float) -> float:
    """H(pi1) / Z: the scaled JS loss at p_y = 0."""
    h = -pi1 * math.log(pi1) - (1 - pi1) * math.log(1 - pi1)
    return h / (-(1 - pi1) * math.log(1 - pi1))


def barron_bound(alpha: float) -> float:
    return 1.0 if alpha == -math.inf else (2 - alpha) / -alpha


# closed-form suprema of the bounded losses (C classes)
SUPREMUM = {
    "geman_mcclure": lambda p: 2 * p["c"] ** 2,
    "welsch": lambda p: p["c"] ** 2,
    "tukey": lambda p: p["c"] ** 2 / 6,
    "barron": lambda p: barron_bound(p["alpha"]),
    "scaled_barron": lambda p: p["c"] ** 2 * barron_bound(p["alpha"]),
    "ramp": lambda p: 1 - p["s"],
    "savage": lambda p: 1.0,
    "mae_cls": lambda p: 2.0,
    "gce": lambda p: 1 / p["q"],
    "sce": lambda p: 4 * p["beta"],
    "nce_rce": lambda p: p["alpha"] + 4 * p["beta"],
    "phuber_ce": lambda p: math.log(p["tau"]) + 1,
    "taylor_ce": lambda p: harmonic(p["order"]),
    "agce": lambda p: ((p["a"] + 1) ** p["q"] - p["a"] ** p["q"]) / p["q"],
    "aul": lambda p: (p["a"] ** p["q"] - (p["a"] - 1) ** p["q"]) / p["q"],
    "anl_ce": lambda p: p["alpha"] + p["beta"],
    "js": lambda p: js_bound(p["pi1"]),
    "bi_tempered": lambda p: 1 / (1 - p["t1"]),
}


def worst(name: str, size: float) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(pred, target) pairs as wrong as a valid input gets: residuals of ``100 * size``,
    or the true label's logit at ``-size`` (and, multiclass, one wrong class's at
    ``+size``: where the bi-tempered loss reaches its bound)."""
    s = losses.spec(name)
    y = torch.tensor([0.0, 1.0], dtype=torch.float64)
    if s.task == "regression":
        if s.target_domain is not None and 0.0 not in s.target_domain:
            y = y + 0.5
        far = torch.tensor([100 * size, -100 * size if name != "msle" else 100 * size],
                           dtype=torch.float64)
        return [(far if s.link == "log" else y + far, y)]
    if s.task == "binary":
        return [(-size * (2 * y - 1), y)]
    idx = torch.arange(C)
    one_hot = F.one_hot(idx, C).double()
    return [(-size * one_hot, idx), (size * one_hot.roll(1, dims=-1), idx)]


@cases()
def test_bounded_losses_are_bounded_and_the_others_not(name, params):
    loss = losses.get(name, **params)

    def value(size):  # the largest loss over the worst-case configurations
        return torch.stack([loss.unreduced(*pair) for pair in worst(name, size)]).amax(0)

    far, farther = value(1e3), value(1e4)
    if not loss.bounded:
        assert (farther > 1.05 * far).all(), "an unbounded loss keeps growing"
        return
    assert name in SUPREMUM, f"add the supremum of the bounded loss {name!r} to SUPREMUM"
    sup = SUPREMUM[name](loss.params)
    farthest = value(1e12)  # heavy-tailed softmaxes (bi_tempered at t2 = 4) get there late
    torch.testing.assert_close(farthest, torch.full_like(farthest, sup), rtol=1e-2, atol=0)
    for seed in range(3):
        p, t = make_inputs(name, params, seed=seed)
        for scale in (1.0, 30.0, 1e3):
            assert float(loss.unreduced(p * scale, t).max()) <= sup * (1 + 1e-12)


def all_labels(task: str, pred: torch.Tensor) -> list[torch.Tensor]:
    """Every possible label for each prediction, as targets."""
    if task == "binary":
        return [torch.zeros_like(pred), torch.ones_like(pred)]
    return [torch.full(pred.shape[:-1], k) for k in range(pred.shape[-1])]


@cases()
def test_symmetric_exactly_when_declared(name, params):
    """Regression: even in the residual. Classification: the loss summed over every label is
    the same constant for every prediction (Ghosh et al., 2017)."""
    loss = losses.get(name, **params)
    pred, target = make_inputs(name, params, seed=19)
    if loss.task == "regression":
        r = pred - target
        if name == "msle":  # residuals that keep the prediction non-negative
            r = torch.minimum(r.abs(), target) * r.sign()
        left, right = loss.unreduced(target - r, target), loss.unreduced(target + r, target)
        same = torch.allclose(left, right, rtol=1e-12, atol=1e-14)
    else:
        total = sum(loss.unreduced(pred, t) for t in all_labels(loss.task, pred))
        same = torch.allclose(total, torch.full_like(total, float(total[0])), rtol=1e-10)
    assert same == loss.symmetric


def test_symmetric_constants_of_mae_cls_rce_and_nce_rce():
    z, _ = make_inputs("mae_cls", seed=20)
    for name, params, const in [("mae_cls", {}, 2.0 * (C - 1)),
                                ("sce", {"alpha": 0.0, "beta": 1.0}, 4.0 * (C - 1)),  # RCE
                                ("nce_rce", {"alpha": 1.0, "beta": 1.0}, 1.0 + 4.0 * (C - 1))]:
        total = sum(per_sample(name, z, t, **params) for t in all_labels("multiclass", z))
        torch.testing.assert_close(total, torch.full_like(total, const), msg=name)


# ------------------------------------------------------------------------ 3. stability


@cases()
def test_non_negative_at_extremes_float32(name, params):
    """The standard check ``extremes`` (below) holds values and gradients finite there."""
    loss = losses.get(name, **params)
    for pred, target in extreme_inputs(loss):
        assert (loss.unreduced(pred, target) >= 0).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bce_huge_logits(dtype):
    bce = losses.get("bce")
    s = torch.tensor([1e4, -1e4, 1e4, -1e4], dtype=dtype, requires_grad=True)
    y = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=dtype)
    per = bce.unreduced(s, y)
    torch.testing.assert_close(per, torch.tensor([0.0, 1e4, 1e4, 0.0], dtype=dtype))
    bce(s, y).backward()
    # d/ds = (sigmoid(s) - y) / n
    torch.testing.assert_close(s.grad, torch.tensor([0.0, -1.0, 1.0, 0.0], dtype=dtype) / 4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ce_huge_logits(dtype):
    z = torch.tensor([[1e4, -1e4, 0.0]] * 3, dtype=dtype, requires_grad=True)
    idx = torch.tensor([0, 1, 2])
    for name in ("ce", "sparse_ce"):
        per = losses.get(name).unreduced(z, idx)
        torch.testing.assert_close(per, torch.tensor([0.0, 2e4, 1e4], dtype=dtype))
    q = torch.tensor([[0.5, 0.5, 0.0]], dtype=dtype)
    torch.testing.assert_close(losses.get("ce")(z[:1], q), torch.tensor(1e4, dtype=dtype))


# ------------------------------------------------------------------------ 4. gradients


# The registry's standard checks (losses.checks): the same functions losses.check() runs
# on a user's loss. Every case (each loss at its defaults and at EXTRA_PARAMS) gets each one.


@pytest.mark.parametrize("check", list(CHECKS))
@cases()
def test_standard_check(name, params, check):
    failures = CHECKS[check](losses.get(name, **params))
    assert failures == [], "\n".join(failures)


# ---------------------------------------------------------------------- 5. registry API


def test_available_sorted_and_union_of_tasks():
    assert ALL == sorted(ALL)
    assert len(ALL) == len(set(ALL))
    per_task = [losses.available(t) for t in losses.TASKS]
    assert all(names == sorted(names) for names in per_task)
    assert sorted(n for names in per_task for n in names) == ALL  # a partition: no overlap


def test_the_zoo_is_complete():
    assert set(REGRESSION) == {
        "mse", "mae", "rmse", "msle", "huber", "pseudo_huber", "log_cosh", "quantile",
        "epsilon_insensitive", "cauchy", "geman_mcclure", "welsch", "tukey", "barron",
        "scaled_barron", "expectile", "poisson", "gamma", "tweedie"}
    assert set(BINARY) == {"hinge", "squared_hinge", "bce", "focal", "modified_huber",
                           "exponential", "smooth_hinge", "ramp", "savage"}
    assert set(MULTICLASS) == {"ce", "sparse_ce", "kl", "label_smoothing_ce", "focal_ce",
                               "mae_cls", "gce", "sce", "nce_rce", "poly1", "multiclass_hinge",
                               "phuber_ce", "taylor_ce", "agce", "aul", "anl_ce", "js",
                               "bi_tempered"}
    assert len(ALL) >= 42


def test_available_unknown_task():
    with pytest.raises(LossError, match="bogus"):
        losses.available("bogus")


@pytest.mark.parametrize(("given", "canonical"), [
    ("HUBER", "huber"), ("Huber", "huber"), ("huber", "huber"), ("L2", "mse"),
    ("Softmax_CE", "ce"), ("LOG_LOSS", "bce"), ("Focal_CE", "focal_ce"), ("GCE", "gce"),
])
def test_names_case_insensitive(given, canonical):
    loss = losses.get(given)
    assert loss.name == canonical
    assert losses.spec(given) is losses.spec(canonical)


@pytest.mark.parametrize(("alias", "canonical"), [
    ("l2", "mse"), ("l1", "mae"), ("log_loss", "bce"), ("sigmoid_ce", "bce"),
    ("softmax_ce", "ce"),
])
def test_aliases_resolve(alias, canonical):
    assert losses.spec(alias) is losses.spec(canonical)
    assert alias in losses.spec(canonical).aliases
    assert alias not in ALL  # aliases are not listed as names
    assert losses.get(alias).name == canonical


@pytest.mark.parametrize("name", ALL)
def test_every_alias_resolves_to_its_spec(name):
    s = losses.spec(name)
    assert s.name == name
    for alias in s.aliases:
        assert losses.spec(alias) is s
        assert losses.spec(alias.upper()) is s


def test_unknown_name_suggests_closest_first_and_lists():
    with pytest.raises(UnknownLossError) as info:
        losses.get("hubr")
    msg = str(info.value)
    assert "Did you mean: huber" in msg and "\n" not in msg
    for name in ALL:
        assert name in msg
    assert isinstance(info.value, LossError)
    with pytest.raises(UnknownLossError, match="Did you mean: focal_ce"):
        losses.get("focal_cee")
    with pytest.raises(UnknownLossError, match="Available"):
        losses.spec("zzzzzz")


def test_out_of_range_message_exact():
    with pytest.raises(InvalidParameterError) as info:
        losses.get("huber", delta=-1)
    assert str(info.value) == (
        "The 'delta' parameter of huber must be a float in the range (0, inf). Got -1 instead.")
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(("name", "params", "message"), [
    ("quantile", {"q": 1.5},
     "The 'q' parameter of quantile must be a float in the range (0, 1). Got 1.5 instead."),
    ("huber", {"delta": 0},
     "The 'delta' parameter of huber must be a float in the range (0, inf). Got 0 instead."),
    ("focal", {"alpha": 1.5},
     "The 'alpha' parameter of focal must be a float in the range [0, 1]. Got 1.5 instead."),
])
def test_examples_of_bad_params(name, params, message):
    with pytest.raises(InvalidParameterError) as info:
        losses.get(name, **params)
    assert str(info.value) == message


def outside(interval: losses.Interval) -> list[float]:
    """Values just outside ``interval`` (and NaN, which is in no interval)."""
    bad = [math.nan]
    if math.isfinite(interval.lo):
        bad += [interval.lo - 1.0] + ([] if interval.lo_closed else [interval.lo])
    if math.isfinite(interval.hi):
        bad += [interval.hi + 1.0] + ([] if interval.hi_closed else [interval.hi])
    elif not interval.hi_closed:
        bad.append(math.inf)
    return bad


PARAMS = [(n, p) for n in ALL for p in losses.spec(n).params]


@pytest.mark.parametrize(("name", "param"), PARAMS, ids=[f"{n}-{p.name}" for n, p in PARAMS])
def test_every_param_rejects_out_of_range_in_one_line(name, param):
    for bad in outside(param.range):
        with pytest.raises(InvalidParameterError) as info:
            losses.get(name, **{param.name: bad})
        noun = "an int" if param.kind is int else "a float"
        assert str(info.value) == (f"The '{param.name}' parameter of {name} must be {noun} "
                                   f"in the range {param.interval}. Got {bad!r} instead.")
    for bad in (True, "1.0", None, [1.0]) + ((2.5,) if param.kind is int else ()):
        with pytest.raises(InvalidParameterError, match=f"'{param.name}' parameter of {name}"):
            losses.get(name, **{param.name: bad})


@pytest.mark.parametrize("ok", [0.25, 3, np.float64(0.5), np.float32(0.5), np.int64(2)])
def test_numeric_param_values_accepted_as_float(ok):
    loss = losses.get("huber", delta=ok)
    assert loss.params == {"delta": float(ok)}
    assert type(loss.params["delta"]) is float


def test_minus_infinity_is_a_valid_barron_alpha():
    loss = losses.get("barron", alpha=-math.inf)
    assert loss.id == "barron[alpha=-inf,c=1.0]" and loss.bounded


@pytest.mark.parametrize("name", ALL)
def test_unknown_parameter_rejected_for_every_loss(name):
    with pytest.raises(LossError, match="bogus_param"):
        losses.get(name, bogus_param=1.0)
    if not losses.spec(name).params:
        with pytest.raises(LossError, match="takes no parameters"):
            losses.get(name, delta=1.0)


def test_unknown_parameter_suggests():
    with pytest.raises(LossError, match="Did you mean 'delta'"):
        losses.get("huber", detla=1.0)


@pytest.mark.parametrize("name", ALL)
def test_defaults_used_when_params_omitted(name):
    s = losses.spec(name)
    assert losses.get(name).params == s.defaults() == {p.name: p.default for p in s.params}


def test_loss_id():
    assert losses.get("huber", delta=0.5).id == "huber[delta=0.5]"
    assert losses.get("huber", delta=1).id == "huber[delta=1.0]"
    assert losses.get("mse").id == "mse"
    assert losses.get("L2").id == "mse"
    assert losses.get("sce").id == "sce[alpha=0.1,beta=1.0]"


@pytest.mark.parametrize("name", ALL)
def test_spec_metadata_and_docstring(name):
    s = losses.spec(name)
    assert s.task in losses.TASKS
    assert s.summary.strip() and s.summary.endswith("."), "a one-line first sentence"
    assert s.doc.startswith(s.summary)
    assert s.prediction and s.target
    assert s.reduction in losses.REDUCTIONS
    assert s.describe("bounded") and s.describe("symmetric")
    names = [p.name for p in s.params]
    assert len(names) == len(set(names))
    doc = s.doc
    assert ":math:" in doc or ".. math::" in doc, "the docstring gives the formula"
    assert "Reference:" in doc
    assert f"Prediction: {s.prediction}. Target: {s.target}." in doc
    for p in s.params:
        assert p.default in p.range, f"{name}.{p.name} default {p.default} not in {p.interval}"
        assert p.range.check(p.name, p.default, name) == p.default
        assert f"{p.name}: " in doc and p.interval in doc and p.doc
    assert "Parameters" in s.fn.__doc__  # help(fn) shows the generated sections too


# --------------------------------------------------------------------- 6. shape contract


@pytest.mark.parametrize("name", sorted(set(MULTICLASS) - set(SOFT)))
def test_index_only_losses_reject_probability_targets(name):
    logits, q = make_inputs("ce", prob_target=True)
    with pytest.raises(LossError, match=f"{name} takes class indices") as info:
        losses.get(name)(logits, q)
    assert "\n" not in str(info.value)


def test_msle_target_domain_checked_once_per_split():
    msle = losses.get("msle")
    msle.check_target(torch.tensor([0.0, 3.0, 1e6]))
    for bad, shown in [([0.0, -0.5, 2.0], "-0.5"), ([1.0, math.nan], "nan")]:
        with pytest.raises(LossError) as info:
            msle.check_target(torch.tensor(bad))
        assert str(info.value) == f"msle needs targets in [0, inf); got {shown}."
    losses.get("mse").check_target(torch.tensor([-1.0, 2.0]))  # no domain: anything goes
    assert "in [0, inf)" in losses.spec("msle").target


@pytest.mark.parametrize("name", ALL)
def test_check_target_accepts_canonical_data(name):
    loss = losses.get(name)
    _, target = make_inputs(name)
    loss.check_target(target, C)
    if loss.task == "regression":
        return
    bad = target.clone()
    bad[0] = 2 if loss.task == "binary" else C
    with pytest.raises(LossError):
        loss.check_target(bad, C)


BATCH_CASES = [(name, False) for name in ALL] + [(name, True) for name in SOFT]


@pytest.mark.parametrize(("name", "prob_target"), BATCH_CASES,
                         ids=[f"{n}-{'probs' if p else 'plain'}" for n, p in BATCH_CASES])
def test_leading_batch_dims(name, prob_target):
    loss = losses.get(name)
    pred, target = make_inputs(name, batch=(K,), seed=8, prob_target=prob_target)
    per = loss.unreduced(pred, target)
    assert per.shape == (K, N)
    for k in range(K):
        torch.testing.assert_close(per[k], loss.unreduced(pred[k], target[k]))
    # flattening the batch into N gives the same value
    if losses.spec(name).task == "multiclass":
        flat = (pred.reshape(K * N, C),
                target.reshape(K * N, C) if prob_target else target.reshape(K * N))
    else:
        flat = (pred.reshape(K * N), target.reshape(K * N))
    torch.testing.assert_close(loss(pred, target), loss(*flat))
    if loss.spec.reduction == "mean":
        per_k = torch.stack([loss(pred[k], target[k]) for k in range(K)])
        torch.testing.assert_close(loss(pred, target), per_k.mean())


# ---------------------------------------------------------------------- 7. return value


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ALL)
def test_returns_0dim_reduction_of_unreduced(name, dtype):
    loss = losses.get(name)
    pred, target = make_inputs(name, dtype=dtype, seed=9)
    if target.is_floating_point():
        target = target.to(dtype)
    out = loss(pred, target)
    per = loss.unreduced(pred, target)
    assert isinstance(out, torch.Tensor)
    assert out.dim() == 0 and out.shape == ()
    assert out.dtype == dtype and per.dtype == dtype
    expected_shape = pred.shape[:-1] if loss.task == "multiclass" else target.shape
    assert per.shape == expected_shape
    reduce = losses.REDUCTIONS[loss.spec.reduction][0]
    torch.testing.assert_close(out, reduce(per))
    if loss.spec.reduction == "mean":
        torch.testing.assert_close(out, per.mean())
    assert torch.isfinite(per).all() and (per >= 0).all()


def gjs_official_np(z, y, pi1):
    """ErikEnglesson/GJS losses.py ``JensenShannonDivergenceWeightedScaled.forward`` with
    ``custom_kl_div``, in numpy (weights "pi1 1-pi1", one prediction)."""
    t, p = one_hot_np(y, z.shape[-1]), softmax_np(z)
    scale = -1.0 / ((1.0 - pi1) * np.log(1.0 - pi1))
    mean_log = np.log(np.clip(pi1 * t + (1 - pi1) * p, 1e-7, 1.0))

    def custom_kl_div(prediction, target):
        with np.errstate(divide="ignore", invalid="ignore"):
            pos = target * (np.log(np.maximum(target, 1e-7)) - prediction)
        return np.where(target > 0, pos, 0.0).sum(-1)

    return scale * (pi1 * custom_kl_div(mean_log, t) + (1 - pi1) * custom_kl_div(mean_log, p))


@pytest.mark.parametrize("pi1", [0.1, 0.3, 0.7, 0.9])
def test_js_against_the_authors_code(pi1):
    """Where no probability is below the authors' clamp (1e-7) the two are the same
    formula; with logits of +-20 some are, and the clamp moves the value by < 1e-6."""
    g = rng(29)
    z, y = g.normal(scale=2.0, size=(50, 5)), g.integers(0, 5, 50)
    got = per_sample("js", torch.tensor(z), torch.tensor(y), pi1=pi1).numpy()
    np.testing.assert_allclose(got, gjs_official_np(z, y, pi1), rtol=1e-10)
    z = g.normal(scale=20.0, size=(50, 5))
    assert (softmax_np(z) < 1e-7).any()
    got = per_sample("js", torch.tensor(z), torch.tensor(y), pi1=pi1).numpy()
    np.testing.assert_allclose(got, gjs_official_np(z, y, pi1), rtol=0, atol=1e-6)


def test_bi_tempered_reproduces_the_authors_published_test_values():
    """google/bi-tempered-loss tensorflow/loss_test.py ``test_loss_value`` (t1 = 0.5,
    t2 = 1.5, probability labels), to the 8 digits published."""
    labels = torch.tensor([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1], [0.2, 0.8, 0.0]],
                          dtype=torch.float64)
    activations = torch.tensor([[-0.5, 0.1, 2.0], [0.1, 1.5, -5.0], [4.0, -3.0, -6.0]],
                               dtype=torch.float64)
    got = per_sample("bi_tempered", activations, labels, t1=0.5, t2=1.5)
    torch.testing.assert_close(
        got, torch.tensor([0.02301914, 0.18972909, 0.93874922], dtype=torch.float64),
        rtol=0, atol=5e-9)


@pytest.mark.parametrize("t2", [1.2, 2.0, 4.0])
@pytest.mark.parametrize("n_classes", [2, 10, 1000])
def test_tempered_softmax_sums_to_one(t2, n_classes):
    """The fixed number of Newton steps normalises to float64 precision up to 1000 classes
    and t2 = 4, for logits of scale 0.01 to 100."""
    g = torch.Generator().manual_seed(n_classes)
    for scale in (0.01, 1.0, 100.0):
        z = torch.randn(8, n_classes, generator=g, dtype=torch.float64) * scale
        total = tempered_log_softmax(z, t2).exp().sum(-1)
        torch.testing.assert_close(total, torch.ones(8, dtype=torch.float64), rtol=0,
                                   atol=1e-10)
