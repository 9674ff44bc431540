"""Classical baselines (issue 20): model=sklearn_* fits scikit-learn's estimator on the
run's own (corrupted) training split; its metrics equal the estimator fitted by hand on
the same split, and the report puts it beside the network losses of its setting."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import (
    HuberRegressor,
    LogisticRegression,
    QuantileRegressor,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.metrics import accuracy_score, mean_squared_error
from sklearn.svm import LinearSVC

from harness import results
from harness.jobs.job import call
from harness.seeding import derive_seeds
from tests.helpers import make_cfg, run_main

QUICK = ["data.n_samples=300", "trainer.progress=false"]


def by_hand(cfg):
    data = call(cfg.data, seeds=derive_seeds(int(cfg.seed)))
    return data, {s: data.split(s) for s in ("train", "test")}


@pytest.mark.parametrize("model, data, estimator, metric", [
    ("sklearn_huber", ["data=outliers"], HuberRegressor(epsilon=1.35, alpha=0.0001,
                                                        max_iter=1000), "rmse"),
    ("sklearn_logistic", ["data=binary", "data.label_noise=0.2"],
     LogisticRegression(C=1.0, max_iter=1000), "accuracy"),
    ("sklearn_sgd_classifier", ["data=multiclass", "data.label_noise=0.2"],
     SGDClassifier(loss="hinge", alpha=0.0001, max_iter=1000), "accuracy"),
    ("sklearn_quantile", ["data=outliers"],
     QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs"), "rmse"),
    ("sklearn_sgd_regressor", ["data=outliers"],
     SGDRegressor(loss="squared_error", alpha=0.0001, epsilon=0.1, max_iter=1000), "rmse"),
    ("sklearn_linear_svc", ["data=binary", "data.label_noise=0.2"],
     LinearSVC(C=1.0, max_iter=1000), "accuracy"),
])
def test_a_baseline_is_the_estimator_fitted_by_hand_on_the_same_split(tmp_path, model, data,
                                                                       estimator, metric):
    args = [f"model={model}", *data, *QUICK, "seed=3"]
    proc = run_main(*args, f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = results.read_summary(tmp_path)
    _, split = by_hand(make_cfg(*args))
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=derive_seeds(3)["init"])
    (Xtr, ytr), (Xte, yte) = split["train"], split["test"]
    estimator.fit(Xtr.numpy(), ytr.numpy())
    pred = estimator.predict(Xte.numpy())
    want = (np.sqrt(mean_squared_error(yte.numpy(), pred)) if metric == "rmse"
            else accuracy_score(yte.numpy(), pred))
    assert summary["final"][f"test.{metric}"] == pytest.approx(want, rel=1e-5)
    assert summary["loss_id"] == model and summary["config"]["loss"] == model
    assert "train.memorised" in summary["final"]  # corrupted points: memorisation too


def test_a_baseline_that_does_not_fit_the_task_is_one_line(tmp_path):
    proc = run_main("model=sklearn_logistic", "data=outliers", *QUICK,
                    f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "model=sklearn_logistic is not a regressor" in line


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_the_report_puts_baselines_beside_the_network_losses(tmp_path):
    proc = run_main("-m", "model=mlp,sklearn_huber", "loss=huber", "seed=0,1", *QUICK,
                    "trainer.epochs=5", f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = run_main(str(tmp_path), "--out", str(tmp_path / "r"), module="harness.report")
    assert report.returncode == 0, report.stderr
    import pandas as pd

    summary = pd.read_csv(tmp_path / "r" / "summary.csv")
    assert summary.setting.nunique() == 1  # one setting: the baseline beside huber
    assert set(summary.loss) == {"huber[delta=1.0]", "sklearn_huber"} or \
        set(summary.loss) == {"huber", "sklearn_huber"}
