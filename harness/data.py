"""Data sets: train/val/test tensors in the canonical encodings, corruption on TRAIN only.

A data set is a *source* (clean rows, generated or bundled with a package: nothing is
downloaded) plus a *corruption* of the training split, both looked up by name in a table:
:data:`SOURCES` and :data:`CORRUPTIONS`. Each public builder (``outliers``, ``diabetes``,
``mnist1d``, ...) is the ``_target_`` of one ``conf/data/<name>.yaml`` and takes the
source's parameters, the split fractions, ``corruption`` (the kind) and the task's one
corruption-level key (:data:`LEVEL_KEY`: ``outlier_frac`` for regression, ``label_noise``
for classification) plus the parameters of the corruption kinds.

Guarantees, for every data set:

- ``seeds["data"]`` alone fixes the clean rows and the split, so changing the corruption
  never changes the clean data. Splits are disjoint; a source with its own test split
  (MNIST-1D) keeps it as ``test`` and carves ``val`` from its training rows.
- Features are standardised with the *clean* training split's mean and std only.
  Regression targets are standardised with the clean training targets' mean and std, so
  metrics are in units of the clean target's standard deviation.
- Corruption touches the training split and draws from ``seeds["corruption"]``.
  Exactly ``round(level * n_train)`` training points are corrupted, taken in one fixed
  random order, so the points corrupted at a lower level are a subset of those at a
  higher level; what happens to a point (its shift, its new label) is drawn per point
  and does not depend on the level either.
- ``val`` and ``test`` stay clean. A corrupted copy of the validation rows,
  ``val_corrupted``, is what a user without clean labels would hold out: the same
  corruption process (one call over train and val rows, so shared draws such as the
  leverage direction are the same) at the same level, with its own order of rows. Model
  selection (``harness.protocol``) reads it and nothing clean.
- :class:`Dataset` keeps the clean training targets (and features) and the mask of
  corrupted points; ``info`` records the kind, the asked level and the realised rate.
"""

from __future__ import annotations

import functools
import inspect
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from harness.errors import HarnessError

SPLITS = ("train", "val", "test")
# the one config key per task that sets the corruption level (fraction of training points)
LEVEL_KEY = {"regression": "outlier_frac", "binary": "label_noise", "multiclass": "label_noise"}


@dataclass
class Dataset:
    """Tensors per split, plus what corruption did to the training split."""

    name: str
    task: str
    X: dict[str, torch.Tensor]  # split -> [n, F] float32
    y: dict[str, torch.Tensor]  # split -> [n] (float32; int64 class indices for multiclass)
    y_train_clean: torch.Tensor  # the training targets before corruption
    corrupted: torch.Tensor  # [n_train] bool, which training points were corrupted
    n_classes: int | None = None
    index: dict[str, np.ndarray] = field(default_factory=dict)  # split -> rows of the pool
    info: dict[str, object] = field(default_factory=dict)
    # the training features before corruption: the same tensor as X["train"] unless the
    # corruption moves features (leverage points)
    X_train_clean: torch.Tensor | None = None
    # the validation rows corrupted as the training rows are (see the module docstring):
    # features (the same tensor as X["val"] unless the corruption moves features),
    # targets, and which rows were corrupted
    X_val_corrupted: torch.Tensor | None = None
    y_val_corrupted: torch.Tensor | None = None
    corrupted_val: torch.Tensor | None = None

    def __post_init__(self):
        if self.X_train_clean is None:
            self.X_train_clean = self.X["train"]
        if self.y_val_corrupted is None:
            self.X_val_corrupted, self.y_val_corrupted = self.X["val"], self.y["val"]
            self.corrupted_val = torch.zeros(len(self.y["val"]), dtype=torch.bool)

    @property
    def n_features(self) -> int:
        return int(self.X["train"].shape[1])

    @property
    def n_outputs(self) -> int:
        return self.n_classes if self.task == "multiclass" else 1

    @property
    def realised_corruption(self) -> float:
        return float(self.corrupted.float().mean()) if len(self.corrupted) else 0.0


@dataclass
class Pool:
    """A source's clean rows before splitting (targets in the source's own units)."""

    X: np.ndarray  # [n, F]
    y: np.ndarray  # [n]
    n_classes: int | None = None
    test: np.ndarray | None = None  # rows of the source's own test split, if it has one


# ---------------------------------------------------------------- splitting
def split_indices(n: int, val_frac: float, test_frac: float,
                  rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Disjoint random train/val/test row indices covering ``range(n)``."""
    n_test, n_val = round(n * test_frac), round(n * val_frac)
    n_train = n - n_val - n_test
    _check_split_sizes(n, n_train, n_val, n_test)
    perm = rng.permutation(n)
    return {"train": np.sort(perm[:n_train]), "val": np.sort(perm[n_train:n_train + n_val]),
            "test": np.sort(perm[n_train + n_val:])}


def carve_val(n: int, test: np.ndarray, val_frac: float,
              rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Keep a source's own ``test`` rows; a fraction ``val_frac`` of the rest is ``val``."""
    rest = np.setdiff1d(np.arange(n), test)
    n_val = round(len(rest) * val_frac)
    _check_split_sizes(n, len(rest) - n_val, n_val, len(test))
    perm = rng.permutation(rest)
    return {"train": np.sort(perm[n_val:]), "val": np.sort(perm[:n_val]), "test": np.sort(test)}


def _check_split_sizes(n: int, n_train: int, n_val: int, n_test: int) -> None:
    if n_train < 2 or n_val < 1 or n_test < 1:
        raise HarnessError(
            f"data split leaves {n_train} train, {n_val} val, {n_test} test rows of {n}; "
            "each split needs rows: raise data.n_samples or lower data.val_frac/test_frac.")


def corruption_order(n_train: int, frac: float, seed: int | list[int]) -> np.ndarray:
    """Boolean mask of exactly ``round(frac * n_train)`` training rows to corrupt, taken
    in one fixed random order (so masks nest as ``frac`` grows)."""
    k = round(frac * n_train)
    mask = np.zeros(n_train, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n_train)[:k]] = True
    return mask


# ---------------------------------------------------------------- corruptions
# name -> fn(X, y, mask, rng, **params) -> (X, y). X and y are the standardised training
# features and targets (copies the function may change in place); ``mask`` marks the rows
# to corrupt. Every random draw is made for *all* rows, so a row's corruption does not
# depend on how many rows are corrupted. A function takes only the parameters it names.
Corruption = Callable[..., tuple[np.ndarray, np.ndarray]]


def _gross_outliers(X, y, mask, rng, *, outlier_scale: float, one_sided: bool):
    """Targets move ``outlier_scale * (1 + |z|)`` clean-target stds (``z ~ N(0, 1)``), up
    or down at random, or all up when ``one_sided``: each at least ``outlier_scale`` off."""
    size = outlier_scale * (1.0 + np.abs(rng.standard_normal(len(y))))
    sign = 1.0 if one_sided else np.where(rng.random(len(y)) < 0.5, -1.0, 1.0)
    y[mask] += (sign * size)[mask]
    return X, y


def _heavy_tail(X, y, mask, rng, *, df: float, tail_scale: float):
    """Targets get additive Student-t noise, ``tail_scale * t(df)`` clean-target stds
    (``df=1`` is Cauchy; ``outlier_frac=1`` puts the noise on every training target)."""
    y[mask] += (tail_scale * rng.standard_t(df, size=len(y)))[mask]
    return X, y


def _leverage(X, y, mask, rng, *, outlier_scale: float, one_sided: bool):
    """Bad leverage points: features move ``a = outlier_scale * (1 + |z|)`` standardised
    units along one random direction (the same for every point), and targets move ``a``
    clean-target stds with one shared sign, so the points agree on a wrong slope."""
    direction = rng.standard_normal(X.shape[1])
    direction /= np.linalg.norm(direction)
    size = outlier_scale * (1.0 + np.abs(rng.standard_normal(len(y))))
    sign = 1.0 if one_sided or rng.random() < 0.5 else -1.0
    X[mask] += (size[:, None] * direction)[mask].astype(X.dtype)
    y[mask] += (sign * size)[mask]
    return X, y


def _symmetric(X, y, mask, rng, *, n_classes: int):
    """A corrupted label moves to a uniformly chosen *other* class."""
    offset = rng.integers(1, n_classes, size=len(y))
    y[mask] = (y[mask] + offset[mask]) % n_classes
    return X, y


def _pair(X, y, mask, rng, *, n_classes: int):
    """Pair flip (class-dependent): a corrupted label ``c`` becomes ``(c + 1) mod C``.
    With two classes this is the same as symmetric noise."""
    y[mask] = (y[mask] + 1) % n_classes
    return X, y


CLASSIFICATION_CORRUPTIONS: dict[str, Corruption] = {"symmetric": _symmetric, "pair": _pair}
CORRUPTIONS: dict[str, dict[str, Corruption]] = {
    "regression": {"outliers": _gross_outliers, "heavy_tail": _heavy_tail,
                   "leverage": _leverage},
    "binary": CLASSIFICATION_CORRUPTIONS,
    "multiclass": CLASSIFICATION_CORRUPTIONS,
}


def corrupt(task: str, kind: str, X: np.ndarray, y: np.ndarray, mask: np.ndarray,
            seed: int, **params: Any) -> tuple[np.ndarray, np.ndarray]:
    """Apply corruption ``kind`` to the rows of ``(X, y)`` in ``mask``; return copies."""
    table = CORRUPTIONS[task]
    if kind not in table:
        raise HarnessError(f"data.corruption={kind!r} is not a {task} corruption; "
                           f"choose one of {', '.join(table)}.")
    fn = table[kind]
    wanted = inspect.signature(fn).parameters
    rng = np.random.default_rng([seed, 1])
    return fn(X.copy(), y.copy(), mask, rng, **{k: v for k, v in params.items() if k in wanted})


# ---------------------------------------------------------------- sources
# name -> (task, fn(rng, **params) -> Pool). ``rng`` is the data stream; a source that
# subsamples or generates draws from it, then the split draws from it after the source.
SOURCES: dict[str, tuple[str, Callable[..., Pool]]] = {}


def source(name: str, task: str) -> Callable[[Callable[..., Pool]], Callable[..., Pool]]:
    def register(fn: Callable[..., Pool]) -> Callable[..., Pool]:
        SOURCES[name] = (task, fn)
        return fn

    return register


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31))


def _check_informative(n_informative: int, n_features: int) -> None:
    if n_informative > n_features:
        raise HarnessError(f"data.n_informative={n_informative} exceeds "
                           f"data.n_features={n_features}; it must be at most that.")


def _subsample(name: str, X: np.ndarray, y: np.ndarray, n_samples: int | None,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """All rows (``n_samples=None``) or a random subset of ``n_samples`` of them."""
    if n_samples is None:
        return X, y
    if n_samples > len(y):
        raise HarnessError(f"data.n_samples={n_samples} exceeds the {len(y)} rows of "
                           f"'{name}'; use at most {len(y)}, or null for all of them.")
    rows = np.sort(rng.choice(len(y), size=n_samples, replace=False))
    return X[rows], y[rows]


def _sklearn_bundled(loader: str, name: str, task: str, doc: str) -> Callable[..., Pool]:
    """A source for one of scikit-learn's bundled data sets (shipped with the package,
    nothing downloaded): all rows, or a random ``n_samples`` of them."""

    def load(rng: np.random.Generator, *, n_samples: int | None = None) -> Pool:
        import sklearn.datasets

        X, y = getattr(sklearn.datasets, loader)(return_X_y=True)
        n_classes = None if task == "regression" else int(y.max()) + 1
        X, y = _subsample(name, X.astype(np.float64), y, n_samples, rng)
        return Pool(X, y, n_classes)

    load.__doc__ = doc
    return source(name, task)(load)


@source("outliers", "regression")
def _linear_regression(rng, *, n_samples: int = 2000, n_features: int = 20,
                       n_informative: int = 10, noise: float = 0.1) -> Pool:
    """Synthetic linear regression (``make_regression``); ``noise`` is the Gaussian noise
    of the clean targets relative to their std. Gross outliers by default (see conf)."""
    from sklearn.datasets import make_regression

    _check_informative(n_informative, n_features)
    X, y = make_regression(n_samples=n_samples, n_features=n_features,
                           n_informative=n_informative, noise=0.0, random_state=_seed(rng))
    y = y / (y.std() or 1.0) + noise * rng.standard_normal(n_samples)
    return Pool(X, y)


@source("friedman", "regression")
def _friedman(rng, *, n_samples: int = 2000, n_features: int = 10, noise: float = 0.1) -> Pool:
    """Friedman #1 (``make_friedman1``): a nonlinear target of the first 5 features, the
    rest irrelevant; ``noise`` is Gaussian noise relative to the target's std."""
    from sklearn.datasets import make_friedman1

    if n_features < 5:
        raise HarnessError(f"data.n_features={n_features} is too few for friedman, whose "
                           "target uses the first 5 features; use at least 5.")
    X, y = make_friedman1(n_samples=n_samples, n_features=n_features, noise=0.0,
                          random_state=_seed(rng))
    y = y / y.std() + noise * rng.standard_normal(n_samples)
    return Pool(X, y)


_sklearn_bundled("load_diabetes", "diabetes", "regression",
                 "scikit-learn's diabetes: 442 patients, 10 features, disease progression.")


def _make_classification(rng, n_classes: int, *, n_samples: int, n_features: int,
                         n_informative: int, class_sep: float) -> Pool:
    from sklearn.datasets import make_classification

    if n_classes > 2 ** n_informative:
        raise HarnessError(f"data.n_classes={n_classes} needs data.n_informative >= "
                           f"{int(np.ceil(np.log2(n_classes)))}; got {n_informative}.")
    _check_informative(n_informative, n_features)
    X, y = make_classification(n_samples=n_samples, n_features=n_features,
                               n_informative=n_informative, n_redundant=0,
                               n_classes=n_classes, n_clusters_per_class=1,
                               class_sep=class_sep, flip_y=0.0, random_state=_seed(rng))
    return Pool(X, y, n_classes)


@source("binary", "binary")
def _binary(rng, *, n_samples: int = 2000, n_features: int = 20, n_informative: int = 5,
            class_sep: float = 1.0) -> Pool:
    """Synthetic two-class data (``make_classification``), targets in {0, 1}."""
    return _make_classification(rng, 2, n_samples=n_samples, n_features=n_features,
                                n_informative=n_informative, class_sep=class_sep)


@source("moons", "binary")
def _moons(rng, *, n_samples: int = 2000, noise: float = 0.2) -> Pool:
    """Two interleaving half circles in 2-D (``make_moons``): not linearly separable."""
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=n_samples, noise=noise, random_state=_seed(rng))
    return Pool(X, y, 2)


_sklearn_bundled("load_breast_cancer", "breast_cancer", "binary",
                 "scikit-learn's breast cancer (Wisconsin): 569 tumours, 30 features.")


@source("multiclass", "multiclass")
def _multiclass(rng, *, n_samples: int = 2000, n_features: int = 20, n_informative: int = 8,
                n_classes: int = 5, class_sep: float = 1.0) -> Pool:
    """Synthetic ``n_classes``-class data (``make_classification``), class indices."""
    return _make_classification(rng, n_classes, n_samples=n_samples, n_features=n_features,
                                n_informative=n_informative, class_sep=class_sep)


_sklearn_bundled("load_iris", "iris", "multiclass",
                 "scikit-learn's iris: 150 flowers, 4 features, 3 classes.")
_sklearn_bundled("load_wine", "wine", "multiclass",
                 "scikit-learn's wine: 178 wines, 13 features, 3 classes.")
_sklearn_bundled("load_digits", "digits", "multiclass",
                 "scikit-learn's digits: 1797 8x8 images as 64 features, 10 classes.")


@functools.lru_cache(maxsize=2)
def _mnist1d_arrays(num_samples: int) -> tuple[np.ndarray, np.ndarray, int]:
    """MNIST-1D generated by the ``mnist1d`` package with its standard arguments (never
    its download path); cached in memory, so the jobs of one multirun process share it."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    py_state, np_state = random.getstate(), np.random.get_state()
    try:  # make_dataset seeds Python's and NumPy's global generators; put them back
        d = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    X = np.concatenate([d["x"], d["x_test"]]).astype(np.float64)
    y = np.concatenate([d["y"], d["y_test"]]).astype(np.int64)
    X.flags.writeable = y.flags.writeable = False
    return X, y, len(d["y"])


@source("mnist1d", "multiclass")
def _mnist1d(rng, *, n_samples: int = 5000) -> Pool:
    """MNIST-1D: 40-point 1-D signals of 10 digit templates, generated offline by the
    ``mnist1d`` package (standard arguments; ``n_samples`` is its ``num_samples``). Its
    own 80/20 split is kept: the last 20% is ``test``, ``val`` comes from the rest."""
    X, y, n_train = _mnist1d_arrays(n_samples)
    return Pool(X, y, 10, test=np.arange(n_train, len(y)))


# ---------------------------------------------------------------- builders
def _standardise(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    mean, std = X[rows].mean(axis=0), X[rows].std(axis=0)
    std[std == 0] = 1.0
    return ((X - mean) / std).astype(np.float32)


def build(name: str, *, seeds: dict[str, int], corruption: str, level: float,
          corruption_params: dict[str, Any], val_frac: float = 0.2, test_frac: float = 0.2,
          targets: str = "standardised", **source_params: Any) -> Dataset:
    """Data set ``name`` from :data:`SOURCES`, split, standardised, with ``level`` of its
    training points corrupted by ``corruption`` (a name in :data:`CORRUPTIONS`).

    ``targets="raw"`` (regression) maps every target back to the source's own units after
    the corruption (which works in clean-target stds either way): for losses that need
    the original scale or sign, such as ``msle`` on the positive ``diabetes`` targets."""
    task, make = SOURCES[name]
    rng = np.random.default_rng(seeds["data"])
    pool = make(rng, **source_params)
    n = len(pool.y)
    idx = (split_indices(n, val_frac, test_frac, rng) if pool.test is None
           else carve_val(n, pool.test, val_frac, rng))

    X = _standardise(pool.X, idx["train"])
    y = pool.y
    if task == "regression":
        mu, sd = y[idx["train"]].mean(), y[idx["train"]].std() or 1.0
        y = (y - mu) / sd
    X_clean, y_clean = X[idx["train"]], y[idx["train"]]
    n_train = len(y_clean)
    mask = corruption_order(n_train, level, seeds["corruption"])
    mask_val = corruption_order(len(idx["val"]), level, [seeds["corruption"], 2])
    # one corruption call over the train and val rows: one process, shared draws alike
    tv = np.concatenate([idx["train"], idx["val"]])
    X_tv, y_tv = corrupt(task, corruption, X[tv], y[tv], np.concatenate([mask, mask_val]),
                         seeds["corruption"], n_classes=pool.n_classes, **corruption_params)
    X_train, y_train = X_tv[:n_train], y_tv[:n_train]
    if task == "regression" and targets == "raw":  # back to the source's units
        y, y_tv, y_clean = y * sd + mu, y_tv * sd + mu, y_clean * sd + mu
        y_train = y_tv[:n_train]

    ydtype = torch.int64 if task == "multiclass" else torch.float32
    Xt = {s: torch.from_numpy(X[idx[s]]) for s in SPLITS}
    yt = {s: torch.as_tensor(y[idx[s]], dtype=ydtype) for s in SPLITS}
    clean_y, clean_X = yt["train"], Xt["train"]
    yt["train"] = torch.as_tensor(y_train, dtype=ydtype)
    if not np.array_equal(X_train, X_clean):
        Xt["train"] = torch.from_numpy(X_train)
    X_val_c = (Xt["val"] if np.array_equal(X_tv[n_train:], X[idx["val"]])
               else torch.from_numpy(X_tv[n_train:]))
    realised = float(mask.mean()) if len(mask) else 0.0
    info = {"corruption": corruption, "corruption_level": level,
            "realised_corruption": realised, "n_corrupted": int(mask.sum()),
            "n_corrupted_val": int(mask_val.sum()),
            "n_train": len(idx["train"]), "n_val": len(idx["val"]),
            "n_test": len(idx["test"]), "n_features": X.shape[1],
            **({"targets": targets} if task == "regression" else {})}
    return Dataset(name, task, Xt, yt, clean_y, torch.from_numpy(mask), pool.n_classes, idx,
                   info, X_train_clean=clean_X, X_val_corrupted=X_val_c,
                   y_val_corrupted=torch.as_tensor(y_tv[n_train:], dtype=ydtype),
                   corrupted_val=torch.from_numpy(mask_val))


# defaults of every corruption kind's parameters, per task (a builder accepts them all)
CORRUPTION_DEFAULTS: dict[str, dict[str, Any]] = {
    "regression": {"corruption": "outliers", "outlier_frac": 0.0, "outlier_scale": 10.0,
                   "one_sided": False, "df": 2.0, "tail_scale": 1.0,
                   "targets": "standardised"},
    "binary": {"corruption": "symmetric", "label_noise": 0.0},
    "multiclass": {"corruption": "symmetric", "label_noise": 0.0},
}


def _builder(name: str) -> Callable[..., Dataset]:
    """The public builder of source ``name``: the ``_target_`` of its data config."""
    task, make = SOURCES[name]

    def build_named(*, seeds: dict[str, int], **params: Any) -> Dataset:
        opts = {k: params.pop(k, v) for k, v in CORRUPTION_DEFAULTS[task].items()}
        kind, level = opts.pop("corruption"), opts.pop(LEVEL_KEY[task])
        if "targets" in opts:  # regression: the units of the targets (see build)
            params["targets"] = opts.pop("targets")
        return build(name, seeds=seeds, corruption=kind, level=level, corruption_params=opts,
                     **params)

    build_named.__name__ = build_named.__qualname__ = name
    build_named.__doc__ = (f"Data set '{name}' ({task}): {inspect.getdoc(make) or ''}\n\n"
                           f"Source parameters: {inspect.signature(make)}; plus val_frac, "
                           f"test_frac and {', '.join(CORRUPTION_DEFAULTS[task])}.")
    build_named.task = task  # type: ignore[attr-defined]  # read before any data is built
    return build_named


# the builders, one per source (the data configs' ``_target_``)
outliers = _builder("outliers")
friedman = _builder("friedman")
diabetes = _builder("diabetes")
binary = _builder("binary")
moons = _builder("moons")
breast_cancer = _builder("breast_cancer")
multiclass = _builder("multiclass")
iris = _builder("iris")
wine = _builder("wine")
digits = _builder("digits")
mnist1d = _builder("mnist1d")
