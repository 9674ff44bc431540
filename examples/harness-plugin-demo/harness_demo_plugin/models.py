"""``model=tiny``: one hidden layer of ``width`` tanh units."""

import torch

from harness.plugins import model


@model("tiny", ranges={"width": "[1, inf)"})
class Tiny(torch.nn.Module):
    """A one-hidden-layer tanh network; ``[N]`` predictions for one output."""

    def __init__(self, in_features: int, out_features: int, *, width: int = 16):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(in_features, width), torch.nn.Tanh(),
                                       torch.nn.Linear(width, out_features))
        self.squeeze = out_features == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out.squeeze(-1) if self.squeeze else out
