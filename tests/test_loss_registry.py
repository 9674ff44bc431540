"""The registry as a package: its import weight, its lazy torch, and registering names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import losses
from losses import LossError, Param
from losses.registry import _NAMES, _SPECS

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str) -> subprocess.CompletedProcess:
    """``python -c code`` in the repository root, so ``import losses`` is this checkout's."""
    check = f"import losses; assert losses.__file__.startswith({str(ROOT)!r}), losses.__file__"
    return subprocess.run([sys.executable, "-c", check + "\n" + code], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


def test_import_losses_and_read_the_metadata_without_torch():
    """The harness's --help builds its Hydra schemas from the registry: that must not pay
    torch's import."""
    proc = run_python(
        "import losses, sys\n"
        "losses.available(); losses.spec('huber')\n"
        "for n in losses.available():\n"
        "    s = losses.spec(n)\n"
        "    s.doc, s.summary, s.prediction, s.target, s.describe('bounded')\n"
        "    [(p.name, p.default, p.range) for p in s.params]\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "losses.get('huber', delta=2.0)  # building checks parameters only\n"
        "assert 'torch' not in sys.modules, 'torch imported by get'\n"
        "import torch\n"
        "print(float(losses.get('huber')(torch.tensor([3.0]), torch.tensor([0.0]))))\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "2.5"


def test_lazy_proxies_are_replaced_by_the_real_modules_on_first_use():
    proc = run_python(
        "import losses.regression as r, losses.multiclass as m, losses.registry as g\n"
        "from losses._lazy import LazyModule\n"
        "assert isinstance(r.torch, LazyModule) and isinstance(m.F, LazyModule)\n"
        "import torch, torch.nn.functional as F\n"
        "huber = __import__('losses').get('huber')\n"
        "huber.unreduced(torch.zeros(2), torch.ones(2))  # reads F.huber_loss\n"
        "assert r.torch is torch and r.F is F and g.torch is torch, (r.torch, r.F)\n"
        "assert m.torch is torch and m.F is F  # every module bound at once\n")
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def scratch_registry():
    """Remove whatever a test registers."""
    names, specs = dict(_NAMES), dict(_SPECS)
    yield
    _NAMES.clear(), _NAMES.update(names)
    _SPECS.clear(), _SPECS.update(specs)


@pytest.mark.parametrize(("name", "aliases", "holder"), [
    ("huber", (), "'huber' is already taken (the name, registered by "
                  "losses.regression.huber)"),
    ("my_loss", ("L2",), "'l2' is already taken (an alias of 'mse', registered by "
                         "losses.regression.mse)"),
    ("MSE", (), "'mse' is already taken (the name, registered by losses.regression.mse)"),
])
def test_registering_a_taken_name_is_one_line_naming_the_holder(scratch_registry, name,
                                                                 aliases, holder):
    before = losses.available()
    with pytest.raises(LossError) as info:
        @losses.register(name, task="regression", aliases=aliases)
        def mine(pred, target):
            r"""Mine: :math:`r`. Reference: none."""
            return pred - target
    message = str(info.value)
    assert "\n" not in message
    assert message == f"Cannot register loss {name!r}: {holder}; choose another name."
    assert losses.available() == before  # nothing half-registered


def test_a_plugin_registers_and_is_found(scratch_registry):
    @losses.register("plugin_sq", task="regression", aliases=("plugin_square",),
                     params=[Param("w", 1.0, "(0, inf)", "weight")])
    def plugin_sq(pred, target, *, w):
        r"""Weighted squared error: :math:`w r^2`.

        Reference: none.
        """
        return w * (pred - target).square()

    assert "plugin_sq" in losses.available("regression")
    assert losses.spec("PLUGIN_SQUARE").origin.endswith("plugin_sq")
    assert "w: weight; a float in (0, inf), default 1.0." in losses.spec("plugin_sq").doc
    with pytest.raises(LossError, match="'plugin_sq' is already taken"):
        losses.register("plugin_sq", task="binary")


def test_int_parameter_accepts_whole_floats_only(scratch_registry):
    @losses.register("plugin_order", task="regression",
                     params=[Param("order", 2, "[1, inf)", "terms", kind=int)])
    def plugin_order(pred, target, *, order):
        r"""Order: :math:`|r|^k`. Reference: none."""
        return (pred - target).abs() ** order

    assert losses.get("plugin_order", order=3.0).params == {"order": 3}
    assert type(losses.get("plugin_order", order=3.0).params["order"]) is int
    with pytest.raises(losses.InvalidParameterError) as info:
        losses.get("plugin_order", order=2.5)
    assert str(info.value) == ("The 'order' parameter of plugin_order must be an int in "
                               "the range [1, inf). Got 2.5 instead.")
    assert "order: terms; an int in [1, inf), default 2." in losses.spec("plugin_order").doc


def test_inverse_link_gives_predictions_in_the_target_s_units():
    import torch

    eta = torch.tensor([0.0, 1.0, -2.0])
    for name in ("poisson", "gamma", "tweedie"):
        torch.testing.assert_close(losses.get(name).inverse_link(eta), eta.exp())
        assert losses.spec(name).prediction.startswith("log of the predicted mean")
    for name in ("mse", "huber", "bce", "ce"):
        assert losses.get(name).inverse_link(eta) is eta


def test_a_fused_mean_given_by_import_path_is_the_torch_function_after_the_first_call():
    """No wrapper between a training step and torch's fused kernel."""
    import torch
    import torch.nn.functional as F

    loss = losses.get("huber", delta=0.5)
    assert loss._fused_mean is not F.huber_loss  # not imported at build time
    first = loss(torch.tensor([0.0, 2.0]), torch.zeros(2))
    assert loss._fused_mean is F.huber_loss
    assert float(first) == float(loss(torch.tensor([0.0, 2.0]), torch.zeros(2))) == 0.4375
