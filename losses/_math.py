"""Small numerical helpers shared by the loss modules."""

from __future__ import annotations

import math

from losses._lazy import lazy_import

torch = lazy_import(globals(), "torch")

#: beyond this argument ``exp_tail``/``expm1_tail`` continue along their tangent
EXP_TAIL = 50.0
E_TAIL = math.exp(EXP_TAIL)  # about 5.2e21


def exp_tail(x):
    r""":math:`e^x` up to :math:`x = 50`, then its tangent there, :math:`e^{50}(1 + x - 50)`.

    :math:`e^x` overflows float32 beyond x = 88 (float64 beyond 709), and with it the
    loss and its gradient; the tangent keeps both finite (and the function convex, C1),
    and changes nothing where a value below :math:`e^{50} \approx 5 \cdot 10^{21}` is
    computed."""
    return torch.exp(x.clamp_max(EXP_TAIL)) * (1.0 + (x - EXP_TAIL).clamp_min(0.0))


def expm1_tail(x):
    r""":math:`e^x - 1`, accurate near 0 (``expm1``), continued like :func:`exp_tail`."""
    return torch.expm1(x.clamp_max(EXP_TAIL)) + E_TAIL * (x - EXP_TAIL).clamp_min(0.0)
