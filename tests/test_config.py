"""Every config group file composes, instantiates and validates (no training)."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

import losses
from harness.config import SCHEMAS, flatten, validate
from harness.run import build_loss, call, data_task
from harness.seeding import derive_seeds
from losses import InvalidParameterError
from tests.conftest import CONF, TINY, make_cfg


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_every_loss_has_a_config_file_and_back():
    assert options("loss") == losses.available()


@pytest.mark.parametrize("group", ["data", "model", "optim", "trainer"])
def test_every_group_file_has_a_schema(group):
    assert options(group) == sorted(SCHEMAS[group])


@pytest.mark.parametrize("name", options("data"))
def test_data_configs_build(name):
    cfg = make_cfg(f"data={name}", *TINY)
    validate(cfg)
    data = call(cfg.data, seeds=derive_seeds(0))
    assert data.task == data_task(cfg)
    assert len(data.X["train"]) + len(data.X["val"]) + len(data.X["test"]) == 200


@pytest.mark.parametrize("model", options("model"))
@pytest.mark.parametrize("optim", options("optim"))
def test_model_and_optim_configs_instantiate(model, optim):
    cfg = make_cfg(f"model={model}", f"optim={optim}")
    validate(cfg)
    net = call(cfg.model, in_features=7, out_features=3)
    opt = call(cfg.optim, params=net.parameters())
    assert opt.defaults["lr"] == cfg.optim.lr


@pytest.mark.parametrize("name", options("loss"))
def test_loss_configs_build_the_registered_loss(name):
    cfg = make_cfg(f"loss={name}")
    loss = build_loss(cfg)
    assert loss.name == name
    assert loss.params == losses.spec(name).defaults()


def test_typed_schema_rejects_misspelt_key():
    with pytest.raises(Exception, match="detla"):
        make_cfg("loss=huber", "loss.detla=2")


def test_typed_schema_rejects_wrong_type():
    with pytest.raises(Exception, match="trainer.batch_size=abc") as err:
        make_cfg("trainer.batch_size=abc")
    assert "could not be converted to Integer" in str(err.value.__cause__)


@pytest.mark.parametrize("override, message", [
    ("data.outlier_frac=1.5",
     "The 'data.outlier_frac' parameter must be a float in the range [0, 1]. Got 1.5 instead."),
    ("trainer.batch_size=0",
     "The 'trainer.batch_size' parameter must be an int in the range [1, inf). Got 0 instead."),
    ("trainer.device=gpu",
     "The 'trainer.device' parameter must be one of 'auto', 'cpu', 'cuda'. Got 'gpu' instead."),
    ("model.hidden=[32,0]",
     "The 'model.hidden' parameter must be an int in the range [1, inf). Got 0 instead."),
    ("seed=-1", "The 'seed' parameter must be an int in the range [0, inf). Got -1 instead."),
])
def test_validate_names_key_range_and_value(override, message):
    with pytest.raises(InvalidParameterError) as err:
        validate(make_cfg(override))
    assert str(err.value) == message


def test_loss_parameter_error_names_the_config_key():
    with pytest.raises(InvalidParameterError) as err:
        build_loss(make_cfg("loss=huber", "loss.delta=-1"))
    assert str(err.value) == ("The 'loss.delta' parameter of huber must be a float in the "
                              "range (0, inf). Got -1.0 instead.")


def test_flatten_gives_groupby_ready_columns():
    cfg = make_cfg("loss=huber", "loss.delta=0.5", "data.outlier_frac=0.1", "seed=3")
    flat = flatten(cfg, {"loss": "huber", "data": "outliers", "model": "mlp",
                         "optim": "adam", "trainer": "default"})
    assert flat["loss"] == "huber" and flat["loss.delta"] == 0.5
    assert flat["data"] == "outliers" and flat["data.outlier_frac"] == 0.1
    assert flat["seed"] == 3 and flat["model.hidden"] == "[64, 64]"
    assert not any(k.endswith("_target_") for k in flat) and "loss.name" not in flat
    assert OmegaConf.is_config(cfg)  # flatten leaves the config as it was
