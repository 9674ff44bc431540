"""The loss registry.

>>> import losses, torch
>>> losses.available("regression")
['huber', 'mae', 'mse', 'pseudo_huber']
>>> loss = losses.get("huber", delta=1.0)
>>> float(loss(torch.tensor([0.0, 3.0]), torch.tensor([0.0, 0.0])))
1.25
"""

from losses import binary, multiclass, regression  # noqa: F401  (registers the losses)
from losses.params import Choice, Interval, InvalidParameterError, Param
from losses.registry import (
    TASKS,
    Loss,
    LossError,
    LossSpec,
    UnknownLossError,
    available,
    check_shapes,
    get,
    register,
    spec,
)

__all__ = ["TASKS", "Choice", "Interval", "InvalidParameterError", "Loss", "LossError",
           "LossSpec", "Param", "UnknownLossError", "available", "check_shapes", "get",
           "register", "spec"]
