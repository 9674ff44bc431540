"""Data sources: where a data set is added. One :func:`source` per data set.

A source makes the clean rows of a data set (generated, or bundled with a package:
nothing is downloaded) as a :class:`Pool`: ``fn(rng, *, <its parameters>) -> Pool``. Its
keyword parameters, with their defaults and the ``ranges`` given to :func:`source`, are
the data set's own config keys (``data.n_samples=500``); the harness adds the split keys,
the task's corruption keys and, for regression, ``targets``. ``rng`` is the data stream:
a source that subsamples or generates draws from it, then the split draws from it after
the source. ``python -m harness data=<name>`` works as soon as the source is registered.

This module needs numpy only (scikit-learn and mnist1d are imported when a source runs).
"""

from __future__ import annotations

import functools
import inspect
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from harness.data.corruptions import TASKS
from harness.data.knobs import Knob, signature_knobs
from harness.errors import HarnessError


@dataclass
class Pool:
    """A source's clean rows before splitting (targets in the source's own units)."""

    X: np.ndarray  # [n, F]
    y: np.ndarray  # [n]
    n_classes: int | None = None
    test: np.ndarray | None = None  # rows of the source's own test split, if it has one
    task: str | None = None  # a source whose task its data decide says which it is
    info: dict = field(default_factory=dict)  # what the source wants recorded


@dataclass(frozen=True)
class Source:
    """A registered data set: its task (None: its data decide, then ``task_of`` tells
    the task from its keys before any data are built), pool function, own keys, default
    corruption level, and whether it keeps its own test split."""

    name: str
    task: str | None
    fn: Callable[..., Pool]
    knobs: tuple[Knob, ...]
    level: float = 0.0
    own_test: bool = False
    task_of: Callable[..., str] | None = None

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.fn) or ""


SOURCES: dict[str, Source] = {}
# names harness.data already gives something else (a data set is harness.data.<name>)
RESERVED = frozenset({"corruptions", "dataset", "knobs", "sources", "split", "tables",
                      "build", "check", "corruption", "source", "task_of", "Dataset",
                      "Knob", "Pool", "CORRUPTIONS", "LEVEL_KEY", "SOURCES", "SPLITS"})

# keys of every data set of a task besides its source's, split and corruption keys
TASK_KNOBS: dict[str | None, tuple[Knob, ...]] = {
    "regression": (Knob("targets", "standardised", str, choices=("standardised", "raw"),
                        doc="standardised: in clean-training-target stds; raw: the source's "
                            "own units (diabetes: positive, for msle)"),),
    "binary": (), "multiclass": (),
}
TASK_KNOBS[None] = TASK_KNOBS["regression"]  # a task the data decide: any task's keys


def source(name: str, task: str | None, ranges: Mapping[str, str] | None = None, *,
           level: float = 0.0, own_test: bool = False,
           docs: Mapping[str, str] | None = None,
           task_of: Callable[..., str] | None = None) -> Callable[[Callable[..., Pool]],
                                                                  Callable[..., Pool]]:
    """Decorator: register ``fn(rng, *, ...) -> Pool`` as data set ``name`` of ``task``.

    ``ranges`` gives the valid interval of each numeric parameter (``"[10, inf)"``);
    ``level`` the default corruption level; ``own_test`` that the pool carries its own
    test rows (then the data set has ``val_frac`` but no ``test_frac``). ``task=None``: the
    data decide (the pool says which in ``Pool.task``), and ``task_of(**keys)`` must tell
    it before any data are built. Raises :class:`HarnessError` for a name that is taken."""
    if task not in (*TASKS, None) or (task is None and task_of is None):
        raise HarnessError(f"data set '{name}': task must be one of {', '.join(TASKS)} "
                           f"(or None with task_of=...); got {task!r}.")

    def register(fn: Callable[..., Pool]) -> Callable[..., Pool]:
        if name in RESERVED or not name.isidentifier():
            raise HarnessError(f"'{name}' cannot name a data set (it must be an identifier "
                               f"and none of {', '.join(sorted(RESERVED))}).")
        if name in SOURCES:
            raise HarnessError(f"data set '{name}' is registered twice (by "
                               f"{SOURCES[name].fn.__module__} and {fn.__module__}); choose "
                               "another name.")
        SOURCES[name] = Source(name, task, fn, tuple(signature_knobs(fn, ranges or {},
                                                                     skip=1, docs=docs)),
                               level, own_test, task_of)
        return fn

    return register


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31))


def _check_informative(n_informative: int, n_features: int) -> None:
    if n_informative > n_features:
        raise HarnessError(f"data.n_informative={n_informative} exceeds "
                           f"data.n_features={n_features}; it must be at most that.")


def subsample(name: str, X: np.ndarray, y: np.ndarray, n_samples: int | None,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """All rows (``n_samples=None``) or a random subset of ``n_samples`` of them."""
    if n_samples is None:
        return X, y
    if n_samples > len(y):
        raise HarnessError(f"data.n_samples={n_samples} exceeds the {len(y)} rows of "
                           f"'{name}'; use at most {len(y)}, or null for all of them.")
    rows = np.sort(rng.choice(len(y), size=n_samples, replace=False))
    return X[rows], y[rows]


def _sklearn_datasets():
    """``sklearn.datasets``, imported the first time a data set needs it, settled
    (:func:`harness.startup.import_settled`: scikit-learn and SciPy are most of a run's
    start-up)."""
    from harness.startup import import_settled

    return import_settled("sklearn.datasets")[0]


SAMPLES = {"n_samples": "[10, inf)"}
SYNTHETIC = {"n_samples": "[10, inf)", "n_features": "[1, inf)", "n_informative": "[1, inf)"}


def _sklearn_bundled(loader: str, name: str, task: str, doc: str) -> None:
    """Register one of scikit-learn's bundled data sets (shipped with the package,
    nothing downloaded): all rows, or a random ``n_samples`` of them."""

    def load(rng: np.random.Generator, *, n_samples: int | None = None) -> Pool:
        X, y = getattr(_sklearn_datasets(), loader)(return_X_y=True)
        n_classes = None if task == "regression" else int(y.max()) + 1
        X, y = subsample(name, X.astype(np.float64), y, n_samples, rng)
        return Pool(X, y, n_classes)

    load.__doc__ = doc
    load.__name__ = load.__qualname__ = name
    source(name, task, SAMPLES)(load)


# ---------------------------------------------------------------- regression
@source("outliers", "regression", {**SYNTHETIC, "noise": "[0, inf)"}, level=0.2)
def outliers(rng, *, n_samples: int = 2000, n_features: int = 20, n_informative: int = 10,
             noise: float = 0.1) -> Pool:
    """Synthetic linear regression (``make_regression``); ``noise`` is the Gaussian noise
    of the clean targets relative to their std. Gross outliers by default (20%)."""
    make_regression = _sklearn_datasets().make_regression

    _check_informative(n_informative, n_features)
    X, y = make_regression(n_samples=n_samples, n_features=n_features,
                           n_informative=n_informative, noise=0.0, random_state=_seed(rng))
    y = y / (y.std() or 1.0) + noise * rng.standard_normal(n_samples)
    return Pool(X, y)


@source("friedman", "regression", {"n_samples": "[10, inf)", "n_features": "[5, inf)",
                                   "noise": "[0, inf)"})
def friedman(rng, *, n_samples: int = 2000, n_features: int = 10,
             noise: float = 0.1) -> Pool:
    """Friedman #1 (``make_friedman1``): a nonlinear target of the first 5 features, the
    rest irrelevant; ``noise`` is Gaussian noise relative to the target's std."""
    make_friedman1 = _sklearn_datasets().make_friedman1

    X, y = make_friedman1(n_samples=n_samples, n_features=n_features, noise=0.0,
                          random_state=_seed(rng))
    y = y / y.std() + noise * rng.standard_normal(n_samples)
    return Pool(X, y)


_sklearn_bundled("load_diabetes", "diabetes", "regression",
                 "scikit-learn's diabetes: 442 patients, 10 features, disease progression.")


# ---------------------------------------------------------------- classification
def _make_classification(rng, n_classes: int, *, n_samples: int, n_features: int,
                         n_informative: int, class_sep: float) -> Pool:
    make_classification = _sklearn_datasets().make_classification

    if n_classes > 2 ** n_informative:
        raise HarnessError(f"data.n_classes={n_classes} needs data.n_informative >= "
                           f"{int(np.ceil(np.log2(n_classes)))}; got {n_informative}.")
    _check_informative(n_informative, n_features)
    X, y = make_classification(n_samples=n_samples, n_features=n_features,
                               n_informative=n_informative, n_redundant=0,
                               n_classes=n_classes, n_clusters_per_class=1,
                               class_sep=class_sep, flip_y=0.0, random_state=_seed(rng))
    return Pool(X, y, n_classes)


@source("binary", "binary", {**SYNTHETIC, "class_sep": "(0, inf)"})
def binary(rng, *, n_samples: int = 2000, n_features: int = 20, n_informative: int = 5,
           class_sep: float = 1.0) -> Pool:
    """Synthetic two-class data (``make_classification``), targets in {0, 1}."""
    return _make_classification(rng, 2, n_samples=n_samples, n_features=n_features,
                                n_informative=n_informative, class_sep=class_sep)


@source("moons", "binary", {"n_samples": "[10, inf)", "noise": "[0, inf)"})
def moons(rng, *, n_samples: int = 2000, noise: float = 0.2) -> Pool:
    """Two interleaving half circles in 2-D (``make_moons``): not linearly separable."""
    make_moons = _sklearn_datasets().make_moons

    X, y = make_moons(n_samples=n_samples, noise=noise, random_state=_seed(rng))
    return Pool(X, y, 2)


_sklearn_bundled("load_breast_cancer", "breast_cancer", "binary",
                 "scikit-learn's breast cancer (Wisconsin): 569 tumours, 30 features.")


@source("multiclass", "multiclass", {**SYNTHETIC, "n_classes": "[3, inf)",
                                     "class_sep": "(0, inf)"})
def multiclass(rng, *, n_samples: int = 2000, n_features: int = 20, n_informative: int = 8,
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


@source("mnist1d", "multiclass", {"n_samples": "[50, inf)"}, own_test=True,
        docs={"n_samples": "the generator's num_samples"})
def mnist1d(rng, *, n_samples: int = 5000) -> Pool:
    """MNIST-1D: 40-point 1-D signals of 10 digit templates, generated offline by the
    ``mnist1d`` package (standard arguments; ``n_samples`` is its ``num_samples``). Its
    own 80/20 split is kept: the last 20% is ``test``, ``val`` comes from the rest."""
    X, y, n_train = _mnist1d_arrays(n_samples)
    return Pool(X, y, 10, test=np.arange(n_train, len(y)))
