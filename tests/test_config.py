"""Every config group file composes, instantiates and validates (no training)."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

import losses
from harness.config import SCHEMAS, data_schema, flatten, from_reference, validate
from harness.data import CORRUPTIONS, LEVEL_KEY, SOURCES, knobs
from harness.errors import HarnessError
from harness.jobs.job import build_loss, call, data_task
from harness.seeding import derive_seeds
from losses import InvalidParameterError
from tests.helpers import CONF, make_cfg


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_every_loss_has_a_config_file_and_back():
    assert options("loss") == losses.available()


@pytest.mark.parametrize("group", ["model", "optim", "trainer"])
def test_every_group_file_has_a_schema(group):
    assert options(group) == sorted(SCHEMAS[group])


def test_every_data_set_has_a_config_file_and_back():
    assert options("data") == sorted(SOURCES)


@pytest.mark.parametrize("name", options("data"))
def test_data_configs_build(name):
    table = [f"data.path={CONF.parent / 'examples/data/diabetes.csv'}",
             "data.target=progression"] if name == "table" else []
    cfg = make_cfg(f"data={name}", "data.n_samples=150", *table)  # iris has 150 rows
    validate(cfg)
    data = call(cfg.data, seeds=derive_seeds(0))
    assert data.task == data_task(cfg)
    assert len(data.X["train"]) + len(data.X["val"]) + len(data.X["test"]) == 150
    assert data.info["corruption"] == (cfg.data.corruption if cfg.data.corruption != "auto"
                                       else "outliers")  # auto: the task's default kind
    level_key = LEVEL_KEY[data.task]
    assert data.info["corruption_level"] == cfg.data[level_key]


@pytest.mark.parametrize("name", options("data"))
def test_data_config_files_are_the_schema_line_only(name):
    # every default is declared once, with the source; the file only picks the schema
    text = (CONF / "data" / f"{name}.yaml").read_text()
    keys = [ln for ln in text.splitlines() if ln and not ln.lstrip().startswith(("#", "-"))]
    assert keys == ["defaults:"] and f"/schema/data/{name}@_here_" in text
    assert data_schema(name)._target_ == f"harness.data.{name}"
    cfg = make_cfg(f"data={name}")
    from_ref = {k.removeprefix("data."): v for k, v in from_reference(cfg).items()
                if k.startswith("data.")}  # a reference schedule's values (mnist1d)
    assert {k: v for k, v in cfg.data.items() if k != "_target_"} == \
        {k.name: from_ref.get(k.name, k.default) for k in knobs(name)}


@pytest.mark.parametrize("name, task", [("diabetes", "regression"), ("moons", "binary"),
                                        ("wine", "multiclass")])
def test_any_corruption_of_the_task_composes_with_any_data_set(name, task):
    for kind in CORRUPTIONS[task]:
        cfg = make_cfg(f"data={name}", f"data.corruption={kind}", f"data.{LEVEL_KEY[task]}=0.2")
        validate(cfg)
        data = call(cfg.data, seeds=derive_seeds(0))
        assert data.info["corruption"] == kind and data.info["realised_corruption"] > 0.19


NETWORKS = [m for m in options("model") if not m.startswith("sklearn_")]


@pytest.mark.parametrize("model", NETWORKS)
@pytest.mark.parametrize("optim", options("optim"))
def test_model_and_optim_configs_instantiate(model, optim):
    cfg = make_cfg(f"model={model}", f"optim={optim}")
    validate(cfg)
    net = call(cfg.model, in_features=7, out_features=3)
    opt = call(cfg.optim, params=net.parameters())
    assert opt.defaults["lr"] == cfg.optim.lr


@pytest.mark.parametrize("model", [m for m in options("model") if m not in NETWORKS])
def test_baseline_configs_build_their_estimator(model):
    from sklearn.base import BaseEstimator

    cfg = make_cfg(f"model={model}")
    validate(cfg)
    estimator = call(cfg.model)
    assert isinstance(estimator, BaseEstimator)
    assert {k: estimator.get_params()[k] for k in cfg.model if k != "_target_"} == \
        {k: v for k, v in cfg.model.items() if k != "_target_"}


@pytest.mark.parametrize("name", options("loss"))
def test_loss_configs_build_the_registered_loss(name):
    cfg = make_cfg(f"loss={name}")
    loss = build_loss(cfg)
    assert loss.name == name
    assert loss.params == losses.spec(name).defaults()
    # the file only names its schema: every default lives in the registry
    text = (CONF / "loss" / f"{name}.yaml").read_text()
    keys = [ln for ln in text.splitlines() if ln and not ln.lstrip().startswith(("#", "-"))]
    assert keys == ["defaults:"] and f"/schema/loss/{name}@_here_" in text


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
    ("model.hidden=[32,0]",
     "The 'model.hidden' parameter must be a list of ints in the range [1, inf). "
     "Got [32, 0] instead."),
    ("seed=-1", "The 'seed' parameter must be an int in the range [0, inf). Got -1 instead."),
    ("data.corruption=pair",
     "The 'data.corruption' parameter must be one of 'outliers', 'heavy_tail', 'leverage'. "
     "Got 'pair' instead."),
    ("data.df=0", "The 'data.df' parameter must be a float in the range (0, inf). Got 0.0 "
     "instead."),
    ("data=binary data.label_noise=0.5",
     "The 'data.label_noise' parameter must be a float in the range [0, 0.5). Got 0.5 "
     "instead."),
    ("data=iris data.n_samples=5",
     "The 'data.n_samples' parameter must be an int in the range [10, inf). Got 5 instead."),
    ("data=mnist1d data.corruption=outliers",
     "The 'data.corruption' parameter must be one of 'symmetric', 'pair'. Got 'outliers' "
     "instead."),
    ("model=cnn1d model.channels=[8,0]",
     "The 'model.channels' parameter must be a list of ints in the range [1, inf). "
     "Got [8, 0] instead."),
])
def test_validate_names_key_range_and_value(override, message):
    with pytest.raises(InvalidParameterError) as err:
        validate(make_cfg(*override.split()))
    assert str(err.value) == message


def test_bundled_data_take_null_for_all_rows():
    cfg = make_cfg("data=digits")
    assert cfg.data.n_samples is None
    validate(cfg)  # None passes the optional range check
    validate(make_cfg("data=digits", "data.n_samples=500"))


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


def test_a_data_set_keeps_its_declared_level_default_and_own_test_split():
    assert make_cfg("data=outliers").data.outlier_frac == 0.2  # gross outliers by default
    assert make_cfg("data=friedman").data.outlier_frac == 0.0
    assert "test_frac" not in make_cfg("data=mnist1d").data  # its own test split stays
    assert make_cfg("data=diabetes").data.n_samples is None  # optional: all rows


def test_the_builder_checks_its_keys_called_without_the_cli():
    from harness.data import outliers

    with pytest.raises(InvalidParameterError, match="'data.outlier_frac' parameter"):
        outliers(seeds=derive_seeds(0), outlier_frac=2.0)
    with pytest.raises(HarnessError, match="has no key.*bogus"):
        outliers(seeds=derive_seeds(0), bogus=1)


def test_config_activation_names_are_the_models():
    from harness.config import ACTIVATIONS
    from harness.models import ACTIVATIONS as MODULES

    assert ACTIVATIONS == tuple(MODULES)


def test_an_interpolated_config_with_hydras_node_is_checked_without_resolving_hydra():
    """The MNIST-1D reference interpolates the groups' keys: such a config is resolved
    whole to be checked, but Hydra's own node (whose ``hydra_help`` is ``???`` until
    Hydra fills it) is not the run's and is not resolved."""
    from harness.config import containers, register_configs, validate
    from harness.jobs.compose import Composer
    from tests.helpers import CONF

    register_configs()
    full = Composer.for_conf_dir(CONF, ["hydra.sweep.dir=/tmp/x"])(["data=mnist1d", "seed=1"])
    values, raw = containers(full)
    assert "hydra" not in values and "hydra" in raw
    assert values["trainer"]["epochs"] == full.reference.trainer.epochs
    validate(full)
