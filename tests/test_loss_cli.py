"""Every registered loss trains end to end through the real command line.

The fast suite runs a smoke subset (in this process, one per task); ``-m slow`` trains every
loss on a task it fits and checks that it learned. Losses with a target domain (``msle``,
and the log-link deviances ``poisson``, ``gamma``, ``tweedie``) need non-negative or
positive targets: they train on ``diabetes`` with ``data.targets=raw`` (the data set's
own positive units, 25-346).
"""

from __future__ import annotations

import json
import math

import pytest

import losses
from harness import results
from harness.errors import HarnessError
from harness.jobs.job import build_loss
from harness.jobs.lifecycle import run_one as run
from losses import InvalidParameterError
from tests.helpers import TINY, make_cfg, run_cli, run_main

DATA = {"regression": "outliers", "binary": "binary", "multiclass": "multiclass"}
# msle needs non-negative targets: diabetes in its own units (disease progression, 25-346)
NONNEGATIVE = ["data=diabetes", "data.targets=raw"]


def needs_raw_targets(name: str) -> bool:
    return losses.spec(name).target_domain is not None


def data_args(name: str) -> list[str]:
    task = losses.spec(name).task
    return NONNEGATIVE if needs_raw_targets(name) else [f"data={DATA[task]}"]


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Subprocesses train with one thread: these models are tiny, and with two OpenMP
    threads on a busy 2-core machine one training run took 10.5 s instead of 0.14 s."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


# ------------------------------------------------------------------- fast: smoke subset

SMOKE = ["msle", "focal", "nce_rce"]  # one per task, each with a path of its own


@pytest.mark.parametrize("name", SMOKE)
def test_smoke_trains(tmp_path, name):
    out = tmp_path / "run"
    proc = run_main(f"loss={name}", *data_args(name), *TINY, f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed", summary.get("error")
    assert summary["config"]["loss"] == name
    assert math.isfinite(summary["final"]["test.objective"])


# ------------------------------------------------- fast: in-process checks of the wiring


def test_msle_on_standardised_targets_stops_with_one_line(tmp_path):
    with pytest.raises(HarnessError) as info:
        run(make_cfg("loss=msle", *TINY), tmp_path, {"data": "outliers"}, echo=False)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("data 'outliers' (train split) does not fit loss 'msle': "
                              "msle needs targets in [0, inf); got -")
    assert not (tmp_path / "summary.json").exists()  # stopped before training


def test_raw_diabetes_targets_fit_msle():
    cfg = make_cfg("loss=msle", *NONNEGATIVE, *TINY)
    from harness.jobs.job import call
    from harness.seeding import derive_seeds

    d = call(cfg.data, seeds=derive_seeds(0))
    loss = build_loss(cfg)
    for y in (*d.y.values(), d.y_train_clean, d.y_val_corrupted):
        assert float(y.min()) >= 0
        loss.check_target(y)
        for name in ("poisson", "gamma", "tweedie"):  # the log-link deviances' domains
            losses.get(name).check_target(y)
    # the raw targets are the standardised ones mapped back: same data, other units
    std = call(make_cfg(*TINY, "data=diabetes").data, seeds=derive_seeds(0)).y["test"]
    raw = d.y["test"]
    z = (raw - raw.mean()) / raw.std() - (std - std.mean()) / std.std()
    assert float(z.abs().max()) < 1e-4


@pytest.mark.parametrize(("overrides", "params"), [
    (["loss=barron", "loss.alpha=-inf", "loss.c=0.5"], {"alpha": -math.inf, "c": 0.5}),
    (["loss=focal", "loss.gamma=0", "loss.alpha=0.5"], {"gamma": 0.0, "alpha": 0.5}),
    (["loss=sce", "loss.alpha=0"], {"alpha": 0.0, "beta": 1.0}),
])
def test_config_overrides_reach_the_loss(overrides, params):
    assert build_loss(make_cfg(*overrides)).params == params


@pytest.mark.parametrize(("overrides", "message"), [
    (["loss=quantile", "loss.q=1.5"],
     "The 'loss.q' parameter of quantile must be a float in the range (0, 1). Got 1.5 instead."),
    (["loss=tukey", "loss.c=0"],
     "The 'loss.c' parameter of tukey must be a float in the range (0, inf). Got 0.0 instead."),
])
def test_bad_loss_parameter_in_config_is_one_line(overrides, message):
    with pytest.raises(InvalidParameterError) as info:
        build_loss(make_cfg(*overrides))
    assert str(info.value) == message


# ------------------------------------------------------------------ slow: every loss


@pytest.mark.slow
@pytest.mark.parametrize("name", losses.available())
def test_every_loss_trains_and_learns(tmp_path, name):
    out = tmp_path / "run"
    task = losses.spec(name).task
    clean = ["data.outlier_frac=0"] if task == "regression" else []  # no corruption: the
    # non-robust losses would fit the outliers and get worse on clean test data
    size = [] if needs_raw_targets(name) else ["data.n_samples=1000"]  # diabetes: 442 rows
    proc = run_cli(f"loss={name}", *data_args(name), *clean, *size,
                   "trainer.epochs=15", "trainer.progress=false", f"hydra.run.dir={out}",
                   timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed", summary.get("error")
    df = results.load(out)
    last = int(df.epoch.max())

    def value(split: str, metric: str, epoch: int) -> float:
        rows = df[(df.split == split) & (df.metric == metric) & (df.epoch == epoch)]
        return float(rows.value.iloc[0])

    # it optimised its own objective ...
    assert value("train", "objective", last) < value("train", "objective", 0)
    # ... and that helped on test data
    if losses.spec(name).link == "log":
        pass  # the prediction is log(mu): the harness's rmse of it against y means nothing
    elif task == "regression":
        assert value("test", "rmse", last) < value("test", "rmse", 0)
    else:
        assert value("test", "accuracy", last) > value("test", "accuracy", 0) + 0.1
