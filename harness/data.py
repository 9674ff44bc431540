"""Data sets: train/val/test tensors in the canonical encodings, corruption on TRAIN only.

Every builder takes ``seeds`` (see :func:`harness.seeding.derive_seeds`) and uses
``seeds["data"]`` for generation and splitting and ``seeds["corruption"]`` for corruption,
so changing a corruption level never changes the clean data, and for one seed the set of
corrupted points at a lower level is a subset of the set at a higher level (the points are
taken in one fixed random order).

Features are standardised with the training split's mean and std only. Regression
targets are standardised with the *clean* training targets' mean and std, so metrics are
in units of the clean target's standard deviation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.datasets import make_classification, make_regression

from harness.errors import HarnessError

SPLITS = ("train", "val", "test")


@dataclass
class Dataset:
    """Tensors per split, plus what corruption did to the training split."""

    name: str
    task: str
    X: dict[str, torch.Tensor]  # split -> [n, F] float32
    y: dict[str, torch.Tensor]  # split -> [n] (float32; int64 class indices for multiclass)
    y_train_clean: torch.Tensor  # the training targets before corruption
    corrupted: torch.Tensor  # [n_train] bool, which training targets were corrupted
    n_classes: int | None = None
    index: dict[str, np.ndarray] = field(default_factory=dict)  # split -> rows of the pool
    info: dict[str, object] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.X["train"].shape[1])

    @property
    def n_outputs(self) -> int:
        return self.n_classes if self.task == "multiclass" else 1

    @property
    def realised_corruption(self) -> float:
        return float(self.corrupted.float().mean()) if len(self.corrupted) else 0.0


def builder(task: str) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    """Mark a data builder with its task, so the runner can check a loss fits the data
    before anything is generated."""

    def mark(fn: Callable[..., Dataset]) -> Callable[..., Dataset]:
        fn.task = task  # type: ignore[attr-defined]
        return fn

    return mark


def split_indices(n: int, val_frac: float, test_frac: float,
                  rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Disjoint random train/val/test row indices covering ``range(n)``."""
    n_test, n_val = round(n * test_frac), round(n * val_frac)
    n_train = n - n_val - n_test
    if n_train < 2 or n_val < 1 or n_test < 1:
        raise HarnessError(
            f"data split leaves {n_train} train, {n_val} val, {n_test} test rows of {n}; "
            "each split needs rows: raise data.n_samples or lower data.val_frac/test_frac.")
    perm = rng.permutation(n)
    return {"train": np.sort(perm[:n_train]), "val": np.sort(perm[n_train:n_train + n_val]),
            "test": np.sort(perm[n_train + n_val:])}


def corruption_order(n_train: int, frac: float, seed: int) -> np.ndarray:
    """Boolean mask of exactly ``round(frac * n_train)`` training rows to corrupt."""
    k = round(frac * n_train)
    mask = np.zeros(n_train, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n_train)[:k]] = True
    return mask


def _assemble(name: str, task: str, X: np.ndarray, y: np.ndarray, idx: dict[str, np.ndarray],
              y_train: np.ndarray, corrupted: np.ndarray, n_classes: int | None,
              info: dict) -> Dataset:
    mean = X[idx["train"]].mean(axis=0)
    std = X[idx["train"]].std(axis=0)
    std[std == 0] = 1.0
    Xs = ((X - mean) / std).astype(np.float32)
    ydtype = torch.int64 if task == "multiclass" else torch.float32
    Xt = {s: torch.from_numpy(Xs[idx[s]]) for s in SPLITS}
    yt = {s: torch.as_tensor(y[idx[s]], dtype=ydtype) for s in SPLITS}
    clean = yt["train"]
    yt["train"] = torch.as_tensor(y_train, dtype=ydtype)
    return Dataset(name, task, Xt, yt, clean, torch.from_numpy(corrupted), n_classes, idx,
                   {**info, "n_train": len(idx["train"]), "n_val": len(idx["val"]),
                    "n_test": len(idx["test"]), "n_features": X.shape[1],
                    "realised_corruption": float(corrupted.mean()) if len(corrupted) else 0.0})


@builder("regression")
def outliers(*, seeds: dict[str, int], n_samples: int = 2000, n_features: int = 20,
             n_informative: int = 10, noise: float = 0.1, outlier_frac: float = 0.2,
             outlier_scale: float = 10.0, val_frac: float = 0.2,
             test_frac: float = 0.2) -> Dataset:
    """Synthetic linear regression (``make_regression``) with gross outliers in the
    training targets.

    A fraction ``outlier_frac`` of the training targets is moved by
    ``±outlier_scale * (1 + |z|)`` clean-target standard deviations (``z ~ N(0, 1)``,
    random sign), so every outlier is at least ``outlier_scale`` standard deviations off.
    ``noise`` is the Gaussian noise of the clean targets, relative to their std.
    """
    if n_informative > n_features:
        raise HarnessError(f"data.n_informative={n_informative} exceeds "
                           f"data.n_features={n_features}; it must be at most that.")
    rng = np.random.default_rng(seeds["data"])
    X, y = make_regression(n_samples=n_samples, n_features=n_features,
                           n_informative=n_informative, noise=0.0,
                           random_state=int(rng.integers(2**31)))
    y = y / (y.std() or 1.0)
    y = y + noise * rng.standard_normal(n_samples)
    idx = split_indices(n_samples, val_frac, test_frac, rng)
    mu, sd = y[idx["train"]].mean(), y[idx["train"]].std() or 1.0
    y = (y - mu) / sd
    y_train = y[idx["train"]].copy()
    corrupted = corruption_order(len(y_train), outlier_frac, seeds["corruption"])
    crng = np.random.default_rng([seeds["corruption"], 1])
    k = int(corrupted.sum())
    shift = outlier_scale * (1.0 + np.abs(crng.standard_normal(k)))
    y_train[corrupted] += np.where(crng.random(k) < 0.5, -1.0, 1.0) * shift
    return _assemble("outliers", "regression", X, y, idx, y_train, corrupted, None,
                     {"corruption": "outliers", "corruption_level": outlier_frac})


def _classification(name: str, task: str, seeds: dict[str, int], n_classes: int, *,
                    n_samples: int, n_features: int, n_informative: int, class_sep: float,
                    label_noise: float, val_frac: float, test_frac: float) -> Dataset:
    if n_classes > 2 ** n_informative:
        raise HarnessError(f"data.n_classes={n_classes} needs data.n_informative >= "
                           f"{int(np.ceil(np.log2(n_classes)))}; got {n_informative}.")
    if n_informative > n_features:
        raise HarnessError(f"data.n_informative={n_informative} exceeds "
                           f"data.n_features={n_features}; it must be at most that.")
    rng = np.random.default_rng(seeds["data"])
    X, y = make_classification(n_samples=n_samples, n_features=n_features,
                               n_informative=n_informative, n_redundant=0,
                               n_classes=n_classes, n_clusters_per_class=1,
                               class_sep=class_sep, flip_y=0.0,
                               random_state=int(rng.integers(2**31)))
    idx = split_indices(n_samples, val_frac, test_frac, rng)
    y_train = y[idx["train"]].copy()
    corrupted = corruption_order(len(y_train), label_noise, seeds["corruption"])
    # symmetric label noise: a corrupted label becomes a uniformly chosen *other* class
    offset = np.random.default_rng([seeds["corruption"], 1]).integers(
        1, n_classes, size=int(corrupted.sum()))
    y_train[corrupted] = (y_train[corrupted] + offset) % n_classes
    return _assemble(name, task, X, y, idx, y_train, corrupted, n_classes,
                     {"corruption": "label_noise", "corruption_level": label_noise})


@builder("binary")
def binary(*, seeds: dict[str, int], n_samples: int = 2000, n_features: int = 20,
           n_informative: int = 5, class_sep: float = 1.0, label_noise: float = 0.0,
           val_frac: float = 0.2, test_frac: float = 0.2) -> Dataset:
    """Synthetic two-class data (``make_classification``), targets in {0, 1}; optional
    symmetric label noise (a fraction ``label_noise`` of training labels flipped)."""
    return _classification("binary", "binary", seeds, 2, n_samples=n_samples,
                           n_features=n_features, n_informative=n_informative,
                           class_sep=class_sep, label_noise=label_noise,
                           val_frac=val_frac, test_frac=test_frac)


@builder("multiclass")
def multiclass(*, seeds: dict[str, int], n_samples: int = 2000, n_features: int = 20,
               n_informative: int = 8, n_classes: int = 5, class_sep: float = 1.0,
               label_noise: float = 0.0, val_frac: float = 0.2,
               test_frac: float = 0.2) -> Dataset:
    """Synthetic ``n_classes``-class data (``make_classification``), class-index targets;
    optional symmetric label noise (a corrupted label moves to a random other class)."""
    return _classification("multiclass", "multiclass", seeds, n_classes, n_samples=n_samples,
                           n_features=n_features, n_informative=n_informative,
                           class_sep=class_sep, label_noise=label_noise,
                           val_frac=val_frac, test_frac=test_frac)
