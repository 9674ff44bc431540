"""python -m harness.report on real sweeps made by the real CLI, and its edge cases."""

from __future__ import annotations

import re
import shutil

import matplotlib.image
import pandas as pd
import pytest

from harness import results
from harness.report.__main__ import main
from tests.helpers import TINY, run_main

GRID = ["loss=mse,mae,huber", "data.outlier_frac=0,0.2", "seed=0,1"]
BROKEN = ["loss=mse,hinge", "optim=sgd", "optim.lr=0.01,1e6"]  # failed and diverged runs
FIGURES = ["robustness", "convergence", "distribution", "memorisation", "speed"]
# no "ranking": 3 losses over 2 seeds cannot reach p < 0.05, so no diagram (tested below)


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    """A 12-run grid (3 losses x 2 outlier fractions x 2 seeds) and a 4-run sweep with a
    completed, a diverged and two failed runs; both through the command line."""
    grid, broken = tmp_path_factory.mktemp("grid"), tmp_path_factory.mktemp("broken")
    done = run_main("-m", *GRID, *TINY, f"hydra.sweep.dir={grid}")
    failing = run_main("-m", *BROKEN, *TINY, f"hydra.sweep.dir={broken}")
    assert done.returncode == 0, done.stderr
    assert failing.returncode == 1  # a sweep with failed jobs exits 1 after every job ran
    return grid, broken


@pytest.fixture(scope="module")
def report(sweeps):
    """The grid's report, made by the command line as a user would, into its default
    folder (``tests/e2e/test_commands.py`` runs the report as a process)."""
    grid, _ = sweeps
    proc = run_main(str(grid), module="harness.report")
    assert proc.returncode == 0, proc.stderr
    return grid / "report", proc


def copy_runs(src, dst, keep):
    """A folder holding the job folders of ``src`` whose name matches ``keep``."""
    dst.mkdir()
    for job in src.iterdir():
        if job.is_dir() and re.search(keep, job.name):
            shutil.copytree(job, dst / job.name)
    return dst


def assert_png(path):
    image = matplotlib.image.imread(path)  # raises on a file that is not an image
    assert image.shape[0] > 100 and image.shape[1] > 100, path
    assert image[..., :3].std() > 0.01, f"{path} is blank"


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_report_holds_every_file_and_nonempty_figures(report):
    out, proc = report
    assert f"report: {out / 'index.html'} (5 figures; runs: 12 completed)" in proc.stdout
    for name in ["index.html", "summary.csv", "summary.md", "summary.tex"]:
        assert (out / name).stat().st_size > 0, name
    for kind in FIGURES:
        assert_png(out / f"{kind}_rmse.png")


def test_page_is_self_contained_with_relative_figure_links(report):
    out, _ = report
    page = (out / "index.html").read_text()
    links = re.findall(r"<img src='([^']+)'", page)
    assert sorted(links) == sorted(f"{k}_rmse.png" for k in FIGURES)
    assert all((out / link).is_file() for link in links)
    assert "<style>" in page and "http" not in page.split("</head>")[0]
    for text in ["with 2 seeds and 3 losses the smallest p Friedman&#x27;s test can give is "
                 "0.135 &gt; alpha = 0.05, so it could not reject whatever the results",
                 "Across data sets: one block (outliers)",
                 "No per-setting paired comparisons shown: with at most 2 paired seed(s)",
                 "Robustness summary", "Speed to target", "outlier fraction 0.2"]:
        assert text in page, text
    assert "cannot be told apart" not in page and not (out / "ranking_rmse.png").exists()
    md = (out / "summary.md").read_text()
    assert "](robustness_rmse.png)" in md and "| loss | outlier fraction 0 |" in md


def test_summary_csv_numbers_come_from_the_results(report, sweeps):
    out, _ = report
    table = pd.read_csv(out / "summary.csv")
    assert len(table) == 6 and set(table.metric) == {"rmse"}
    runs = results.summaries(sweeps[0])
    expect = runs.groupby(["loss_id", "corruption_level"])["final.test.rmse"].agg(
        ["mean", "std", "count"])
    for row in table.itertuples():
        ref = expect.loc[(row.loss, row.level)]
        assert row.mean == pytest.approx(ref["mean"]) and row.std == pytest.approx(ref["std"])
        assert row.n == ref["count"] == 2 and row.runs_completed == 2
    best = table.loc[table.groupby("setting")["mean"].idxmin(), "loss"]
    assert set(table[table.best].loss) == set(best)
    assert table["rank"].between(1, 3).all()
    others = table[~table.best]
    assert others.p_vs_best.notna().all() and (others.n_pairs == 2).all()
    # one block: its robustness AUC ranks the losses (descriptive; no test across blocks)
    assert (table.block_rank == table.robustness_auc.rank(method="dense")).all()


def test_one_seed_has_no_bands_and_says_so(sweeps, tmp_path):
    one = copy_runs(sweeps[0], tmp_path / "one", r"seed=0")
    assert main([str(one)]) == 0
    page = (one / "report" / "index.html").read_text()
    assert "Only one seed per loss and setting" in page
    assert not re.search(r"\d \u00b1 \d", page)  # no standard deviations
    assert "Paired comparisons" not in page  # no table of empty p columns, but why:
    assert "No paired comparisons: one seed per loss and setting" in page
    for kind in FIGURES:
        assert_png(one / "report" / f"{kind}_rmse.png")


def test_single_loss_is_described_not_ranked(sweeps, tmp_path, capsys):
    mse = copy_runs(sweeps[0], tmp_path / "mse", r"loss=mse,")
    out = tmp_path / "out"
    out.mkdir()
    (out / "ranking_rmse.png").write_bytes(b"stale figure of an earlier report")
    assert main([str(mse), "--out", str(out), "--metric", "mae"]) == 0
    assert "runs: 4 completed" in capsys.readouterr().out
    page = (out / "index.html").read_text()
    assert "A single loss" in page and "Paired comparisons" not in page
    assert not (out / "ranking_rmse.png").exists()  # stale figures go
    for kind in FIGURES:
        assert_png(out / f"{kind}_mae.png")
    assert not list(out.glob("ranking_*.png"))
    assert set(pd.read_csv(out / "summary.csv").metric) == {"mae"}


def test_failed_and_diverged_runs_are_counted_and_listed_not_plotted(sweeps, tmp_path,
                                                                    capsys):
    grid, broken = sweeps
    # two folders at once: the broken sweep (SGD) and the grid's mse runs (Adam)
    mse = copy_runs(grid, tmp_path / "mse", r"loss=mse,")
    assert main([str(broken), str(mse)]) == 0
    assert "runs: 5 completed, 2 failed, 1 diverged" in capsys.readouterr().out
    out = broken / "report"  # beside the first folder
    md = (out / "summary.md").read_text()
    assert "| hinge | 0 | 0 | 2 | 2 |" in md and "| mse | 5 | 1 | 0 | 6 |" in md
    assert "| diverged | training objective not finite at epoch 1 |" in md
    assert "is a binary loss" in md  # the failed runs' error
    assert "Settings also differ in optim, optim.lr" in md
    table = pd.read_csv(out / "summary.csv")
    # only completed runs have numbers: mse with Adam at two levels, with SGD lr=0.01
    assert sorted(table.setting) == ["outliers, optim=adam, optim.lr=0.001; outlier fraction 0",
                                     "outliers, optim=adam, optim.lr=0.001; outlier fraction 0.2",
                                     "outliers, optim=sgd, optim.lr=0.01; outlier fraction 0.2"]
    assert table["mean"].notna().all() and set(table.loss) == {"mse"}
    for png in out.glob("*.png"):
        assert_png(png)


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("empty", "no runs under"),
    ("only_failed", "no completed runs"),
    ("metric", "unknown metric 'nope'"),
])
def test_user_errors_end_with_one_line_and_exit_2(case, message, sweeps, tmp_path, capsys):
    args = {"missing": lambda: [str(tmp_path / "nowhere")],
            "empty": lambda: [str(tmp_path)],
            "only_failed": lambda: [str(copy_runs(sweeps[1], tmp_path / "f", r"loss=hinge"))],
            "metric": lambda: [str(sweeps[0]), "--metric", "nope", "--out", str(tmp_path)],
            }[case]()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_help_lists_the_figures(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "--metric" in text and "--out" in text
    assert all(kind in text for kind in FIGURES)


def test_protocol_folder_is_reported_alone(sweeps, tmp_path, capsys):
    """A protocol folder (protocol.json) gets its own report and cannot be mixed with
    other folders; one line, exit 2. (The protocol report itself: tests/test_protocol.py.)"""
    grid, _ = sweeps
    (tmp_path / "protocol.json").write_text("{}\n")
    assert main([str(tmp_path), str(grid), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: a protocol folder") and err.count("\n") == 1
