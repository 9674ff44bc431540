"""Models. Input and output sizes come from the data (the runner passes them), never
from the user. A model with one output returns shape ``[N]`` (the canonical encoding of
regression and binary predictions); with ``C`` outputs, ``[N, C]`` logits.

Every model accepts every data set. :class:`CNN1D` reads the features as a 1-channel
sequence, which is what MNIST-1D is; on tabular data it runs, but the feature order it
convolves over means nothing there, so prefer ``mlp`` or ``linear`` for those."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from harness.errors import HarnessError

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


class Residual(nn.Module):
    """``x + f(x)``: a skip connection around ``f`` (its output has ``x``'s shape)."""

    def __init__(self, f: nn.Module):
        super().__init__()
        self.f = f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.f(x)


class MLP(Head):
    """A multilayer perceptron: ``hidden`` layer sizes with ``activation`` between.

    ``residual``: every hidden layer after the first whose input and output widths are
    equal adds its input to its activated output, ``h + act(W h + b)`` (He et al. 2016's
    skip connection), as the MNIST-1D paper's ``MLPBase`` does around its second layer
    (Greydanus 2020, github.com/greydanus/mnist1d ``notebooks/models.py``). Off by
    default; the parameters are the same either way.

    Shapes: ``[N, in_features]`` -> ``[N, out_features]`` (``[N]`` for one output).
    """

    def __init__(self, in_features: int, out_features: int,
                 hidden: Sequence[int] = (64, 64), activation: str = "relu",
                 residual: bool = False):
        layers: list[nn.Module] = []
        width = in_features
        for i, h in enumerate(hidden):
            layer = nn.Sequential(nn.Linear(width, int(h)), ACTIVATIONS[activation]())
            if residual and i > 0 and width == int(h):
                layers.append(Residual(layer))
            else:
                layers += list(layer)  # a plain MLP keeps its parameter names (body.0, ...)
            width = int(h)
        layers.append(nn.Linear(width, out_features))
        super().__init__(nn.Sequential(*layers), out_features)


class CNN1D(Head):
    """A small 1-D convolutional network for signals such as MNIST-1D's 40 points.

    The ``in_features`` inputs are one channel of length ``in_features``. Each entry of
    ``channels`` adds a convolution (stride 2; ``padding`` None: "same"-style ``k // 2``,
    so the length halves, rounding up; else one padding for every convolution or a list
    with one per convolution) followed by ``activation``; ``kernel_size`` is one size
    ``k`` for every convolution or a list with one per convolution. The last feature map
    is flattened (keeping where along the signal a pattern was) into a linear layer to
    ``out_features``.

    Shapes: ``[N, in_features]`` -> ``[N, out_features]`` (``[N]`` for one output).
    Defaults, for 40 inputs: 40 -> 20 -> 10 -> 5 positions of 32 channels, 160 features
    into the head, 12,106 parameters.

    MNIST-1D's reference (``conf/reference/model/mnist1d_cnn1d.yaml``) is the paper's
    ``ConvBase`` (Greydanus 2020, github.com/greydanus/mnist1d ``notebooks/models.py``):
    ``channels=[25, 25, 25]``, ``kernel_size=[5, 3, 3]``, 125 features into the head,
    5,210 parameters as there, and ``padding=1`` as there (40 -> 19 -> 10 -> 5 positions).
    Raises :class:`HarnessError` when ``kernel_size`` or ``padding`` has not one entry
    per convolution, or a padding leaves no position.
    """

    def __init__(self, in_features: int, out_features: int,
                 channels: Sequence[int] = (32, 32, 32),
                 kernel_size: int | Sequence[int] = 5, activation: str = "relu",
                 padding: int | Sequence[int] | None = None):
        def each(value: Any, key: str) -> list[int]:
            out = [int(value)] * len(channels) if isinstance(value, int) else \
                [int(v) for v in value]
            if len(out) != len(channels):
                raise HarnessError(f"model.{key} has {len(out)} entries for {len(channels)} "
                                   "convolutions (model.channels); give one per "
                                   "convolution, or one int for all.")
            return out

        kernels = each(kernel_size, "kernel_size")
        pads = [k // 2 for k in kernels] if padding is None else each(padding, "padding")
        layers: list[nn.Module] = [nn.Unflatten(1, (1, in_features))]
        width, length = 1, in_features
        for c, k, pad in zip(channels, kernels, pads, strict=True):
            if length + 2 * pad < k:
                raise HarnessError(f"model.padding {pad} leaves no position for a kernel of "
                                   f"{k} over {length} inputs; use a larger padding or "
                                   "fewer convolutions.")
            layers += [nn.Conv1d(width, int(c), k, stride=2, padding=pad),
                       ACTIVATIONS[activation]()]
            width, length = int(c), (length + 2 * pad - k) // 2 + 1
        layers += [nn.Flatten(), nn.Linear(width * length, out_features)]
        super().__init__(nn.Sequential(*layers), out_features)


class GRU(Head):
    """A gated recurrent unit (Cho et al. 2014) over the features read as a sequence of
    scalars, every step's hidden state into a linear head: the MNIST-1D paper's
    ``GRUBase`` (Greydanus 2020, github.com/greydanus/mnist1d ``notebooks/models.py``).

    Shapes: ``[N, in_features]`` is read as ``N`` sequences of ``in_features`` steps of
    one input each; the GRU's ``[N, in_features, D * hidden_size]`` outputs (``D`` = 2
    directions when ``bidirectional``, forward then backward along the last axis, as
    ``torch.nn.GRU`` orders them) are flattened into a linear layer to ``out_features``
    (``[N, out_features]``; ``[N]`` for one output). The initial state is zero. Defaults
    (the paper's): ``hidden_size=6``, bidirectional; for 40 inputs and 10 outputs 5,134
    parameters (324 in the GRU, 4,810 in the head).

    The parameters are a ``torch.nn.GRU``'s (its names and its initialisation), but the
    recurrence is written out with its equations (``r = σ(W_ir x + b_ir + W_hr h + b_hr)``,
    ``z = σ(W_iz x + b_iz + W_hz h + b_hz)``, ``n = tanh(W_in x + b_in + r ⊙ (W_hn h +
    b_hn))``, ``h' = (1 - z) ⊙ n + z ⊙ h``, as in ``torch.nn.GRU``'s documentation): the
    fused ``aten::gru`` has no batching rule, so this form is what lets
    ``torch.func.vmap`` stack runs. It equals ``torch.nn.GRU``'s own output to float32
    rounding (tested). The recurrence is 40 sequential steps a batch, so it trains about
    10x slower than :class:`CNN1D` (the paper says the same of its GRU).
    """

    def __init__(self, in_features: int, out_features: int, hidden_size: int = 6,
                 bidirectional: bool = True):
        body = _GRUBody(in_features, out_features, int(hidden_size), bool(bidirectional))
        super().__init__(body, out_features)


class _GRUBody(nn.Module):
    def __init__(self, length: int, out_features: int, hidden_size: int,
                 bidirectional: bool):
        super().__init__()
        self.rnn = nn.GRU(1, hidden_size, batch_first=True, bidirectional=bidirectional)
        self.directions = 2 if bidirectional else 1
        self.head = nn.Linear(length * self.directions * hidden_size, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rnn = self.rnn
        xs = x.unsqueeze(-1)  # [N, L, 1]: one input per step
        parts = [self._direction(xs, rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0,
                                 rnn.bias_hh_l0, reverse=False)]
        if self.directions == 2:
            parts.append(self._direction(xs, rnn.weight_ih_l0_reverse,
                                         rnn.weight_hh_l0_reverse, rnn.bias_ih_l0_reverse,
                                         rnn.bias_hh_l0_reverse, reverse=True))
        out = torch.cat(parts, -1)  # [N, L, D * H], step t's states of both directions
        return self.head(out.reshape(out.shape[0], -1))

    @staticmethod
    def _direction(xs: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
                   b_ih: torch.Tensor, b_hh: torch.Tensor, reverse: bool) -> torch.Tensor:
        """One direction's hidden state at every step, ``[N, L, H]``."""
        hidden, length = w_hh.shape[1], xs.shape[1]
        gi = xs @ w_ih.T + b_ih  # [N, L, 3H]: every step's input gates at once
        h = xs.new_zeros(xs.shape[0], hidden)
        states: list[torch.Tensor] = [h] * length
        for t in (range(length - 1, -1, -1) if reverse else range(length)):
            gh = h @ w_hh.T + b_hh  # [N, 3H]
            g = gi[:, t]
            rz = torch.sigmoid(g[:, :2 * hidden] + gh[:, :2 * hidden])
            r, z = rz[:, :hidden], rz[:, hidden:]
            cand = torch.tanh(g[:, 2 * hidden:] + r * gh[:, 2 * hidden:])
            h = (1 - z) * cand + z * h
            states[t] = h
        return torch.stack(states, 1)
