"""Writing results fails: a full disk (ENOSPC) and its kind (EDQUOT, EACCES, EROFS: any
OSError from the atomic writer), simulated in-process by a writer that writes part of
the file and then fails as the disk would. A run ends with one line and exit 2; a sweep
records the job as failed and goes on; a failed merge ends the sweep with one line and a
non-zero exit (not Hydra's warning and exit 0); no file is ever left half-written. Also:
the files the harness writes get the user's umask."""

from __future__ import annotations

import errno
import fnmatch
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from harness import results
from tests.helpers import TINY, run_main

ENOSPC = "No space left on device"


def fail_writes(monkeypatch, pattern: str, code: int = errno.ENOSPC, times: int = 10**6):
    """Every atomic write of a file whose path matches ``pattern`` (fnmatch) writes a few
    bytes and then fails with ``code``, ``times`` times at most."""
    real = results._atomic  # what atomic_write and atomic_write_data both go through
    left = [times]

    def atomic_write(path, write):
        if fnmatch.fnmatch(str(path), pattern) and left[0] > 0:
            left[0] -= 1

            def write(tmp):  # noqa: F811  (the disk fills half-way through the file)
                Path(tmp).write_bytes(b"PAR1 half a file")
                raise OSError(code, os.strerror(code))
        return real(path, write)

    monkeypatch.setattr(results, "_atomic", atomic_write)


def no_temp_files(folder: Path) -> bool:
    """The atomic writer's temporary files are ``.<name>.<random>``; none may be left."""
    return not [p for p in folder.rglob(".*") if p.is_file() and p.name != ".progress"
                and ".hydra" not in p.parts]


def test_a_full_disk_ends_a_run_with_one_line_and_exit_2(tmp_path, monkeypatch):
    fail_writes(monkeypatch, "*/metrics.parquet")
    out = tmp_path / "run"
    proc = run_main(*TINY, f"hydra.run.dir={out}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"error: cannot write {out}/metrics.parquet: {ENOSPC}; free some space "
                     "and run the command again (finished runs are kept)."], proc.stderr
    assert not (out / results.METRICS_FILE).exists() and not (out / results.SUMMARY_FILE).exists()
    assert no_temp_files(out)


@pytest.mark.parametrize("code, says", [
    (errno.ENOSPC, f"{ENOSPC}; free some space"),
    (errno.EDQUOT, "Disk quota exceeded; free some space"),
    (errno.EACCES, "Permission denied; choose a folder you can write"),
    (errno.EROFS, "Read-only file system; choose a folder you can write"),
])
def test_every_write_error_is_one_line_naming_the_file_and_keeps_the_old_file(
        tmp_path, monkeypatch, code, says):
    target = tmp_path / results.SUMMARY_FILE
    results.write_json(target, {"old": True})
    fail_writes(monkeypatch, str(target), code)
    with pytest.raises(results.CannotWrite) as caught:
        results.write_json(target, {"new": True})
    message = str(caught.value)
    assert message.startswith(f"cannot write {target}: {says}") and "\n" not in message
    assert caught.value.errno == code and caught.value.path == target
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == [results.SUMMARY_FILE]


def test_a_job_whose_files_cannot_be_written_fails_alone_and_the_sweep_goes_on(
        tmp_path, monkeypatch):
    fail_writes(monkeypatch, "*loss=mae*/metrics.parquet", times=1)  # then space comes back
    proc = run_main("-m", "loss=mse,mae", *TINY, f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("2 runs: 1 completed, 1 failed")
    assert "Traceback" not in proc.stdout + proc.stderr
    table = results.summaries(tmp_path).set_index("loss")
    assert table.loc["mse", "status"] == "completed"
    assert table.loc["mae", "status"] == "failed"
    assert table.loc["mae", "error"].startswith("CannotWrite: cannot write ")
    assert ENOSPC in table.loc["mae", "error"]
    assert set(pd.read_parquet(tmp_path / results.MERGED_FILE).loss) == {"mse"}
    assert no_temp_files(tmp_path)


def test_a_merge_that_cannot_be_written_is_one_line_and_a_non_zero_exit(tmp_path,
                                                                        monkeypatch):
    fail_writes(monkeypatch, f"*/{results.MERGED_FILE}")
    proc = run_main("-m", "loss=mse,mae", *TINY, f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: cannot write {tmp_path}/{results.MERGED_FILE}: {ENOSPC}")
    assert not (tmp_path / results.MERGED_FILE).exists() and no_temp_files(tmp_path)
    assert sorted(results.summaries(tmp_path).status) == ["completed", "completed"]  # kept


def test_a_bug_in_the_merge_keeps_its_traceback_and_a_non_zero_exit(tmp_path, monkeypatch):
    def broken(folder):
        raise RuntimeError("a bug in the merge")

    monkeypatch.setattr(results, "merge_with_summaries", broken)
    proc = run_main("-m", "loss=mse", *TINY, f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "RuntimeError: a bug in the merge" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f"error: merging the runs of {tmp_path} into results.parquet failed (a bug")


def test_a_seed_too_large_for_the_tables_is_refused_before_the_sweep_runs(tmp_path):
    """Issue 15: ``seed=99999999999999999999999,1`` once failed the end-of-sweep merge.
    Every job's ranges are checked before the first starts: one line, exit 2, nothing
    run, so no table ever has to hold the seed."""
    proc = run_main("-m", "seed=99999999999999999999999,1", *TINY,
                    f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: nothing ran: 1 of 2 jobs cannot run; the job "
                           "seed=99999999999999999999999")
    assert ("seed=99999999999999999999999 does not fit in 64 bits: a seed must lie in "
            "[0, 9223372036854775807]") in line
    assert not list(tmp_path.rglob(results.SUMMARY_FILE))


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_files_written_get_the_users_umask(tmp_path, umask):
    before = os.umask(umask)
    try:
        proc = run_main("-m", "loss=mse", *TINY, f"hydra.sweep.dir={tmp_path}")
        # the vectorised launcher's own writers, saved weights (safetensors makes its
        # file 0600 itself) and a writer handed a path
        stacked = run_main("-m", "loss=mse", "seed=0,1", *TINY, "trainer.save_weights=true",
                           "hydra/launcher=vectorized", f"hydra.sweep.dir={tmp_path}/v")
        results.write_json(tmp_path / "protocol.json", {})  # the protocol's writer too

        def private(path):  # a writer that replaces the file, as safetensors' save_file
            os.unlink(path)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))

        results.atomic_write(tmp_path / "private.bin", private)
    finally:
        os.umask(before)
    assert proc.returncode == 0, proc.stderr
    assert stacked.returncode == 0, stacked.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {results.SUMMARY_FILE, results.METRICS_FILE, results.MERGED_FILE, "sweep.json",
            ".progress", "model.safetensors", "config.yaml", "private.bin"} <= {
        p.name for p in files}
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in files}
    assert set(modes.values()) == {oct(0o666 & ~umask)}, modes


def test_a_full_disk_under_hydras_own_files_stops_the_sweep_with_one_line(tmp_path,
                                                                          monkeypatch):
    """Hydra writes each job's .hydra/ record itself, before the job: a full disk there
    stops the sweep (the next job could not be recorded either), keeping what ran."""
    import hydra.core.utils as hydra_utils

    real = hydra_utils._save_config

    def save_config(cfg, filename, output_dir):
        if "loss=mae" in str(output_dir):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC),
                          str(Path(output_dir) / filename))
        return real(cfg, filename, output_dir)

    monkeypatch.setattr(hydra_utils, "_save_config", save_config)
    proc = run_main("-m", "loss=mse,mae", *TINY, f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot write {tmp_path}/")
    assert lines[0].endswith(f".hydra/config.yaml: {ENOSPC}; free some space and run the "
                             "command again (finished runs are kept).")
    assert list(results.summaries(tmp_path).status) == ["completed"]


def test_a_protocol_record_that_cannot_be_written_is_one_line(tmp_path, monkeypatch):
    fail_writes(monkeypatch, "*/protocol.json")
    proc = run_main("regression_diabetes", "losses=[mse]", "budget=1", "space=[optim.lr=0.01]",
                    "tune_seeds=[0]", "seeds=[1]", "trainer.epochs=1", f"out={tmp_path}",
                    module="harness.protocol")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: cannot write {tmp_path}/protocol.json: {ENOSPC}; free some space and run "
        "the command again (finished runs are kept)."]
    assert not (tmp_path / "protocol.json").exists() and no_temp_files(tmp_path)
    assert [s["status"] for s in map(json.loads, map(Path.read_text, tmp_path.rglob(
        results.SUMMARY_FILE)))] == ["completed"]
