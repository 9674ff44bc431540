"""The loss registry: every loss with its formula, parameters and ranges, and reference.

``import losses`` does not import torch: the metadata (``available``, ``spec``) is plain
Python, and torch is imported when a loss is first called (:mod:`losses._lazy`).
``losses.check(name)`` runs the registry's standard checks on any loss, a plugin's
included (:mod:`losses.checks`).

>>> import losses, torch
>>> losses.available("binary")[:5]
['bce', 'exponential', 'focal', 'hinge', 'modified_huber']
>>> loss = losses.get("huber", delta=1.0)
>>> float(loss(torch.tensor([0.0, 3.0]), torch.tensor([0.0, 0.0])))
1.25
"""

from losses import binary, multiclass, regression  # noqa: F401  (registers the losses)
from losses.checks import CHECKS, check
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

__all__ = ["CHECKS", "REDUCTIONS", "TASKS", "Choice", "Interval", "InvalidParameterError", "Loss",
           "LossError", "LossSpec", "Param", "UnknownLossError", "When", "available",
           "check", "check_shapes", "get", "register", "spec"]
