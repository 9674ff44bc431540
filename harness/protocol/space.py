"""A protocol's search space: the settings compared and the candidates tried per loss.

Every loss gets exactly ``budget`` candidates from the joint space ``space`` x
``loss_space[loss]``: the whole grid when it has ``budget`` points, else ``budget``
distinct points drawn with a fixed seed (``sampler_seed``), intervals sampled.
"""

from __future__ import annotations

import itertools
import math
import zlib
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.protocol.spec import Spec, _parse


def _dimensions(overrides: list[str]) -> list[tuple[str, Any]]:
    """(key, values) per override: a list of value strings, or ``("interval", lo, hi,
    log)`` for an interval sweep."""
    dims = []
    for ov in _parse(overrides):
        key = ov.input_line.split("=", 1)[0]
        if ov.is_interval_sweep():
            sweep = ov.value()
            lo, hi, log = float(sweep.start), float(sweep.end), "log" in (sweep.tags or set())
            if not lo < hi or (log and lo <= 0):
                raise HarnessError(f"'{ov.input_line}': an interval needs start < end"
                                   + (" and start > 0 on a log scale" if log else "")
                                   + f"; got {lo:g}, {hi:g}.")
            dims.append((key, ("interval", lo, hi, log)))
        elif ov.is_sweep_override():
            dims.append((key, list(ov.sweep_string_iterator())))
        else:
            dims.append((key, [ov.get_value_element_as_str()]))
    return dims


def space_of(spec: Spec, loss: str) -> list[tuple[str, Any]]:
    return _dimensions(spec.space) + _dimensions(spec.loss_space.get(loss, []))


def candidates(spec: Spec, loss: str) -> list[list[str]]:
    """Exactly ``spec.budget`` distinct candidate override lists for ``loss``."""
    dims = space_of(spec, loss)
    budget = spec.budget
    if not dims:
        if budget != 1:
            raise HarnessError(f"nothing to tune for '{loss}' (empty space) but budget="
                               f"{budget}; add space: [optim.lr=...] or set budget=1.")
        return [[]]
    rng = np.random.default_rng([spec.sampler_seed, zlib.crc32(loss.encode())])
    if all(isinstance(v, list) for _, v in dims):
        grid = list(itertools.product(*[v for _, v in dims]))
        if len(grid) < budget:
            raise HarnessError(f"the search space of '{loss}' has {len(grid)} points, fewer "
                               f"than budget={budget}; widen space/loss_space.{loss} or "
                               f"lower the budget (every loss gets exactly budget trials).")
        if len(grid) > budget:
            grid = [grid[i] for i in sorted(rng.choice(len(grid), budget, replace=False))]
        return [[f"{k}={v}" for (k, _), v in zip(dims, point, strict=True)] for point in grid]
    out: list[list[str]] = []
    for _ in range(1000 * budget):
        point = [f"{k}={_draw(v, rng)}" for k, v in dims]
        if point not in out:
            out.append(point)
        if len(out) == budget:
            return out
    raise HarnessError(f"could not draw {budget} distinct candidates for '{loss}'; "
                       "widen its search space.")


def _draw(values: Any, rng: np.random.Generator) -> str:
    if isinstance(values, list):
        return values[int(rng.integers(len(values)))]
    _, lo, hi, log = values
    x = math.exp(rng.uniform(math.log(lo), math.log(hi))) if log else rng.uniform(lo, hi)
    return f"{x:.3g}"


def expand_settings(spec: Spec) -> list[list[str]]:
    """The product of the settings' sweeps, each a list of plain overrides."""
    dims = _dimensions(spec.settings)
    for key, values in dims:
        if not isinstance(values, list):
            raise HarnessError(f"settings key '{key}' is an interval; list its values.")
    return [[f"{k}={v}" for (k, _), v in zip(dims, point, strict=True)]
            for point in itertools.product(*[v for _, v in dims])]
