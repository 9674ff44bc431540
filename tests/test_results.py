"""harness.results: loading one run, a folder of runs, and saying what is wrong."""

from __future__ import annotations

import pandas as pd
import pytest

from harness import results
from harness.errors import HarnessError
from harness.jobs.lifecycle import run_one as run
from tests.helpers import TINY, make_cfg

CHOICES = {"data": "outliers", "model": "mlp", "loss": "mse", "optim": "adam",
           "trainer": "default"}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    for i, loss in enumerate(["mse", "huber"]):
        run(make_cfg(f"loss={loss}", *TINY), root / str(i), {**CHOICES, "loss": loss},
            echo=False)
    return root


def test_load_one_run(sweep):
    df = results.load(sweep / "0")
    assert set(df.loss) == {"mse"} and df.run_id.nunique() == 1
    assert {"epoch", "split", "metric", "value", "status", "seed", "data.outlier_frac"} <= set(df)


def test_load_a_folder_of_runs_is_one_groupby_ready_table(sweep):
    df = results.load(sweep)
    assert set(df.loss) == {"mse", "huber"} and df.run_id.nunique() == 2
    final = df[(df.split == "test") & (df.metric == "rmse") & (df.epoch == 2)]
    by_loss = final.groupby("loss").value.mean()
    assert set(by_loss.index) == {"mse", "huber"}
    assert df["loss.delta"].isna().sum() > 0  # mse rows have no delta column value


def test_summaries_one_row_per_run(sweep):
    s = results.summaries(sweep)
    assert len(s) == 2 and s.run_id.is_unique
    assert {"final.test.rmse", "loss", "status", "wall_time_s"} <= set(s)


def test_missing_folder(tmp_path):
    with pytest.raises(HarnessError, match="does not exist"):
        results.load(tmp_path / "nope")


def test_folder_without_runs(tmp_path):
    with pytest.raises(HarnessError, match="no runs under"):
        results.load(tmp_path)


def test_corrupt_files_are_named(tmp_path, sweep):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(sweep / "0", bad)
    (bad / "metrics.parquet").write_bytes(b"not parquet")
    with pytest.warns(results.ResultsWarning, match=r"skipped .*bad/metrics.parquet"):
        assert results.load(bad).empty  # skipped, not fatal: the rest would load
    (bad / "summary.json").write_text("{truncated")
    with pytest.raises(HarnessError, match="no readable runs under .*cannot read "
                                           ".*bad/summary.json"):
        results.load(bad)


def test_atomic_write_leaves_no_temp_files(sweep):
    leftovers = [p.name for p in (sweep / "0").iterdir() if p.name.startswith(".")]
    assert leftovers == [] or leftovers == [".hydra"]
    assert isinstance(pd.read_parquet(sweep / "0" / results.METRICS_FILE), pd.DataFrame)


# ---------------------------------------------------------------- issue 18: merge from memory
def test_a_merge_takes_what_this_process_wrote_and_rereads_what_changed(tmp_path, monkeypatch):
    """A sweep's merge takes the runs this process wrote from memory (no file is read
    again), gives the table reading every file gives, and reads a run from disk again
    once its files changed after they were written (here: a summary edited by hand)."""
    import json
    import shutil

    for i, loss in enumerate(["mse", "huber"]):
        run(make_cfg(f"loss={loss}", *TINY), tmp_path / str(i), {**CHOICES, "loss": loss},
            echo=False)
    reads: list[str] = []
    original = results.read_summary
    monkeypatch.setattr(results, "read_summary",
                        lambda d: reads.append(str(d)) or original(d))
    merged = results.merge(tmp_path)
    assert reads == []  # both runs came from memory
    fresh = tmp_path.parent / "copy"  # the same files, never written by this process
    shutil.copytree(tmp_path, fresh)
    from_disk = results._load(fresh, use_merged=False)[0]
    pd.testing.assert_frame_equal(merged, from_disk)
    # a hand edit after the run: that run (only) is read again, and its edit is seen
    path = tmp_path / "1" / results.SUMMARY_FILE
    summary = json.loads(path.read_text())
    summary["config"]["seed"] = 7
    path.write_text(json.dumps(summary))
    reads.clear()
    table = results.merge(tmp_path)
    assert reads == [str(tmp_path / "1")]
    assert set(table[table.loss == "huber"].seed) == {7}
    assert set(table[table.loss == "mse"].seed) == {0}


def test_what_the_process_remembers_keeps_to_its_byte_budget(tmp_path, monkeypatch):
    """Runs written are remembered within a byte budget (the oldest forgotten first);
    a forgotten run is read from its files, and the merge is the same table."""
    import shutil

    monkeypatch.setattr(results, "_WRITTEN_BUDGET", 1)  # only the newest run is kept
    for i, loss in enumerate(["mse", "huber", "mae"]):
        run(make_cfg(f"loss={loss}", *TINY), tmp_path / str(i), {**CHOICES, "loss": loss},
            echo=False)
    assert [k for k in results._WRITTEN if k.startswith(str(tmp_path))] == [
        str(tmp_path / "2")]
    merged = results.merge(tmp_path)
    fresh = tmp_path.parent / "copy-budget"
    shutil.copytree(tmp_path, fresh)
    pd.testing.assert_frame_equal(merged, results._load(fresh, use_merged=False)[0])


# ---------------------------------------------------------------- summaries' JSON
def test_summary_json_names_non_finite_values_and_reads_them_back():
    """dumps writes strict JSON (no NaN/Infinity tokens: their names as text, numpy and
    torch scalars as numbers); loads gives the floats back, an escaped spelling too."""
    import json
    import math
    from pathlib import Path

    import numpy as np
    import torch

    from harness.results import dumps, loads

    plain = {"a": 1.5, "b": [1, 2, (3, 4)], "c": None, "m": np.float32(1.5), "i": np.int64(3),
             "p": Path("/x"), "arr": np.arange(3)}
    assert json.loads(dumps(plain)) == {"a": 1.5, "b": [1, 2, [3, 4]], "c": None, "m": 1.5,
                                        "i": 3, "p": "/x", "arr": "[0 1 2]"}
    odd = {"x": float("nan"), "y": [math.inf, -math.inf], "n": np.float64("nan"),
           "f": np.float32("-inf"), "t": torch.tensor(math.inf), "ok": 2.0}
    text = dumps(odd)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"x": "nan", "y": ["inf", "-inf"], "n": "nan", "f": "-inf",
                                "t": "inf", "ok": 2.0}
    back = loads(text)
    assert math.isnan(back["x"]) and back["y"] == [math.inf, -math.inf] and back["ok"] == 2.0
    assert loads(dumps(plain))["b"] == [1, 2, [3, 4]]
    assert math.isnan(loads('{"a": "\\u006ean"}')["a"])  # "nan", spelt with an escape
    assert loads('{"a": "nano", "b": "info"}') == {"a": "nano", "b": "info"}
