"""Typed config schemas (Hydra ConfigStore), their validation, and config flattening.

Each group file in ``conf/`` starts from one of these schemas
(``defaults: [/schema/<group>/<name>@_here_]``), so a misspelt key or a value of the wrong
type fails while Hydra composes the config. Numeric ranges and string choices live in
each field's metadata (``check``) and are enforced by :func:`validate` with the same
one-line message as the loss registry. Loss schemas are generated from the registry, so a
loss's parameters and their ranges are written in one place only.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, make_dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, ListConfig, OmegaConf

import losses
from harness.data import CORRUPTIONS
from harness.models import ACTIVATIONS
from losses import Choice, Interval

GROUPS = ("data", "model", "loss", "optim", "trainer")


def ranged(default: Any, interval: str, kind: type = float, each: bool = False,
           optional: bool = False) -> Any:
    """A dataclass field whose value (or each item, for a list) must lie in ``interval``;
    ``optional`` fields may also be None (null in YAML)."""
    factory = {"default_factory": lambda: list(default)} if each else {"default": default}
    return field(**factory, metadata={"check": Interval(interval, kind), "each": each,
                                      "optional": optional})


def one_of(default: str, *options: str) -> Any:
    return field(default=default, metadata={"check": Choice(options)})


# ---------------------------------------------------------------- data
# Every data schema = the source's own keys + the split + the task's corruption keys.
# ``corruption`` picks a kind from harness.data.CORRUPTIONS; the level key
# (``outlier_frac`` / ``label_noise``, see harness.data.LEVEL_KEY) is the fraction of
# training points it corrupts; the other keys are parameters of some of the kinds.
@dataclass
class SplitSchema:
    val_frac: float = ranged(0.2, "(0, 0.5]")
    test_frac: float = ranged(0.2, "(0, 0.5]")


@dataclass
class RegressionCorruption:
    corruption: str = one_of("outliers", *CORRUPTIONS["regression"])
    outlier_frac: float = ranged(0.0, "[0, 1]")  # the level: fraction of training points
    outlier_scale: float = ranged(10.0, "(0, inf)")  # outliers, leverage: size, in stds
    one_sided: bool = False  # outliers, leverage: all shifts upwards
    df: float = ranged(2.0, "(0, inf)")  # heavy_tail: Student-t degrees of freedom
    tail_scale: float = ranged(1.0, "(0, inf)")  # heavy_tail: scale of the t noise
    # standardised: targets in clean-training-target stds; raw: the source's own units
    # (diabetes: positive, for msle), the corruption applied in std units all the same
    targets: str = one_of("standardised", "standardised", "raw")


@dataclass
class BinaryCorruption:
    corruption: str = one_of("symmetric", *CORRUPTIONS["binary"])
    label_noise: float = ranged(0.0, "[0, 0.5)")  # the level: fraction of labels flipped


@dataclass
class MulticlassCorruption:
    corruption: str = one_of("symmetric", *CORRUPTIONS["multiclass"])
    label_noise: float = ranged(0.0, "[0, 1)")  # the level: fraction of labels changed


@dataclass
class Bundled:
    """A data set shipped with a package: all rows, or a random subset of them."""

    n_samples: int | None = ranged(None, "[10, inf)", int, optional=True)


@dataclass
class OutliersData(SplitSchema, RegressionCorruption):
    _target_: str = "harness.data.outliers"
    n_samples: int = ranged(2000, "[10, inf)", int)
    n_features: int = ranged(20, "[1, inf)", int)
    n_informative: int = ranged(10, "[1, inf)", int)
    noise: float = ranged(0.1, "[0, inf)")
    outlier_frac: float = ranged(0.2, "[0, 1]")


@dataclass
class FriedmanData(SplitSchema, RegressionCorruption):
    _target_: str = "harness.data.friedman"
    n_samples: int = ranged(2000, "[10, inf)", int)
    n_features: int = ranged(10, "[5, inf)", int)
    noise: float = ranged(0.1, "[0, inf)")


@dataclass
class DiabetesData(SplitSchema, RegressionCorruption, Bundled):
    _target_: str = "harness.data.diabetes"


@dataclass
class BinaryData(SplitSchema, BinaryCorruption):
    _target_: str = "harness.data.binary"
    n_samples: int = ranged(2000, "[10, inf)", int)
    n_features: int = ranged(20, "[1, inf)", int)
    n_informative: int = ranged(5, "[1, inf)", int)
    class_sep: float = ranged(1.0, "(0, inf)")


@dataclass
class MoonsData(SplitSchema, BinaryCorruption):
    _target_: str = "harness.data.moons"
    n_samples: int = ranged(2000, "[10, inf)", int)
    noise: float = ranged(0.2, "[0, inf)")


@dataclass
class BreastCancerData(SplitSchema, BinaryCorruption, Bundled):
    _target_: str = "harness.data.breast_cancer"


@dataclass
class MulticlassData(SplitSchema, MulticlassCorruption):
    _target_: str = "harness.data.multiclass"
    n_samples: int = ranged(2000, "[10, inf)", int)
    n_features: int = ranged(20, "[1, inf)", int)
    n_informative: int = ranged(8, "[1, inf)", int)
    n_classes: int = ranged(5, "[3, inf)", int)
    class_sep: float = ranged(1.0, "(0, inf)")


@dataclass
class IrisData(SplitSchema, MulticlassCorruption, Bundled):
    _target_: str = "harness.data.iris"


@dataclass
class WineData(SplitSchema, MulticlassCorruption, Bundled):
    _target_: str = "harness.data.wine"


@dataclass
class DigitsData(SplitSchema, MulticlassCorruption, Bundled):
    _target_: str = "harness.data.digits"


@dataclass
class MNIST1DData(MulticlassCorruption):
    _target_: str = "harness.data.mnist1d"
    n_samples: int = ranged(5000, "[50, inf)", int)  # the generator's num_samples
    val_frac: float = ranged(0.2, "(0, 0.5]")  # of its training rows; its test split stays


# ---------------------------------------------------------------- models
@dataclass
class LinearModel:
    _target_: str = "harness.models.Linear"


@dataclass
class MLPModel:
    _target_: str = "harness.models.MLP"
    hidden: list[int] = ranged([64, 64], "[1, inf)", int, each=True)
    activation: str = one_of("relu", *ACTIVATIONS)


@dataclass
class CNN1DModel:
    _target_: str = "harness.models.CNN1D"
    channels: list[int] = ranged([32, 32, 32], "[1, inf)", int, each=True)
    kernel_size: int = ranged(5, "[1, inf)", int)
    activation: str = one_of("relu", *ACTIVATIONS)


# ---------------------------------------------------------------- optimisers
@dataclass
class AdamOptim:
    _target_: str = "torch.optim.Adam"
    lr: float = ranged(1e-3, "(0, inf)")
    weight_decay: float = ranged(0.0, "[0, inf)")
    fused: bool = True  # one fused kernel for the whole update: ~0.75x the time on CPU


@dataclass
class AdamWOptim:
    _target_: str = "torch.optim.AdamW"
    lr: float = ranged(1e-3, "(0, inf)")
    weight_decay: float = ranged(0.01, "[0, inf)")
    fused: bool = True


@dataclass
class SGDOptim:
    _target_: str = "torch.optim.SGD"
    lr: float = ranged(0.01, "(0, inf)")
    momentum: float = ranged(0.9, "[0, 1)")
    weight_decay: float = ranged(0.0, "[0, inf)")
    nesterov: bool = False


# ---------------------------------------------------------------- trainer
@dataclass
class TrainerSchema:
    epochs: int = ranged(50, "[1, inf)", int)
    batch_size: int = ranged(64, "[1, inf)", int)
    device: str = one_of("auto", "auto", "cpu", "cuda")
    progress: bool = True


@dataclass
class HarnessSchema:
    data: Any = MISSING
    model: Any = MISSING
    loss: Any = MISSING
    optim: Any = MISSING
    trainer: Any = MISSING
    seed: int = ranged(0, "[0, inf)", int)


def loss_schema(spec: losses.LossSpec) -> type:
    """A dataclass for ``conf/loss/<name>.yaml``: ``_target_``, ``name`` and the loss's
    parameters with the registry's defaults and ranges."""
    params = [(p.name, float, field(default=p.default, metadata={"check": p.range}))
              for p in spec.params]
    return make_dataclass(f"{spec.name}_loss",
                          [("_target_", str, field(default="losses.get")),
                           ("name", str, field(default=spec.name)), *params])


SCHEMAS = {
    "data": {"outliers": OutliersData, "friedman": FriedmanData, "diabetes": DiabetesData,
             "binary": BinaryData, "moons": MoonsData, "breast_cancer": BreastCancerData,
             "multiclass": MulticlassData, "iris": IrisData, "wine": WineData,
             "digits": DigitsData, "mnist1d": MNIST1DData},
    "model": {"linear": LinearModel, "mlp": MLPModel, "cnn1d": CNN1DModel},
    "optim": {"adam": AdamOptim, "adamw": AdamWOptim, "sgd": SGDOptim},
    "trainer": {"default": TrainerSchema},
}


def register_configs() -> None:
    """Put every schema in Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="harness_schema", node=HarnessSchema)
    for group, table in SCHEMAS.items():
        for name, node in table.items():
            cs.store(group=f"schema/{group}", name=name, node=node)
    for name in losses.available():
        cs.store(group="schema/loss", name=name, node=loss_schema(losses.spec(name)))


def validate(cfg: DictConfig) -> None:
    """Check every ranged/choice field of the composed config; raise on the first bad one."""
    _check_node("", cfg)
    for group in GROUPS:
        owner = str(cfg.loss.name) if group == "loss" else ""
        _check_node(f"{group}.", cfg[group], owner)


def _check_node(prefix: str, node: DictConfig, owner: str = "") -> None:
    schema = OmegaConf.get_type(node)
    if not is_dataclass(schema):
        return
    for f in fields(schema):
        check = f.metadata.get("check")
        if check is None:
            continue
        value = node[f.name]
        if value is None and f.metadata.get("optional"):
            continue
        for item in (value if f.metadata.get("each") else [value]):
            check.check(prefix + f.name, item, owner)


def _plain(value: Any) -> Any:
    """Config values as table cells: lists become their JSON text, so they stay
    hashable for a pandas groupby."""
    if isinstance(value, (ListConfig, list, tuple)):
        return json.dumps(OmegaConf.to_container(value) if isinstance(value, ListConfig)
                          else list(value))
    return value


def flatten(cfg: DictConfig, choices: dict[str, str]) -> dict[str, Any]:
    """``{"loss": "huber", "loss.delta": 1.0, "data": "outliers", ..., "seed": 0}``.

    Group columns hold the chosen option's name; ``_target_`` and ``loss.name`` (already
    the ``loss`` column) are left out.
    """
    flat: dict[str, Any] = {}
    for group in GROUPS:
        flat[group] = choices.get(group, group)
        for key, value in cfg[group].items():
            if key == "_target_" or (group == "loss" and key == "name"):
                continue
            flat[f"{group}.{key}"] = _plain(value)
    for key, value in cfg.items():
        if key not in GROUPS and key != "hydra":
            flat[key] = _plain(value)
    return flat
