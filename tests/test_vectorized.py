"""Stacked training (harness.vectorized) and hydra/launcher=vectorized.

A member of a stack must compute what the same config computes alone: the engine tests
train the same prepared jobs through the one loop (:func:`harness.training.loop.fit`)
alone (``nn.Module`` + torch optimiser) and stacked (batched layers + the elementwise
optimiser) and compare every metric row, in float32 (to float tolerance) and float64 (to
the float32 rounding of the stored rows); the CLI tests compare a vectorised sweep's
folders with the basic launcher's.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from harness import results
from harness.errors import HarnessError
from harness.jobs import job as R
from harness.jobs.lifecycle import group_key
from harness.training import stacked as V
from harness.training.loop import FitResult, member_splits
from tests.helpers import choices, make_cfg, run_main

SMALL = ["data.n_samples=240", "trainer.epochs=3", "trainer.progress=false",
         "trainer.batch_size=32"]


def prepare(*overrides: str) -> R.Prepared:
    cfg = make_cfg(*SMALL, *overrides)
    return R.prepare(cfg, choices(*overrides))


def to_double(job: R.Prepared) -> R.Prepared:
    d = job.data
    same, same_val = d.X_train_clean is d.X["train"], d.X_val_corrupted is d.X["val"]
    d.X = {k: v.double() for k, v in d.X.items()}
    d.X_train_clean = d.X["train"] if same else d.X_train_clean.double()
    d.X_val_corrupted = d.X["val"] if same_val else d.X_val_corrupted.double()
    if d.task != "multiclass":
        d.y = {k: v.double() for k, v in d.y.items()}
        d.y_train_clean = d.y_train_clean.double()
        d.y_val_corrupted = d.y_val_corrupted.double()
    job.model.double()
    return job


def alone(job: R.Prepared) -> FitResult:
    out = [FitResult()]
    R.train([job], out)
    return out[0]


def stacked(jobs: list[R.Prepared]) -> list[FitResult]:
    out = [FitResult() for _ in jobs]
    R.train(jobs, out)
    return out


def assert_same(a: FitResult, b: FitResult, rtol: float) -> None:
    assert (a.status, a.epochs_run, a.diverged_epoch) == (b.status, b.epochs_run,
                                                          b.diverged_epoch)
    assert [r[:3] for r in a.rows] == [r[:3] for r in b.rows]
    for ra, rb in zip(a.rows, b.rows, strict=True):
        if ra[2] == "elapsed_s":
            continue
        if math.isnan(ra[3]):
            assert math.isnan(rb[3]), (ra, rb)
        else:
            assert rb[3] == pytest.approx(ra[3], rel=rtol, abs=rtol), (ra, rb)


def check_group(member_overrides: list[list[str]], common: list[str], rtol: float = 2e-4,
                double: bool = False) -> None:
    build = (lambda o: to_double(prepare(*common, *o))) if double else \
        (lambda o: prepare(*common, *o))
    expected = [alone(build(o)) for o in member_overrides]
    got = stacked([build(o) for o in member_overrides])
    for a, b in zip(expected, got, strict=True):
        assert_same(a, b, rtol)


# float64 training agrees to ~1e-12, but metric rows are stored as float32 (in both
# paths), so two nearly equal values may round to neighbouring float32 numbers
DOUBLE_RTOL = 5e-7

MIXED = {  # members differing in seed, corruption level, learning rate and loss
    "regression": (["data=outliers"],
                   [["loss=mse", "seed=0"], ["loss=huber", "seed=1", "data.outlier_frac=0.1"],
                    ["loss=huber", "loss.delta=0.5", "seed=0", "optim.lr=0.01"],
                    ["loss=mae", "seed=2", "data.outlier_frac=0"],
                    ["loss=rmse", "seed=3"],
                    # leverage points move features: train_clean has inputs of its own
                    ["loss=huber", "seed=4", "data.corruption=leverage"]]),
    "binary": (["data=binary"],
               [["loss=bce", "seed=0"], ["loss=hinge", "seed=1", "data.label_noise=0.2"],
                ["loss=focal", "seed=0", "optim.lr=0.01", "data.label_noise=0.1"]]),
    "multiclass": (["data=multiclass"],
                   [["loss=ce", "seed=0"], ["loss=gce", "seed=1", "data.label_noise=0.3"],
                    ["loss=sce", "seed=0", "optim.lr=0.01"],
                    ["loss=label_smoothing_ce", "seed=2", "data.corruption=pair",
                     "data.label_noise=0.2"]]),
}


@pytest.mark.parametrize("task", list(MIXED))
def test_stacked_members_match_runs_alone_in_float32(task):
    common, members = MIXED[task]
    check_group(members, common)


@pytest.mark.parametrize("task", list(MIXED))
def test_stacked_members_match_runs_alone_in_float64(task):
    common, members = MIXED[task]
    check_group(members, common, rtol=DOUBLE_RTOL, double=True)


@pytest.mark.parametrize("optim", [
    ["optim=sgd"], ["optim=sgd", "optim.nesterov=true"], ["optim=adamw"],
    ["optim=adam", "optim.weight_decay=0.01"]])
def test_every_optimiser_matches_torchs_in_float64(optim):
    members = [["loss=mse", "seed=0"], ["loss=huber", "seed=1", "optim.lr=0.003"],
               ["loss=mae", "seed=2", "optim.weight_decay=0.05"]]
    if optim[0] == "optim=sgd":
        members[2].append("optim.momentum=0.5")
    check_group(members, optim, rtol=DOUBLE_RTOL, double=True)


@pytest.mark.parametrize("model", ["linear", "cnn1d"])
def test_other_models_stack(model):
    check_group([["seed=0"], ["seed=1", "loss=huber"]], [f"model={model}"])


def test_linear_layers_run_as_batched_matmuls_and_other_models_through_vmap():
    plans = {m: V.layer_plan(prepare(f"model={m}").model) for m in ("mlp", "linear", "cnn1d")}
    assert [p[0] for p in plans["mlp"]] == ["linear", "act", "linear", "act", "linear"]
    assert plans["linear"] == [("linear", "body.weight", "body.bias")]
    assert plans["cnn1d"] is None  # convolutions: vmap over the model's own forward


def test_a_diverging_member_is_dropped_without_disturbing_the_others():
    common = ["optim=sgd", "optim.momentum=0", "trainer.epochs=4"]
    members = [["seed=0"], ["seed=1", "optim.lr=1e6"], ["seed=2", "loss=huber"]]
    expected = [alone(prepare(*common, *o)) for o in members]
    assert expected[1].status == "diverged"  # the premise: this lr diverges alone
    got = stacked([prepare(*common, *o) for o in members])
    assert got[1].status == "diverged"
    assert got[1].diverged_epoch == expected[1].diverged_epoch
    assert got[0].status == got[2].status == "completed"
    for a, b in zip(expected, got, strict=True):
        assert_same(a, b, 2e-4)


def test_nesterov_without_momentum_is_refused_on_both_paths():
    # torch's SGD refuses it when built; a stack builds no torch optimiser, so the runner
    # checks it while preparing, for runs alone and stacked alike
    with pytest.raises(HarnessError, match="optim.nesterov=true needs optim.momentum > 0"):
        prepare("optim=sgd", "optim.nesterov=true", "optim.momentum=0")


def test_members_with_the_same_data_share_one_copy_of_the_features():
    jobs = [prepare("seed=0"), prepare("seed=0", "loss=mae"), prepare("seed=1")]
    splits = member_splits([j.data for j in jobs], torch.device("cpu"))
    assert splits["train"].X.shape[0] == 2
    assert splits["train"].xid.tolist() == [0, 0, 1]


def test_group_key_separates_what_cannot_share_a_stack():
    def key(*o):
        cfg = make_cfg(*o)
        return group_key(cfg, R.identity(cfg, {})[0])

    base = key("loss=mse", "seed=0")
    assert key("loss=huber", "loss.delta=2", "seed=5", "optim.lr=0.1",
               "data.outlier_frac=0.3") == base
    assert key("trainer.epochs=3") != base
    assert key("model.hidden=[8]") != base
    assert key("data.n_samples=500") != base
    assert key("optim=sgd") != base


def test_chunks_are_near_equal_and_cover_everything():
    assert [len(c) for c in V.chunks(list(range(10)), 4)] == [3, 4, 3]
    assert sum(V.chunks(list(range(10)), 4), []) == list(range(10))
    assert V.chunks([1, 2], 100) == [[1, 2]]


def test_max_members_fits_memory_and_obeys_a_limit():
    job = prepare()
    sizes = job.model, job.data, job.device
    assert V.max_members(*sizes, 32, limit=5) == 5
    auto = V.max_members(*sizes, 32)
    assert 1 <= auto <= V.MAX_MEMBERS
    assert V.member_bytes(*sizes, 32) > 4 * sum(p.numel() for p in job.model.parameters())


# ---------------------------------------------------------------- the launcher, end to end
SWEEP = ["loss=mse,huber", "data.outlier_frac=0,0.2", "seed=0,1", "data.n_samples=200",
         "trainer.epochs=2", "trainer.progress=false"]


def tree(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.name not in ("report",))


def test_vectorized_sweep_writes_what_the_basic_launcher_writes(tmp_path):
    basic, vec = tmp_path / "basic", tmp_path / "vec"
    r1 = run_main("-m", *SWEEP, f"hydra.sweep.dir={basic}")
    r2 = run_main("-m", *SWEEP, "hydra/launcher=vectorized", "hydra.launcher.max_members=3",
                 f"hydra.sweep.dir={vec}")
    assert r1.returncode == 0, r1.stderr[-2000:]
    assert r2.returncode == 0, r2.stderr[-2000:]
    assert "8 jobs: 1 stacked groups (8)" in r2.stdout
    assert "split into 3 chunks of at most 3 members" in r2.stdout
    assert tree(basic) == tree(vec)
    for job in vec.glob("*/.hydra"):  # each job's record of its config, byte for byte
        for name in ("config.yaml", "overrides.yaml"):
            assert (job / name).read_bytes() == (basic / job.parent.name / ".hydra" /
                                                 name).read_bytes()
    a, b = results.load(basic), results.load(vec)
    assert sorted(a.run_id.unique()) == sorted(b.run_id.unique())
    keys = ["run_id", "epoch", "split", "metric"]
    m = a.merge(b, on=keys, suffixes=("_basic", "_vec"))
    assert len(m) == len(a) == len(b)
    m = m[m.metric != "elapsed_s"]
    assert ((m.value_vec - m.value_basic).abs() <= 1e-4 * (1 + m.value_basic.abs())).all()
    run = next(vec.glob("*/summary.json"))
    s_vec = json.loads(run.read_text())
    s_basic = json.loads((basic / run.parent.name / "summary.json").read_text())
    assert s_vec.pop("stacked_members") == 3
    # each member's train time is its share of the stack's (3 members per chunk)
    assert s_vec.pop("stack_train_time_s") == pytest.approx(3 * s_vec["train_time_s"])
    assert sorted(s_vec) == sorted(s_basic)
    assert s_vec["config"] == s_basic["config"] and s_vec["status"] == "completed"
    # resume: a re-run finds every job finished
    r3 = run_main("-m", *SWEEP, "hydra/launcher=vectorized", f"hydra.sweep.dir={vec}")
    assert r3.returncode == 0 and "8 jobs: 8 done, 0 to run" in r3.stdout


def test_unstackable_jobs_and_failures_stay_local(tmp_path):
    # min_group=3: the two-job groups run one by one; a bad loss parameter fails alone
    r = run_main("-m", "loss=mse,huber", "model=linear,mlp", "data.n_samples=200",
                "trainer.epochs=2", "hydra/launcher=vectorized", f"hydra.sweep.dir={tmp_path}",
                "hydra.launcher.min_group=3")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "4 jobs: 0 stacked groups (0), 4 run one by one" in r.stdout
    assert len(results.summaries(tmp_path)) == 4
    # msle on standardised targets (some negative): what only the data tell fails alone
    r = run_main("-m", "loss=mse,msle,huber", "data.n_samples=200",
                "trainer.epochs=2", "hydra/launcher=vectorized", f"hydra.sweep.dir={tmp_path}/f")
    assert r.returncode == 1
    s = results.summaries(tmp_path / "f").set_index("loss")
    assert s.loc["msle", "status"] == "failed"
    assert s.loc["mse", "status"] == s.loc["huber", "status"] == "completed"
    # a value out of range is refused before anything runs, naming the job
    r = run_main("-m", "loss=huber", "loss.delta=1,-1,2", "data.n_samples=200",
                "trainer.epochs=2", "hydra/launcher=vectorized", f"hydra.sweep.dir={tmp_path}/g")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("error: nothing ran: 1 of 3 jobs cannot run; the job "
                               "loss=huber loss.delta=-1")
    assert "must be a float in the range (0, inf)" in r.stderr
    assert not list((tmp_path / "g").rglob("summary.json"))
    assert isinstance(results.load(tmp_path / "f"), pd.DataFrame)


def test_the_light_path_writes_what_the_whole_config_writes(tmp_path, monkeypatch):
    """A stacked job's records and log (rendered per composition, without a copy of
    Hydra's node) are byte for byte those of the whole config's path."""
    import shutil

    out = tmp_path / "sweep"  # a float given with noise is recorded as given
    args = ["-m", "loss=mse,huber", "seed=0,1", "data.outlier_frac=0,0.30000000000000004",
            *SWEEP[-3:],
            "hydra/launcher=vectorized", f"hydra.sweep.dir={out}"]

    def records():
        return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob(".hydra/*")} | {
            str(p.relative_to(out)): p.read_text()[25:].encode()  # after the time stamp
            for p in out.rglob("harness.log")}

    assert run_main(*args).returncode == 0
    light = records()
    assert len(light) == 8 * 4  # 8 jobs: 3 records and a log each
    shutil.rmtree(out)
    # the class Hydra instantiates: its plugin scan (at the first run) executes the
    # launcher's module again, so a class imported before that is not the one used
    from hydra_plugins.harness_vectorized.launcher import VectorizedLauncher

    asked = []
    monkeypatch.setattr(VectorizedLauncher, "_base", lambda self, light: asked.append(1))
    assert run_main(*args).returncode == 0
    assert len(asked) == 8  # every job took the whole config's path
    assert records() == light


def test_early_stopping_stacked_matches_each_member_alone():
    """Each member stops on its own, at the epoch it stops alone, and the others go on."""
    common = ["trainer.early_stopping.patience=2", "trainer.epochs=25"]
    members = [["loss=huber", "seed=0", "data.outlier_frac=0.2"], ["loss=mse", "seed=1"],
               ["loss=mae", "seed=2", "optim.lr=0.01"]]
    expected = [alone(prepare(*common, *o)) for o in members]
    got = stacked([prepare(*common, *o) for o in members])
    assert len({r.stopped_epoch for r in expected}) > 1  # the premise: they stop apart
    for a, b in zip(expected, got, strict=True):
        assert (a.best_epoch, a.stopped_epoch) == (b.best_epoch, b.stopped_epoch)
        assert_same(a, b, 2e-4)


# ---------------------------------------------------------------- issue 18: records in pieces
ITEMS = ["loss=huber", "seed=5", "x=" + "a b " * 40, "q='x'", "k=: v", "#c", "- d", "ü=1",
         "data.n_samples=200", "optim.lr=1e-3", "on=yes", "null=~"]


@pytest.mark.parametrize("path,value", [
    (("hydra", "overrides", "task"), ITEMS), (("hydra", "overrides", "task"), []),
    (("hydra", "overrides", "task"), ["only"]), (("hydra", "job", "id"), "5"),
    (("hydra", "job", "id"), "05"), (("hydra", "job", "num"), 12), (("seed",), 3),
    (("data", "n_samples"), -4), (("x",), True), (("hydra", "job", "id"), "0"),
    (("trainer", "progress"), False), (("optim", "lr"), 0.30000000000000004),
    (("trainer", "tracking_uri"), None), (("data", "targets"), "standardised"),
    (("x",), "yes"), (("x",), "1e3"), ((), ITEMS), ((), ["one"]), ((), []),
])
def test_a_records_values_written_in_pieces_are_what_the_dumper_writes(path, value):
    """The vectorised launcher writes each job's values into its .hydra records from
    memoised pieces (a number's digits, a list's items one by one): the lines are those
    OmegaConf's YAML dumper writes for the whole value, item pairs in either order."""
    from harness.jobs.compose import to_yaml
    from hydra_plugins.harness_vectorized.launcher import _dump, _in_context, _top_list

    if path == ():  # a document that is a list (overrides.yaml)
        assert _top_list(value) == to_yaml(value)
        for a, b in zip(value, value[1:] + value[:1], strict=True):
            assert _top_list([a, b]) == to_yaml([a, b])
        return
    assert _in_context(path, value) == _in_context(path, value) == _dump(path, value)
    if isinstance(value, list):
        for a, b in zip(value, value[1:] + value[:1], strict=True):
            assert _in_context(path, [a, b]) == _dump(path, [a, b])


PLAIN_WORDS = ["y", "n", "Y", "yes", "No", "ON", "off", "true", "False", "null", "Null",
               "NULL", "nan", "NaN", "inf", "Infinity", "infinity", "_", "/", "e5", "E",
               "a=1,b=2", "seed=17", "/tmp/sweep/loss=huber,seed=3", "x" * 300,
               "data.outlier_frac=0.2,loss=huber,seed=1023", "_1", "a-", "a+b", "a,", "a."]


def test_texts_written_from_the_placeholder_are_what_the_dumper_writes():
    """A text the dumper writes plainly (override items, folder names, output folders: new
    in each job) is put into its placeholder's lines, not dumped: on 2,000 random texts of
    the characters concerned (and quoted or other-typed words), at several depths and as
    list items, the lines are the dumper's own."""
    import random

    from harness.jobs.compose import to_yaml
    from hydra_plugins.harness_vectorized.launcher import _dump, _in_context, _plain, _top_list

    assert _plain("seed=17") and _plain("/tmp/sweep/loss=huber,seed=3")  # the fast way runs
    assert not any(_plain(w) for w in ["yes", "on", "null", "nan", "Infinity", "1", "a b",
                                       "a:b", "#a", "-a", "'a'", ""])
    rng = random.Random(18)
    chars = "abzAZ09_./=,+-:# '\"~"
    texts = PLAIN_WORDS + ["".join(rng.choice(chars) for _ in range(rng.randint(1, 12)))
                           for _ in range(2000)]
    paths = [("x",), ("hydra", "job", "override_dirname"), ("hydra", "runtime", "output_dir"),
             ("hydra", "overrides", "task")]
    for k, text in enumerate(texts):
        path = paths[k % len(paths)]
        assert _in_context(path, text) == _dump(path, text), (path, text)
        pair = [text, texts[k - 1]]
        assert _in_context(path, pair) == _dump(path, pair), (path, pair)
        assert _top_list(pair) == to_yaml(pair), pair
