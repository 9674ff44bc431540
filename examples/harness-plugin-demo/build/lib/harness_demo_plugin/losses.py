r"""The Fair loss, a robust M-estimator (Fair 1974; in Zhang's 1997 survey of M-estimators,
"Parameter estimation techniques", Image and Vision Computing 15(1), table 1).

:math:`\ell(p, y) = c^2 \left(\frac{|r|}{c} - \log\left(1 + \frac{|r|}{c}\right)\right)`,
:math:`r = p - y`: about :math:`r^2/2` near zero, growing like :math:`c |r|` in the tails.
"""

import torch

import losses


@losses.register("fair", task="regression", symmetric=True,
                 params=[losses.Param("c", 1.0, "(0, inf)",
                                      "residual scale where the loss turns linear")])
def fair(pred: torch.Tensor, target: torch.Tensor, c: float) -> torch.Tensor:
    r"""Fair loss: :math:`c^2(|r|/c - \log(1 + |r|/c))`, :math:`r = p - y`.

    Shape: ``pred`` and ``target`` ``[..., N]``; returns ``[..., N]``.
    Reference: Fair (1974); Zhang (1997), table 1.
    """
    a = (pred - target).abs() / c
    return c * c * (a - torch.log1p(a))
