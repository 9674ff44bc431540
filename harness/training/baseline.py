"""Classical baselines: a scikit-learn estimator fitted on a run's data (``model=sklearn_*``).

The estimator sees what a network would: the training split as the harness built it
(standardised, corrupted), the same seed (``random_state``, where the estimator has
one). Its predictions on every split get the task's metrics, computed by the same code as
a network's (:mod:`harness.metrics`, on a regressor's predictions, or a classifier's
``decision_function``: the logit for logistic regression, a margin for the SVM), and its
rows are written at epoch 1 (it is fitted once); the objective, the loss a network
trains on, is not defined for it and not written.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from harness import metrics as M
from harness.training.loop import SPLIT_TWINS, FitResult


def is_baseline(model: Any) -> bool:
    """Whether ``model`` is a scikit-learn estimator (not an ``nn.Module``)."""
    return hasattr(model, "fit") and not isinstance(model, torch.nn.Module)


def scores(estimator: Any, X: np.ndarray, task: str) -> torch.Tensor:
    """Predictions in the harness's encodings: ``[N]`` values (regression) or scores
    (binary), ``[N, C]`` scores (multiclass)."""
    if task == "regression":
        out = estimator.predict(X)
    else:
        out = estimator.decision_function(X)
    return torch.as_tensor(np.asarray(out, dtype=np.float32))


def fit_baseline(estimator: Any, data: Any, seed: int) -> FitResult:
    """Fit ``estimator`` on ``data``'s training split and return its metric rows."""
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=seed % 2 ** 32)
    task = data.task
    result = FitResult()
    t0 = time.perf_counter()
    X, y = data.split("train")
    estimator.fit(X.numpy(), y.numpy())
    result.train_seconds = result.stack_seconds = time.perf_counter() - t0
    for name, _ in SPLIT_TWINS:
        X, y = data.split(name)
        pred = scores(estimator, X.numpy(), task)
        if task == "binary" and pred.dim() > 1:
            pred = pred[:, -1]
        values = M.compute(task, pred, y, data.n_classes)
        result.rows += [(1, name, m, float(v)) for m, v in zip(M.METRICS[task], values,
                                                                  strict=True)]
        if name == "train" and bool(data.corrupted.any()):
            mem = M.memorisation(task, pred, y, data.y_train_clean, data.corrupted)
            result.rows += [(1, name, m, float(v)) for m, v in zip(M.MEMORISATION, mem,
                                                                   strict=True)]
    result.rows.append((1, "train", "elapsed_s", result.train_seconds))
    result.epochs_run = 1
    return result
