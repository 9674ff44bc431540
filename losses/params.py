"""Parameter declarations with valid ranges, and the one error message for a bad value.

Both the loss registry and the harness's config schemas declare their numeric parameters
with an :class:`Interval` written the way a textbook does (``"(0, inf)"``, ``"[0, 1)"``),
so every out-of-range value anywhere gets the same one-line message::

    The 'delta' parameter of huber must be a float in the range (0, inf). Got -1 instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class InvalidParameterError(ValueError):
    """A parameter value outside its declared range or of the wrong type.

    ``key`` is the parameter's name as the caller knows it (``delta`` for a loss,
    ``trainer.batch_size`` for a config key), ``owner`` what it belongs to (may be empty).
    """

    def __init__(self, key: str, owner: str, allowed: str, value: object):
        self.key, self.owner, self.allowed, self.value = key, owner, allowed, value
        of = f" of {owner}" if owner else ""
        super().__init__(f"The '{key}' parameter{of} must be {allowed}. Got {value!r} instead.")

    def renamed(self, key: str, owner: str | None = None) -> InvalidParameterError:
        """The same error, naming the parameter as the caller's config spells it."""
        return InvalidParameterError(key, self.owner if owner is None else owner,
                                     self.allowed, self.value)


def _parse_bound(text: str) -> float:
    text = text.strip().lower()
    if text in ("inf", "+inf"):
        return math.inf
    if text == "-inf":
        return -math.inf
    return float(text)


@dataclass(frozen=True)
class Interval:
    """A real interval parsed from ``"(lo, hi]"`` style text; ``kind`` is float or int."""

    text: str
    kind: type = float

    def __post_init__(self):
        t = self.text.strip()
        if len(t) < 5 or t[0] not in "[(" or t[-1] not in ")]" or "," not in t:
            raise ValueError(f"bad interval {self.text!r}; write it like '(0, inf)' or '[0, 1)'")
        lo, hi = t[1:-1].split(",")
        object.__setattr__(self, "lo", _parse_bound(lo))
        object.__setattr__(self, "hi", _parse_bound(hi))
        object.__setattr__(self, "lo_closed", t[0] == "[")
        object.__setattr__(self, "hi_closed", t[-1] == "]")

    def __contains__(self, x: float) -> bool:
        above = x >= self.lo if self.lo_closed else x > self.lo
        below = x <= self.hi if self.hi_closed else x < self.hi
        return above and below

    def describe(self) -> str:
        noun = "an int" if self.kind is int else "a float"
        return f"{noun} in the range {self.text}"

    def check(self, key: str, value: object, owner: str = "") -> float | int:
        """Return ``value`` converted to ``kind``, or raise :class:`InvalidParameterError`."""
        given = value  # what the message shows, as the caller wrote it
        ok_types = (int,) if self.kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_types):
            # numpy / torch scalars: accept when they convert exactly
            try:
                converted = self.kind(value)  # type: ignore[arg-type]
                if isinstance(value, (str, bool)) or converted != value:
                    raise TypeError
                value = converted
            except (TypeError, ValueError):
                raise InvalidParameterError(key, owner, self.describe(), value) from None
        if value not in self:  # NaN fails every comparison, so it lands here too
            raise InvalidParameterError(key, owner, self.describe(), given)
        return self.kind(value)


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of strings."""

    options: tuple[str, ...]

    def describe(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)

    def check(self, key: str, value: object, owner: str = "") -> str:
        if value not in self.options:
            raise InvalidParameterError(key, owner, self.describe(), value)
        return value  # type: ignore[return-value]


@dataclass(frozen=True)
class Param:
    """A loss hyperparameter: name, default, valid range, a one-line meaning, and its kind
    (``float``, or ``int`` for a count such as a series' order; an int parameter accepts
    a float that is a whole number, as a config file may give it)."""

    name: str
    default: float
    interval: str
    doc: str = ""
    kind: type = float

    @property
    def range(self) -> Interval:
        return Interval(self.interval, self.kind)
