"""Bring your own (issue 14): a loss from a local file and a loss, data set and model from
an installed package (examples/harness-plugin-demo, installed into a temporary folder)
each run alone, in a vectorised sweep, in the protocol and in the report; tables of your
own (CSV, Parquet) run regression and classification with corruption; every mistake is
one line. Commands run in this process; the registries are restored after each test."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from harness import results
from tests.helpers import ROOT, TINY, isolated_registries, run_main

QUICK = TINY[1:]  # two epochs, all of a table's rows
ARCTAN = str(ROOT / "examples" / "plugins" / "arctan_loss.py")
TABLE = ROOT / "examples" / "data" / "diabetes.csv"


@pytest.fixture
def registries():
    with isolated_registries():
        yield


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The demo plugin package, installed (pip, no network) into a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(target),
                    str(ROOT / "examples" / "harness-plugin-demo")], check=True,
                   capture_output=True)
    return target


@pytest.fixture
def on_path(installed, registries, monkeypatch):
    """The installed package visible to this process, as it is after pip install."""
    import importlib

    monkeypatch.syspath_prepend(str(installed))
    importlib.invalidate_caches()
    yield installed


def ok(proc) -> None:
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


# ---------------------------------------------------------------- a loss in a local file
def test_a_local_file_loss_is_the_published_formula(registries):
    from harness import plugins

    plugins.load([ARCTAN])
    import losses

    r = np.linspace(-6, 6, 13)
    for c in (0.5, 2.0):
        got = losses.get("arctan", c=c).unreduced(torch.tensor(r), torch.zeros(13)).numpy()
        np.testing.assert_allclose(got, 0.5 * c * c * np.arctan((r / c) ** 2), rtol=1e-12)
    assert "arctan" in losses.available("regression")


def test_a_local_file_loss_everywhere(registries, tmp_path):
    plugin = f"plugins=[{ARCTAN}]"
    ok(run_main(plugin, "loss=arctan", *TINY, f"hydra.run.dir={tmp_path}/run"))
    assert results.summaries(tmp_path / "run").loss.tolist() == ["arctan"]
    sweep = run_main("-m", plugin, "loss=arctan,huber", "seed=0,1", *TINY,
                     "hydra/launcher=vectorized", f"hydra.sweep.dir={tmp_path}/sweep")
    ok(sweep)
    assert "4 jobs: 1 stacked groups (4)" in sweep.stdout + sweep.stderr
    s = results.summaries(tmp_path / "sweep")
    assert set(s.status) == {"completed"} and sorted(set(s.loss)) == ["arctan", "huber"]
    assert "plugins" not in "".join(p.name for p in (tmp_path / "sweep").iterdir())
    protocol = run_main("regression_diabetes", plugin, "losses=[mse,arctan]", "budget=1",
                        "space=[optim.lr=0.001]", "seeds=[1]", *TINY[:2],
                        f"out={tmp_path}/p", module="harness.protocol")
    ok(protocol)
    assert "arctan" in protocol.stdout
    report = run_main(str(tmp_path / "sweep"), "--out", str(tmp_path / "r"),
                      module="harness.report")
    ok(report)
    assert "arctan" in (tmp_path / "r" / "summary.md").read_text()


# ---------------------------------------------------------------- an installed package
@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_an_installed_package_brings_a_loss_a_data_set_and_a_model(on_path, tmp_path):
    ok(run_main("data=sine", "model=tiny", "model.width=4", "loss=fair", *TINY,
                f"hydra.run.dir={tmp_path}/run"))
    s = results.summaries(tmp_path / "run").iloc[0]
    assert (s.loss, s.data, s.model, s["model.width"], s.status) == (
        "fair", "sine", "tiny", 4, "completed")
    sweep = run_main("-m", "data=sine", "model=tiny,mlp", "loss=fair,huber", *TINY,
                     "hydra/launcher=vectorized", f"hydra.sweep.dir={tmp_path}/sweep")
    ok(sweep)
    said = sweep.stdout + sweep.stderr
    # mlp jobs stack; tiny has no stacked form, and the launcher says so
    assert "4 jobs: 1 stacked groups (2), 2 run one by one (model " \
           "harness_demo_plugin.models.Tiny has no stacked form)" in said
    assert set(results.summaries(tmp_path / "sweep").status) == {"completed"}
    protocol = run_main("regression_diabetes", "losses=[fair,huber]", "budget=1",
                        "settings=[data=sine]", "space=[optim.lr=0.001]", "seeds=[1]",
                        *TINY[:2], f"out={tmp_path}/p", module="harness.protocol")
    ok(protocol)
    ok(run_main(str(tmp_path / "p"), "--out", str(tmp_path / "r"), module="harness.report"))
    help_text = run_main("--help").stdout
    assert "fair" in help_text and "sine" in help_text and "tiny" in help_text


def test_code_nobody_named_stays_refused(registries, tmp_path):
    """A config naming a plugin's model without loading the plugin is refused before
    anything is imported, and the error says how to opt in."""
    proc = run_main("model._target_=my_models.Tiny", *TINY, f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "model._target_=my_models.Tiny is not allowed" in line
    assert "plugins=[./my_module.py]" in line
    assert "my_models" not in sys.modules


# ---------------------------------------------------------------- tables of your own
@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """The shipped CSV; a Parquet copy; a Parquet multiclass table (wine, with a
    categorical column and string class labels)."""
    from sklearn.datasets import load_wine

    folder = tmp_path_factory.mktemp("tables")
    pd.read_csv(TABLE).to_parquet(folder / "diabetes.parquet")
    wine = load_wine(as_frame=True).frame
    wine["cellar"] = np.array(["north", "south", "east"])[np.arange(len(wine)) % 3]
    wine["cultivar"] = "cultivar_" + wine.pop("target").astype(str)
    wine.to_parquet(folder / "wine.parquet")
    return folder


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("target, loss, corrupt, task", [
    ("progression", "huber", "data.outlier_frac=0.2", "regression"),
    ("sex", "bce", "data.label_noise=0.2", "binary")])
def test_a_table_trains_with_corruption(tables, tmp_path, fmt, target, loss, corrupt, task):
    path = TABLE if fmt == "csv" else tables / "diabetes.parquet"
    proc = run_main("data=table", f"data.path={path}", f"data.target={target}",
                    f"loss={loss}", corrupt, *QUICK, f"hydra.run.dir={tmp_path}")
    ok(proc)
    summary = results.read_summary(tmp_path)
    info = summary["data_info"]
    assert summary["task"] == task and summary["status"] == "completed"
    assert info["realised_corruption"] == pytest.approx(0.2, abs=0.01)
    assert info["n_train"] + info["n_val"] + info["n_test"] == 442
    assert info["task_inferred"].startswith(task)  # inferred, and said so
    assert f"task {task}, from data.target={target}" in proc.stdout
    if task == "regression":  # 'sex' is a category: one-hot, two columns
        assert info["one_hot_columns"] == ["sex"] and info["n_features"] == 11
    else:
        assert info["classes"] == ["female", "male"] and info["n_features"] == 10


def test_a_parquet_multiclass_table_with_a_categorical_column(tables, tmp_path):
    ok(run_main("data=table", f"data.path={tables / 'wine.parquet'}", "data.target=cultivar",
                "loss=ce", "data.label_noise=0.3", "data.corruption=pair", *QUICK,
                f"hydra.run.dir={tmp_path}"))
    summary = results.read_summary(tmp_path)
    assert summary["task"] == "multiclass"
    assert summary["data_info"]["classes"] == ["cultivar_0", "cultivar_1", "cultivar_2"]
    assert summary["data_info"]["n_features"] == 13 + 3  # 13 numbers, cellar one-hot
    assert summary["data_info"]["corruption"] == "pair"


def test_missing_values_are_refused_or_imputed_as_asked(tmp_path):
    df = pd.read_csv(TABLE)
    df.loc[[3, 7], "bmi"] = np.nan
    df.loc[5, "sex"] = np.nan
    path = tmp_path / "gaps.csv"
    df.to_csv(path, index=False)
    args = ["data=table", f"data.path={path}", "data.target=progression", *QUICK]
    refused = run_main(*args, f"hydra.run.dir={tmp_path}/a")
    assert refused.returncode == 2
    assert "missing values: sex (1), bmi (2)" in refused.stderr  # in column order
    ok(run_main(*args, "data.missing=drop", f"hydra.run.dir={tmp_path}/b"))
    info = results.read_summary(tmp_path / "b")["data_info"]
    assert info["n_train"] + info["n_val"] + info["n_test"] == 442 - 3
    ok(run_main(*args, "data.missing=mean", f"hydra.run.dir={tmp_path}/c"))
    info = results.read_summary(tmp_path / "c")["data_info"]
    assert info["n_train"] + info["n_val"] + info["n_test"] == 442


# ---------------------------------------------------------------- one line, exit 2
def bad_tables(tmp_path):
    df = pd.read_csv(TABLE)
    df.assign(one="same").to_csv(tmp_path / "one_class.csv", index=False)
    df.assign(grade=df.index % 4 + 1).to_csv(tmp_path / "grades.csv", index=False)
    df.assign(rare=["rare"] * 3 + ["common"] * (len(df) - 3)).to_csv(tmp_path / "rare.csv",
                                                                      index=False)
    # multiclass: three classes of plenty and one of 2 rows
    df.assign(kind=["tiny"] * 2 + [f"k{i % 3}" for i in range(len(df) - 2)]).to_csv(
        tmp_path / "kinds.csv", index=False)
    # separated by semicolons: read as one column
    df.head(20).to_csv(tmp_path / "semi.csv", index=False, sep=";")
    (tmp_path / "table.txt").write_text("a,b\n1,2\n")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    (tmp_path / "broken_plugin.py").write_text("import nope_not_installed\n")
    (tmp_path / "taken.py").write_text(
        "import losses\n\n@losses.register('huber', task='regression')\n"
        "def huber(pred, target):\n    return (pred - target).abs()\n")


BAD = [
    (["plugins=[{tmp}/broken_plugin.py]"],
     "plugin {tmp}/broken_plugin.py failed to load: ModuleNotFoundError: No module named "
     "'nope_not_installed'"),
    (["plugins=[{tmp}/taken.py]"], "plugin {tmp}/taken.py"),
    (["plugins=[{tmp}/absent.py]"], "plugin file {tmp}/absent.py does not exist"),
    (["data=table", "data.path={tmp}/absent.csv", "data.target=y"],
     "data.path={tmp}/absent.csv does not exist"),
    (["data=table", f"data.path={TABLE}", "data.target=nope"],
     "data.target=nope is not a column of the table; its columns: age, sex, bmi"),
    (["data=table", "data.path={tmp}/one_class.csv", "data.target=one", "loss=ce",
      "data.task=multiclass"], "data.target=one has one class ('same')"),
    (["data=table", f"data.path={TABLE}", "data.target=sex", "data.task=regression"],
     "data.target=sex is not numeric"),
    (["data=table", "data.path={tmp}/rare.csv", "data.target=rare", "loss=bce"],
     "data.target=rare: 1 of 2 classes have fewer than 5 rows ('rare' (3 rows))"),
    (["data=table", "data.path={tmp}/kinds.csv", "data.target=kind", "loss=ce"],
     "data.target=kind: 1 of 4 classes have fewer than 5 rows ('tiny' (2 rows)), too few"),
    # a continuous target asked to be classes: 214 distinct values, most of them rare
    (["data=table", f"data.path={TABLE}", "data.target=progression", "loss=ce",
      "data.task=multiclass"],
     "and 204 more), too few for the train/val/test split; drop or merge them; a numeric "
     "target with 214 distinct values looks like regression (data.task=regression)"),
    (["data=table", "data.path={tmp}/semi.csv", "data.target=sex"],
     "one column whose name holds ';': a CSV file must separate its columns with commas"),
    (["data=table", "data.path={tmp}/table.txt", "data.target=a"],
     "is not a CSV or Parquet file (it ends in .txt)"),
    (["data=table", "data.path={tmp}/broken.parquet", "data.target=a"],
     "cannot be read as Parquet"),
    (["data=table", f"data.path={TABLE}"], "data=table needs data.target=<column>"),
    (["data=table", "data.path={tmp}/grades.csv", "data.target=grade"],
     "data.target=grade holds 4 distinct integers: counts or classes? set data.task"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_bring_your_own_mistakes_are_one_line(registries, tmp_path, args, message):
    bad_tables(tmp_path)
    proc = run_main(*[a.format(tmp=tmp_path) for a in args], *TINY,
                    f"hydra.run.dir={tmp_path}/run")
    assert proc.returncode == 2, proc.stdout[-1000:] + proc.stderr[-1000:]
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and message.format(tmp=tmp_path) in line, line
    assert not (tmp_path / "run" / "summary.json").exists()


def test_a_plugin_model_gets_the_data_sizes(registries):
    from harness.plugins import MODELS, load

    load([str(ROOT / "examples" / "harness-plugin-demo" / "harness_demo_plugin" /
              "models.py")])
    assert [k.name for k in MODELS["tiny"].knobs] == ["width"]
    assert math.isclose(MODELS["tiny"].knobs[0].default, 16)
