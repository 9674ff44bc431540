"""The training loop and one in-process run: rows, reproducibility, divergence, files."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from harness import metrics as M
from harness import results
from harness.jobs.job import run_id
from harness.jobs.lifecycle import run_one as run
from tests.helpers import TINY, make_cfg

CHOICES = {"data": "outliers", "model": "mlp", "loss": "huber", "optim": "adam",
           "trainer": "default"}


def test_run_writes_tidy_metrics_and_summary(tmp_path):
    cfg = make_cfg("loss=huber", *TINY)
    summary = run(cfg, tmp_path, CHOICES, echo=False)
    m = pd.read_parquet(tmp_path / "metrics.parquet")
    assert list(m.columns) == results.METRIC_COLUMNS
    assert sorted(m.epoch.unique()) == [0, 1, 2]
    assert set(m.split) == {"train", "train_clean", "val", "val_corrupted", "test"}
    assert set(m.metric) == {"objective", "rmse", "mae", "r2", "elapsed_s", *M.MEMORISATION}
    # one row per (epoch, split, metric): tidy
    assert not m.duplicated(["epoch", "split", "metric"]).any()
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["status"] == "completed" and saved["run_id"] == summary["run_id"]
    assert saved["config"]["loss"] == "huber" and saved["config"]["loss.delta"] == 1.0
    assert saved["loss_id"] == "huber[delta=1.0]" and saved["task"] == "regression"
    assert saved["torch_version"] == torch.__version__ and saved["device"] == "cpu"
    last = m[(m.epoch == 2) & (m.split == "test") & (m.metric == "rmse")].value.item()
    assert saved["final"]["test.rmse"] == pytest.approx(last)


def test_same_config_same_numbers_and_id(tmp_path):
    cfg = make_cfg("loss=mae", *TINY)
    a = run(cfg, tmp_path / "a", CHOICES, echo=False)
    b = run(cfg, tmp_path / "b", CHOICES, echo=False)
    assert a["run_id"] == b["run_id"]
    assert without_time(a["final"]) == without_time(b["final"])  # bit-identical
    c = run(make_cfg("loss=mae", "seed=1", *TINY), tmp_path / "c", CHOICES, echo=False)
    assert c["run_id"] != a["run_id"] and c["final"]["test.rmse"] != a["final"]["test.rmse"]


def without_time(final: dict) -> dict:
    return {k: v for k, v in final.items() if not k.endswith("elapsed_s")}


def test_progress_flag_does_not_change_the_run_id():
    flat = {"loss": "mse", "seed": 0, "trainer.progress": True}
    assert run_id(flat) == run_id({**flat, "trainer.progress": False})
    assert run_id(flat) != run_id({**flat, "seed": 1})


def test_divergence_stops_early_and_is_recorded(tmp_path):
    cfg = make_cfg("loss=mse", "optim=sgd", "optim.lr=1e6", "trainer.epochs=5",
                   "data.n_samples=200", "trainer.progress=false")
    summary = run(cfg, tmp_path, CHOICES, echo=False)
    assert summary["status"] == "diverged"
    assert 1 <= summary["diverged_epoch"] < 5 == cfg.trainer.epochs
    assert summary["epochs_run"] == summary["diverged_epoch"]
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "diverged"


def test_training_reduces_the_objective(tmp_path):
    cfg = make_cfg("loss=ce", "data=multiclass", "data.n_samples=400", "trainer.epochs=10",
                   "trainer.progress=false")
    run(cfg, tmp_path, {**CHOICES, "data": "multiclass"}, echo=False)
    m = pd.read_parquet(tmp_path / "metrics.parquet")
    val = m[(m.split == "val") & (m.metric == "accuracy")].set_index("epoch").value
    assert val[10] > val[0] + 0.2


def test_evaluate_logs_memorisation_on_train_only_when_points_are_corrupted():
    from harness import metrics as M
    from harness.data import Dataset
    from harness.training.loop import Alone, evaluate, member_splits
    from losses import get

    # the "model" is the identity: each row of X is that point's logits
    X = torch.tensor([[0.0, 5.0, 0.0], [5.0, 0.0, 0.0], [0.0, 0.0, 5.0], [5.0, 0.0, 0.0],
                      [0.0, 0.0, 5.0], [0.0, 5.0, 0.0]])
    clean = torch.tensor([0, 0, 1, 0, 2, 1])
    noisy = torch.tensor([1, 2, 2, 0, 2, 1])  # the first three are corrupted
    corrupted = noisy != clean
    data = Dataset("hand", "multiclass", {"train": X, "val": X, "test": X},
                   {"train": noisy, "val": clean, "test": clean}, clean, corrupted, 3)
    cpu = torch.device("cpu")
    one = Alone(torch.nn.Identity(), get("ce"), None)

    def values(d):
        keys, table = evaluate(one, member_splits([d], cpu), d.corrupted.unsqueeze(0),
                               "multiclass", 3)
        return {k: row[0] for k, row in zip(keys, table, strict=True)}

    got = values(data)
    # corrupted points predict 1 (= corrupted), 0 (= clean), 2 (= corrupted)
    assert got[("train", "memorised")] == pytest.approx(2 / 3)
    assert got[("train", "corrupted_correct")] == pytest.approx(1 / 3)
    assert {s for s, m in got if m in M.MEMORISATION} == {"train"}
    clean_data = Dataset("hand", "multiclass", {"train": X, "val": X, "test": X},
                         {"train": clean, "val": clean, "test": clean}, clean,
                         torch.zeros(6, dtype=torch.bool), 3)
    got = values(clean_data)  # no corrupted point: NaN, and fit() logs no such row
    assert all(math.isnan(v) for (_, m), v in got.items() if m in M.MEMORISATION)


# ---------------------------------------------------------------- issue 20: early stopping, weights
EARLY = ["trainer.early_stopping.patience=2", "data.n_samples=400", "trainer.epochs=40",
         "trainer.progress=false"]


def test_early_stopping_reads_val_corrupted_and_reports_the_best_epoch(tmp_path):
    """Huber at 20% outliers: the corrupted validation objective stops improving and the
    run stops; with restore_best its results are those of its best epoch, which is where
    val_corrupted's objective was lowest (computed here from the rows, independently)."""
    summary = run(make_cfg("loss=huber", *EARLY), tmp_path, CHOICES, echo=False)
    m = pd.read_parquet(tmp_path / "metrics.parquet")
    watched = m[(m.split == "val_corrupted") & (m.metric == "objective")].set_index("epoch")
    assert summary["stopped_epoch"] == summary["epochs_run"] < 40
    best = int(watched.value.idxmin())
    assert summary["best_epoch"] == summary["selected_epoch"] == best
    assert summary["stopped_epoch"] - best == 2  # patience: 2 epochs without improvement
    test = m[(m.split == "test") & (m.metric == "rmse")].set_index("epoch").value
    assert summary["final"]["test.rmse"] == pytest.approx(test[best])
    # restore_best=false: the last epoch is reported; the best is still recorded
    last = run(make_cfg("loss=huber", *EARLY, "trainer.early_stopping.restore_best=false"),
               tmp_path / "last", CHOICES, echo=False)
    assert last["selected_epoch"] == last["epochs_run"] and last["best_epoch"] == best
    # off by default: no key of it in the summary, the run id of a run without it
    plain = run(make_cfg("loss=huber", *EARLY[1:]), tmp_path / "plain", CHOICES, echo=False)
    assert "best_epoch" not in plain and plain["epochs_run"] == 40


def test_early_stopping_refuses_a_monitor_the_task_has_not():
    from harness.errors import HarnessError
    from harness.jobs.job import prepare

    with pytest.raises(HarnessError, match="monitor=accuracy is not a regression metric"):
        prepare(make_cfg(*EARLY, "trainer.early_stopping.monitor=accuracy"))


@pytest.mark.parametrize("extra", [[], EARLY[:1]], ids=["last", "best"])
def test_saved_weights_reload_without_the_harness_and_give_the_test_metric(tmp_path, extra):
    """model.safetensors holds the reported epoch's weights (no pickle): loaded into the
    config's model with safetensors and torch alone, they give the summary's test RMSE."""
    from safetensors.torch import load_file

    from harness import models
    from harness.seeding import derive_seeds

    cfg = make_cfg("loss=huber", *EARLY[1:], "trainer.epochs=6", "trainer.save_weights=true",
                   *extra)
    summary = run(cfg, tmp_path, CHOICES, echo=False)
    assert summary["weights"] == {"file": "model.safetensors",
                                  "epoch": summary.get("selected_epoch", 6)}
    from harness.jobs.job import call

    data = call(cfg.data, seeds=derive_seeds(0))
    model = models.MLP(data.n_features, 1, hidden=[64, 64])
    model.load_state_dict(load_file(tmp_path / "model.safetensors"))
    with torch.no_grad():
        err = model(data.X["test"]) - data.y["test"]
    assert float(err.square().mean().sqrt()) == pytest.approx(summary["final"]["test.rmse"],
                                                              rel=1e-5)
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.pkl"))


# ---------------------------------------------------------------- issue 18: no compiler
def test_training_alone_or_stacked_does_not_import_torch_dynamo(tmp_path):
    """torch's optimisers import ``torch._dynamo`` (about a second) on first use unless
    the harness steps them itself (``harness.training.eager``): neither a run alone nor
    a stack of two imports it. Its own interpreter: this one may have imported it."""
    import subprocess
    import sys

    from tests.helpers import ROOT

    code = (
        "import sys\n"
        "from tests.helpers import TINY, make_cfg\n"
        "from harness.jobs.job import Task\n"
        "from harness.jobs.lifecycle import run_jobs, run_one\n"
        f"run_one(make_cfg(*TINY), {str(tmp_path / 'alone')!r}, echo=False)\n"
        "tasks = [Task(make_cfg(*TINY, f'seed={s}'), {}, "
        f"{str(tmp_path)!r} + f'/stack{{s}}') for s in (0, 1)]\n"
        "run_jobs(tasks, stack=True, log=lambda line: None)\n"
        "print(sorted(m for m in sys.modules if m.startswith('torch._dynamo'))[:3])\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "stack1" / "summary.json").is_file()
