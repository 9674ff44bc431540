"""Torch optimisers without ``torch._dynamo``.

torch's ``Optimizer`` wraps ``add_param_group``, ``zero_grad`` and ``step`` for its
compiler: the first call of each imports ``torch._dynamo`` (about 1 s, more on a busy
machine), whether or not anything is compiled. The harness compiles nothing, so a run
alone calls the optimiser's own step function under ``torch.no_grad`` (what the wrapper
does around it, minus the compiler's graph break and the step hooks, of which the
harness registers none) and sets the gradients to None itself. The results are
bit-identical (``tests/test_train.py``). When torch's internals do not look as expected,
everything falls back to the ordinary calls.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch


def _lazy_disable_wrapped(fn) -> bool:
    """Whether ``fn`` is a method wrapped by ``torch._disable_dynamo`` (its first call
    imports torch._dynamo to build the disabled version)."""
    code = getattr(fn, "__code__", None)
    return (code is not None and code.co_name == "inner" and hasattr(fn, "__wrapped__")
            and code.co_filename.endswith("_compile.py"))


def build(make: Callable[[], torch.optim.Optimizer]) -> torch.optim.Optimizer:
    """``make()`` (an optimiser's constructor) without importing torch._dynamo: its
    ``add_param_group`` (wrapped by ``torch._disable_dynamo``) is told that its disabled
    version is itself, which is what it is when nothing is compiled."""
    import sys

    if "torch._dynamo" not in sys.modules:
        fn = vars(torch.optim.Optimizer).get("add_param_group")
        if _lazy_disable_wrapped(fn) and not hasattr(fn.__wrapped__, "__dynamo_disable"):
            fn.__wrapped__.__dynamo_disable = fn.__wrapped__
    return make()


def stepper(optimizer: torch.optim.Optimizer) -> Callable[[], None]:
    """A function doing ``optimizer.step()`` without torch._dynamo: the unwrapped step
    under ``torch.no_grad`` (the wrapper sets grad mode to the optimiser's
    ``differentiable`` flag, False here); the ordinary step if the optimiser is
    differentiable or its step is not wrapped the way torch 2.x wraps it."""
    raw = inspect.unwrap(type(optimizer).step)
    wrapped = raw is not type(optimizer).step
    if not wrapped or optimizer.defaults.get("differentiable", False) or \
            optimizer._optimizer_step_pre_hooks or optimizer._optimizer_step_post_hooks:
        return optimizer.step

    def step() -> None:
        with torch.no_grad():
            raw(optimizer)

    return step


def zero_grad(params: list[torch.Tensor]) -> Callable[[], None]:
    """``optimizer.zero_grad(set_to_none=True)`` for ``params``."""

    def clear() -> None:
        for p in params:
            p.grad = None

    return clear
