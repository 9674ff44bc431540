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
of them. Degenerate input gives the same answer for every loss: no samples (``[0]``,
``[0, C]``) give NaN, the mean of an empty set (``stacked`` on ``[K, 0]``: K NaNs); a NaN
in a prediction or target makes that sample's loss NaN.

This module (like the whole registry's metadata) does not import torch: it is imported
when a loss is first called (see :mod:`losses._lazy`).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from losses._lazy import lazy_import
from losses.params import Interval, InvalidParameterError, Param

torch = lazy_import(globals(), "torch")  # imported when a loss is first called

TASKS = ("regression", "binary", "multiclass")
LINKS = {  # regression only: what the prediction is
    "identity": "real-valued prediction [N]",
    "log": "log of the predicted mean [N] (mu = exp(pred), any real value)",
}
PREDICTIONS = {
    "regression": LINKS["identity"],
    "binary": "raw score (logit) [N]",
    "multiclass": "logits [N, C]",
}
TARGETS = {
    "regression": "real target [N]",
    "binary": "label in {0, 1} [N]",
    "multiclass": "class index [N] (int) or probabilities [N, C] (float)",
}
#: a probability target's row may miss a sum of 1 by this much (or by C float eps, if more)
ROW_SUM_TOL = 1e-4


class LossError(ValueError):
    """A user-facing error about a loss: unknown name or parameter, shapes that do not fit,
    target values the loss does not accept, a name registered twice.

    A parameter *value* out of range raises :class:`losses.InvalidParameterError` (a
    ``ValueError``, shared with the harness's config checks)."""


class UnknownLossError(LossError):
    pass


@dataclass(frozen=True)
class When:
    """A property that holds for some parameter values only, e.g. Barron's loss is bounded
    ``When("alpha < 0", lambda p: p["alpha"] < 0)``. ``text`` is what tables print."""

    text: str
    test: Callable[[dict[str, float]], bool]

    def __call__(self, params: dict[str, float]) -> bool:
        return bool(self.test(params))


def _mean(per_sample):
    return per_sample.mean()


def _rms(per_sample):
    # vector_norm's backward is 0 (not NaN) at a zero norm, unlike sqrt(mean(x^2));
    # no samples: 0 / 0 = NaN, the same as every mean of an empty set
    return torch.linalg.vector_norm(per_sample) / math.sqrt(per_sample.numel())


#: how ``Loss.__call__`` reduces the per-sample values: name -> (function, description)
REDUCTIONS: dict[str, tuple[Callable, str]] = {
    "mean": (_mean, "the mean over all samples"),
    "rms": (_rms, "the root mean square over all samples, sqrt(mean(l_i^2))"),
}


def _rms_last(per_sample):
    return torch.linalg.vector_norm(per_sample, dim=-1) / math.sqrt(per_sample.shape[-1])


#: the same reductions over the last (sample) axis only, for stacked runs (``Loss.stacked``)
LAST_AXIS_REDUCTIONS: dict[str, Callable] = {
    "mean": lambda per_sample: per_sample.mean(-1),
    "rms": _rms_last,
}


@dataclass(frozen=True)
class LossSpec:
    """What the registry knows about one loss.

    ``bounded`` / ``symmetric`` are ``True``, ``False`` or a :class:`When`. *Symmetric*
    means, for regression, even in the residual (``l(y + r, y) == l(y - r, y)``); for
    classification, the noise-robustness condition of Ghosh et al. (2017): the loss summed
    over every possible label is the same constant for every prediction.
    ``target_domain`` (regression) is the interval targets must lie in; ``link``
    (regression) says what the prediction is: ``"identity"`` (the target's own units) or
    ``"log"`` (the log of the predicted mean); ``soft_targets`` (multiclass) says whether a
    probability matrix is accepted besides class indices.
    ``fused_mean``, where given, computes the mean loss in fewer kernels (one fused torch
    op) than ``fn`` followed by ``mean``; the registry's checks hold the two equal. It is a
    function ``(pred, target, **params)``, or the import path of one (``"torch.nn.
    functional.mse_loss"``), imported on the loss's first call so that neither
    registering nor building a loss imports torch, and then called with no wrapper.
    """

    name: str
    fn: Callable
    task: str
    params: tuple[Param, ...]
    aliases: tuple[str, ...]
    bounded: bool | When = False
    symmetric: bool | When = False
    target_domain: Interval | None = None
    soft_targets: bool = True
    reduction: str = "mean"
    fused_mean: Callable | str | None = None
    link: str = "identity"

    @property
    def prediction(self) -> str:
        return LINKS[self.link] if self.task == "regression" else PREDICTIONS[self.task]

    @property
    def target(self) -> str:
        if self.target_domain is not None:
            return f"{TARGETS[self.task]} in {self.target_domain.text}"
        if self.task == "multiclass" and not self.soft_targets:
            return "class index [N] (int)"
        return TARGETS[self.task]

    def describe(self, prop: str) -> str:
        """``"yes"``, ``"no"`` or the condition, for ``prop`` in bounded / symmetric."""
        value = getattr(self, prop)
        if isinstance(value, When):
            return f"if {value.text}"
        return "yes" if value else "no"

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.fn) or ""
        return doc.splitlines()[0] if doc else ""

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.fn) or ""

    @property
    def origin(self) -> str:
        """Where the loss function is defined: ``losses.regression.huber``."""
        return f"{getattr(self.fn, '__module__', '?')}.{getattr(self.fn, '__qualname__', '?')}"

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}


_SPECS: dict[str, LossSpec] = {}
_NAMES: dict[str, str] = {}  # lower-case name or alias -> canonical name


def _generated_doc(spec: LossSpec) -> str:
    """The docstring sections written from the metadata, so ranges live in one place."""
    lines = ["", "Parameters:"] if spec.params else ["", "Parameters: none."]
    for p in spec.params:
        meaning = f"{p.doc}; " if p.doc else ""
        noun = "an int" if p.kind is int else "a float"
        lines.append(f"    {p.name}: {meaning}{noun} in {p.interval}, default {p.default}.")
    lines += [
        f"Prediction: {spec.prediction}. Target: {spec.target}.",
        "Shape: leading axes are allowed (``[K, N]``, ``[K, N, C]``); ``loss.unreduced`` "
        "has the target's shape without the class axis; shapes are never broadcast.",
        f"Reduction: ``loss(pred, target)`` is {REDUCTIONS[spec.reduction][1]}; "
        "``loss.unreduced`` gives the per-sample values, ``loss.stacked`` one value per "
        "leading index. No samples give NaN.",
        f"Bounded: {spec.describe('bounded')}. Symmetric: {spec.describe('symmetric')}.",
    ]
    return "\n".join(lines)


def _holder(key: str) -> str:
    spec = _SPECS[_NAMES[key]]
    role = "the name" if key == spec.name else f"an alias of {spec.name!r}"
    return f"{role}, registered by {spec.origin}"


def _check_free(name: str, keys: list[str]) -> None:
    for key in keys:
        if key in _NAMES:
            raise LossError(f"Cannot register loss {name!r}: {key!r} is already taken "
                            f"({_holder(key)}); choose another name.")


def register(name: str, *, task: str, params: Sequence[Param] = (),
             aliases: Sequence[str] = (), bounded: bool | When = False,
             symmetric: bool | When = False, target_domain: str | None = None,
             soft_targets: bool = True, reduction: str = "mean",
             fused_mean: Callable | str | None = None, link: str = "identity") -> Callable:
    """Decorator: record ``fn(pred, target, **params) -> per-sample loss`` under ``name``.

    The function's docstring gives the formula and a reference; ``register`` appends the
    parameters with their ranges, the prediction/target encoding, the shapes, the reduction
    and the bounded/symmetric properties, all written from this metadata. ``fused_mean``:
    optional ``fn(pred, target, **params) -> mean loss`` used by ``Loss.__call__``, or its
    import path (a function must not read torch attributes at decoration time; see
    :mod:`losses._lazy`). It must give NaN on no samples like the mean does (the standard
    check ``empty`` tests it; torch's fused losses do, except ``multi_margin_loss``).

    Raises :class:`LossError` (one line) when ``name`` or an alias is already taken,
    naming who holds it; a plugin cannot replace a built-in loss.
    """
    if task not in TASKS:
        raise LossError(f"task must be one of {TASKS}, got {task!r}")
    if reduction not in REDUCTIONS:
        raise LossError(f"reduction must be one of {list(REDUCTIONS)}, got {reduction!r}")
    if target_domain is not None and task != "regression":
        raise LossError("target_domain is for regression losses")
    if link not in LINKS or (link != "identity" and task != "regression"):
        raise LossError(f"link must be one of {list(LINKS)} (regression only), got {link!r}")
    if fused_mean is not None and reduction != "mean":
        raise LossError("fused_mean is for losses reduced by the mean")
    keys = [str(name).lower(), *(str(a).lower() for a in aliases)]
    if len(set(keys)) != len(keys):
        raise LossError(f"Cannot register loss {name!r}: a name or alias is repeated in "
                        f"{keys}.")
    _check_free(name, keys)  # now, and again when decorating: a refusal leaves no trace

    def decorate(fn: Callable) -> Callable:
        spec = LossSpec(keys[0], fn, task, tuple(params), tuple(keys[1:]), bounded, symmetric,
                        None if target_domain is None else Interval(target_domain),
                        soft_targets, reduction, fused_mean, link)
        _check_free(name, keys)
        for key in keys:
            _NAMES[key] = spec.name
        fn.__doc__ = (inspect.getdoc(fn) or "") + "\n" + _generated_doc(spec)
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

    >>> import torch
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
        values[p.name] = p.range.check(p.name, params.get(p.name, p.default), s.name)
    return Loss(s, values)


def _shape_error(s: LossSpec, pred, target) -> LossError:
    return LossError(
        f"{s.name}: prediction shape {tuple(pred.shape)} does not fit target shape "
        f"{tuple(target.shape)}; expected {s.prediction} against {s.target} "
        "(shapes are never broadcast).")


def check_shapes(s: LossSpec, pred, target) -> None:
    """Raise unless ``pred`` and ``target`` have the canonical shapes of ``s.task``.

    A probability target (multiclass, float ``[N, C]``) is also checked to be a
    distribution per row (:func:`check_distribution`); that costs one host sync, on the
    probability-target path only: class indices, the harness's training path, pay none.
    """
    if s.task == "multiclass":
        soft = target.shape == pred.shape and target.is_floating_point()
        ok = pred.dim() >= 2 and (
            (target.shape == pred.shape[:-1] and not target.is_floating_point()) or soft)
        if not ok:
            raise _shape_error(s, pred, target)
        if soft:
            if not s.soft_targets:
                soft_names = ", ".join(n for n in available("multiclass")
                                       if _SPECS[n].soft_targets)
                raise LossError(f"{s.name} takes class indices [N] (int), not a probability "
                                f"target {tuple(target.shape)}; losses that take "
                                f"probabilities: {soft_names}.")
            check_distribution(s, target)
    elif pred.shape != target.shape:
        raise _shape_error(s, pred, target)


def _row_name(index: tuple[int, ...]) -> str:
    return str(index[0]) if len(index) == 1 else str(index)


def check_distribution(s: LossSpec, target) -> None:
    """Raise :class:`LossError` unless every row of the probability target ``[..., C]`` is
    a distribution: entries finite and in [0, 1], summing to 1 within
    ``max(ROW_SUM_TOL, C * eps)`` (eps of the target's dtype: 1e-4 for float32 and
    float64 up to C = 838 classes). The message names the first bad row."""
    c = target.shape[-1]
    tol = max(ROW_SUM_TOL, c * torch.finfo(target.dtype).eps)
    with torch.no_grad():
        row_sum = target.sum(-1)
        ok = ((target >= 0) & (target <= 1)).all(-1) & ((row_sum - 1).abs() <= tol)
        if bool(ok.all()):  # the one host sync of the good path
            return
        bad = torch.nonzero(~ok)[0].tolist()  # NaN fails every comparison: lands here
        row = target[tuple(bad)]
        outside = torch.nonzero(~((row >= 0) & (row <= 1)))
        if len(outside):
            k = int(outside[0])
            what = f"has {float(row[k]):.6g} at class {k}"
        else:
            what = f"sums to {float(row_sum[tuple(bad)]):.6g}"
    raise LossError(f"{s.name} needs each probability target row to be a distribution "
                    f"(entries in [0, 1] summing to 1 within {tol:.2g}); row "
                    f"{_row_name(tuple(bad))} {what}.")


def check_target_values(s: LossSpec, target, n_classes: int | None) -> None:
    """Value checks of a task's canonical target encoding (see :meth:`Loss.check_target`)."""
    if s.task == "binary":
        bad = ~((target == 0) | (target == 1))
        if bool(bad.any()):
            raise LossError(f"{s.name} needs binary targets in {{0, 1}}; got "
                            f"{target[bad].flatten()[0].item()!r}.")
    elif s.task == "multiclass" and not target.is_floating_point():
        if not target.numel():
            return
        lo, hi = int(target.min()), int(target.max())
        if lo < 0 or (n_classes is not None and hi >= n_classes):
            raise LossError(f"{s.name} needs class indices in [0, {n_classes}); got "
                            f"{lo if lo < 0 else hi}.")
    elif s.task == "multiclass":
        if not s.soft_targets:
            raise LossError(f"{s.name} takes class indices [N] (int), not a probability "
                            f"target {tuple(target.shape)}.")
        check_distribution(s, target)
    elif s.task == "regression" and target.numel():
        domain = s.target_domain
        for value in torch.stack(torch.aminmax(target)).tolist():  # one host sync
            if domain is None and not math.isfinite(value):  # NaN propagates to min/max
                raise LossError(f"{s.name} needs finite targets; got {value!r}.")
            if domain is not None and value not in domain:  # NaN is in no interval
                raise LossError(f"{s.name} needs targets in {domain.text}; got {value!r}.")


def _import_path(path: str) -> Callable:
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


class _ImportOnFirstCall:
    """A ``fused_mean`` given as an import path: imported on the loss's first call, which
    then keeps the function itself (no wrapper on the hot path)."""

    def __init__(self, loss: Loss, path: str):
        self.loss, self.path = loss, path

    def __call__(self, pred, target, **params):
        fn = self.loss._fused_mean = _import_path(self.path)
        return fn(pred, target, **params)


class Loss:
    """A configured loss: ``loss(pred, target)`` is the mean loss, a 0-dim tensor."""

    def __init__(self, spec: LossSpec, params: dict[str, float]):
        self.spec = spec
        self.params = dict(params)
        self._reduce = REDUCTIONS[spec.reduction][0]
        fused = spec.fused_mean
        self._fused_mean = _ImportOnFirstCall(self, fused) if isinstance(fused, str) else fused
        self._class_indices = spec.task == "multiclass"

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

    def check_target(self, target, n_classes: int | None = None) -> None:
        """Raise :class:`LossError` unless ``target`` holds values this loss accepts.

        The runner calls this once per data split before training (it costs a host sync,
        so ``__call__`` does not check values, except for probability targets): binary
        labels must be 0 or 1, class indices lie in ``[0, n_classes)``, probability
        targets are distributions row by row, and regression targets are numbers, finite
        or in the loss's ``target_domain`` where it has one (``msle``: ``[0, inf)``).
        """
        check_target_values(self.spec, target, n_classes)

    def _as_int64(self, target):
        """Class indices of any integer dtype as int64, the one torch's kernels take (int32
        indices made the fused cross-entropy raise where the per-sample path worked)."""
        if target.dtype != torch.int64 and not target.is_floating_point():
            return target.long()
        return target

    def unreduced(self, pred, target):
        """The per-sample loss, shape ``target.shape`` (``pred.shape[:-1]`` for multiclass)."""
        check_shapes(self.spec, pred, target)
        if self._class_indices:
            target = self._as_int64(target)
        return self.spec.fn(pred, target, **self.params)

    def stacked(self, pred, target):
        """The loss of each of several stacked runs: ``pred`` and ``target`` carry leading
        run axes before the sample axis (``target`` ``[..., n]``), and the reduction runs
        over the sample axis only, giving shape ``target.shape[:-1]`` (multiclass:
        ``pred.shape[:-2]``); a run with no samples gets NaN."""
        return LAST_AXIS_REDUCTIONS[self.spec.reduction](self.unreduced(pred, target))

    def inverse_link(self, pred):
        """The prediction in the target's units (what metrics such as the RMSE compare with
        the target): ``pred`` itself, or ``exp(pred)`` for a log-link loss (``poisson``,
        ``gamma``, ``tweedie``, whose prediction is the log of the mean)."""
        return pred.exp() if self.spec.link == "log" else pred

    @property
    def bounded(self) -> bool:
        """Whether this loss, with these parameters, is bounded above."""
        b = self.spec.bounded
        return b(self.params) if isinstance(b, When) else b

    @property
    def symmetric(self) -> bool:
        """Whether this loss, with these parameters, is symmetric (see :class:`LossSpec`)."""
        s = self.spec.symmetric
        return s(self.params) if isinstance(s, When) else s

    def __call__(self, pred, target):
        check_shapes(self.spec, pred, target)
        if self._class_indices:
            target = self._as_int64(target)
        if self._fused_mean is not None:
            return self._fused_mean(pred, target, **self.params)
        return self._reduce(self.spec.fn(pred, target, **self.params))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Loss({self.name}{', ' if inner else ''}{inner})"


__all__ = ["InvalidParameterError", "Loss", "LossError", "LossSpec", "REDUCTIONS", "TASKS",
           "UnknownLossError", "When", "available", "check_distribution", "check_shapes",
           "get", "register", "spec"]
