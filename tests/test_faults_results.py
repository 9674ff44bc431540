"""Results files of the wrong shape, and one run found twice: every reader (``load``,
``summaries``, a sweep's merge, the resume rule, the report) skips the file with a
``ResultsWarning`` naming it, builds from the rest, and never holds a (run, epoch, split,
metric) row twice. In-process; the runs are copies of one tiny run."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness import results
from harness.jobs.lifecycle import run_one
from harness.jobs.resume import finished_runs, merge_runs
from tests.helpers import CHOICES, TINY, make_cfg

KEYS = ["run_id", "epoch", "split", "metric"]


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """Two finished runs (mse, huber)."""
    root = tmp_path_factory.mktemp("good")
    for loss in ("mse", "huber"):
        run_one(make_cfg(f"loss={loss}", *TINY), root / loss, {**CHOICES, "loss": loss},
                echo=False)
    return root


def copy_with(good: Path, tmp: Path, edit) -> tuple[Path, Path]:
    """A copy of ``good`` whose huber run was changed by ``edit(run_dir)``."""
    root = tmp / "runs"
    shutil.copytree(good, root)
    edit(root / "huber")
    return root, root / "huber"


def clone(src: Path, dst: Path) -> None:
    """A copy of run ``src`` as another run (its own run id, in summary and rows)."""
    shutil.copytree(src, dst)
    summary = json.loads((dst / results.SUMMARY_FILE).read_text())
    summary["run_id"] = f"{summary['run_id'][:6]}-{dst.name}"
    (dst / results.SUMMARY_FILE).write_text(json.dumps(summary))
    rows = pd.read_parquet(dst / results.METRICS_FILE).assign(run_id=summary["run_id"])
    rows.to_parquet(dst / results.METRICS_FILE, index=False)


def edit_summary(**changes):
    def edit(run: Path) -> None:
        summary = json.loads((run / results.SUMMARY_FILE).read_text())
        for key, value in changes.items():
            if value is KeyError:
                summary.pop(key)
            else:
                summary[key] = value
        (run / results.SUMMARY_FILE).write_text(json.dumps(summary))
    return edit


def strings_as_values(run: Path, text=lambda v: f"{v:.3f} units") -> None:
    table = pd.read_parquet(run / results.METRICS_FILE)
    table["value"] = table["value"].map(text)
    table.to_parquet(run / results.METRICS_FILE, index=False)


BAD_SUMMARIES = {
    "data_info: 5": (edit_summary(data_info=5), "'data_info' must be a JSON object"),
    "final: oops": (edit_summary(final="oops"), "'final' must be a JSON object of numbers"),
    "config: [1, 2]": (edit_summary(config=[1, 2]), "'config' must be a JSON object"),
    "no task": (edit_summary(task=KeyError), "no 'task'"),
    "status: done": (edit_summary(status="done"), "'status' must be one of completed"),
    "a JSON list": (lambda run: (run / results.SUMMARY_FILE).write_text("[1, 2]"),
                    "not a run summary (a JSON object), but a JSON list"),
}


@pytest.mark.parametrize("case", list(BAD_SUMMARIES))
def test_a_summary_of_the_wrong_shape_is_skipped_by_every_reader(good, tmp_path, case):
    edit, reason = BAD_SUMMARIES[case]
    root, bad = copy_with(good, tmp_path, edit)
    for read in (results.load, results.summaries):
        with pytest.warns(results.ResultsWarning) as caught:
            table = read(root)
        named = [w.message for w in caught if isinstance(w.message, results.ResultsWarning)]
        assert [w.path for w in named] == [bad / results.SUMMARY_FILE]
        assert reason in named[0].reason
        assert set(table.loss) == {"mse"}  # built from the rest
    assert sorted(p.name for p in finished_runs(root).values()) == ["mse"]


def test_metric_values_that_are_strings_are_skipped_and_not_finished(good, tmp_path):
    root, bad = copy_with(good, tmp_path, strings_as_values)
    with pytest.warns(results.ResultsWarning, match=r"huber/metrics.parquet: metric values "
                                                    r"that are not numbers in run\(s\) \w+ "
                                                    r"\(e.g. '[0-9.]+ units'\)"):
        table = results.load(root)
    assert set(table.loss) == {"mse"} and pd.api.types.is_float_dtype(table["value"])
    assert len(results.summaries(root)) == 2  # its summary is fine: the run is listed
    assert sorted(p.name for p in finished_runs(root).values()) == ["mse"]


def test_numbers_written_as_text_read_as_numbers(good, tmp_path):
    root, _ = copy_with(good, tmp_path, lambda run: strings_as_values(run, str))
    with warnings.catch_warnings():
        warnings.simplefilter("error", results.ResultsWarning)
        table = results.load(root)
    expected = results.load(good)
    pd.testing.assert_series_equal(table["value"], expected["value"])
    assert len(finished_runs(root)) == 2


def test_a_merged_table_without_its_value_column_is_rebuilt_from_the_runs(good, tmp_path):
    root = tmp_path / "sweep"
    shutil.copytree(good, root)
    expected = results.merge(root)
    merged = pq.read_table(root / results.MERGED_FILE)
    broken = merged.drop_columns(["value"]).replace_schema_metadata(merged.schema.metadata)
    pq.write_table(broken, root / results.MERGED_FILE)  # the fingerprint still fits
    with pytest.warns(results.ResultsWarning, match=r"results.parquet: no column\(s\) value"):
        table = results.load(root)
    pd.testing.assert_frame_equal(table, expected)


def test_a_merge_over_wrong_files_names_each_once_and_writes_the_rest(good, tmp_path):
    root = tmp_path / "sweep"
    shutil.copytree(good, root)
    clone(good / "huber", root / "huber_strings")
    strings_as_values(root / "huber_strings")
    edit_summary(data_info=5)(root / "mse")
    said: list[str] = []
    merged = merge_runs(root, say=said.append)
    assert len(said) == 2 and all(s.startswith("warning: skipped ") for s in said)
    assert any("mse/summary.json" in s for s in said)
    assert any("huber_strings/metrics.parquet" in s for s in said)
    table = pd.read_parquet(root / results.MERGED_FILE)
    assert set(table.loss) == {"huber"} and merged.run_ids == sorted(set(table.run_id))


def test_one_run_in_two_folders_is_one_run(good, tmp_path):
    """Two spellings of one config in a sweep made by an older harness (or a copied
    folder): one run id in two folders. Kept once, the other named; never two rows."""
    root = tmp_path / "sweep"
    shutil.copytree(good, root)
    shutil.copytree(good / "huber", root / "huber_again")
    with pytest.warns(results.ResultsWarning, match=r"huber_again/summary.json: run \w+ is "
                                                    r"also in .*huber, which was kept"):
        table = results.merge(root)
    assert not table.duplicated(KEYS).any() and table.run_id.nunique() == 2
    with pytest.warns(results.ResultsWarning):
        assert results.summaries(root).run_id.is_unique
    merged = pd.read_parquet(root / results.MERGED_FILE)
    assert not merged.duplicated(KEYS).any()


def test_a_finished_copy_wins_over_a_failed_one(good, tmp_path):
    root = tmp_path / "sweep"
    shutil.copytree(good / "huber", root / "a_failed")
    shutil.copytree(good / "huber", root / "b_completed")
    edit_summary(status="failed", error="x")(root / "a_failed")
    with pytest.warns(results.ResultsWarning, match="a_failed/summary.json"):
        table = results.summaries(root)
    assert list(table.status) == ["completed"]


def test_rows_of_another_run_or_a_key_twice_are_the_wrong_shape(good, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(good, root)
    mse = pd.read_parquet(root / "mse" / results.METRICS_FILE)
    mse.to_parquet(root / "huber" / results.METRICS_FILE, index=False)  # another run's rows
    twice = pd.concat([mse, mse.head(3)])
    twice.to_parquet(root / "mse" / results.METRICS_FILE, index=False)
    with pytest.warns(results.ResultsWarning) as caught:
        table = results.load(root)
    reasons = sorted(w.message.reason for w in caught)
    assert "a (run, epoch, split, metric) row more than once" in reasons[0]
    assert reasons[1].startswith("rows of run(s) ")
    assert table.empty


def test_a_report_over_wrong_files_skips_each_and_builds_from_the_rest(good, tmp_path,
                                                                        capsys):
    from harness.report.__main__ import main

    root = tmp_path / "sweep"
    shutil.copytree(good, root)
    for name, edit in (("no_task", edit_summary(task=KeyError)),
                       ("final_oops", edit_summary(final="oops")),
                       ("strings", strings_as_values)):
        clone(good / "huber", root / name)
        edit(root / name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([str(root), "--out", str(tmp_path / "report")]) == 0
    err = capsys.readouterr().err
    for name in ("no_task/summary.json", "final_oops/summary.json", "strings/metrics.parquet"):
        assert f"{name}:" in err, err
    assert "Traceback" not in err
    assert (tmp_path / "report" / "index.html").is_file()


def test_the_summary_schema_accepts_what_the_harness_writes(good):
    for path in good.rglob(results.SUMMARY_FILE):
        summary = results.read_summary(path.parent)
        assert results.summary_problem(summary) is None
        assert summary["harness_version"]
    schema = pa.schema([("run_id", pa.string()), ("epoch", pa.int64()),
                        ("split", pa.string()), ("metric", pa.string()),
                        ("value", pa.float64())])
    assert results.metrics_problem(schema) is None
    assert results.metrics_problem(schema.set(4, pa.field("value", pa.bool_()))) == \
        "column 'value' holds bool values"
    assert results.metrics_problem(schema.remove(1)) == "no column(s) epoch"
