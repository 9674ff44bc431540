"""The harness's torch metrics agree with scikit-learn's definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import expit, softmax
from sklearn import metrics as skm

from harness import metrics as M

rng = np.random.default_rng(0)


def test_regression_metrics_match_sklearn():
    y = rng.normal(size=300)
    p = y + rng.normal(scale=0.5, size=300)
    rmse, mae, r2 = M.compute("regression", torch.tensor(p), torch.tensor(y))
    assert float(rmse) == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    assert float(mae) == pytest.approx(skm.mean_absolute_error(y, p))
    assert float(r2) == pytest.approx(skm.r2_score(y, p))


def test_binary_metrics_match_sklearn():
    y = rng.integers(0, 2, size=300).astype(float)
    s = rng.normal(scale=2.0, size=300) + (y - 0.5)
    acc, f1, ll = M.compute("binary", torch.tensor(s), torch.tensor(y))
    labels = (s > 0).astype(int)
    assert float(acc) == pytest.approx(skm.accuracy_score(y, labels))
    assert float(f1) == pytest.approx(skm.f1_score(y, labels, average="macro"))
    assert float(ll) == pytest.approx(skm.log_loss(y, expit(s)), rel=1e-6)


@pytest.mark.parametrize("drop_class", [False, True])
def test_multiclass_metrics_match_sklearn(drop_class):
    y = rng.integers(0, 5, size=400)
    z = rng.normal(size=(400, 5))
    z[np.arange(400), y] += 1.0
    if drop_class:  # a class nobody predicts and nobody has: sklearn leaves it out
        y[y == 4] = 0
        z[:, 4] = -50.0
    acc, f1, ll = M.compute("multiclass", torch.tensor(z), torch.tensor(y), n_classes=5)
    labels = z.argmax(1)
    assert float(acc) == pytest.approx(skm.accuracy_score(y, labels))
    assert float(f1) == pytest.approx(skm.f1_score(y, labels, average="macro"))
    assert float(ll) == pytest.approx(skm.log_loss(y, softmax(z, axis=1), labels=range(5)),
                                      rel=1e-6)


def test_every_task_names_its_metrics_and_direction():
    for task, names in M.METRICS.items():
        assert all(n in M.HIGHER_IS_BETTER for n in names), task
    assert all(n in M.HIGHER_IS_BETTER for n in M.MEMORISATION)


# ---------------------------------------------------------------- memorisation
def test_multiclass_memorisation_on_a_hand_made_example():
    # four corrupted points: clean labels 0 0 1 2, corrupted labels 1 2 2 0
    clean, noisy = torch.tensor([0, 0, 1, 2]), torch.tensor([1, 2, 2, 0])
    logits = torch.tensor([[0.0, 5.0, 0.0],    # predicts 1 = its corrupted label: memorised
                           [5.0, 0.0, 0.0],    # predicts 0 = its clean label: still correct
                           [0.0, 0.0, 5.0],    # predicts 2 = corrupted: memorised
                           [0.0, 5.0, 0.0]])   # predicts 1: neither
    memorised, correct, pull = M.memorisation("multiclass", logits, noisy, clean)
    assert float(memorised) == 0.5 and float(correct) == 0.25
    probs = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(1, keepdims=True)
    assert float(pull) == pytest.approx(probs[np.arange(4), noisy.numpy()].mean(), rel=1e-6)


def test_binary_memorisation_on_a_hand_made_example():
    clean = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0])
    noisy = 1 - clean
    scores = torch.tensor([-2.0, 3.0, 0.5, -0.1, -0.3])  # labels 0 1 1 0 0
    memorised, correct, pull = M.memorisation("binary", scores, noisy, clean)
    assert float(memorised) == pytest.approx(3 / 5) and float(correct) == pytest.approx(2 / 5)
    p_one = 1 / (1 + np.exp(-scores.numpy()))
    expect = np.where(noisy.numpy() == 1, p_one, 1 - p_one).mean()
    assert float(pull) == pytest.approx(expect, rel=1e-6)


def test_regression_memorisation_counts_predictions_nearer_the_corrupted_target():
    clean = torch.tensor([0.0, 0.0, 1.0, -1.0])
    noisy = torch.tensor([10.0, 10.0, -9.0, 9.0])
    pred = torch.tensor([6.0, 4.0, -5.0, 0.0])  # nearer noisy, clean, noisy, clean
    memorised, correct, pull = M.memorisation("regression", pred, noisy, clean)
    assert float(memorised) == 0.5 and float(correct) == 0.5
    # pull, by hand: 6/10, 4/10, (-5-1)/(-9-1), (0+1)/(9+1)
    assert float(pull) == pytest.approx((0.6 + 0.4 + 0.6 + 0.1) / 4)


def pull_numpy(pred, noisy, clean, mask):
    """The mean pull, written independently: per run, over the masked points whose
    corrupted target differs from the clean one."""
    out = []
    for p, n, c, m in zip(pred, noisy, clean, mask, strict=True):
        keep = m & (n != c)
        out.append(np.mean((p[keep] - c[keep]) / (n[keep] - c[keep])))
    return np.array(out)


def test_regression_pull_matches_numpy_on_stacked_runs_with_masks():
    rng = np.random.default_rng(0)
    runs, n = 4, 50
    clean = rng.normal(size=(runs, n))
    mask = rng.random((runs, n)) < 0.3
    noisy = np.where(mask, clean + rng.choice([-10.0, 10.0], size=(runs, n)), clean)
    mask[0, :3] = True  # corrupted points whose target did not move: left out of the pull
    pred = clean + rng.uniform(-0.5, 1.5, size=(runs, n)) * (noisy - clean) \
        + rng.normal(0, 0.1, (runs, n))
    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in
         dict(pred=pred, noisy=noisy, clean=clean).items()}
    memorised, correct, pull = M.memorisation("regression", t["pred"], t["noisy"],
                                              t["clean"], torch.tensor(mask))
    assert pull.numpy() == pytest.approx(pull_numpy(pred, noisy, clean, mask), rel=1e-12)
    near_noisy = np.abs(pred - noisy) < np.abs(pred - clean)
    assert memorised.numpy() == pytest.approx((near_noisy & mask).sum(1) / mask.sum(1))


def test_pull_moves_while_the_fraction_memorised_stays_zero():
    """The case of issue 19: a fit bending towards 10-std outliers but still nearer the
    clean targets has memorised 0, pull > 0, growing with the bend."""
    clean = torch.zeros(100)
    noisy = torch.full((100,), 10.0)
    for bend, expect in ((0.0, 0.0), (0.1, 0.1), (0.3, 0.3)):
        memorised, _, pull = M.memorisation("regression", clean + bend * 10, noisy, clean)
        assert float(memorised) == 0.0 and float(pull) == pytest.approx(expect)
