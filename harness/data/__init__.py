"""Data sets: train/val/test tensors in the canonical encodings, corruption on TRAIN only.

A data set is a *source* (clean rows, generated or bundled with a package: nothing is
downloaded; :mod:`~harness.data.sources`) plus a *corruption* of the training split
(:mod:`~harness.data.corruptions`), both registered by name: :data:`SOURCES` and
:data:`CORRUPTIONS`. :mod:`~harness.data.split` splits and standardises;
:mod:`~harness.data.dataset` builds the tensors. Each data set's builder,
``harness.data.<name>``, is the ``_target_`` of its config and takes the source's
parameters, the split fractions, ``corruption`` (the kind) and the task's one
corruption-level key (:data:`LEVEL_KEY`: ``outlier_frac`` for regression, ``label_noise``
for classification) plus the parameters of the corruption kinds, every key declared once
(its default, type and range) where the source or the kind is registered.

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

from typing import Any

from harness.data import tables as _tables  # noqa: F401, E402  (registers data=table)
from harness.data.corruptions import CORRUPTIONS, LEVEL_KEY, corruption, corruption_order
from harness.data.corruptions import knobs as corruption_knobs
from harness.data.knobs import Knob
from harness.data.sources import SOURCES, TASK_KNOBS, Pool, source
from harness.data.split import KNOBS as SPLIT_KNOBS
from harness.data.split import SPLITS
from harness.errors import HarnessError

__all__ = ["CORRUPTIONS", "LEVEL_KEY", "SOURCES", "SPLITS", "Dataset", "Knob", "Pool", "build",
           "check", "corruption", "corruption_order", "knobs", "source", "task_of"]


def task_of(target: Any, params: dict[str, Any] | None = None) -> str:
    """The task of the data set a config's ``data._target_`` names (with its keys
    ``params``, for a data set whose data decide), before any data are built; a
    :class:`HarnessError` for anything that is not a data set's builder."""
    name = str(target)
    prefix = "harness.data."
    if not (name.startswith(prefix) and name[len(prefix):] in SOURCES):
        raise HarnessError(f"data._target_={target} is not a data set builder; use "
                           f"data=<name>, one of conf/data/: {', '.join(sorted(SOURCES))}.")
    src = SOURCES[name[len(prefix):]]
    if src.task is not None:
        return src.task
    own = {k.name for k in src.knobs}
    return src.task_of(**{k: v for k, v in (params or {}).items() if k in own})


def knobs(name: str) -> list[Knob]:
    """Every config key of data set ``name``: its source's, the split's (``val_frac``
    only when it keeps its own test split), the task's, then the corruption keys (the
    level's default is the source's)."""
    src = SOURCES[name]
    split = [k for k in SPLIT_KNOBS if not (src.own_test and k.name == "test_frac")]
    levels = set(LEVEL_KEY.values()) if src.task is None else {LEVEL_KEY[src.task]}
    corruption = [Knob(k.name, src.level, k.kind, k.interval, k.choices, k.optional, k.doc)
                  if k.name in levels else k
                  for k in corruption_knobs(src.task)]
    return [*src.knobs, *split, *TASK_KNOBS[src.task], *corruption]


def check(name: str, params: dict[str, Any]) -> None:
    """Check data set ``name``'s keys against their declared ranges and choices
    (:class:`losses.InvalidParameterError`, named ``data.<key>``)."""
    from losses.params import Choice, Interval

    for knob in knobs(name):
        value = params.get(knob.name, knob.default)
        if value is None and knob.optional:
            continue
        if knob.choices is not None:
            Choice(knob.choices).check(f"data.{knob.name}", value)
        elif knob.interval is not None:
            Interval(knob.interval, knob.kind).check(f"data.{knob.name}", value)


def __getattr__(name: str) -> Any:
    """``harness.data.<source>`` is that data set's builder; ``Dataset`` and ``build``
    come from :mod:`harness.data.dataset` (torch is imported when they are first used)."""
    if name in SOURCES:
        from harness.data.dataset import builder

        return builder(name)
    if name in ("Dataset", "build"):
        from harness.data import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'harness.data' has no attribute '{name}'")
