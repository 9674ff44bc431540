"""``losses.check``: the registry's standard checks on any loss, and what it says when one
fails. Each check is shown failing on a plugin loss built to break it, so a pass means
something."""

from __future__ import annotations

import math

import pytest
import torch

import losses
import losses.checks
import losses.registry
from losses import LossError
from losses.registry import _NAMES, _SPECS


@pytest.fixture
def scratch():
    """Register plugin losses for one test only."""
    names, specs = dict(_NAMES), dict(_SPECS)
    yield
    _NAMES.clear(), _NAMES.update(names)
    _SPECS.clear(), _SPECS.update(specs)


def plugin(name, fn, **kw):
    """Register ``fn`` as a regression loss ``name`` with a docstring, return the Loss."""
    fn.__doc__ = r"""A plugin: :math:`f(r)`. Reference: none."""
    losses.register(name, task=kw.pop("task", "regression"), **kw)(fn)
    return losses.get(name)


def test_a_built_in_loss_passes_and_says_so(capsys):
    assert losses.check("huber") == []
    assert capsys.readouterr().out.strip() == (
        "huber[delta=1.0]: all 7 checks passed (shapes, empty, nan, reduction, stacked, "
        "extremes, gradcheck)")
    assert losses.check(losses.get("barron", alpha=-2.0, c=0.5), quiet=True) == []
    assert losses.check("bi_tempered", t1=0.5, t2=2.0, quiet=True) == []


def test_a_plugin_that_hides_nan_fails_the_nan_check(scratch):
    loss = plugin("nan_hider", lambda p, t: (p - t).square().nan_to_num())
    failures = losses.check(loss, quiet=True)
    assert failures and all(f.startswith("nan_hider: nan: ") for f in failures), failures
    assert "a NaN in a prediction gives the finite loss 0.0 for its sample" in failures[0]


def test_a_plugin_that_overflows_fails_the_extremes_check(scratch):
    loss = plugin("exploding", lambda p, t: torch.exp(p - t))
    assert losses.check(loss, only=["extremes"], quiet=True) == [
        "exploding: extremes: non-finite values [inf, 0.0, inf, 0.0, 2.7182817459106445, "
        "0.9990004897117615, 1.0, 1.0] at predictions [1000000.0, -999999.0, 1002.0, "
        "-1000.0, 6.0, -0.0010000000474974513, 0.0, 3.0]"]


class _WrongGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, r):
        ctx.save_for_backward(r)
        return r.square()

    @staticmethod
    def backward(ctx, grad):
        (r,) = ctx.saved_tensors
        return grad * r  # should be 2 r


def test_a_plugin_with_a_wrong_gradient_fails_gradcheck(scratch):
    loss = plugin("wrong_grad", lambda p, t: _WrongGradient.apply(p - t))
    failures = losses.check(loss, only=["gradcheck"], quiet=True)
    assert len(failures) == 3  # d/d pred of unreduced and of the mean, d/d target
    assert all(f.startswith("wrong_grad: gradcheck: d ") and "GradcheckError" in f
               and "\n" not in f for f in failures), failures


def test_a_plugin_that_couples_stacked_members_fails_the_stacked_check(scratch):
    # centring over the whole tensor mixes the members of a stacked training
    loss = plugin("coupled", lambda p, t: ((p - t) - (p - t).mean()).square())
    failures = losses.check(loss, only=["stacked"], quiet=True)
    assert failures and "member 0 gets" in failures[0] and "alone" in failures[0]


def test_a_fused_mean_that_is_not_the_mean_fails_the_reduction_check(scratch):
    loss = plugin("bad_fused", lambda p, t: (p - t).square(),
                  fused_mean=lambda p, t: (p - t).square().sum())
    failures = losses.check(loss, only=["reduction"], quiet=True)
    assert failures[0].startswith("bad_fused: reduction: loss ")
    assert "differs from the mean of unreduced" in failures[0]


def test_a_plugin_that_fails_on_no_samples_fails_the_empty_check(scratch):
    loss = plugin("normalised", lambda p, t: (p - t).abs() / (p - t).abs().max())
    failures = losses.check(loss, only=["empty"], quiet=True)
    assert failures == ["normalised: empty: raised RuntimeError: max(): Expected reduction "
                        "dim to be specified for input.numel() == 0. Specify the reduction "
                        "dim with the 'dim' argument."]


@pytest.mark.filterwarnings("ignore:Using a target size")  # torch warns as it broadcasts
def test_the_shape_check_catches_a_registry_that_broadcasts(scratch, monkeypatch):
    """The shape contract lives in the registry; were it gone, the check would say so."""
    monkeypatch.setattr(losses.registry, "check_shapes", lambda s, p, t: None)
    failures = losses.check("mse", only=["shapes"], quiet=True)
    assert "mse: shapes: loss on [N, 1] prediction against [N] target returned a value of " \
           "shape () instead of refusing" in failures


def test_a_crashing_loss_is_reported_not_raised(scratch, capsys):
    def broken(p, t):
        raise ZeroDivisionError("no")

    loss = plugin("broken", broken)
    failures = losses.check(loss)
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed == failures and len(failures) >= 6
    assert all(line.startswith("broken: ") and "ZeroDivisionError" in line
               for line in failures if not line.startswith("broken: shapes"))


def test_unknown_check_is_one_line():
    with pytest.raises(LossError) as info:
        losses.check("mse", only=["bogus"])
    assert str(info.value) == ("Unknown check 'bogus'; checks: shapes, empty, nan, reduction, "
                               "stacked, extremes, gradcheck.")


def test_inputs_respect_the_target_domain_and_the_link():
    for name in ("poisson", "gamma", "tweedie", "msle"):
        loss = losses.get(name)
        _, y = losses.checks.inputs(loss, n=50)
        losses.get(name).check_target(y)  # in the domain
        if 0.0 in loss.spec.target_domain:
            assert float(y.min()) == 0.0  # the y = 0 branch is exercised
    p, y = losses.checks.inputs(losses.get("bce"), batch=(3,))
    assert set(y.unique().tolist()) == {0.0, 1.0}
    z, q = losses.checks.inputs(losses.get("js"), soft=True)
    torch.testing.assert_close(q.sum(-1), torch.ones(12, dtype=torch.float64))
    assert math.isfinite(float(losses.get("js")(z, q)))


def test_the_reduction_check_catches_indices_of_another_dtype(monkeypatch):
    monkeypatch.setattr(losses.registry.Loss, "_as_int64", lambda self, target: target)
    failures = losses.check("ce", only=["reduction"], quiet=True)
    assert failures[0] == ("ce: reduction: torch.int32 class indices raised RuntimeError: "
                           "expected target dtype to be Long or Byte, but got Int")
