"""Models: shapes in the canonical encodings, sizes from the data, every model trains."""

from __future__ import annotations

import pytest
import torch

from harness import models
from harness.jobs.job import call
from tests.helpers import make_cfg

MODELS = ["linear", "mlp", "cnn1d"]


CLASSES = {"linear": models.Linear, "mlp": models.MLP, "cnn1d": models.CNN1D}


def build(name: str, in_features: int, out_features: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return CLASSES[name](in_features, out_features)


@pytest.mark.parametrize("name", MODELS)
def test_model_configs_take_their_sizes_from_the_data(name):
    cfg = make_cfg(f"model={name}")
    assert not {"in_features", "out_features"} & set(cfg.model)  # never typed by the user
    net = call(cfg.model, in_features=40, out_features=10)
    assert isinstance(net, CLASSES[name]) and net(torch.randn(2, 40)).shape == (2, 10)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("in_features", [1, 2, 13, 40, 64])
def test_one_output_is_a_vector_and_c_outputs_are_logits(name, in_features):
    x = torch.randn(7, in_features)
    assert build(name, in_features, 1)(x).shape == (7,)
    assert build(name, in_features, 10)(x).shape == (7, 10)


@pytest.mark.parametrize("name", MODELS)
def test_every_model_fits_a_small_batch(name):
    torch.manual_seed(1)
    x, y = torch.randn(32, 40), torch.randint(0, 3, (32,))
    net = build(name, 40, 3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.5 * first


def test_cnn1d_is_small_and_sees_the_signal_as_one_channel_sequence():
    net = models.CNN1D(40, 10)
    assert sum(p.numel() for p in net.parameters()) < 20_000
    first = net.body[1]
    assert isinstance(first, torch.nn.Conv1d) and first.in_channels == 1
    # 40 -> 20 -> 10 -> 5 positions of 32 channels into the head
    assert net.body[-1].in_features == 32 * 5
    # convolutions share weights along the signal: away from the borders (where padding
    # enters), a pattern shifted by the stack's total stride (8 positions) gives the same
    # last-layer features, one position later
    net = models.CNN1D(80, 10)  # 80 -> 40 -> 20 -> 10 positions
    x = torch.zeros(1, 80)
    x[0, 30:34] = torch.tensor([1.0, -2.0, 3.0, 0.5])
    features = net.body[:-2]  # everything before Flatten and the head
    a, b = features(x)[0], features(torch.roll(x, 8, dims=1))[0]
    torch.testing.assert_close(a[:, 2:7], b[:, 3:8])
    assert not torch.allclose(a[:, 2:7], b[:, 2:7])


@pytest.mark.parametrize("kernel_size", [1, 2, 5])
@pytest.mark.parametrize("in_features", [1, 2, 30])
def test_cnn1d_runs_on_any_input_length(kernel_size, in_features):
    net = models.CNN1D(in_features, 4, channels=(8, 8, 8), kernel_size=kernel_size)
    assert net(torch.randn(3, in_features)).shape == (3, 4)


def test_mlp_layers_follow_hidden_and_activation():
    net = models.MLP(5, 2, hidden=(16, 8), activation="tanh")
    linears = [m for m in net.body if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(5, 16), (16, 8), (8, 2)]
    assert sum(isinstance(m, torch.nn.Tanh) for m in net.body) == 2
