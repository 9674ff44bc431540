"""Models. Input and output sizes come from the data (the runner passes them), never
from the user. A model with one output returns shape ``[N]`` (the canonical encoding of
regression and binary predictions); with ``C`` outputs, ``[N, C]`` logits."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU,
               "leaky_relu": nn.LeakyReLU}


class _Head(nn.Module):
    """Squeezes a single output column so predictions are ``[N]``, not ``[N, 1]``."""

    def __init__(self, body: nn.Module, out_features: int):
        super().__init__()
        self.body = body
        self.squeeze = out_features == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out.squeeze(-1) if self.squeeze else out


class Linear(_Head):
    """A linear model ``x W + b`` (linear regression, logistic regression, linear SVM)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__(nn.Linear(in_features, out_features), out_features)


class MLP(_Head):
    """A multilayer perceptron: ``hidden`` layer sizes with ``activation`` between."""

    def __init__(self, in_features: int, out_features: int,
                 hidden: Sequence[int] = (64, 64), activation: str = "relu"):
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, int(h)), ACTIVATIONS[activation]()]
            width = int(h)
        layers.append(nn.Linear(width, out_features))
        super().__init__(nn.Sequential(*layers), out_features)
