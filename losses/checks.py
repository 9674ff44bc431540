"""The registry's standard checks, runnable on any registered loss (a plugin's included).

``losses.check("huber")`` (or ``losses.check(losses.get("huber", delta=0.5))``) runs every
check in :data:`CHECKS` and returns the failures, one line each (an empty list when all
pass), printing them unless ``quiet=True``::

    >>> import losses
    >>> losses.check("huber", quiet=True)
    []

The registry's own test suite runs these same functions over every registered loss
(``tests/test_losses.py``), so a plugin loss gets exactly the checks a built-in one gets.
Each check takes a :class:`losses.Loss` and returns a list of failure lines:

==========  =============================================================================
shapes      the shape contract: ``[N, 1]`` against ``[N]`` and other mismatches are a
            one-line :class:`LossError` ("never broadcast") from ``loss``, ``unreduced``
            and ``stacked``; an index-only loss refuses a probability target
empty       no samples (``[0]``, ``[0, C]``) give NaN, the mean of an empty set;
            ``unreduced`` gives shape ``[0]``; ``stacked`` on ``[K, 0]`` gives K NaNs
nan         a NaN in a prediction (or a regression/binary target) makes that sample's
            loss NaN and leaves the others as they were; the mean is NaN
reduction   ``loss(pred, target)`` (a fused op where the loss has one) equals the
            reduction of ``loss.unreduced``, for N samples and for a single one, in
            float64 and float32; class indices of any integer dtype give what int64
            ones give
stacked     ``loss.stacked`` over a leading member axis ``[K, N]`` equals each member's
            ``loss`` alone, and ``unreduced`` likewise
extremes    finite values and gradients in float32 at residuals up to 1e6, logits of
            +-1e4 and exact zeros (probability targets too where accepted)
gradcheck   ``torch.autograd.gradcheck`` in float64 of ``unreduced`` and ``loss`` with
            respect to the prediction; to the target too for regression and for
            probability targets
==========  =============================================================================

Inputs are canonical for the loss's task (and in its ``target_domain``), drawn from a fixed
seed: a check's answer does not change from run to run.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from losses._lazy import lazy_import
from losses.registry import REDUCTIONS, Loss, LossError, get

torch = lazy_import(globals(), "torch")

N, C, K = 12, 4, 3


# ------------------------------------------------------------------------------ inputs


def _into_domain(x, domain):
    """Map standard-normal draws into the target domain (``None``: all reals); where the
    domain has a closed finite lower end, the first value sits exactly on it."""
    if domain is None:
        return x
    lo, hi = domain.lo, domain.hi
    if math.isfinite(lo) and math.isfinite(hi):
        out = lo + (hi - lo) * torch.sigmoid(x)
    elif math.isfinite(lo):
        out = lo + x.abs() * 2.0 + (0.0 if domain.lo_closed else 0.1)
    elif math.isfinite(hi):
        out = hi - x.abs() * 2.0 - (0.0 if domain.hi_closed else 0.1)
    else:
        return x
    if math.isfinite(lo) and domain.lo_closed and out.numel():
        out.view(-1)[0] = lo
    return out


def inputs(loss: Loss, *, batch: tuple[int, ...] = (), n: int = N, n_classes: int = C,
           dtype=None, seed: int = 0, soft: bool = False):
    """Canonical ``(pred, target)`` for ``loss``, leading axes ``batch`` then ``n`` samples:
    regression targets in the loss's domain, predictions in its link's units; binary
    scores with labels of both classes; multiclass logits with class indices (``soft``:
    probability rows, softmax of normal draws)."""
    dtype = dtype or torch.float64
    g = torch.Generator().manual_seed(seed)
    shape = (*batch, n)
    s = loss.spec

    def normal(*size):
        return torch.randn(size, generator=g, dtype=torch.float64)

    if s.task == "regression":
        target = _into_domain(normal(*shape), s.target_domain)
        if s.link == "log":
            pred = normal(*shape)  # log of the mean: mu within a factor e^3 of 1
        else:
            pred = target + 1.5 * normal(*shape)
        return pred.to(dtype), target.to(dtype)
    if s.task == "binary":
        target = torch.randint(0, 2, shape, generator=g).to(dtype)
        if n >= 2:
            target[..., 0], target[..., 1] = 0.0, 1.0
        return (2.0 * normal(*shape)).to(dtype), target
    logits = (2.0 * normal(*shape, n_classes)).to(dtype)
    if soft:
        return logits, torch.softmax(normal(*shape, n_classes), dim=-1).to(dtype)
    return logits, torch.randint(0, n_classes, shape, generator=g)


def extreme_inputs(loss: Loss, dtype=None):
    """Valid inputs as far out as a float32 model's output gets: residuals (or log-means)
    up to 1e6, logits of +-1e4, and exact zeros. Returns a list of ``(pred, target)``:
    probability targets too where the loss takes them."""
    dtype = dtype or torch.float32
    s = loss.spec
    if s.task == "regression":
        r = torch.tensor([1e6, -1e6, 1e3, -1e3, 1.0, -1e-3, 0.0, 0.0], dtype=dtype)
        y = torch.tensor([0.0, 1.0, 2.0, 0.0, 5.0, 0.0, 0.0, 3.0], dtype=dtype)
        domain = s.target_domain
        if domain is not None and 0.0 not in domain:
            y = y + 0.5  # e.g. the gamma deviance: targets > 0
        return [(r if s.link == "log" else y + r, y)]
    if s.task == "binary":
        y = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0], dtype=dtype)
        return [(torch.tensor([1e4, 1e4, -1e4, -1e4, 100.0, -100.0, 0.0, 0.0], dtype=dtype), y)]
    z = torch.tensor([[1e4, -1e4, 0.0, 0.0], [-1e4, 1e4, 0.0, 0.0], [1e4, 1e4, -1e4, -1e4],
                      [0.0, 0.0, 0.0, 0.0], [-1e4, -1e4, -1e4, 1e4], [3.0, -2.0, 1.0, 0.5]],
                     dtype=dtype)
    out = [(z, torch.tensor([0, 0, 1, 3, 3, 2]))]
    if s.soft_targets:
        soft = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0],
                             [0.25, 0.25, 0.25, 0.25], [0.9, 0.1, 0.0, 0.0],
                             [0.1, 0.2, 0.3, 0.4]], dtype=dtype)
        out.append((z, soft))
    return out


def _target_kinds(loss: Loss) -> list[bool]:
    """``[False]`` (plain targets), plus ``True`` (probability targets) where accepted."""
    return [False, True] if loss.task == "multiclass" and loss.spec.soft_targets else [False]


def _kind(soft: bool) -> str:
    return " (probability target)" if soft else ""


def _close(a, b, rtol: float = 1e-10, atol: float = 1e-12) -> bool:
    return bool(torch.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


# ------------------------------------------------------------------------------ checks


def check_shapes(loss: Loss) -> list[str]:
    pred, target = inputs(loss)
    if loss.task == "multiclass":
        dt = pred.dtype
        bad = [
            ("[N, C] logits against [N, 1] indices", pred, target.unsqueeze(-1)),
            ("wrong N", pred, target[:-1]),
            ("float target [N, C + 1]", pred, torch.full((N, C + 1), 1.0 / (C + 1), dtype=dt)),
            ("float target [N]", pred, torch.rand(N, dtype=dt)),
            ("float target [N, 1]", pred, torch.ones(N, 1, dtype=dt)),
            ("1-d logits", pred[:, 0], target),
            ("int target [N, C]", pred, torch.zeros(N, C, dtype=torch.int64)),
        ]
    else:
        bad = [("[N, 1] prediction against [N] target", pred.unsqueeze(-1), target),
               ("[N] prediction against [N, 1] target", pred, target.unsqueeze(-1)),
               ("[1] prediction against [N] target", pred[:1], target),
               ("[N] prediction against [N - 1] target", pred, target[:-1])]
    failures = []
    for what, p, t in bad:
        for call in ("loss", "unreduced", "stacked"):
            fn = loss if call == "loss" else getattr(loss, call)
            try:
                out = fn(p, t)
            except LossError as err:
                if "never broadcast" not in str(err) or "\n" in str(err):
                    failures.append(f"shapes: {call} on {what}: the error is not the "
                                    f"one-line shape error: {str(err).splitlines()[0]}")
            except Exception as err:  # noqa: BLE001 - reported, not raised
                failures.append(f"shapes: {call} on {what} raised {type(err).__name__} "
                                f"({str(err).splitlines()[0] if str(err) else ''}), "
                                "not a LossError")
            else:
                failures.append(f"shapes: {call} on {what} returned a value of shape "
                                f"{tuple(out.shape)} instead of refusing")
    if loss.task == "multiclass" and not loss.spec.soft_targets:
        q = torch.full((N, C), 1.0 / C, dtype=pred.dtype)
        try:
            loss(pred, q)
            failures.append("shapes: an index-only loss accepted a probability target")
        except LossError:
            pass
    return failures


def _empty_inputs(loss: Loss, batch: tuple[int, ...], soft: bool):
    p, t = inputs(loss, batch=batch, n=0, soft=soft)
    return p, t


def check_empty(loss: Loss) -> list[str]:
    failures = []
    for soft in _target_kinds(loss):
        p, t = _empty_inputs(loss, (), soft)
        try:
            out = loss(p, t)
            per = loss.unreduced(p, t)
            stacked = loss.stacked(*_empty_inputs(loss, (K,), soft))
        except Exception as err:  # noqa: BLE001
            failures.append(f"empty{_kind(soft)}: raised {type(err).__name__}: "
                            f"{str(err).splitlines()[0] if str(err) else ''}")
            continue
        if out.shape != () or not bool(out.isnan()):
            failures.append(f"empty{_kind(soft)}: loss of no samples is {out.tolist()}, "
                            "not NaN (the mean of an empty set)")
        if per.shape != (0,):
            failures.append(f"empty{_kind(soft)}: unreduced has shape {tuple(per.shape)}, "
                            "not (0,)")
        if stacked.shape != (K,) or not bool(stacked.isnan().all()):
            failures.append(f"empty{_kind(soft)}: stacked on [{K}, 0] gives "
                            f"{stacked.tolist()}, not {K} NaNs")
    return failures


def check_nan(loss: Loss) -> list[str]:
    failures = []
    pred, target = inputs(loss, seed=1)
    clean = loss.unreduced(pred, target)
    spots = [("prediction", "pred")]
    if loss.task != "multiclass":
        spots.append(("target", "target"))
    for what, which in spots:
        p, t = pred.clone(), target.clone()
        if which == "pred" and loss.task == "multiclass":
            p[2, 1] = math.nan
        elif which == "pred":
            p[2] = math.nan
        else:
            t[2] = math.nan
        per = loss.unreduced(p, t)
        others = torch.ones(N, dtype=torch.bool)
        others[2] = False
        if not bool(per[2].isnan()):
            failures.append(f"nan: a NaN in a {what} gives the finite loss "
                            f"{float(per[2])!r} for its sample (it must be NaN)")
        if not _close(per[others], clean[others]):
            failures.append(f"nan: a NaN in one sample's {what} changes other samples' loss")
        out = loss(p, t)
        if not bool(out.isnan()):
            failures.append(f"nan: a NaN in a {what} gives a finite reduced loss "
                            f"{float(out)!r}")
    return failures


def check_reduction(loss: Loss) -> list[str]:
    failures = []
    reduce = REDUCTIONS[loss.spec.reduction][0]
    for soft in _target_kinds(loss):
        for n in (N, 1):
            for dtype, rtol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
                p, t = inputs(loss, n=n, soft=soft, dtype=dtype, seed=2)
                out, per = loss(p, t), loss.unreduced(p, t)
                if out.shape != () or out.dtype != dtype:
                    failures.append(f"reduction{_kind(soft)}: loss gives shape "
                                    f"{tuple(out.shape)} {out.dtype}, not a 0-dim {dtype}")
                elif not _close(out, reduce(per), rtol=rtol, atol=rtol * 1e-2):
                    failures.append(f"reduction{_kind(soft)}: loss {float(out)!r} differs "
                                    f"from the {loss.spec.reduction} of unreduced "
                                    f"{float(reduce(per))!r} (N = {n}, {dtype})")
    return failures + check_index_dtypes(loss)


def check_index_dtypes(loss: Loss) -> list[str]:
    """Class indices of any integer dtype give the same loss as int64 ones."""
    if loss.task != "multiclass":
        return []
    failures = []
    z, y = inputs(loss, seed=4)
    want = loss(z, y)
    for dtype in (torch.int32, torch.int16, torch.uint8):
        try:
            got = loss(z, y.to(dtype))
            per = loss.unreduced(z, y.to(dtype))
        except Exception as err:  # noqa: BLE001
            failures.append(f"reduction: {dtype} class indices raised {type(err).__name__}: "
                            f"{str(err).splitlines()[0] if str(err) else ''}")
            continue
        if not (_close(got, want) and _close(per, loss.unreduced(z, y))):
            failures.append(f"reduction: {dtype} class indices give {float(got)!r}, int64 "
                            f"ones {float(want)!r}")
    return failures


def check_stacked(loss: Loss) -> list[str]:
    failures = []
    for soft in _target_kinds(loss):
        p, t = inputs(loss, batch=(K,), soft=soft, seed=3)
        stacked, per = loss.stacked(p, t), loss.unreduced(p, t)
        if stacked.shape != (K,) or per.shape != (K, N):
            failures.append(f"stacked{_kind(soft)}: shapes {tuple(stacked.shape)} and "
                            f"{tuple(per.shape)}, expected ({K},) and ({K}, {N})")
            continue
        for k in range(K):
            alone = loss(p[k], t[k])
            if not _close(stacked[k], alone):
                failures.append(f"stacked{_kind(soft)}: member {k} gets {float(stacked[k])!r} "
                                f"stacked but {float(alone)!r} alone")
            if not _close(per[k], loss.unreduced(p[k], t[k])):
                failures.append(f"stacked{_kind(soft)}: unreduced of member {k} differs from "
                                "the member alone")
    return failures


def check_extremes(loss: Loss) -> list[str]:
    failures = []
    for pred, target in extreme_inputs(loss):
        soft = loss.task == "multiclass" and target.is_floating_point()
        p = pred.clone().requires_grad_(True)
        per = loss.unreduced(p, target)
        if not bool(torch.isfinite(per).all()):
            failures.append(f"extremes{_kind(soft)}: non-finite values "
                            f"{per.detach().tolist()} at predictions {pred.tolist()}")
            continue
        loss(p, target).backward()
        if not bool(torch.isfinite(p.grad).all()):
            failures.append(f"extremes{_kind(soft)}: non-finite gradient "
                            f"{p.grad.tolist()} at predictions {pred.tolist()}")
    return failures


def _gradcheck(fn: Callable, args: tuple, what: str) -> list[str]:
    try:
        torch.autograd.gradcheck(fn, args, raise_exception=True)
    except Exception as err:  # noqa: BLE001 - GradcheckError or a failure inside
        first = next((line for line in str(err).splitlines() if line.strip()), "")
        return [f"gradcheck: {what}: {type(err).__name__}: {first}"]
    return []


def check_gradcheck(loss: Loss) -> list[str]:
    failures = []
    pred, target = inputs(loss, seed=5)
    pred.requires_grad_(True)
    failures += _gradcheck(lambda p: loss.unreduced(p, target), (pred,),
                           "d unreduced / d prediction")
    failures += _gradcheck(lambda p: loss(p, target), (pred,), "d loss / d prediction")
    if loss.task == "regression":
        p0, y = inputs(loss, seed=6)
        domain = loss.spec.target_domain
        if domain is not None and math.isfinite(domain.lo):  # step off the domain's edge
            y = y.clone()
            y.view(-1)[0] = y.view(-1)[0] + 0.5
        y.requires_grad_(True)
        failures += _gradcheck(lambda t: loss.unreduced(p0, t), (y,),
                               "d unreduced / d target")
    if loss.task == "multiclass" and loss.spec.soft_targets:
        z, q = inputs(loss, soft=True, seed=7)
        z.requires_grad_(True)
        q.requires_grad_(True)
        failures += _gradcheck(lambda a, b: loss.unreduced(a, b), (z, q),
                               "d unreduced / d (logits, probability target)")
    return failures


#: every standard check, in the order they run: name -> function(loss) -> failure lines
CHECKS: dict[str, Callable[[Loss], list[str]]] = {
    "shapes": check_shapes,
    "empty": check_empty,
    "nan": check_nan,
    "reduction": check_reduction,
    "stacked": check_stacked,
    "extremes": check_extremes,
    "gradcheck": check_gradcheck,
}


def check(loss: str | Loss, *, only: list[str] | None = None, quiet: bool = False,
          **params: float) -> list[str]:
    """Run the registry's standard checks (:data:`CHECKS`) on ``loss``: a registered name
    (built with ``params``, defaults for the rest) or a :class:`losses.Loss`.

    Returns the failures, one line each, prefixed with the loss's id (``[]`` when every
    check passes); prints them (or "all N checks passed") unless ``quiet``. A check that
    crashes is reported as a failure, not raised. ``only`` runs the named checks only.
    """
    built = loss if isinstance(loss, Loss) else get(loss, **params)
    names = list(CHECKS) if only is None else list(only)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise LossError(f"Unknown check {unknown[0]!r}; checks: {', '.join(CHECKS)}.")
    failures = []
    for name in names:
        try:
            found = CHECKS[name](built)
        except Exception as err:  # noqa: BLE001 - a crash is a failure of that check
            text = str(err).splitlines()[0] if str(err) else ""
            found = [f"{name}: crashed with {type(err).__name__}: {text}"]
        failures += [f"{built.id}: {line}" for line in found]
    if not quiet:
        print("\n".join(failures) if failures
              else f"{built.id}: all {len(names)} checks passed ({', '.join(names)})")
    return failures
