"""Parallel launchers (joblib, submitit, Ray) start worker processes of their own: each
gives the table the basic launcher gives, through the real command line. Slow
(``python -m pytest -m slow``; CI runs them in its slow step)."""

from __future__ import annotations

import pandas as pd
import pytest

from harness import results
from tests.helpers import TINY, run_cli, run_main


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The same jobs with the basic launcher, in this process."""
    root = tmp_path_factory.mktemp("basic")
    proc = run_main("-m", "loss=mse,mae", "seed=1", "data.outlier_frac=0.2", *TINY,
                    f"hydra.sweep.dir={root}")
    assert proc.returncode == 0, proc.stderr
    return root, proc


@pytest.mark.slow  # each worker process starts an interpreter with torch: ~20-35 s a test
@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_parallel_launchers_give_the_same_table(sweep, tmp_path, launcher):
    root, _ = sweep
    proc = run_cli("-m", "loss=mse,mae", "seed=1", "data.outlier_frac=0.2", *TINY,
                   f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    keys = ["run_id", "epoch", "split", "metric"]

    def table(df):
        df = df[df.metric != "elapsed_s"]  # wall time differs, everything else must not
        return df.sort_values(keys).reset_index(drop=True)[[*keys, "loss", "value"]]

    parallel = results.load(tmp_path)
    basic = results.load(root)
    basic = basic[basic.run_id.isin(set(parallel.run_id))]
    assert parallel.run_id.nunique() == 2
    pd.testing.assert_frame_equal(table(parallel), table(basic))
    names = {p.parent.name for p in tmp_path.rglob("summary.json")}
    assert names <= {p.parent.name for p in root.rglob("summary.json")}  # same layout


@pytest.mark.slow
def test_ray_launcher_gives_the_same_table(sweep, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher",
                        reason="pip install -e '.[ray]' for the Ray launcher")
    root, _ = sweep
    proc = run_cli("-m", "loss=mse,mae", "seed=1", "data.outlier_frac=0.2", *TINY,
                   "hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2",
                   "+hydra.launcher.ray.init.include_dashboard=false",
                   f"hydra.sweep.dir={tmp_path}", timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ray_table = results.load(tmp_path)
    basic = results.load(root)
    assert ray_table.run_id.nunique() == 2
    for df in (ray_table, basic):
        df.drop(df[df.metric == "elapsed_s"].index, inplace=True)
    merged = ray_table.merge(basic, on=["run_id", "epoch", "split", "metric"])
    assert len(merged) == len(ray_table)
    assert (merged.value_x == merged.value_y).all()


