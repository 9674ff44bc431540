"""Data sets: splits, scaling, seeds and corruption of the training split only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import harness.data.dataset  # noqa: F401  (D.dataset)
from harness import data as D
from harness.errors import HarnessError
from harness.seeding import STREAMS, derive_seeds
from losses import InvalidParameterError

# every data set, small: synthetic ones generate 500 rows, bundled ones use all of theirs
SIZES = {"outliers": 500, "friedman": 500, "diabetes": None, "binary": 500, "moons": 500,
         "breast_cancer": None, "multiclass": 500, "iris": None, "wine": None,
         "digits": None, "mnist1d": 500, "table": None}
# keys a data set needs besides its defaults; the task of one whose data decide it
TABLE = str(Path(__file__).resolve().parents[1] / "examples" / "data" / "diabetes.csv")
KEYS = {"table": {"path": TABLE, "target": "progression"}}
TASK = {name: src.task or "regression" for name, src in D.SOURCES.items()}
NAMES = list(SIZES)
# (data set, corruption kind): every kind with every data set of its task
PAIRS = [(name, kind) for name in NAMES for kind in D.CORRUPTIONS[TASK[name]]]


def build(name: str, seed: int = 0, level: float = 0.0, **kw) -> D.Dataset:
    return getattr(D, name)(seeds=derive_seeds(seed), n_samples=SIZES[name],
                            **{D.LEVEL_KEY[TASK[name]]: level}, **KEYS.get(name, {}), **kw)


def test_derived_seeds_are_distinct_and_stable():
    a, b = derive_seeds(0), derive_seeds(1)
    assert set(a) == set(STREAMS) and len(set(a.values())) == len(STREAMS)
    assert a == derive_seeds(0) and a != b


def test_every_source_has_a_builder_with_its_task():
    assert set(SIZES) == set(D.SOURCES)
    for name, task in ((n, s.task) for n, s in D.SOURCES.items()):
        fn = getattr(D, name)
        assert fn.task == task and fn.__name__ == name and name in fn.__doc__
        assert D.task_of(f"harness.data.{name}", KEYS.get(name)) == TASK[name]


@pytest.mark.parametrize("name", NAMES)
def test_splits_are_disjoint_cover_the_pool_and_repeat_per_seed(name):
    d = build(name)
    idx = [set(d.index[s].tolist()) for s in D.SPLITS]
    n = sum(len(i) for i in idx)
    assert all(not (a & b) for i, a in enumerate(idx) for b in idx[i + 1:])
    assert set().union(*idx) == set(range(n))
    assert [len(d.X[s]) for s in D.SPLITS] == [len(i) for i in idx]
    assert d.info["n_train"] == len(idx[0]) >= 0.5 * n
    again, other = build(name), build(name, seed=1)
    for s in D.SPLITS:
        assert torch.equal(d.X[s], again.X[s]) and torch.equal(d.y[s], again.y[s])
    assert not torch.equal(d.X["val"], other.X["val"])


@pytest.mark.parametrize("name", [n for n in NAMES if n != "mnist1d"])
def test_random_splits_take_the_asked_fractions(name):
    d = build(name)
    n = sum(d.info[f"n_{s}"] for s in D.SPLITS)
    assert (d.info["n_val"], d.info["n_test"]) == (round(0.2 * n), round(0.2 * n))


def test_mnist1d_keeps_its_own_test_split_and_carves_val_from_train():
    from mnist1d.data import get_dataset_args, make_dataset

    state = np.random.get_state()[1].copy()
    d, other = build("mnist1d"), build("mnist1d", seed=1)
    assert np.array_equal(np.random.get_state()[1], state)  # global RNG left as it was
    args = get_dataset_args()
    args.num_samples = 500
    ref = make_dataset(args)
    assert (d.info["n_train"] + d.info["n_val"], d.info["n_test"]) == (400, 100)
    assert d.info["n_val"] == 80 and d.n_features == 40 and d.n_classes == 10
    assert np.array_equal(d.y["test"].numpy(), ref["y_test"])  # the package's test rows
    assert np.array_equal(d.index["test"], other.index["test"])  # the same for every seed
    train_pool = np.concatenate([d.y["train"].numpy(), d.y["val"].numpy()])
    assert sorted(train_pool.tolist()) == sorted(ref["y"].tolist())


@pytest.mark.parametrize("name", NAMES)
def test_canonical_encodings(name):
    d = build(name)
    n, f = d.X["train"].shape
    assert d.X["train"].dtype == torch.float32 and f == d.n_features == d.info["n_features"]
    y = d.y["train"]
    assert y.shape == (n,)
    if d.task == "multiclass":
        assert y.dtype == torch.int64 and set(y.tolist()) == set(range(d.n_classes))
        assert d.n_outputs == d.n_classes >= 3
    else:
        assert y.dtype == torch.float32 and d.n_outputs == 1
    if d.task == "binary":
        assert set(y.tolist()) == {0.0, 1.0}


@pytest.mark.parametrize("name", NAMES)
def test_features_scaled_with_clean_training_statistics_only(name):
    d = build(name, level=0.3, corruption="leverage" if d_task(name) == "regression" else
              "symmetric")
    Xtr = d.X_train_clean.double()
    varying = Xtr.std(0) > 0  # digits has pixels that are always 0 in training
    torch.testing.assert_close(Xtr.mean(0), torch.zeros_like(Xtr[0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(Xtr.std(0, correction=0)[varying],
                               torch.ones_like(Xtr[0])[varying], atol=1e-4, rtol=0)
    # the test split was not used for the statistics, so it is not exactly standardised
    assert d.X["test"].double().mean(0).abs().max() > 1e-3


@pytest.mark.parametrize("name, kind", PAIRS)
def test_val_corrupted_is_the_val_rows_corrupted_like_training(name, kind):
    clean, dirty = build(name), build(name, level=0.3, corruption=kind)
    # without corruption it is the clean validation split itself
    assert torch.equal(clean.y_val_corrupted, clean.y["val"])
    assert not clean.corrupted_val.any() and clean.info["n_corrupted_val"] == 0
    # with it: the same rows, clean val untouched, round(level * n_val) rows changed
    assert torch.equal(dirty.y["val"], clean.y["val"])
    changed = dirty.y_val_corrupted != dirty.y["val"]
    if kind == "leverage":
        changed |= (dirty.X_val_corrupted != dirty.X["val"]).any(1)
    assert torch.equal(changed, dirty.corrupted_val)
    n_val = len(dirty.y["val"])
    assert int(dirty.corrupted_val.sum()) == round(0.3 * n_val) == dirty.info["n_corrupted_val"]
    # the training corruption does not depend on the validation one being there
    again = build(name, level=0.3, corruption=kind)
    assert torch.equal(again.y_val_corrupted, dirty.y_val_corrupted)
    assert torch.equal(again.y["train"], dirty.y["train"])


def test_leverage_moves_val_rows_along_the_training_direction():
    d = build("outliers", level=0.3, corruption="leverage")
    dx_train = (d.X["train"] - d.X_train_clean)[d.corrupted].double()
    dx_val = (d.X_val_corrupted - d.X["val"])[d.corrupted_val].double()
    unit = dx_train[0] / dx_train[0].norm()
    cos = (dx_val @ unit) / dx_val.norm(dim=1)
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-4)
    # and the targets move with the training points' sign
    dy_train = (d.y["train"] - d.y_train_clean)[d.corrupted]
    dy_val = (d.y_val_corrupted - d.y["val"])[d.corrupted_val]
    assert (dy_train.sign() == dy_train.sign()[0]).all()
    assert (dy_val.sign() == dy_train.sign()[0]).all()


def d_task(name: str) -> str:
    return TASK[name]


def test_regression_targets_standardised_on_clean_training_targets():
    for name in ("outliers", "friedman", "diabetes"):
        d = build(name, level=0.2)
        assert abs(float(d.y_train_clean.mean())) < 1e-5
        assert float(d.y_train_clean.std(correction=0)) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("name, kind", PAIRS)
def test_corruption_hits_training_split_only_at_the_asked_rate_reproducibly(name, kind):
    clean, dirty = build(name), build(name, level=0.3, corruption=kind)
    for s in ("val", "test"):
        assert torch.equal(clean.X[s], dirty.X[s]) and torch.equal(clean.y[s], dirty.y[s])
    assert torch.equal(dirty.y_train_clean, clean.y["train"])
    assert torch.equal(dirty.X_train_clean, clean.X["train"])
    changed = dirty.y["train"] != dirty.y_train_clean
    assert torch.equal(changed, dirty.corrupted)  # every corrupted target really changed
    moved = (dirty.X["train"] != dirty.X_train_clean).any(1)
    assert torch.equal(moved, dirty.corrupted if kind == "leverage" else torch.zeros_like(moved))
    n_train = len(dirty.corrupted)
    assert int(dirty.corrupted.sum()) == round(0.3 * n_train) == dirty.info["n_corrupted"]
    assert dirty.info["realised_corruption"] == pytest.approx(round(0.3 * n_train) / n_train)
    assert (dirty.info["corruption"], dirty.info["corruption_level"]) == (kind, 0.3)
    assert clean.realised_corruption == 0.0 and not clean.corrupted.any()
    again = build(name, level=0.3, corruption=kind)
    assert torch.equal(again.y["train"], dirty.y["train"])
    assert torch.equal(again.X["train"], dirty.X["train"])
    assert not torch.equal(build(name, seed=1, level=0.3, corruption=kind).corrupted[:50],
                           dirty.corrupted[:50])


@pytest.mark.parametrize("name, kind", PAIRS)
def test_corruption_nests_across_levels_and_a_point_is_corrupted_the_same_way(name, kind):
    low, high = build(name, level=0.1, corruption=kind), build(name, level=0.4, corruption=kind)
    assert bool((low.corrupted <= high.corrupted).all())
    both = low.corrupted
    assert torch.equal(low.y["train"][both], high.y["train"][both])
    assert torch.equal(low.X["train"][both], high.X["train"][both])


def test_corruption_changes_with_the_corruption_seed_only():
    a = D.outliers(seeds=derive_seeds(0), n_samples=500, outlier_frac=0.2)
    b = D.outliers(seeds={**derive_seeds(0), "corruption": 12345}, n_samples=500,
                   outlier_frac=0.2)
    assert torch.equal(a.y_train_clean, b.y_train_clean) and torch.equal(a.X["test"], b.X["test"])
    assert not torch.equal(a.corrupted, b.corrupted)


def test_outliers_are_gross_and_one_sided_on_request():
    d = build("outliers", level=0.2, outlier_scale=10.0)
    shift = (d.y["train"] - d.y_train_clean)[d.corrupted]
    assert float(shift.abs().min()) >= 10.0
    assert bool((shift > 0).any()) and bool((shift < 0).any())
    up = build("diabetes", level=0.2, outlier_scale=3.0, one_sided=True)
    shift = (up.y["train"] - up.y_train_clean)[up.corrupted]
    assert float(shift.min()) >= 3.0 - 1e-5


def test_heavy_tail_noise_is_student_t_scaled_by_tail_scale():
    one = build("friedman", level=1.0, corruption="heavy_tail", df=1.0)
    two = build("friedman", level=1.0, corruption="heavy_tail", df=1.0, tail_scale=2.0)
    noise1 = (one.y["train"] - one.y_train_clean).double()
    noise2 = (two.y["train"] - two.y_train_clean).double()
    torch.testing.assert_close(noise2, 2 * noise1, rtol=1e-5, atol=1e-5)
    assert one.corrupted.all()
    # Cauchy (df=1): median |t| is 1, and far heavier tails than a Gaussian's
    assert float(noise1.abs().median()) == pytest.approx(1.0, abs=0.2)
    assert float(noise1.abs().max()) > 20
    light = build("friedman", level=1.0, corruption="heavy_tail", df=1e6)
    assert float((light.y["train"] - light.y_train_clean).abs().max()) < 5


def test_leverage_points_move_far_along_one_direction_with_a_coherent_wrong_target():
    d = build("friedman", level=0.2, corruption="leverage", outlier_scale=5.0)
    dx = (d.X["train"] - d.X_train_clean)[d.corrupted].double()
    dy = (d.y["train"] - d.y_train_clean)[d.corrupted].double()
    norms = dx.norm(dim=1)
    assert float(norms.min()) >= 5.0 - 1e-4
    directions = dx / norms[:, None]
    torch.testing.assert_close(directions, directions[:1].expand_as(directions), atol=1e-5,
                               rtol=0)  # one shared direction
    torch.testing.assert_close(dy.abs(), norms, atol=1e-4, rtol=1e-5)
    assert bool((dy > 0).all()) or bool((dy < 0).all())  # one shared sign


@pytest.mark.parametrize("name", ["multiclass", "digits"])
def test_symmetric_label_noise_moves_to_a_uniform_other_class(name):
    d = build(name, level=0.6)
    moved, was = d.y["train"][d.corrupted], d.y_train_clean[d.corrupted]
    assert bool((moved != was).all())
    assert int(moved.min()) >= 0 and int(moved.max()) < d.n_classes
    # the offset (new - old) mod C is uniform on 1..C-1
    counts = torch.bincount((moved - was) % d.n_classes, minlength=d.n_classes)[1:]
    expected = len(moved) / (d.n_classes - 1)
    assert counts.min() > 0.5 * expected and counts.max() < 1.5 * expected


@pytest.mark.parametrize("name", ["multiclass", "iris", "binary"])
def test_pair_noise_flips_each_class_to_the_next(name):
    d = build(name, level=0.4, corruption="pair")
    n_classes = d.n_classes
    moved, was = d.y["train"][d.corrupted], d.y_train_clean[d.corrupted]
    assert torch.equal(moved.long(), (was.long() + 1) % n_classes)


def test_unknown_corruption_kind_is_a_user_error():
    # the builder checks its keys as the config does: one line with the kinds of the task
    with pytest.raises(InvalidParameterError, match="'data.corruption' parameter must be one "
                       "of 'outliers', 'heavy_tail', 'leverage'. Got 'pair'"):
        build("diabetes", level=0.1, corruption="pair")
    with pytest.raises(HarnessError, match="not a regression corruption; choose one of "
                                           "outliers, heavy_tail, leverage"):
        D.dataset.build("diabetes", seeds=derive_seeds(0), corruption="pair", level=0.1,
                        corruption_params={})


def test_bundled_data_subsample_and_refuse_more_rows_than_they_have():
    d = build("digits", level=0.0)
    assert sum(len(d.y[s]) for s in D.SPLITS) == 1797
    small = D.digits(seeds=derive_seeds(0), n_samples=300)
    assert sum(len(small.y[s]) for s in D.SPLITS) == 300
    with pytest.raises(HarnessError, match="data.n_samples=200 exceeds the 150 rows of 'iris'"):
        D.iris(seeds=derive_seeds(0), n_samples=200)


def test_split_too_small_is_a_user_error():
    with pytest.raises(HarnessError, match="raise data.n_samples"):
        D.outliers(seeds=derive_seeds(0), n_samples=10, val_frac=0.5, test_frac=0.45)


def test_informative_more_than_features_is_a_user_error():
    with pytest.raises(HarnessError, match="data.n_informative=30 exceeds data.n_features=20"):
        D.binary(seeds=derive_seeds(0), n_informative=30)


def test_corruption_order_is_exact():
    mask = D.corruption_order(1000, 0.123, seed=5)
    assert mask.sum() == 123 and mask.dtype == np.bool_


# ---------------------------------------------------------------- issue 18: shared clean data
def test_a_sweeps_seeds_interleaved_with_losses_make_each_clean_data_set_once():
    """A sweep's jobs come loss by loss, seed by seed (loss=a,b seed=0..11): each seed's
    clean data and split are made once and shared by both losses and every corruption
    level; only the corruption is made per job. A count-bounded cache of 8 made all 24."""
    from harness.data import dataset
    from harness.seeding import derive_seeds

    build = dataset.builder("outliers")
    dataset.CLEAN.clear()
    before = dataset.CLEAN.made
    made = {}
    for level in (0.0, 0.3):  # the "loss" loop: the data do not see the loss
        for seed in range(100, 112):
            made[level, seed] = build(seeds=derive_seeds(seed), n_samples=200,
                                      outlier_frac=level)
    assert dataset.CLEAN.made - before == 12
    for seed in range(100, 112):  # same clean test split, different corrupted training rows
        a, b = made[0.0, seed], made[0.3, seed]
        assert a.split("test")[0] is b.split("test")[0] or \
            torch.equal(a.split("test")[0], b.split("test")[0])
        assert not torch.equal(a.split("train")[1], b.split("train")[1])


def test_the_clean_data_cache_keeps_to_its_byte_budget(monkeypatch):
    from harness.data import dataset
    from harness.seeding import derive_seeds

    build = dataset.builder("outliers")
    dataset.CLEAN.clear()
    build(seeds=derive_seeds(0), n_samples=200)
    one = sum(dataset.CLEAN.sizes.values())
    monkeypatch.setattr(dataset, "CLEAN_BUDGET", 3 * one)
    for seed in range(1, 10):
        build(seeds=derive_seeds(seed), n_samples=200)
    assert len(dataset.CLEAN.entries) == 3
    assert sum(dataset.CLEAN.sizes.values()) <= 3 * one
    dataset.CLEAN.clear()
