"""Models: shapes in the canonical encodings, sizes from the data, every model trains."""

from __future__ import annotations

import pytest
import torch

from harness import models
from harness.config import validate
from harness.errors import HarnessError
from harness.jobs.job import call
from losses.params import InvalidParameterError
from tests.helpers import make_cfg

MODELS = ["linear", "mlp", "cnn1d", "gru"]


CLASSES = {"linear": models.Linear, "mlp": models.MLP, "cnn1d": models.CNN1D,
           "gru": models.GRU}


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


# ---------------------------------------------------------------- the MNIST-1D paper's models
def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# Greydanus (2020), github.com/greydanus/mnist1d notebooks/models.py, as its benchmark
# notebook prints them for 40 inputs and 10 classes: "Initialized LinearBase model with
# 410 parameters", MLPBase 15210, ConvBase 5210, GRUBase 5134
PAPER_PARAMETERS = {"linear": 410, "mlp": 15_210, "cnn1d": 5_210, "gru": 5_134}


@pytest.mark.parametrize("name", sorted(PAPER_PARAMETERS))
def test_mnist1d_models_have_the_papers_sizes(name):
    cfg = make_cfg("data=mnist1d", f"model={name}")  # sizes from the data set's reference
    net = call(cfg.model, in_features=40, out_features=10)
    assert n_params(net) == PAPER_PARAMETERS[name]
    assert net(torch.randn(3, 40)).shape == (3, 10)


def test_the_papers_mlp_and_cnn_layer_by_layer():
    """Against the paper's forward passes (MLPBase, ConvBase of github.com/greydanus/mnist1d
    notebooks/models.py) written out with torch.nn.functional on the module's weights."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    x = torch.randn(7, 40)
    mlp = call(make_cfg("data=mnist1d", "model=mlp").model, in_features=40, out_features=10)
    w = [m for m in mlp.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in w] == [(40, 100), (100, 100), (100, 10)]
    h = F.linear(x, w[0].weight, w[0].bias).relu()
    h = h + F.linear(h, w[1].weight, w[1].bias).relu()  # MLPBase's skip connection
    torch.testing.assert_close(mlp(x), F.linear(h, w[2].weight, w[2].bias))

    cnn = call(make_cfg("data=mnist1d", "model=cnn1d").model, in_features=40, out_features=10)
    convs = [m for m in cnn.body if isinstance(m, torch.nn.Conv1d)]
    # ConvBase: Conv1d(1, 25, 5, stride 2, padding 1), Conv1d(25, 25, 3, stride 2,
    # padding 1) twice, Linear(125, 10)
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0])
            for c in convs] == [(1, 25, 5, 2, 1), (25, 25, 3, 2, 1), (25, 25, 3, 2, 1)]
    h, lengths = x.view(-1, 1, 40), []
    for conv in convs:
        h = F.conv1d(h, conv.weight, conv.bias, stride=2, padding=1).relu()
        lengths.append(h.shape[-1])
    assert lengths == [19, 10, 5]
    head = cnn.body[-1]
    torch.testing.assert_close(cnn(x), F.linear(h.reshape(7, -1), head.weight, head.bias))


def test_residual_and_padding_change_no_other_run():
    """Off (the default), the keys leave every earlier config's run id as it was."""
    from harness.jobs.job import identity, run_id

    for model in ("mlp", "cnn1d"):
        flat, rid = identity(make_cfg(f"model={model}"), {"model": model})
        key = "model.residual" if model == "mlp" else "model.padding"
        assert key in flat and rid == run_id({k: v for k, v in flat.items() if k != key})
    on, _ = identity(make_cfg("model=mlp", "model.residual=true"), {"model": "mlp"})
    assert run_id(on) != identity(make_cfg("model=mlp"), {"model": "mlp"})[1]
    plain = models.MLP(5, 1, hidden=(4, 4))
    assert [n for n, _ in plain.named_parameters()] == [
        "body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias", "body.4.weight",
        "body.4.bias"]  # names as before residual existed (saved weights still load)


def test_cnn1d_padding_is_one_int_or_one_per_convolution():
    same = models.CNN1D(40, 3, channels=(4, 4), kernel_size=5)
    assert [c.padding[0] for c in same.body if isinstance(c, torch.nn.Conv1d)] == [2, 2]
    given = models.CNN1D(40, 3, channels=(4, 4), kernel_size=5, padding=[0, 1])
    assert [c.padding[0] for c in given.body if isinstance(c, torch.nn.Conv1d)] == [0, 1]
    assert given(torch.randn(2, 40)).shape == (2, 3)
    with pytest.raises(HarnessError, match="padding has 3 entries for 2 convolutions"):
        models.CNN1D(40, 3, channels=(4, 4), padding=[1, 1, 1])
    with pytest.raises(HarnessError, match="leaves no position"):
        models.CNN1D(4, 3, channels=(4, 4, 4), kernel_size=5, padding=0)
    with pytest.raises(InvalidParameterError, match="'model.padding' parameter must be"):
        validate(make_cfg("model=cnn1d", "model.padding=-1"))


def test_cnn1d_takes_one_kernel_size_or_one_per_convolution():
    a = models.CNN1D(40, 3, channels=(4, 4), kernel_size=3)
    b = models.CNN1D(40, 3, channels=(4, 4), kernel_size=[3, 3])
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]
    with pytest.raises(HarnessError, match="kernel_size has 2 entries for 3 convolutions"):
        models.CNN1D(40, 3, channels=(4, 4, 4), kernel_size=[5, 3])


@pytest.mark.parametrize("value, ok", [("5", True), ("[5,3,3]", True), ("0", False),
                                       ("[5,0,3]", False), ("[]", False)])
def test_cnn1d_kernel_size_is_checked_before_anything_runs(value, ok):
    cfg = make_cfg("model=cnn1d", f"model.kernel_size={value}")
    if ok:
        validate(cfg)
        return
    with pytest.raises(InvalidParameterError, match="'model.kernel_size' parameter must be "
                       "an int in the range \\[1, inf\\) or a"):
        validate(cfg)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_gru_equals_torchs_gru(bidirectional):
    """The recurrence written out (so vmap can stack it) gives torch.nn.GRU's outputs."""
    torch.manual_seed(0)
    net = models.GRU(40, 10, hidden_size=6, bidirectional=bidirectional)
    x = torch.randn(16, 40)
    states, _ = net.body.rnn(x.unsqueeze(-1))  # [N, L, D * H], torch's own kernel
    expected = net.body.head(states.reshape(16, -1))
    torch.testing.assert_close(net(x), expected, rtol=1e-5, atol=1e-6)
    grads = torch.autograd.grad(net(x).square().sum(), list(net.parameters()))
    ref = torch.autograd.grad(expected.square().sum(), list(net.parameters()))
    for g, r in zip(grads, ref, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-6)


def test_gru_reads_the_signal_in_order():
    torch.manual_seed(0)
    net = models.GRU(12, 4, hidden_size=3, bidirectional=False)
    x = torch.randn(5, 12)
    assert not torch.allclose(net(x), net(x.flip(1)))
    # a forward GRU's first state sees only the first step
    first = net.body._direction(x.unsqueeze(-1), net.body.rnn.weight_ih_l0,
                                net.body.rnn.weight_hh_l0, net.body.rnn.bias_ih_l0,
                                net.body.rnn.bias_hh_l0, reverse=False)[:, 0]
    y = x.clone()
    y[:, 1:] = 0
    again = net.body._direction(y.unsqueeze(-1), net.body.rnn.weight_ih_l0,
                                net.body.rnn.weight_hh_l0, net.body.rnn.bias_ih_l0,
                                net.body.rnn.bias_hh_l0, reverse=False)[:, 0]
    torch.testing.assert_close(first, again)


@pytest.mark.parametrize("model, extra", [
    ("gru", []), ("cnn1d", ["model.kernel_size=[5,3,3]", "model.padding=1"]),
    ("mlp", ["model.residual=true", "model.hidden=[16,16,16]"])])
def test_new_model_forms_stack_as_they_run_alone(model, extra):
    from tests.test_vectorized import DOUBLE_RTOL, check_group

    members = [["seed=0", "loss=ce"], ["seed=1", "loss=gce", "data.label_noise=0.2"]]
    common = ["data=mnist1d", "data.n_samples=240", "trainer.epochs=2",
              f"model={model}", *extra]
    check_group(members, common)
    check_group(members, common, rtol=DOUBLE_RTOL, double=True)
