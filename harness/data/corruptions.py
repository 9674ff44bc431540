"""Corruption kinds: what happens to the corrupted training (and ``val_corrupted``) rows.

A kind is one function registered with :func:`corruption` for the tasks it applies to:
``fn(X, y, mask, rng, *, <its parameters>) -> (X, y)``. ``X`` and ``y`` are the
standardised features and targets (copies the function may change in place); ``mask``
marks the rows to corrupt. Every random draw is made for *all* rows, so a row's
corruption does not depend on how many rows are corrupted. Its keyword parameters (with
their defaults and ``ranges``) become config keys of every data set of its task; two
kinds may share a key (``outlier_scale``), with one default.

Which rows are corrupted is decided here too (:func:`corruption_order`): exactly
``round(level * n)`` of them, taken in one fixed random order, so the rows corrupted at a
lower level are a subset of those at a higher level. The level's key is
:data:`LEVEL_KEY` (``outlier_frac`` for regression, ``label_noise`` for classification).

This module needs numpy only.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from harness.data.knobs import Knob, signature_knobs
from harness.errors import HarnessError

TASKS = ("regression", "binary", "multiclass")
# the one config key per task that sets the corruption level (fraction of training points)
LEVEL_KEY = {"regression": "outlier_frac", "binary": "label_noise", "multiclass": "label_noise"}
LEVEL_RANGE = {"regression": "[0, 1]", "binary": "[0, 0.5)", "multiclass": "[0, 1)"}
DEFAULT_KIND = {"regression": "outliers", "binary": "symmetric", "multiclass": "symmetric"}

Corruption = Callable[..., tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Kind:
    """A registered corruption kind: its function and its parameters as knobs."""

    name: str
    fn: Corruption
    tasks: tuple[str, ...]
    knobs: tuple[Knob, ...]


CORRUPTIONS: dict[str, dict[str, Kind]] = {task: {} for task in TASKS}


def corruption(name: str, tasks: tuple[str, ...], ranges: Mapping[str, str] | None = None,
               docs: Mapping[str, str] | None = None) -> Callable[[Corruption], Corruption]:
    """Decorator: register ``fn`` as corruption kind ``name`` of ``tasks``; its
    keyword-only parameters are its config keys (a shared key keeps one default)."""

    def register(fn: Corruption) -> Corruption:
        knobs = tuple(signature_knobs(fn, ranges or {}, skip=4, docs=docs))
        for task in tasks:
            if name in CORRUPTIONS[task]:
                raise HarnessError(f"corruption kind '{name}' of {task} is registered twice.")
            for knob in knobs:
                other = next((k for kind in CORRUPTIONS[task].values() for k in kind.knobs
                              if k.name == knob.name), None)
                if other is not None and other != knob:
                    raise HarnessError(f"corruption '{name}' declares '{knob.name}' unlike "
                                       f"another {task} kind ({other}); a shared key has one "
                                       "default and range.")
            CORRUPTIONS[task][name] = Kind(name, fn, tuple(tasks), knobs)
        return fn

    return register


def knobs(task: str | None) -> list[Knob]:
    """The corruption keys of ``task``'s data sets: the kind, the level, then every
    kind's parameters (each once). ``task=None`` (a data set whose task its data decide):
    the keys of every task, the kind ``auto`` by default (the task's default kind)."""
    tasks = TASKS if task is None else (task,)
    kinds = {name: kind for t in tasks for name, kind in CORRUPTIONS[t].items()}
    default = "auto" if task is None else DEFAULT_KIND[task]
    out = [Knob("corruption", default, str, choices=(("auto",) if task is None else ())
                + tuple(kinds), doc=" | ".join(kinds) + " (training split only)")]
    for key in dict.fromkeys(LEVEL_KEY[t] for t in tasks):
        ranges = {LEVEL_RANGE[t] for t in tasks if LEVEL_KEY[t] == key}
        out.append(Knob(key, 0.0, float, LEVEL_RANGE[task] if task else
                        max(ranges, key=lambda r: r.endswith("]")),
                        doc="the corruption level: fraction of training points corrupted"))
    seen = set()
    for kind in kinds.values():
        for knob in kind.knobs:
            if knob.name not in seen:
                seen.add(knob.name)
                out.append(knob)
    return out


@corruption("outliers", ("regression",), {"outlier_scale": "(0, inf)"},
            {"outlier_scale": "outliers sit >= this many clean-target stds away",
             "one_sided": "every shift upwards"})
def gross_outliers(X, y, mask, rng, *, outlier_scale: float = 10.0, one_sided: bool = False):
    """Targets move ``outlier_scale * (1 + |z|)`` clean-target stds (``z ~ N(0, 1)``), up
    or down at random, or all up when ``one_sided``: each at least ``outlier_scale`` off."""
    size = outlier_scale * (1.0 + np.abs(rng.standard_normal(len(y))))
    sign = 1.0 if one_sided else np.where(rng.random(len(y)) < 0.5, -1.0, 1.0)
    y[mask] += (sign * size)[mask]
    return X, y


@corruption("heavy_tail", ("regression",), {"df": "(0, inf)", "tail_scale": "(0, inf)"},
            {"df": "Student-t degrees of freedom (1: Cauchy)",
             "tail_scale": "scale of the t noise, in clean-target stds"})
def heavy_tail(X, y, mask, rng, *, df: float = 2.0, tail_scale: float = 1.0):
    """Targets get additive Student-t noise, ``tail_scale * t(df)`` clean-target stds
    (``df=1`` is Cauchy; ``outlier_frac=1`` puts the noise on every training target)."""
    y[mask] += (tail_scale * rng.standard_t(df, size=len(y)))[mask]
    return X, y


@corruption("leverage", ("regression",), {"outlier_scale": "(0, inf)"},
            {"outlier_scale": "outliers sit >= this many clean-target stds away",
             "one_sided": "every shift upwards"})
def leverage(X, y, mask, rng, *, outlier_scale: float = 10.0, one_sided: bool = False):
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


@corruption("symmetric", ("binary", "multiclass"))
def symmetric(X, y, mask, rng, *, n_classes: int):
    """Symmetric label noise: a corrupted label moves to a uniformly chosen *other*
    class."""
    offset = rng.integers(1, n_classes, size=len(y))
    y[mask] = (y[mask] + offset[mask]) % n_classes
    return X, y


@corruption("pair", ("binary", "multiclass"))
def pair(X, y, mask, rng, *, n_classes: int):
    """Pair flip (class-dependent): a corrupted label ``c`` becomes ``(c + 1) mod C``.
    With two classes this is the same as symmetric noise."""
    y[mask] = (y[mask] + 1) % n_classes
    return X, y


def corrupt(task: str, kind: str, X: np.ndarray, y: np.ndarray, mask: np.ndarray,
            seed: int, **params) -> tuple[np.ndarray, np.ndarray]:
    """Apply corruption ``kind`` to the rows of ``(X, y)`` in ``mask``; return copies.
    ``params`` may hold other kinds' keys (and ``n_classes``): each kind takes its own."""
    table = CORRUPTIONS[task]
    if kind not in table:
        raise HarnessError(f"data.corruption={kind!r} is not a {task} corruption; "
                           f"choose one of {', '.join(table)}.")
    fn = table[kind].fn
    wanted = inspect.signature(fn).parameters
    rng = np.random.default_rng([seed, 1])
    return fn(X.copy(), y.copy(), mask, rng, **{k: v for k, v in params.items() if k in wanted})


def corruption_order(n: int, frac: float, seed: int | list[int]) -> np.ndarray:
    """Boolean mask of exactly ``round(frac * n)`` rows to corrupt, taken in one fixed
    random order (so masks nest as ``frac`` grows)."""
    k = round(frac * n)
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[:k]] = True
    return mask
