"""The loss registry.

>>> import losses, torch
>>> losses.available("binary")
['bce', 'exponential', 'focal', 'hinge', 'modified_huber', 'smooth_hinge', 'squared_hinge']
>>> loss = losses.get("huber", delta=1.0)
>>> float(loss(torch.tensor([0.0, 3.0]), torch.tensor([0.0, 0.0])))
1.25
"""

from losses import binary, multiclass, regression  # noqa: F401  (registers the losses)
from losses.params import Choice, Interval, InvalidParameterError, Param
from losses.registry import (
    REDUCTIONS,
    TASKS,
    Loss,
    LossError,
    LossSpec,
    UnknownLossError,
    When,
    available,
    check_shapes,
    get,
    register,
    spec,
)

__all__ = ["REDUCTIONS", "TASKS", "Choice", "Interval", "InvalidParameterError", "Loss",
           "LossError", "LossSpec", "Param", "UnknownLossError", "When", "available",
           "check_shapes", "get", "register", "spec"]
