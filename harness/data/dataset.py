"""Building a data set: source -> split -> standardise -> corrupt -> tensors.

:func:`build` is the one way rows become a :class:`Dataset`; :func:`builder` gives each
registered source its config ``_target_`` (``harness.data.<name>``), which takes the
data set's config keys, checks them against their declared ranges and calls
:func:`build`.
"""

from __future__ import annotations

import collections
import functools
import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from harness.data import check, knobs, task_of
from harness.data.corruptions import DEFAULT_KIND, LEVEL_KEY, corrupt, corruption_order
from harness.data.corruptions import knobs as corruption_knobs
from harness.data.sources import SOURCES
from harness.data.split import SPLITS, carve_val, split_indices, standardise
from harness.errors import HarnessError


@dataclass
class Dataset:
    """Tensors per split, plus what corruption did to the training split.

    ``X[split]`` is ``[n, F]`` float32; ``y[split]`` is ``[n]`` (float32 for regression
    and binary, int64 class indices for multiclass). ``y["train"]`` is what the model
    trains on (corrupted, if corruption is on); ``y_train_clean`` the same rows' clean
    targets; ``corrupted`` ``[n_train]`` marks the corrupted rows.
    """

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
    # the validation rows corrupted as the training rows are (see harness.data):
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

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(X, y) of ``name``: ``train``, ``train_clean``, ``val``, ``val_corrupted`` or
        ``test`` (a split whose inputs equal another's is the same tensor object)."""
        if name == "train_clean":
            return self.X_train_clean, self.y_train_clean
        if name == "val_corrupted":
            return self.X_val_corrupted, self.y_val_corrupted
        return self.X[name], self.y[name]

    @property
    def n_features(self) -> int:
        return int(self.X["train"].shape[1])

    @property
    def n_outputs(self) -> int:
        return self.n_classes if self.task == "multiclass" else 1

    @property
    def realised_corruption(self) -> float:
        return float(self.corrupted.float().mean()) if len(self.corrupted) else 0.0


CLEAN_BUDGET = 512 * 2**20  # bytes of clean data kept for reuse in one process


class _CleanCache:
    """The clean data sets a process made, most recently used last, kept while their
    arrays together take at most :data:`CLEAN_BUDGET` bytes (a sweep of many seeds
    interleaved with losses or levels meets each seed again after the others; a
    count-bounded cache of a few entries would make each again)."""

    def __init__(self) -> None:
        self.entries: collections.OrderedDict[tuple, tuple] = collections.OrderedDict()
        self.sizes: dict[tuple, int] = {}
        self.made = 0  # how many were made (not found): for tests and benchmarks

    def get(self, key: tuple, make) -> tuple:
        if key in self.entries:
            self.entries.move_to_end(key)
            return self.entries[key]
        value = make()
        self.made += 1
        pool, idx, X, y, _ = value
        size = sum(a.nbytes for a in (pool.X, pool.y, X, y, *idx.values())
                   if hasattr(a, "nbytes"))
        self.entries[key], self.sizes[key] = value, size
        while len(self.entries) > 1 and sum(self.sizes.values()) > CLEAN_BUDGET:
            old, _ = self.entries.popitem(last=False)
            del self.sizes[old]
        return value

    def clear(self) -> None:
        self.entries.clear()
        self.sizes.clear()


CLEAN = _CleanCache()


def _clean(name: str, data_seed: int, val_frac: float, test_frac: float,
           source_params: tuple) -> tuple:
    """(pool, split indices, standardised features, targets (standardised for
    regression), (target mean, std)) of a data set and data seed: what every corruption
    level, loss and optimiser setting of that seed shares, built once per process while
    it fits in :data:`CLEAN_BUDGET` (a sweep's members of one seed share it; the arrays
    are read-only)."""
    key = (name, data_seed, val_frac, test_frac, source_params)
    return CLEAN.get(key, lambda: _make_clean(name, data_seed, val_frac, test_frac,
                                              source_params))


def _make_clean(name: str, data_seed: int, val_frac: float, test_frac: float,
                source_params: tuple) -> tuple:
    src = SOURCES[name]
    rng = np.random.default_rng(data_seed)
    pool = src.fn(rng, **dict(source_params))
    task = src.task or pool.task
    n = len(pool.y)
    idx = (split_indices(n, val_frac, test_frac, rng) if pool.test is None
           else carve_val(n, pool.test, val_frac, rng))
    X = standardise(pool.X, idx["train"])
    y, mu, sd = pool.y, 0.0, 1.0
    if task == "regression":
        mu, sd = y[idx["train"]].mean(), y[idx["train"]].std() or 1.0
        y = (y - mu) / sd
    for array in (X, y, *idx.values()):
        array.flags.writeable = False
    return pool, idx, X, y, (mu, sd)


def build(name: str, *, seeds: dict[str, int], corruption: str, level: float,
          corruption_params: dict[str, Any], val_frac: float = 0.2, test_frac: float = 0.2,
          targets: str = "standardised", **source_params: Any) -> Dataset:
    """Data set ``name`` (a registered source), split, standardised, with ``level`` of
    its training points corrupted by ``corruption`` (a kind of its task).

    ``targets="raw"`` (regression) maps every target back to the source's own units after
    the corruption (which works in clean-target stds either way): for losses that need
    the original scale or sign, such as ``msle`` on the positive ``diabetes`` targets."""
    src = SOURCES[name]
    pool, idx, X, y, (mu, sd) = _clean(name, seeds["data"], val_frac, test_frac,
                                       tuple(sorted(source_params.items())))
    task = src.task or pool.task
    if task not in LEVEL_KEY:
        raise HarnessError(f"data set '{name}' gave no task (its pool's task is {task!r}).")
    if corruption == "auto":
        corruption = DEFAULT_KIND[task]
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
            **({"targets": targets} if task == "regression" else {}), **pool.info}
    return Dataset(name, task, Xt, yt, clean_y, torch.from_numpy(mask), pool.n_classes, idx,
                   info, X_train_clean=clean_X, X_val_corrupted=X_val_c,
                   y_val_corrupted=torch.as_tensor(y_tv[n_train:], dtype=ydtype),
                   corrupted_val=torch.from_numpy(mask_val))


@functools.cache
def builder(name: str):
    """The config ``_target_`` of data set ``name`` (``harness.data.<name>``): takes the
    data set's keys (defaults for those not given) and ``seeds``, returns a
    :class:`Dataset`."""
    src = SOURCES[name]
    own = {k.name for k in src.knobs}

    def build_named(*, seeds: dict[str, int], **params: Any) -> Dataset:
        keys = knobs(name)
        unknown = set(params) - {k.name for k in keys}
        if unknown:
            raise HarnessError(f"data '{name}' has no key(s) {', '.join(sorted(unknown))}; "
                               f"its keys: {', '.join(k.name for k in keys)}.")
        check(name, params)
        values = {k.name: params.get(k.name, k.default) for k in keys}
        task = task_of(f"harness.data.{name}", values)
        level = LEVEL_KEY[task]
        extra = {k.name for k in corruption_knobs(task)} - {"corruption", level}
        return build(name, seeds=seeds, corruption=values["corruption"],
                     level=values[level], corruption_params={k: values[k] for k in extra},
                     val_frac=values["val_frac"], test_frac=values.get("test_frac", 0.2),
                     **({"targets": values["targets"]} if task == "regression" else {}),
                     **{k: values[k] for k in own})

    build_named.__name__ = build_named.__qualname__ = name
    build_named.__doc__ = (f"Data set '{name}' ({src.task or 'task from its data'}): "
                           f"{src.doc}\n\nKeys: "
                           + ", ".join(f"{k.name}={k.default!r}" for k in knobs(name)) + ".")
    build_named.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("seeds", inspect.Parameter.KEYWORD_ONLY)]
        + [inspect.Parameter(k.name, inspect.Parameter.KEYWORD_ONLY, default=k.default)
           for k in knobs(name)])
    build_named.task = src.task  # type: ignore[attr-defined]
    return build_named
