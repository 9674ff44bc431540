"""The loss cards: ``python -m harness.zoo`` (in process; the figures are checked as files
and as the data drawn)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

import losses
from harness import zoo

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_table_lists_every_loss_with_its_metadata():
    table = zoo.registry_table()
    assert sorted(table["name"]) == losses.available()
    for row in table.itertuples(index=False):
        s = losses.spec(row.name)
        assert row.task == s.task
        assert row.bounded == s.describe("bounded") and row.symmetric == s.describe("symmetric")
        for p in s.params:
            assert f"{p.name}={p.default:g} in {p.interval}" in row[3]
        assert all(a in row.aliases for a in s.aliases)
    text = zoo.format_table(table)
    assert text.splitlines()[0].split()[:3] == ["name", "task", "aliases"]
    assert len(text.splitlines()) == len(table) + 2  # header, rule, one line per loss


def check_png(path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) > 100
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_draws_one_task_and_prints_the_table(tmp_path, capsys):
    """The whole pipeline on the smallest task (the full zoo takes ~10 s: slow test)."""
    out = tmp_path / "zoo"
    drawn = zoo.main(["--out", str(out), "--dpi", "40", "--task", "binary"])
    printed = capsys.readouterr().out
    for name in losses.available("binary"):
        assert name in printed
    assert set(drawn) == {"binary_losses.png", "binary_derivatives.png", "binary_overview.png"}
    assert drawn["binary_losses.png"] == losses.available("binary")
    for file in drawn:
        check_png(out / file)


@pytest.mark.slow
def test_draws_every_loss(tmp_path, capsys):
    out = tmp_path / "zoo"
    drawn = zoo.main(["--out", str(out), "--dpi", "40"])
    printed = capsys.readouterr().out
    for name in losses.available():
        assert name in printed
    expected = {f"{t}_{kind}.png" for t in losses.TASKS
                for kind in ("losses", "derivatives", "overview")} | {"barron.png"}
    assert set(drawn) == expected
    assert {n for names in drawn.values() for n in names} == set(losses.available())
    for task in losses.TASKS:
        assert drawn[f"{task}_losses.png"] == losses.available(task)
    for file in expected:
        check_png(out / file)


def test_task_filter_no_plots_and_markdown(tmp_path, capsys):
    assert zoo.main(["--no-plots", "--task", "binary", "--markdown", "--out",
                     str(tmp_path / "none")]) == {}
    printed = capsys.readouterr().out
    assert not (tmp_path / "none").exists()
    lines = printed.strip().splitlines()
    assert lines[0].startswith("| name | task |") and len(lines) == 2 + len(
        losses.available("binary"))
    assert "| hinge | binary |" in printed and "mse" not in printed
    assert ":math:" not in printed  # RST turned into markdown code spans


def test_help_explains_the_columns_and_shows_examples(capsys):
    with pytest.raises(SystemExit) as info:
        zoo.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for words in ("--out", "outputs/zoo", "--task", "symmetric", "bounded",
                  "python -m harness.zoo --no-plots"):
        assert words in text
    with pytest.raises(SystemExit):
        zoo.main(["--task", "nonsense"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("task", losses.TASKS)
def test_curves_are_finite_and_are_the_losses_own(task):
    df = zoo.curves(task)
    assert set(df["loss"]) == set(losses.available(task))
    assert np.isfinite(df[["value", "derivative"]].to_numpy()).all()
    assert (df["value"] >= 0).all()
    default = df[df["default"]]
    x = default["x"].unique()
    # spot checks against closed forms: the curve is the loss at the documented point
    if task == "regression":
        mse = default[default["loss"] == "mse"]
        np.testing.assert_allclose(mse["value"], x**2)
        np.testing.assert_allclose(mse["derivative"], 2 * x)
    elif task == "binary":
        bce = default[default["loss"] == "bce"]
        np.testing.assert_allclose(bce["value"], np.log1p(np.exp(-x)))
        np.testing.assert_allclose(bce["derivative"], -1 / (1 + np.exp(x)))
    else:  # d ce / d z_y = p_y - 1
        ce = default[default["loss"] == "ce"]
        np.testing.assert_allclose(ce["value"], -np.log(x))
        np.testing.assert_allclose(ce["derivative"], x - 1)


def test_panel_titles_flag_bounded_losses():
    assert zoo.panel_title("welsch") == "welsch (bounded)"
    assert zoo.panel_title("barron") == "barron (bounded if alpha < 0)"
    assert zoo.panel_title("msle") == "msle (target 1)"
    assert zoo.panel_title("mse") == "mse"


def test_overview_draws_identical_curves_once():
    base = zoo.curves("multiclass")
    groups = zoo._same_curves(base[base["default"]])
    assert groups["ce"] == ["ce", "kl", "sparse_ce"]  # kl at smoothing 0 is ce
    value, derivative = zoo.curve(losses.get("barron", alpha=-math.inf), np.array([0.0, 1.0]))
    assert value[0] == 0 and derivative[0] == 0
    assert torch.isfinite(torch.tensor(derivative)).all()


def test_the_readme_loss_table_is_the_zoo_table():
    """README "## Losses" shows ``python -m harness.zoo --no-plots --markdown``: regenerate it
    with that command when a loss changes."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("\n## Losses\n", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| name | task |"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    assert "\n".join(lines[start:end]) == zoo.format_table(zoo.registry_table(), markdown=True)


def test_log_link_losses_are_drawn_against_log_mu_over_y_at_target_1():
    assert zoo.panel_title("poisson") == "poisson (x = log(mu/y), y = 1)"
    df = zoo.curves("regression")
    rows = df[(df["loss"] == "poisson") & df["default"]]
    x = rows["x"].to_numpy()
    np.testing.assert_allclose(rows["value"], 2 * (np.exp(x) - 1 - x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rows["derivative"], 2 * (np.exp(x) - 1), rtol=1e-10, atol=1e-12)
    gamma = df[(df["loss"] == "gamma") & df["default"]]
    np.testing.assert_allclose(gamma["value"], 2 * (np.exp(-x) + x - 1), rtol=1e-10, atol=1e-12)


def test_the_table_names_each_loss_s_reference():
    table = zoo.registry_table()
    assert (table["reference"] != "-").all()
    row = table[table["name"] == "barron"].iloc[0]
    assert row["reference"] == ("Barron, \"A General and Adaptive Robust Loss Function\", "
                                "CVPR 2019, eq. 1.")
