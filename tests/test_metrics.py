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
