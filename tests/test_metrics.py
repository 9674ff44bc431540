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
    memorised, correct = M.memorisation("multiclass", logits, noisy, clean)
    assert float(memorised) == 0.5 and float(correct) == 0.25


def test_binary_memorisation_on_a_hand_made_example():
    clean = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0])
    noisy = 1 - clean
    scores = torch.tensor([-2.0, 3.0, 0.5, -0.1, -0.3])  # labels 0 1 1 0 0
    memorised, correct = M.memorisation("binary", scores, noisy, clean)
    assert float(memorised) == pytest.approx(3 / 5) and float(correct) == pytest.approx(2 / 5)


def test_regression_memorisation_counts_predictions_nearer_the_corrupted_target():
    clean = torch.tensor([0.0, 0.0, 1.0, -1.0])
    noisy = torch.tensor([10.0, 10.0, -9.0, 9.0])
    pred = torch.tensor([6.0, 4.0, -5.0, 0.0])  # nearer noisy, clean, noisy, clean
    memorised, correct = M.memorisation("regression", pred, noisy, clean)
    assert float(memorised) == 0.5 and float(correct) == 0.5
