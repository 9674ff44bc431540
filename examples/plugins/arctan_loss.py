r"""A loss of your own in one file: ``python -m harness plugins=[examples/plugins/arctan_loss.py]
loss=arctan``.

The arctan loss of SciPy's robust least squares (``scipy.optimize.least_squares``,
``loss='arctan'``): :math:`\rho(z) = \arctan z` of :math:`z = (r/c)^2`, scaled as SciPy's
cost :math:`\tfrac12 c^2 \rho`, so it is about :math:`r^2/2` near zero and bounded by
:math:`\pi c^2 / 4`.
"""

import torch

import losses


@losses.register("arctan", task="regression", symmetric=True, bounded=True,
                 params=[losses.Param("c", 1.0, "(0, inf)", "residual scale (f_scale)")])
def arctan(pred: torch.Tensor, target: torch.Tensor, c: float) -> torch.Tensor:
    r""":math:`\tfrac12 c^2 \arctan((r/c)^2)`, :math:`r = p - y`.

    Shape: ``pred`` and ``target`` ``[..., N]``; returns ``[..., N]``.
    Reference: ``scipy.optimize.least_squares(loss="arctan", f_scale=c)``.
    """
    return 0.5 * c * c * torch.atan(((pred - target) / c).square())
