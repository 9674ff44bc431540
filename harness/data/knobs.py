"""A config key declared once: name, default, type and valid range or choices.

Data sources, corruption kinds and the split each declare their keys as :class:`Knob`\\ s
(the sources through their signature plus a table of ranges);
:func:`harness.config.data_schema` turns them into the Hydra schema of each data set, so
a data set's defaults and ranges live in one place, like a loss's.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Knob:
    """One config key. ``interval`` (``"(0, inf)"``, textbook notation) for numbers,
    ``choices`` for strings; ``optional`` keys may also be None (null in YAML)."""

    name: str
    default: Any
    kind: type = float
    interval: str | None = None
    choices: tuple[str, ...] | None = None
    optional: bool = False
    doc: str = ""


def signature_knobs(fn: Callable, ranges: Mapping[str, str | tuple[str, ...]], skip: int = 0,
                    docs: Mapping[str, str] | None = None) -> list[Knob]:
    """The keyword-only parameters of ``fn`` that have a default, as knobs: default and
    type from the signature, interval from ``ranges`` (every numeric parameter needs
    one; a tuple there is a string parameter's choices). Parameters without a default
    are the harness's to supply."""
    hints = typing.get_type_hints(fn)
    out = []
    for p in list(inspect.signature(fn).parameters.values())[skip:]:
        if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.default is inspect.Parameter.empty:
            continue  # no default: the harness supplies it (e.g. n_classes)
        hint = hints.get(p.name, type(p.default))
        args = typing.get_args(hint)
        optional = type(None) in args
        kind = next((a for a in args if a is not type(None)), hint) if args else hint
        if kind not in (int, float, bool, str):
            raise TypeError(f"{fn.__name__}: parameter {p.name} must be int, float, bool or "
                            f"str (or optional), not {hint}")
        if kind in (int, float) and p.name not in ranges:
            raise TypeError(f"{fn.__name__}: give the valid range of {p.name} in ranges=")
        rule = ranges.get(p.name)
        choices = tuple(rule) if isinstance(rule, (tuple, list)) else None
        out.append(Knob(p.name, p.default, kind, None if choices else rule, choices,
                        optional, (docs or {}).get(p.name, "")))
    return out
