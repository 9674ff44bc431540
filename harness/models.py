"""Models. Input and output sizes come from the data (the runner passes them), never
from the user. A model with one output returns shape ``[N]`` (the canonical encoding of
regression and binary predictions); with ``C`` outputs, ``[N, C]`` logits.

Every model accepts every data set. :class:`CNN1D` reads the features as a 1-channel
sequence, which is what MNIST-1D is; on tabular data it runs, but the feature order it
convolves over means nothing there, so prefer ``mlp`` or ``linear`` for those."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU,
               "leaky_relu": nn.LeakyReLU}


class Head(nn.Module):
    """Squeezes a single output column so predictions are ``[N]``, not ``[N, 1]``."""

    def __init__(self, body: nn.Module, out_features: int):
        super().__init__()
        self.body = body
        self.squeeze = out_features == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out.squeeze(-1) if self.squeeze else out


class Linear(Head):
    """A linear model ``x W + b`` (linear regression, logistic regression, linear SVM)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__(nn.Linear(in_features, out_features), out_features)


class MLP(Head):
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


class CNN1D(Head):
    """A small 1-D convolutional network for signals such as MNIST-1D's 40 points.

    The ``in_features`` inputs are one channel of length ``in_features``. Each entry of
    ``channels`` adds a convolution (``kernel_size``, stride 2, "same"-style padding, so
    the length halves, rounding up) followed by ``activation``; the last feature map is
    flattened (keeping where along the signal a pattern was) into a linear layer to
    ``out_features``. Defaults, for 40 inputs: 40 -> 20 -> 10 -> 5 positions of 32
    channels, 160 features into the head, about 12k parameters.
    """

    def __init__(self, in_features: int, out_features: int,
                 channels: Sequence[int] = (32, 32, 32), kernel_size: int = 5,
                 activation: str = "relu"):
        layers: list[nn.Module] = [nn.Unflatten(1, (1, in_features))]
        width, length, pad = 1, in_features, kernel_size // 2
        for c in channels:
            layers += [nn.Conv1d(width, int(c), kernel_size, stride=2, padding=pad),
                       ACTIVATIONS[activation]()]
            width, length = int(c), (length + 2 * pad - kernel_size) // 2 + 1
        layers += [nn.Flatten(), nn.Linear(width * length, out_features)]
        super().__init__(nn.Sequential(*layers), out_features)
