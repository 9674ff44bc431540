"""The command line on tiny data, run in this process (``tests.helpers.run_main``); what
depends on the process itself (exit codes, stderr, start-up imports) is
``tests/e2e/test_commands.py``."""

from __future__ import annotations

import json

import pytest

import losses
from harness import results
from tests.helpers import TINY, run_main


@pytest.mark.parametrize("args, metric", [
    (["loss=huber", "data=outliers"], "rmse"),
    (["loss=hinge", "data=binary", "model=linear"], "accuracy"),
    (["loss=ce", "data=multiclass", "optim=sgd"], "macro_f1"),
])
def test_one_run_per_task_kind(tmp_path, args, metric):
    out = tmp_path / "run"
    proc = run_main(*args, *TINY, f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr
    assert "completed" in proc.stdout and metric in proc.stdout and "test" in proc.stdout
    assert (out / ".hydra" / "config.yaml").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and f"test.{metric}" in summary["final"]
    df = results.load(out)
    assert set(df.split) == {"train", "train_clean", "val", "val_corrupted", "test"}
    assert df.epoch.max() == 2


def test_multirun_writes_one_folder_per_job(tmp_path):
    proc = run_main("-m", "loss=mse,mae", *TINY, f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    df = results.summaries(tmp_path)
    assert sorted(df.loss) == ["mae", "mse"]


BAD = [
    (["loss=hinge", "data=outliers"],
     "error: loss 'hinge' is a binary loss and does not fit data 'outliers' (regression); "
     f"losses for regression: {', '.join(losses.available('regression'))}."),
    (["loss=huber", "loss.delta=-1"],
     "error: The 'loss.delta' parameter of huber must be a float in the range (0, inf). "
     "Got -1.0 instead."),
    (["data.outlier_frac=1.5"],
     "error: The 'data.outlier_frac' parameter must be a float in the range [0, 1]. "
     "Got 1.5 instead."),
    (["trainer.batch_size=0"],
     "error: The 'trainer.batch_size' parameter must be an int in the range [1, inf). "
     "Got 0 instead."),
    (["trainer.device=cuda"] , "error: trainer.device=cuda but CUDA is not available"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_nonzero(tmp_path, args, message):
    import torch

    if args == ["trainer.device=cuda"] and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    out = tmp_path / "run"
    proc = run_main(*args, *TINY, f"hydra.run.dir={out}")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), proc.stderr
    assert not (out / "summary.json").exists()  # stopped before training


def test_unknown_group_option_lists_the_options(tmp_path):
    proc = run_main("loss=hubr", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()  # Hydra's report, as one line
    assert line.startswith("error: In 'config': Could not find 'loss/hubr'")
    assert "pseudo_huber" in line and "did you mean 'huber'?" in line


def test_help_shows_examples_and_groups():
    proc = run_main("--help")
    assert proc.returncode == 0
    assert "python -m harness loss=huber data=outliers" in proc.stdout
    assert "loss: " in proc.stdout or "loss:" in proc.stdout


def test_an_option_a_pip_extra_provides_says_how_to_install_it(tmp_path):
    proc = run_main("-m", "hydra/launcher=ray", *TINY, f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.endswith("hydra/launcher=ray needs the Ray launcher: pip install -e '.[ray]'")
    proc = run_main("loss=mine", *TINY, f"hydra.run.dir={tmp_path}")
    assert "load its module with plugins=[./my_module.py]" in proc.stderr


def test_a_named_run_folder_of_another_config_is_not_written_over(tmp_path):
    """Issue 16 case 4's kind, for a folder the user names: the same config replaces its
    own run; another config is refused before anything is written."""
    out = tmp_path / "X"
    first = run_main("loss=mse", *TINY, f"hydra.run.dir={out}")
    assert first.returncode == 0, first.stderr
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    other = run_main("loss=huber", *TINY, f"hydra.run.dir={out}")
    assert other.returncode == 2
    theirs = json.loads((out / "summary.json").read_text())["run_id"]
    assert other.stderr.strip() == (f"error: {out} holds run {theirs} of another config; "
                                    "nothing was written: choose another hydra.run.dir, or "
                                    "remove that folder to replace it.")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    again = run_main("loss=mse", *TINY, f"hydra.run.dir={out}")
    assert again.returncode == 0, again.stderr
