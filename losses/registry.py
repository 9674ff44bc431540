"""The loss registry: ``register`` records a loss with its metadata, ``get`` builds it.

A registered function computes the *unreduced* loss, one value per sample, from
already-validated parameters. :class:`Loss` wraps it with the contract everything else
relies on: shapes are checked (never broadcast), and calling it returns the mean as a
0-dim tensor.

Canonical encodings (see shared/DESIGN.md):

========== ======================== ==========================================
task       prediction               target
========== ======================== ==========================================
regression ``[N]`` real             ``[N]`` real
binary     ``[N]`` raw score/logit  ``[N]`` in {0, 1} (float)
multiclass ``[N, C]`` logits        ``[N]`` class indices (int) or ``[N, C]``
                                    probabilities (float)
========== ======================== ==========================================

Leading batch dimensions are allowed (``[K, N]`` / ``[K, N, C]``); the mean is over all
of them.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from losses.params import InvalidParameterError, Param

TASKS = ("regression", "binary", "multiclass")
PREDICTIONS = {
    "regression": "real-valued prediction [N]",
    "binary": "raw score (logit) [N]",
    "multiclass": "logits [N, C]",
}
TARGETS = {
    "regression": "real target [N]",
    "binary": "label in {0, 1} [N]",
    "multiclass": "class index [N] (int) or probabilities [N, C] (float)",
}


class LossError(ValueError):
    """A user-facing error about a loss: unknown name or parameter, shapes that do not fit.

    A parameter *value* out of range raises :class:`losses.InvalidParameterError` (a
    ``ValueError``, shared with the harness's config checks)."""


class UnknownLossError(LossError):
    pass


@dataclass(frozen=True)
class LossSpec:
    """What the registry knows about one loss."""

    name: str
    fn: Callable[..., torch.Tensor]
    task: str
    params: tuple[Param, ...]
    aliases: tuple[str, ...]

    @property
    def prediction(self) -> str:
        return PREDICTIONS[self.task]

    @property
    def target(self) -> str:
        return TARGETS[self.task]

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.fn) or ""
        return doc.splitlines()[0] if doc else ""

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.fn) or ""

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}


_SPECS: dict[str, LossSpec] = {}
_NAMES: dict[str, str] = {}  # lower-case name or alias -> canonical name


def register(name: str, *, task: str, params: Sequence[Param] = (),
             aliases: Sequence[str] = ()) -> Callable:
    """Decorator: record ``fn(pred, target, **params) -> per-sample loss`` under ``name``."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")

    def decorate(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        spec = LossSpec(name.lower(), fn, task, tuple(params), tuple(a.lower() for a in aliases))
        for key in (spec.name, *spec.aliases):
            if key in _NAMES:
                raise ValueError(f"loss name {key!r} registered twice")
            _NAMES[key] = spec.name
        _SPECS[spec.name] = spec
        return fn

    return decorate


def available(task: str | None = None) -> list[str]:
    """Sorted canonical loss names, optionally only those of one task."""
    if task is not None and task not in TASKS:
        raise LossError(f"Unknown task {task!r}. Tasks are: {', '.join(TASKS)}.")
    return sorted(n for n, s in _SPECS.items() if task is None or s.task == task)


def spec(name: str) -> LossSpec:
    """The :class:`LossSpec` of a name or alias (case-insensitive)."""
    key = str(name).lower()
    if key not in _NAMES:
        close = difflib.get_close_matches(key, list(_NAMES), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownLossError(
            f"Unknown loss {name!r}.{hint} Available: {', '.join(available())}.")
    return _SPECS[_NAMES[key]]


def get(name: str, **params: float) -> Loss:
    """Build the loss ``name`` with ``params`` (defaults fill the rest).

    >>> huber = get("huber", delta=0.5)
    >>> huber(torch.tensor([0.0, 2.0]), torch.tensor([0.0, 0.0]))
    tensor(0.4375)
    """
    s = spec(name)
    known = {p.name: p for p in s.params}
    for key in params:
        if key not in known:
            if not known:
                raise LossError(f"{s.name} takes no parameters; got {key!r}.")
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise LossError(f"{s.name} has no parameter {key!r}.{hint} "
                            f"Its parameters: {', '.join(known)}.")
    values = {}
    for p in s.params:
        values[p.name] = float(p.range.check(p.name, params.get(p.name, p.default), s.name))
    return Loss(s, values)


def _shape_error(s: LossSpec, pred: torch.Tensor, target: torch.Tensor) -> LossError:
    return LossError(
        f"{s.name}: prediction shape {tuple(pred.shape)} does not fit target shape "
        f"{tuple(target.shape)}; expected {s.prediction} against {s.target} "
        "(shapes are never broadcast).")


def check_shapes(s: LossSpec, pred: torch.Tensor, target: torch.Tensor) -> None:
    """Raise unless ``pred`` and ``target`` have the canonical shapes of ``s.task``."""
    if s.task == "multiclass":
        ok = pred.dim() >= 2 and (
            (target.shape == pred.shape[:-1] and not target.is_floating_point())
            or (target.shape == pred.shape and target.is_floating_point()))
    else:
        ok = pred.shape == target.shape
    if not ok:
        raise _shape_error(s, pred, target)


def check_target_values(s: LossSpec, target: torch.Tensor, n_classes: int | None) -> None:
    """Value checks of a task's canonical target encoding (see :meth:`Loss.check_target`)."""
    if s.task == "binary":
        bad = ~((target == 0) | (target == 1))
        if bool(bad.any()):
            raise LossError(f"{s.name} needs binary targets in {{0, 1}}; got "
                            f"{target[bad].flatten()[0].item()!r}.")
    elif s.task == "multiclass" and not target.is_floating_point():
        lo, hi = int(target.min()), int(target.max())
        if lo < 0 or (n_classes is not None and hi >= n_classes):
            raise LossError(f"{s.name} needs class indices in [0, {n_classes}); got "
                            f"{lo if lo < 0 else hi}.")
    elif s.task == "multiclass" and bool((target < 0).any()):
        raise LossError(f"{s.name} needs a probability target (non-negative); got "
                        f"{target.min().item()!r}.")


class Loss:
    """A configured loss: ``loss(pred, target)`` is the mean loss, a 0-dim tensor."""

    def __init__(self, spec: LossSpec, params: dict[str, float]):
        self.spec = spec
        self.params = dict(params)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def task(self) -> str:
        return self.spec.task

    @property
    def id(self) -> str:
        """Deterministic label, parameters sorted: ``huber[delta=1.0]`` or ``mse``."""
        if not self.params:
            return self.name
        inner = ",".join(f"{k}={v!r}" for k, v in sorted(self.params.items()))
        return f"{self.name}[{inner}]"

    def check_target(self, target: torch.Tensor, n_classes: int | None = None) -> None:
        """Raise :class:`LossError` unless ``target`` holds values this loss accepts.

        The runner calls this once per data split before training (it costs a host sync,
        so ``__call__`` does not): binary labels must be 0 or 1, class indices lie in
        ``[0, n_classes)``, probability targets are non-negative.
        """
        check_target_values(self.spec, target, n_classes)

    def unreduced(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The per-sample loss, shape ``target.shape`` (``pred.shape[:-1]`` for multiclass)."""
        check_shapes(self.spec, pred, target)
        return self.spec.fn(pred, target, **self.params)

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.unreduced(pred, target).mean()

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Loss({self.name}{', ' if inner else ''}{inner})"


__all__ = ["InvalidParameterError", "Loss", "LossError", "LossSpec", "UnknownLossError",
           "available", "check_shapes", "get", "register", "spec", "TASKS"]
