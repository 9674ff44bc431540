"""Train/val/test splits and standardisation (numpy only).

The split keys (:data:`KNOBS`: ``val_frac``, ``test_frac``) are config keys of every data
set; a source with its own test split (MNIST-1D) keeps it and takes ``val_frac`` only.
"""

from __future__ import annotations

import numpy as np

from harness.data.knobs import Knob
from harness.errors import HarnessError

SPLITS = ("train", "val", "test")
KNOBS = (Knob("val_frac", 0.2, float, "(0, 0.5]", doc="fraction of rows held out for "
              "validation (of the training rows, for a source with its own test split)"),
         Knob("test_frac", 0.2, float, "(0, 0.5]", doc="fraction of rows held out for test"))


def split_indices(n: int, val_frac: float, test_frac: float,
                  rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Disjoint random train/val/test row indices covering ``range(n)``."""
    n_test, n_val = round(n * test_frac), round(n * val_frac)
    n_train = n - n_val - n_test
    check_sizes(n, n_train, n_val, n_test)
    perm = rng.permutation(n)
    return {"train": np.sort(perm[:n_train]), "val": np.sort(perm[n_train:n_train + n_val]),
            "test": np.sort(perm[n_train + n_val:])}


def carve_val(n: int, test: np.ndarray, val_frac: float,
              rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Keep a source's own ``test`` rows; a fraction ``val_frac`` of the rest is ``val``."""
    rest = np.setdiff1d(np.arange(n), test)
    n_val = round(len(rest) * val_frac)
    check_sizes(n, len(rest) - n_val, n_val, len(test))
    perm = rng.permutation(rest)
    return {"train": np.sort(perm[n_val:]), "val": np.sort(perm[:n_val]), "test": np.sort(test)}


def check_sizes(n: int, n_train: int, n_val: int, n_test: int) -> None:
    """A :class:`HarnessError` unless every split has rows (train at least two)."""
    if n_train < 2 or n_val < 1 or n_test < 1:
        raise HarnessError(
            f"data split leaves {n_train} train, {n_val} val, {n_test} test rows of {n}; "
            "each split needs rows: raise data.n_samples or lower data.val_frac/test_frac.")


def standardise(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``X`` standardised with the mean and std of ``rows`` only (a constant column keeps
    std 1), as float32."""
    mean, std = X[rows].mean(axis=0), X[rows].std(axis=0)
    std[std == 0] = 1.0
    return ((X - mean) / std).astype(np.float32)
