"""Tests of the loss registry (``losses``): values, stability, gradients, API, shapes.

Reference values come from independent implementations (scikit-learn, scipy, plain numpy in
float64), never from the torch ops the losses themselves use. Tests that apply to every loss
are parametrized over ``losses.available()``, so a newly registered loss is covered (and,
where it needs a reference, the suite fails until one is added to ``REFERENCES``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sps
import torch
from sklearn.metrics import hinge_loss, log_loss, mean_absolute_error, mean_squared_error

import losses
from losses import InvalidParameterError, LossError, UnknownLossError

ALL = losses.available()
N, C, K = 12, 4, 3


# --------------------------------------------------------------------------- helpers


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def away_from_kinks(g: np.random.Generator, size, scale: float = 1.0) -> np.ndarray:
    """Random signed magnitudes in [0.2, 0.7]*scale or [1.3, 3]*scale: far from 0 and +-scale.

    Regression residuals (kinks at 0 for mae, at +-delta for huber) and binary scores (the
    hinge kink is at margin 1, i.e. |score| = 1) built this way avoid every kink.
    """
    small = g.uniform(0.2, 0.7, size)
    large = g.uniform(1.3, 3.0, size)
    mag = np.where(g.random(size) < 0.5, small, large) * scale
    return mag * g.choice([-1.0, 1.0], size)


def make_inputs(name: str, *, batch: tuple[int, ...] = (), dtype=torch.float64, seed: int = 0,
                prob_target: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Canonical (pred, target) for loss ``name``, with leading dims ``batch`` + ``[N]``."""
    g = rng(seed)
    s = losses.spec(name)
    shape = (*batch, N)
    if s.task == "regression":
        delta = losses.get(name).params.get("delta", 1.0)
        target = g.normal(size=shape)
        pred = target + away_from_kinks(g, shape, delta)
        return torch.tensor(pred, dtype=dtype), torch.tensor(target, dtype=dtype)
    if s.task == "binary":
        y = g.integers(0, 2, shape).astype(float)
        y.flat[0], y.flat[1] = 0.0, 1.0  # both classes always present
        return torch.tensor(away_from_kinks(g, shape), dtype=dtype), torch.tensor(y, dtype=dtype)
    assert s.task == "multiclass"
    logits = torch.tensor(g.normal(scale=2.0, size=(*shape, C)), dtype=dtype)
    if prob_target:
        q = sps.softmax(g.normal(size=(*shape, C)), axis=-1)
        return logits, torch.tensor(q, dtype=dtype)
    return logits, torch.tensor(g.integers(0, C, shape), dtype=torch.int64)


def np64(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().astype(np.float64)


# --------------------------------------------------------- 1. independent references


def ref_mse(p, y, **_):
    return mean_squared_error(y, p)


def ref_mae(p, y, **_):
    return mean_absolute_error(y, p)


def ref_huber(p, y, *, delta):
    return np.mean(sps.huber(delta, p - y))


def ref_pseudo_huber(p, y, *, delta):
    return np.mean(sps.pseudo_huber(delta, p - y))


def ref_hinge(s, y, **_):
    # sklearn.metrics.hinge_loss re-encodes binary labels with LabelBinarizer(neg_label=-1)
    # fitted on y_true itself (``labels=`` is ignored in the binary case): {0, 1} -> {-1, +1}
    # only when both classes occur in y_true; with a single class every label becomes -1.
    assert set(np.unique(y)) == {0.0, 1.0}, "sklearn hinge_loss needs both classes present"
    return hinge_loss(y.astype(int), s)


def ref_bce(s, y, **_):
    return log_loss(y.astype(int), sps.expit(s), labels=[0, 1])


def ref_ce(z, y, **_):
    return log_loss(y, sps.softmax(z, axis=-1), labels=list(range(z.shape[-1])))


REFERENCES = {
    "mse": ref_mse,
    "mae": ref_mae,
    "huber": ref_huber,
    "pseudo_huber": ref_pseudo_huber,
    "hinge": ref_hinge,
    "bce": ref_bce,
    "ce": ref_ce,
}


@pytest.mark.parametrize("name", ALL)
def test_matches_independent_reference(name):
    assert name in REFERENCES, f"add an independent reference for the new loss {name!r}"
    loss = losses.get(name)
    pred, target = make_inputs(name)
    expected = REFERENCES[name](np64(pred), target.numpy(), **loss.params)
    assert float(loss(pred, target)) == pytest.approx(expected, rel=1e-10, abs=1e-12)
    # the default float32 path agrees to single precision
    got32 = float(loss(pred.float(), target if not target.is_floating_point() else target.float()))
    assert got32 == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", ["huber", "pseudo_huber"])
@pytest.mark.parametrize("delta", [0.5, 2.0])
def test_huber_family_against_scipy_at_two_deltas(name, delta):
    r = np.array([-5.0, -2.5, -1.5, -0.9, -0.3, 0.0, 0.1, 0.4, 0.8, 1.2, 1.9, 3.0, 7.0])
    assert (np.abs(r) < delta).any() and (np.abs(r) > delta).any()  # both sides of delta
    scipy_fn = sps.huber if name == "huber" else sps.pseudo_huber
    loss = losses.get(name, delta=delta)
    y = torch.linspace(-1.0, 1.0, len(r), dtype=torch.float64)
    pred = y + torch.tensor(r)
    got = loss.unreduced(pred, y).numpy()
    np.testing.assert_allclose(got, scipy_fn(delta, r), rtol=1e-12, atol=1e-14)
    assert float(loss(pred, y)) == pytest.approx(np.mean(scipy_fn(delta, r)), rel=1e-12)


def test_hinge_sklearn_label_encodings_agree():
    s = np.array([0.5, -0.2, 2.0, -3.0, 0.9, -1.4])
    y01 = np.array([0, 1, 1, 0, 0, 1])
    ypm = 2 * y01 - 1
    ref = hinge_loss(y01, s)
    assert hinge_loss(ypm, s) == pytest.approx(ref)
    manual = np.mean(np.maximum(0.0, 1.0 - ypm * s))
    assert ref == pytest.approx(manual)
    got = losses.get("hinge")(torch.tensor(s), torch.tensor(y01, dtype=torch.float64))
    assert float(got) == pytest.approx(ref, rel=1e-12)


def test_bce_against_float64_formula():
    g = rng(1)
    s = g.uniform(-6.0, 6.0, 50)
    y = g.integers(0, 2, 50).astype(float)
    p = 1.0 / (1.0 + np.exp(-s))
    per_sample = -(y * np.log(p) + (1.0 - y) * np.log1p(-p))
    got = losses.get("bce").unreduced(torch.tensor(s), torch.tensor(y)).numpy()
    np.testing.assert_allclose(got, per_sample, rtol=1e-10)


def test_ce_probability_target_against_numpy():
    g = rng(2)
    z = g.normal(scale=3.0, size=(20, 5))
    q = g.dirichlet(np.ones(5), size=20)
    zs = z - z.max(axis=1, keepdims=True)
    log_softmax = zs - np.log(np.exp(zs).sum(axis=1, keepdims=True))
    per_sample = -(q * log_softmax).sum(axis=1)
    got = losses.get("ce").unreduced(torch.tensor(z), torch.tensor(q)).numpy()
    np.testing.assert_allclose(got, per_sample, rtol=1e-10)


def test_ce_indices_against_sklearn_log_loss_per_sample():
    g = rng(3)
    z = g.normal(size=(15, C))
    y = g.integers(0, C, 15)
    p = sps.softmax(z, axis=1)
    per_sample = [log_loss([y[i]], p[i : i + 1], labels=list(range(C))) for i in range(15)]
    got = losses.get("ce").unreduced(torch.tensor(z), torch.tensor(y)).numpy()
    np.testing.assert_allclose(got, per_sample, rtol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ce_one_hot_equals_indices(dtype):
    logits, idx = make_inputs("ce", dtype=dtype, seed=4)
    one_hot = torch.nn.functional.one_hot(idx, C).to(dtype)
    ce = losses.get("ce")
    torch.testing.assert_close(ce.unreduced(logits, one_hot), ce.unreduced(logits, idx))
    torch.testing.assert_close(ce(logits, one_hot), ce(logits, idx))


LN3, LN2 = math.log(3.0), math.log(2.0)
HAND = [
    # (name, params, pred, target, expected mean)
    ("mse", {}, [1.0, 2.0], [0.0, 0.0], 2.5),
    ("mae", {}, [1.0, -3.0], [0.0, 0.0], 2.0),
    ("huber", {"delta": 1.0}, [3.0], [0.0], 2.5),
    ("huber", {"delta": 1.0}, [0.5], [0.0], 0.125),
    ("huber", {"delta": 0.5}, [0.0, 2.0], [0.0, 0.0], 0.4375),
    ("pseudo_huber", {"delta": 1.0}, [math.sqrt(3.0)], [0.0], 1.0),
    ("pseudo_huber", {"delta": 2.0}, [1.0 + 2.0 * math.sqrt(3.0)], [1.0], 4.0),
    ("hinge", {}, [0.5], [1.0], 0.5),
    ("hinge", {}, [0.5], [0.0], 1.5),
    ("hinge", {}, [2.0, -2.0], [1.0, 0.0], 0.0),
    ("bce", {}, [0.0], [1.0], LN2),
    ("bce", {}, [LN3], [1.0], math.log(4.0 / 3.0)),
    ("bce", {}, [LN3], [0.0], math.log(4.0)),
    ("ce", {}, [[0.0, 0.0, 0.0]], [2], LN3),
    ("ce", {}, [[LN2, 0.0]], [0], math.log(1.5)),
    ("ce", {}, [[LN2, 0.0]], [[0.5, 0.5]], 0.5 * math.log(1.5) + 0.5 * LN3),
]


@pytest.mark.parametrize(("name", "params", "pred", "target", "expected"), HAND,
                         ids=[f"{h[0]}-{i}" for i, h in enumerate(HAND)])
def test_hand_computed_value(name, params, pred, target, expected):
    t = torch.tensor(target)
    got = losses.get(name, **params)(torch.tensor(pred), t)
    assert float(got) == pytest.approx(expected, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("name", ALL)
def test_every_loss_has_a_hand_computed_value(name):
    assert name in {h[0] for h in HAND}, f"add a hand-computed value for {name!r} to HAND"


# ------------------------------------------------------------------------ 2. stability


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bce_huge_logits(dtype):
    bce = losses.get("bce")
    s = torch.tensor([1e4, -1e4, 1e4, -1e4], dtype=dtype, requires_grad=True)
    y = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=dtype)
    per = bce.unreduced(s, y)
    assert torch.isfinite(per).all()
    torch.testing.assert_close(per, torch.tensor([0.0, 1e4, 1e4, 0.0], dtype=dtype))
    bce(s, y).backward()
    assert torch.isfinite(s.grad).all()
    # d/ds = (sigmoid(s) - y) / n
    torch.testing.assert_close(s.grad, torch.tensor([0.0, -1.0, 1.0, 0.0], dtype=dtype) / 4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ce_huge_logits(dtype):
    ce = losses.get("ce")
    z = torch.tensor([[1e4, -1e4, 0.0]] * 3, dtype=dtype, requires_grad=True)
    idx = torch.tensor([0, 1, 2])
    per = ce.unreduced(z, idx)
    assert torch.isfinite(per).all()
    torch.testing.assert_close(per, torch.tensor([0.0, 2e4, 1e4], dtype=dtype))
    q = torch.tensor([[0.5, 0.5, 0.0]], dtype=dtype)
    torch.testing.assert_close(ce(z[:1], q), torch.tensor(1e4, dtype=dtype))
    ce(z, idx).backward()
    assert torch.isfinite(z.grad).all()


# ------------------------------------------------------------------------ 3. gradients


@pytest.mark.parametrize("name", ALL)
def test_gradcheck_wrt_prediction(name):
    loss = losses.get(name)  # every parameter at its default
    pred, target = make_inputs(name, seed=5)
    pred.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: loss.unreduced(p, target), (pred,))
    assert torch.autograd.gradcheck(lambda p: loss(p, target), (pred,))


@pytest.mark.parametrize("name", losses.available("regression"))
def test_gradcheck_regression_wrt_target(name):
    loss = losses.get(name)
    pred, target = make_inputs(name, seed=6)
    target.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda y: loss.unreduced(pred, y), (target,))


@pytest.mark.parametrize("name", losses.available("multiclass"))
def test_gradcheck_multiclass_probability_target(name):
    loss = losses.get(name)
    logits, q = make_inputs(name, seed=7, prob_target=True)
    logits.requires_grad_(True)
    q.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z, t: loss.unreduced(z, t), (logits, q))


# ---------------------------------------------------------------------- 4. registry API


def test_available_sorted_and_union_of_tasks():
    assert ALL == sorted(ALL)
    assert len(ALL) == len(set(ALL))
    per_task = [losses.available(t) for t in losses.TASKS]
    assert all(names == sorted(names) for names in per_task)
    assert sorted(n for names in per_task for n in names) == ALL  # a partition: no overlap
    assert {"mse", "mae", "huber", "pseudo_huber"} <= set(losses.available("regression"))
    assert {"hinge", "bce"} <= set(losses.available("binary"))
    assert "ce" in losses.available("multiclass")


def test_available_unknown_task():
    with pytest.raises(LossError, match="bogus"):
        losses.available("bogus")


@pytest.mark.parametrize(("given", "canonical"), [
    ("HUBER", "huber"), ("Huber", "huber"), ("huber", "huber"), ("L2", "mse"),
    ("Softmax_CE", "ce"), ("LOG_LOSS", "bce"),
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


def test_unknown_name_suggests_and_lists():
    with pytest.raises(UnknownLossError) as info:
        losses.get("hubr")
    msg = str(info.value)
    assert "Did you mean" in msg and "huber" in msg
    for name in ALL:
        assert name in msg
    assert isinstance(info.value, LossError)
    with pytest.raises(UnknownLossError, match="Available"):
        losses.spec("zzzzzz")


def test_out_of_range_message_exact():
    with pytest.raises(InvalidParameterError) as info:
        losses.get("huber", delta=-1)
    assert str(info.value) == (
        "The 'delta' parameter of huber must be a float in the range (0, inf). Got -1 instead.")
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", [float("nan"), True, False, "1.0", "abc", None, 0, 0.0,
                                 float("inf"), -0.5, [1.0]])
@pytest.mark.parametrize("name", ["huber", "pseudo_huber"])
def test_bad_param_values_rejected(name, bad):
    with pytest.raises(InvalidParameterError, match=f"The 'delta' parameter of {name}"):
        losses.get(name, delta=bad)


@pytest.mark.parametrize("ok", [0.25, 3, np.float64(0.5), np.float32(0.5), np.int64(2)])
def test_numeric_param_values_accepted_as_float(ok):
    loss = losses.get("huber", delta=ok)
    assert loss.params == {"delta": float(ok)}
    assert type(loss.params["delta"]) is float


def test_unknown_parameter_suggests():
    with pytest.raises(LossError, match="Did you mean 'delta'"):
        losses.get("huber", detla=1.0)


@pytest.mark.parametrize("name", ALL)
def test_unknown_parameter_rejected_for_every_loss(name):
    with pytest.raises(LossError, match="bogus_param"):
        losses.get(name, bogus_param=1.0)
    if not losses.spec(name).params:
        with pytest.raises(LossError, match="takes no parameters"):
            losses.get(name, delta=1.0)


@pytest.mark.parametrize("name", ALL)
def test_defaults_used_when_params_omitted(name):
    s = losses.spec(name)
    assert losses.get(name).params == s.defaults()
    assert losses.get(name).params == {p.name: p.default for p in s.params}


def test_default_delta_behaviour():
    pred, target = torch.tensor([3.0, 0.5]), torch.zeros(2)
    assert float(losses.get("huber")(pred, target)) == pytest.approx(
        float(losses.get("huber", delta=1.0)(pred, target)))
    assert float(losses.get("huber")(pred, target)) == pytest.approx((2.5 + 0.125) / 2)


def test_loss_id():
    assert losses.get("huber", delta=0.5).id == "huber[delta=0.5]"
    assert losses.get("huber", delta=1).id == "huber[delta=1.0]"
    assert losses.get("mse").id == "mse"
    assert losses.get("L2").id == "mse"


@pytest.mark.parametrize("name", ALL)
def test_spec_metadata(name):
    s = losses.spec(name)
    assert s.task in losses.TASKS
    assert s.summary.strip()
    assert s.doc.startswith(s.summary)
    assert s.prediction and s.target
    names = [p.name for p in s.params]
    assert len(names) == len(set(names))
    for p in s.params:
        assert p.default in p.range, f"{name}.{p.name} default {p.default} not in {p.interval}"
        assert p.range.check(p.name, p.default, name) == p.default


# --------------------------------------------------------------------- 5. shape contract


@pytest.mark.parametrize("name", ALL)
def test_no_broadcasting(name):
    loss = losses.get(name)
    pred, target = make_inputs(name)
    if losses.spec(name).task == "multiclass":
        logits, idx = pred, target
        bad_pairs = [
            (logits, idx.unsqueeze(-1)),                       # [N, C] vs [N, 1] indices
            (logits, idx[:-1]),                                 # wrong N
            (logits, torch.rand(N, C + 1, dtype=logits.dtype)),  # float target, wrong C
            (logits, torch.rand(N, dtype=logits.dtype)),         # float target [N]
            (logits, torch.rand(N, 1, dtype=logits.dtype)),      # float target [N, 1]
            (logits[:, 0], idx),                                # 1-d "logits"
            (logits, torch.rand(N, C, dtype=logits.dtype).long()),  # int target [N, C]
        ]
    else:
        bad_pairs = [
            (pred.unsqueeze(-1), target),  # [N, 1] vs [N]
            (pred, target.unsqueeze(-1)),  # [N] vs [N, 1]
            (pred[:1], target),            # [1] vs [N]
            (pred, target[:-1]),
        ]
    for p, t in bad_pairs:
        with pytest.raises(LossError, match="never broadcast"):
            loss(p, t)
        with pytest.raises(LossError):
            loss.unreduced(p, t)


BATCH_CASES = [(name, False) for name in ALL] + [
    (name, True) for name in losses.available("multiclass")]  # probability targets


@pytest.mark.parametrize(("name", "prob_target"), BATCH_CASES,
                         ids=[f"{n}-{'probs' if p else 'plain'}" for n, p in BATCH_CASES])
def test_leading_batch_dims(name, prob_target):
    loss = losses.get(name)
    pred, target = make_inputs(name, batch=(K,), seed=8, prob_target=prob_target)
    per = loss.unreduced(pred, target)
    assert per.shape == (K, N)
    per_k = torch.stack([loss(pred[k], target[k]) for k in range(K)])
    torch.testing.assert_close(loss(pred, target), per_k.mean())
    for k in range(K):
        torch.testing.assert_close(per[k], loss.unreduced(pred[k], target[k]))
    # flattening the batch into N gives the same mean
    if losses.spec(name).task == "multiclass":
        flat = (pred.reshape(K * N, C),
                target.reshape(K * N, C) if prob_target else target.reshape(K * N))
    else:
        flat = (pred.reshape(K * N), target.reshape(K * N))
    torch.testing.assert_close(loss(pred, target), loss(*flat))


# ---------------------------------------------------------------------- 6. return value


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ALL)
def test_returns_0dim_mean_of_unreduced(name, dtype):
    loss = losses.get(name)
    pred, target = make_inputs(name, dtype=dtype, seed=9)
    out = loss(pred, target)
    per = loss.unreduced(pred, target)
    assert isinstance(out, torch.Tensor)
    assert out.dim() == 0 and out.shape == ()
    assert out.dtype == dtype and per.dtype == dtype
    expected_shape = pred.shape[:-1] if loss.task == "multiclass" else target.shape
    assert per.shape == expected_shape
    torch.testing.assert_close(out, per.mean())
    assert torch.isfinite(per).all() and (per >= 0).all()
