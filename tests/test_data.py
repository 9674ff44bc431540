"""Data sets: splits, scaling, seeds and corruption of the training split only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness import data as D
from harness.errors import HarnessError
from harness.seeding import STREAMS, derive_seeds

BUILDERS = {
    "outliers": (D.outliers, "outlier_frac"),
    "binary": (D.binary, "label_noise"),
    "multiclass": (D.multiclass, "label_noise"),
}


def build(name: str, seed: int = 0, level: float = 0.0, **kw) -> D.Dataset:
    fn, key = BUILDERS[name]
    return fn(seeds=derive_seeds(seed), n_samples=500, **{key: level}, **kw)


def test_derived_seeds_are_distinct_and_stable():
    a, b = derive_seeds(0), derive_seeds(1)
    assert set(a) == set(STREAMS) and len(set(a.values())) == len(STREAMS)
    assert a == derive_seeds(0) and a != b


@pytest.mark.parametrize("name", BUILDERS)
def test_splits_are_disjoint_cover_the_pool_and_repeat_per_seed(name):
    d = build(name)
    idx = [set(d.index[s].tolist()) for s in D.SPLITS]
    assert all(not (a & b) for i, a in enumerate(idx) for b in idx[i + 1:])
    assert set().union(*idx) == set(range(500))
    assert (len(idx[1]), len(idx[2])) == (100, 100)
    again, other = build(name), build(name, seed=1)
    for s in D.SPLITS:
        assert torch.equal(d.X[s], again.X[s]) and torch.equal(d.y[s], again.y[s])
    assert not torch.equal(d.X["test"], other.X["test"])


@pytest.mark.parametrize("name", BUILDERS)
def test_canonical_encodings(name):
    d = build(name)
    n = len(d.X["train"])
    assert d.X["train"].dtype == torch.float32 and d.X["train"].shape == (n, 20)
    y = d.y["train"]
    assert y.shape == (n,)
    if d.task == "multiclass":
        assert y.dtype == torch.int64 and set(y.tolist()) == set(range(d.n_classes))
        assert d.n_outputs == d.n_classes >= 3
    else:
        assert y.dtype == torch.float32 and d.n_outputs == 1
    if d.task == "binary":
        assert set(y.tolist()) == {0.0, 1.0}


@pytest.mark.parametrize("name", BUILDERS)
def test_features_scaled_with_training_statistics_only(name):
    d = build(name)
    Xtr = d.X["train"].double()
    torch.testing.assert_close(Xtr.mean(0), torch.zeros(20, dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close(Xtr.std(0, correction=0), torch.ones(20, dtype=torch.float64),
                               atol=1e-4, rtol=0)
    # the test split was not used for the statistics, so it is not exactly standardised
    assert d.X["test"].double().mean(0).abs().max() > 1e-3


@pytest.mark.parametrize("name", BUILDERS)
@pytest.mark.parametrize("level", [0.1, 0.3])
def test_corruption_touches_training_targets_only_at_the_asked_rate(name, level):
    clean, dirty = build(name, level=0.0), build(name, level=level)
    for s in ("val", "test"):
        assert torch.equal(clean.X[s], dirty.X[s]) and torch.equal(clean.y[s], dirty.y[s])
    assert torch.equal(clean.X["train"], dirty.X["train"])
    assert torch.equal(dirty.y_train_clean, clean.y["train"])
    changed = dirty.y["train"] != dirty.y_train_clean
    assert torch.equal(changed, dirty.corrupted)  # every corrupted target really changed
    n_train = len(dirty.corrupted)
    assert int(dirty.corrupted.sum()) == round(level * n_train)
    assert dirty.info["realised_corruption"] == pytest.approx(round(level * n_train) / n_train)
    assert clean.realised_corruption == 0.0


def test_corrupted_points_nest_as_the_level_grows():
    low, high = build("outliers", level=0.1), build("outliers", level=0.3)
    assert bool((low.corrupted <= high.corrupted).all())


def test_outliers_are_gross():
    d = build("outliers", level=0.2, outlier_scale=10.0)
    shift = (d.y["train"] - d.y_train_clean)[d.corrupted].abs()
    assert float(shift.min()) >= 10.0
    # targets are standardised on the clean training split
    assert abs(float(d.y_train_clean.mean())) < 1e-5
    assert float(d.y_train_clean.std(correction=0)) == pytest.approx(1.0, abs=1e-5)


def test_label_noise_moves_to_another_valid_class():
    d = build("multiclass", level=0.4)
    moved = d.y["train"][d.corrupted]
    assert bool((moved != d.y_train_clean[d.corrupted]).all())
    assert int(moved.min()) >= 0 and int(moved.max()) < d.n_classes


def test_split_too_small_is_a_user_error():
    with pytest.raises(HarnessError, match="raise data.n_samples"):
        D.outliers(seeds=derive_seeds(0), n_samples=3)


def test_informative_more_than_features_is_a_user_error():
    with pytest.raises(HarnessError, match="data.n_informative=30 exceeds data.n_features=20"):
        D.binary(seeds=derive_seeds(0), n_informative=30)


def test_corruption_order_is_exact():
    mask = D.corruption_order(1000, 0.123, seed=5)
    assert mask.sum() == 123 and mask.dtype == np.bool_
