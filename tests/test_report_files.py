"""The report folder and the files it reads (issues 13 and 15): figure kinds declared
once, a report replaced whole or not at all, never written through a symlink, and
results of the wrong shape skipped with one line instead of a traceback."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from harness.report import kinds
from harness.report.__main__ import main
from tests.test_report_cases import grid, plain, write_run

ROOT = Path(__file__).resolve().parents[1]  # the repository


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """Two losses x two levels x two seeds, made once for the module."""
    return grid(tmp_path_factory.mktemp("small") / "runs", {"a": 0.3, "b": 0.5}, (0.0, 0.2),
                range(2))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# ---------------------------------------------------------------- issue 13: one registry
def test_every_figure_kind_resolves_and_help_lists_each_from_the_registry(capsys):
    for kind in kinds.KINDS:
        assert callable(kind.function()), kind.name
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for kind in kinds.KINDS:
        first_words = " ".join(kind.help.split()[:4])
        assert re.search(rf"^  {kind.name} +{re.escape(first_words)}", text, re.M), kind.name


def test_report_code_uses_no_back_doors():
    source = "\n".join(p.read_text() for p in (ROOT / "harness" / "report").glob("*.py"))
    assert "sys.modules" not in source
    assert not re.search(r"\bdata\._|\bB\._|_remove_old_figures", source)
    protocol = (ROOT / "harness" / "report" / "protocol.py").read_text()
    imports = re.findall(r"^\s*(?:from harness(?:\.protocol)? import|import harness\.protocol)"
                         r".*$", protocol, re.M)
    assert len(imports) == 1 and imports[0].endswith(" as P"), imports  # one import line
    used = set(re.findall(r"\bP\.(\w+)", protocol))
    assert used <= {"SPEC_FILE", "STAGES", "read_record", "run_ids", "load", "summaries",
                    "ranking_table"}, used


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_figure_files_are_named_by_registered_kinds(small, tmp_path):
    assert main([str(small), "--out", str(tmp_path / "r")]) == 0
    pngs = [p.name for p in (tmp_path / "r").glob("*.png")]
    assert pngs and all(p.split("_")[0] in kinds.FIGURE_KINDS for p in pngs)


# ---------------------------------------------------------------- issue 15: the folder
def test_a_symlinked_report_folder_is_refused_and_its_target_untouched(small, tmp_path,
                                                                      capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "speed_rmse.png").write_bytes(b"not ours to delete")
    link = tmp_path / "report"
    link.symlink_to(elsewhere)
    assert main([str(small), "--out", str(link)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {link} is a symbolic link") and err.count("\n") == 1
    assert snapshot(elsewhere) == {"speed_rmse.png": b"not ours to delete"}
    assert link.is_symlink()


def test_a_folder_with_foreign_files_is_not_replaced(small, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main([str(small), "--out", str(out)]) == 2
    assert "holds files a report does not write (notes.txt)" in capsys.readouterr().err
    assert snapshot(out) == {"notes.txt": b"keep me"}


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_a_report_is_replaced_whole_and_keeps_the_umask(small, tmp_path):
    out = tmp_path / "r"
    assert main([str(small), "--out", str(out), "--metric", "mae"]) == 0
    old = set(snapshot(out))
    old_mask = os.umask(0o022)
    try:
        assert main([str(small), "--out", str(out)]) == 0
    finally:
        os.umask(old_mask)
    new = set(snapshot(out))
    assert any(n.endswith("_mae.png") for n in old)
    assert not any(n.endswith("_mae.png") for n in new)  # nothing of the old one is left
    assert any(n.endswith("_rmse.png") for n in new)
    assert (out.stat().st_mode & 0o777) == 0o755
    assert all((out / n).stat().st_mode & 0o777 == 0o644 for n in new)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".r.")]  # no leftovers


# ---------------------------------------------------------------- issue 15: the inputs
@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_two_folders_with_the_same_runs_under_other_ids_are_counted_once(tmp_path, capsys):
    """``python -m harness.report A B``: the same settings and seeds, other run ids (e.g.
    trainer.device=auto vs cpu): one kept, the page says which and what differed."""
    for folder, device in (("A", "auto"), ("B", "cpu")):
        grid(tmp_path / folder, {"a": 0.3, "b": 0.5}, (0.0, 0.2), range(2),
             config={"trainer.device": device})
    assert main([str(tmp_path / "A"), str(tmp_path / "B"), "--out", str(tmp_path / "r")]) == 0
    page = plain((tmp_path / "r" / "index.html").read_text())
    assert ("8 completed run(s) repeat the loss, setting and seed of a run found earlier "
            "(differing only in trainer.device); the first found was kept, the repeat(s) "
            f"from {tmp_path / 'B'} left out.") in page
    csv = pd.read_csv(tmp_path / "r" / "summary.csv")
    assert (csv.n == 2).all() and len(csv) == 4


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_metric_values_that_are_not_numbers_skip_that_run(small, tmp_path, capsys):
    import shutil

    copy = tmp_path / "runs"
    shutil.copytree(small, copy)
    bad = sorted(p for p in copy.iterdir() if p.is_dir())[0]
    m = pd.read_parquet(bad / "metrics.parquet")
    m["value"] = m["value"].astype(str)  # numbers written as text still read as numbers
    m.to_parquet(bad / "metrics.parquet")
    assert main([str(copy), "--out", str(tmp_path / "r")]) == 0
    assert "warning" not in capsys.readouterr().err
    m["value"] = "oops"
    m.to_parquet(bad / "metrics.parquet")
    assert main([str(copy), "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(lines) == 1 and "metric values that are not numbers in run(s)" in lines[0]
    assert "Traceback" not in err


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_a_results_table_without_its_value_column_is_left_out(small, tmp_path, capsys):
    import shutil

    import pyarrow.parquet as pq

    from harness import results

    copy = tmp_path / "runs"
    shutil.copytree(small, copy)
    results.merge(copy)  # results.parquet with its fingerprint
    table = pq.read_table(copy / "results.parquet")
    pq.write_table(table.drop(["value"]).replace_schema_metadata(table.schema.metadata),
                   copy / "results.parquet")
    assert main([str(copy), "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    # harness.results reads it against its schema: skipped, and rebuilt from the runs
    assert "results.parquet: no column(s) value; rebuilt from the run folders" in err
    assert "Traceback" not in err


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
@pytest.mark.parametrize("change", [
    {"data_info": 5}, {"final": "oops"}, {"config": [1, 2]},
])
def test_a_summary_of_the_wrong_shape_is_one_line_not_a_traceback(change, small, tmp_path,
                                                                  capsys):
    import shutil

    copy = tmp_path / "runs"
    shutil.copytree(small, copy)
    bad = sorted(p for p in copy.iterdir() if p.is_dir())[0] / "summary.json"
    bad.write_text(json.dumps({**json.loads(bad.read_text()), **change}))
    code = main([str(copy), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    # skipped with a warning once harness.results reads summaries against a schema;
    # until then the report stops with one line naming the folder
    assert (code == 0 and err.startswith("warning: skipped")) or (
        code == 2 and err.startswith(f"error: cannot read the run summaries under {copy}"))


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_a_protocol_json_of_the_wrong_shape_is_skipped_with_a_warning(tmp_path, capsys):
    folder = tmp_path / "p"
    grid(folder / "final", {"a": 0.3, "b": 0.5}, (0.0,), range(2))
    (folder / "protocol.json").write_text(json.dumps(
        {"name": "x", "spec": {}, "budget": 1, "entries": [{"candidates": 5}]}))
    assert main([str(folder)]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"warning: skipped {folder / 'protocol.json'}: spec.losses is not a "
                          "list")
    assert "reported as plain results" in err and err.count("\n") == 1
    assert pd.read_csv(folder / "report" / "summary.csv").n.sum() == 4
    (folder / "protocol.json").write_text(json.dumps(
        {"name": "x", "budget": 1, "entries": [{"candidates": 5}],
         "spec": {"losses": [], "tune_seeds": [], "seeds": [], "space": [],
                  "loss_space": {}}}))
    assert main([str(folder)]) == 0
    assert "entries[0].setting_label is not a string" in capsys.readouterr().err


def test_a_run_from_another_data_set_without_the_level_key_is_reported(tmp_path):
    """A run whose config lacks the level key (NaN) beside runs that have it."""
    write_run(tmp_path / "runs", loss="a", level=0.0, seed=0, final=0.3)
    write_run(tmp_path / "runs", loss="b", level=0.0, seed=0, final=0.4, data="other")
    summary = next((tmp_path / "runs").glob("b-*/summary.json"))
    s = json.loads(summary.read_text())
    del s["config"]["data.outlier_frac"]
    summary.write_text(json.dumps(s))
    assert main([str(tmp_path / "runs"), "--out", str(tmp_path / "r")]) == 0
