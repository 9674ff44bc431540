"""Issue 16, cases 1 and 2: degenerate input and probability targets that are not
distributions, each with its independently computed right value.

The kind behind case 1 ("every loss agrees on degenerate input") is covered registry-wide
by the standard checks ``empty``, ``nan``, ``reduction`` and ``stacked``
(``tests/test_losses.py::test_standard_check``, every loss and parameter case); here are
the issue's own inputs. Case 2's kind ("a probability target must be a distribution") is
tested for every loss that takes probability targets, direct calls and ``check_target``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sps
import torch

import losses
import losses.registry
from losses import LossError

SOFT = [n for n in losses.available("multiclass") if losses.spec(n).soft_targets]
INDEX_ONLY = [n for n in losses.available("multiclass") if not losses.spec(n).soft_targets]


# ------------------------------------------------------------ case 1: degenerate input


def test_multiclass_hinge_on_no_samples_is_nan_every_time():
    """torch's multi_margin_loss read uninitialised memory here: a new number each call."""
    loss = losses.get("multiclass_hinge")
    for _ in range(5):
        out = loss(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))
        assert out.shape == () and bool(out.isnan())


def test_rmse_on_no_samples_is_nan_not_zero():
    out = losses.get("rmse")(torch.zeros(0), torch.zeros(0))
    assert bool(out.isnan())
    stacked = losses.get("rmse").stacked(torch.zeros(4, 0), torch.zeros(4, 0))
    assert stacked.shape == (4,) and bool(stacked.isnan().all())


@pytest.mark.parametrize("name", losses.available())
def test_every_loss_agrees_on_no_samples(name):
    """The same answer from every loss: NaN, the mean of an empty set (the standard check
    ``empty`` runs this on every parameter case too)."""
    assert losses.check(name, only=["empty"], quiet=True) == []


def test_multiclass_hinge_does_not_drop_a_nan_logit():
    """torch's kernel returned 1/3 here; the formula gives NaN."""
    z = torch.tensor([[math.nan, 0.0, 0.0], [1.0, 0.0, 0.0]])
    per = losses.get("multiclass_hinge").unreduced(z, torch.tensor([1, 0]))
    assert bool(per[0].isnan())
    assert float(per[1]) == pytest.approx(2 * (1.0 - 1.0 + 0.0) / 3)  # hinges of 0 and 0


def test_multiclass_hinge_against_torch_where_its_kernel_is_right():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(20, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (20,), generator=g)
    for margin in (0.5, 1.0, 2.0):
        got = losses.get("multiclass_hinge", margin=margin).unreduced(z, y)
        want = torch.nn.functional.multi_margin_loss(z, y, margin=margin, reduction="none")
        torch.testing.assert_close(got, want)


def test_regression_targets_must_be_numbers_once_per_split():
    with pytest.raises(LossError) as info:
        losses.get("mse").check_target(torch.tensor([0.0, math.nan, 1.0]))
    assert str(info.value) == "mse needs finite targets; got nan."
    with pytest.raises(LossError, match="got inf"):
        losses.get("huber").check_target(torch.tensor([0.0, math.inf]))
    losses.get("mse").check_target(torch.tensor([-3.0, 2.0]))


# ------------------------------------------------ case 2: probability targets


LOGITS = torch.tensor([[1.0, 0.0, -1.0]], dtype=torch.float64)


def test_kl_of_the_issue_refuses_a_row_that_is_not_a_distribution():
    """The issue's input: a clamp turned sum t log(t/p) = -0.179 into 0.0 with a zero
    gradient. [0.2, 0.3, 0.0] is not a distribution: one line naming the row."""
    t = torch.tensor([[0.2, 0.3, 0.0]], dtype=torch.float64)
    p = sps.softmax([1.0, 0.0, -1.0])
    assert round(sps.rel_entr([0.2, 0.3, 0.0], p).sum(), 3) == -0.179  # the issue's value
    with pytest.raises(LossError) as info:
        losses.get("kl")(LOGITS, t)
    assert str(info.value) == (
        "kl needs each probability target row to be a distribution (entries in [0, 1] "
        "summing to 1 within 0.0001); row 0 sums to 0.5.")


@pytest.mark.parametrize("target", [[0.2, 0.3, 0.5], [0.0, 0.0, 1.0], [0.7, 0.0, 0.3]])
def test_kl_of_a_valid_target_by_hand(target):
    """KL(t || softmax z) = sum_c rel_entr(t_c, p_c) (scipy, 0 log 0 = 0), and its gradient
    with respect to the logits is p - t."""
    p = sps.softmax([1.0, 0.0, -1.0])
    expected = sps.rel_entr(target, p).sum()
    z = LOGITS.clone().requires_grad_(True)
    t = torch.tensor([target], dtype=torch.float64)
    out = losses.get("kl")(z, t)
    assert float(out.detach()) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    out.backward()
    np.testing.assert_allclose(z.grad.numpy()[0], p - np.array(target), rtol=1e-12, atol=1e-15)


def test_ce_of_the_issue_refuses_a_target_of_two():
    with pytest.raises(LossError) as info:
        losses.get("ce")(LOGITS, torch.tensor([[2.0, 0.0, 0.0]], dtype=torch.float64))
    assert str(info.value).endswith("row 0 has 2 at class 0.")


BAD_ROWS = [
    ([0.2, 0.3, 0.0, 0.0], "sums to 0.5"),
    ([2.0, 0.0, 0.0, 0.0], "has 2 at class 0"),
    ([1.5, -0.5, 0.0, 0.0], "has 1.5 at class 0"),  # sums to 1, entries outside [0, 1]
    ([0.5, 0.5, -0.0001, 0.0001], "has -0.0001 at class 2"),
    ([0.25, math.nan, 0.5, 0.25], "has nan at class 1"),
    ([0.25, 0.25, 0.25, 0.2497], "sums to 0.9997"),
]


@pytest.mark.parametrize(("row", "what"), BAD_ROWS, ids=[w for _, w in BAD_ROWS])
@pytest.mark.parametrize("name", SOFT)
def test_every_soft_loss_refuses_rows_that_are_not_distributions(name, row, what):
    loss = losses.get(name)
    good = torch.full((3, 4), 0.25, dtype=torch.float64)
    target = torch.cat([good, torch.tensor([row], dtype=torch.float64), good])  # row 3
    z = torch.zeros(7, 4, dtype=torch.float64)
    message = (f"{name} needs each probability target row to be a distribution (entries in "
               f"[0, 1] summing to 1 within 0.0001); row 3 {what}.")
    for call in (loss, loss.unreduced, loss.stacked, loss.check_target):
        with pytest.raises(LossError) as info:
            call(target) if call == loss.check_target else call(z, target)
        assert str(info.value) == message, call
    # stacked members: the row is named by its index in every leading axis
    stacked = torch.stack([torch.full((7, 4), 0.25, dtype=torch.float64), target])
    with pytest.raises(LossError, match=r"row \(1, 3\) "):
        loss.stacked(torch.zeros(2, 7, 4, dtype=torch.float64), stacked)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_row_sum_tolerance(dtype):
    """Rows may miss 1 by 1e-4 (or C float eps, if more): a float32 softmax over 1000 classes
    passes; a row off by 2e-4 does not."""
    loss = losses.get("ce")
    z = torch.zeros(2, 4, dtype=dtype)
    loss(z, torch.tensor([[0.25, 0.25, 0.25, 0.25 + 9e-5]] * 2, dtype=dtype))
    with pytest.raises(LossError, match="sums to 1.0002"):
        loss(z, torch.tensor([[0.25, 0.25, 0.25, 0.2502]] * 2, dtype=dtype))
    wide = torch.softmax(torch.randn(64, 1000, generator=torch.Generator().manual_seed(0)), -1)
    loss(torch.zeros(64, 1000, dtype=dtype), wide.to(dtype))


@pytest.mark.parametrize("name", INDEX_ONLY)
def test_index_only_losses_refuse_probability_targets_in_check_target(name):
    with pytest.raises(LossError, match=f"{name} takes class indices"):
        losses.get(name).check_target(torch.full((3, 4), 0.25))


@pytest.mark.parametrize("name", SOFT)
def test_class_indices_never_run_the_value_check(name, monkeypatch):
    """The harness trains with class indices: that path must not pay the probability
    check's host sync. With the check replaced by a trap, index targets still work and
    a probability target springs it."""
    def trap(spec, target):
        raise AssertionError("check_distribution ran")

    monkeypatch.setattr(losses.registry, "check_distribution", trap)
    loss = losses.get(name)
    z = torch.randn(5, 4)
    y = torch.tensor([0, 1, 2, 3, 0])
    loss(z, y), loss.unreduced(z, y), loss.stacked(z.expand(2, 5, 4), y.expand(2, 5))
    with pytest.raises(AssertionError, match="check_distribution ran"):
        loss(z, torch.full((5, 4), 0.25))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (sync debug mode)")
@pytest.mark.parametrize("name", ["ce", "sparse_ce", "label_smoothing_ce", "gce", "mse",
                                  "huber", "bce"])
def test_no_host_sync_on_the_training_path_cuda(name):
    """On a GPU, torch can refuse any host sync: a training step with class indices (or a
    regression / binary target) must not make one."""
    loss = losses.get(name)
    device = torch.device("cuda")
    if loss.task == "multiclass":
        pred = torch.randn(64, 10, device=device, requires_grad=True)
        target = torch.randint(0, 10, (64,), device=device)
    else:
        pred = torch.randn(64, device=device, requires_grad=True)
        target = torch.randint(0, 2, (64,), device=device).float()
    loss(pred, target)  # warm-up (lazy CUDA init may sync)
    torch.cuda.set_sync_debug_mode("error")
    try:
        loss(pred, target).backward()
        loss.stacked(pred.unsqueeze(0), target.unsqueeze(0))
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_int32_class_indices_give_what_int64_ones_give():
    """Another member of case 1's kind: the fused cross-entropy raised on int32 indices
    where the per-sample path worked. Indices of any integer dtype are made int64 (the
    standard check ``reduction`` holds this for every multiclass loss)."""
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 2, 1, 1, 0, 2])
    for name in ("ce", "sparse_ce", "kl", "label_smoothing_ce"):
        loss = losses.get(name)
        for dtype in (torch.int32, torch.uint8):
            torch.testing.assert_close(loss(z, y.to(dtype)), loss(z, y))
