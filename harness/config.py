"""Typed config schemas (Hydra ConfigStore), their validation, and config flattening.

Each group file in ``conf/`` starts from one of these schemas
(``defaults: [/schema/<group>/<name>@_here_]``), so a misspelt key or a value of the wrong
type fails while Hydra composes the config. Numeric ranges and string choices live in
each field's metadata (``check``) and are enforced by :func:`validate` with the same
one-line message as the loss registry. Loss schemas are generated from the registry and
data schemas from the keys each data source and corruption kind declares, so a loss's or
a data set's parameters and their ranges are written in one place only.

Importing this module imports neither torch nor scikit-learn nor pandas (``--help``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, make_dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, ListConfig, OmegaConf

from harness.data.knobs import Knob
from harness.errors import HarnessError
from losses.params import Choice, Interval, InvalidParameterError

# an absolute path: relative to a module, Hydra would look for an importable package
CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
ACTIVATIONS = ("relu", "gelu", "tanh", "silu", "leaky_relu")  # harness.models.ACTIVATIONS

GROUPS = ("data", "model", "loss", "optim", "trainer")

# ---------------------------------------------------------------- reference schedules
# A data set may carry the schedule and model sizes its source paper trained with:
# ``conf/reference/<data>.yaml`` (trainer and optimiser values, any model) and
# ``conf/reference/model/<data>_<model>.yaml`` (that model's sizes), both
# ``@package _global_``. The primary config lists them as ``optional reference: ${data}``
# and ``optional reference/model: ${data}_${model}`` after the other groups, so Hydra merges
# them after the groups' own defaults (which they replace) and before a preset
# (``+experiment=...``, appended after them) and the command line's values (applied
# last), which therefore win. Each file records its values and source under the top-level
# key ``reference`` and sets the group keys as interpolations of it
# (``trainer.epochs: ${reference.trainer.epochs}``), so ``--cfg job`` and ``--help`` show
# where each value came from; a value typed on the command line replaces the
# interpolation. ``reference`` is left out of :func:`flatten`: a run id hashes the values
# used, and data sets without a reference compose exactly as before (the optional entries
# find no file).
REFERENCE_KEY = "reference"


def from_reference(cfg: DictConfig) -> dict[str, Any]:
    """The keys of the composed config whose value comes from the data set's reference
    schedule, with that value: ``{"trainer.epochs": 150, "optim.lr": 0.01, ...}``; empty
    for a data set without one, or when every such key was set another way.
    """
    found: dict[str, Any] = {}
    for group in GROUPS:
        node = cfg.get(group)
        if not isinstance(node, DictConfig):
            continue
        for key in node:
            if OmegaConf.is_interpolation(node, key) and str(
                    node._get_node(key)._value()).startswith("${" + REFERENCE_KEY + "."):
                value = node[key]
                found[f"{group}.{key}"] = (OmegaConf.to_container(value)
                                           if isinstance(value, ListConfig) else value)
    return found


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
def _knob_field(knob: Knob) -> tuple[str, Any, Any]:
    """A declared key (:class:`harness.data.Knob`) as a dataclass field with its check."""
    kind = knob.kind | None if knob.optional else knob.kind
    if knob.choices is not None:
        return knob.name, kind, field(default=knob.default,
                                      metadata={"check": Choice(knob.choices)})
    if knob.interval is not None:
        return knob.name, kind, ranged(knob.default, knob.interval, knob.kind,
                                       optional=knob.optional)
    return knob.name, kind, field(default=knob.default)


def data_schema(name: str) -> type:
    """The schema of data set ``name`` (``conf/data/<name>.yaml``), generated from the
    keys its source, the split and its task's corruption kinds declare
    (:func:`harness.data.knobs`): ``_target_`` then every key with its default and range."""
    from harness import data

    return make_dataclass(f"{name}_data", [
        ("_target_", str, field(default=f"harness.data.{name}")),
        *[_knob_field(k) for k in data.knobs(name)]])


# ---------------------------------------------------------------- models
@dataclass
class LinearModel:
    _target_: str = "harness.models.Linear"


@dataclass
class MLPModel:
    _target_: str = "harness.models.MLP"
    hidden: list[int] = ranged([64, 64], "[1, inf)", int, each=True)
    activation: str = one_of("relu", *ACTIVATIONS)
    residual: bool = False  # skip connections (the MNIST-1D paper's MLPBase); see MLP


@dataclass(frozen=True)
class IntOrEach:
    """An int in ``interval``, or a list of them (one per layer): ``5`` or ``[5, 3, 3]``."""

    interval: Interval

    def check(self, key: str, value: Any, owner: str = "") -> Any:
        items = list(value) if isinstance(value, (list, tuple, ListConfig)) else [value]
        if not items:
            raise InvalidParameterError(key, owner, f"{self.interval.describe()} or a "
                                        "non-empty list of them", [])
        try:
            for item in items:
                self.interval.check(key, item, owner)
        except InvalidParameterError:
            raise InvalidParameterError(
                key, owner, f"{self.interval.describe()} or a list of them (one per layer)",
                OmegaConf.to_container(value) if isinstance(value, ListConfig) else value
            ) from None
        return value


@dataclass
class CNN1DModel:
    _target_: str = "harness.models.CNN1D"
    channels: list[int] = ranged([32, 32, 32], "[1, inf)", int, each=True)
    # one kernel size for every convolution, or a list with one per convolution; typed
    # Any because a config field cannot be "int or list" (OmegaConf has no unions), and
    # an int default keeps the run ids of every config that does not name a list
    kernel_size: Any = field(default=5, metadata={"check": IntOrEach(Interval("[1, inf)", int))})
    activation: str = one_of("relu", *ACTIVATIONS)
    # null: "same"-style k // 2 per convolution; else an int or one per convolution
    padding: Any = field(default=None,
                         metadata={"check": IntOrEach(Interval("[0, inf)", int)),
                                   "optional": True})


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
class EarlyStopping:
    """Stop a run when its corrupted validation split stops improving (never a clean
    split: a user has no clean labels)."""

    patience: int | None = ranged(None, "[1, inf)", int, optional=True)  # null: off
    min_delta: float = ranged(0.0, "[0, inf)")  # what counts as an improvement
    monitor: str = one_of("objective", "objective", "rmse", "mae", "r2", "accuracy",
                          "macro_f1", "log_loss")  # on val_corrupted
    restore_best: bool = True  # report (and save) the best epoch, not the last


@dataclass
class TrainerSchema:
    epochs: int = ranged(50, "[1, inf)", int)
    batch_size: int = ranged(64, "[1, inf)", int)
    # auto (CUDA when present, else MPS, else the CPU) or any torch device: cpu, cuda,
    # cuda:1, mps, ... (checked where the run starts: harness.jobs.job.resolve_device)
    device: str = "auto"
    progress: bool = True
    # CPU threads of torch's kernels; null or 0: every core (shared among parallel jobs)
    threads: int | None = ranged(1, "[0, inf)", int, optional=True)
    early_stopping: EarlyStopping = field(default_factory=lambda: EarlyStopping())
    # write each run's weights (the best epoch's when early stopping restores it, else the
    # last) to model.safetensors in its folder
    save_weights: bool = False
    # experiment trackers each run is logged to: mlflow, tensorboard (harness.trackers)
    trackers: list[str] = field(default_factory=list,
                                metadata={"check": Choice(("mlflow", "tensorboard")),
                                          "each": True})
    tracking_uri: str | None = None  # MLflow's store; null: sqlite:///outputs/mlflow.db


@dataclass
class HarnessSchema:
    data: Any = MISSING
    model: Any = MISSING
    loss: Any = MISSING
    optim: Any = MISSING
    trainer: Any = MISSING
    # in SEED_RANGE, [0, 2**63 - 1]: >= 0 here, and 64 bits as every integer of a config
    # (validate): what a Parquet column holds (numpy's SeedSequence and JSON take any size)
    seed: int = ranged(0, "[0, inf)", int)
    # modules or .py files to load as plugins (harness.plugins); not part of the run id
    plugins: list[str] = field(default_factory=list)
    # the data set's reference schedule, where it has one (conf/reference/<data>.yaml):
    # its source and the values the other groups' keys interpolate (see REFERENCE_KEY)
    reference: Any = None


def loss_schema(spec: Any) -> type:
    """A dataclass for ``conf/loss/<name>.yaml`` from a loss's registry entry
    (:class:`losses.LossSpec`): ``_target_``, ``name`` and the loss's parameters with the
    registry's defaults and ranges."""
    params = [(p.name, p.kind, field(default=p.kind(p.default),
                                     metadata={"check": p.range}))
              for p in spec.params]
    return make_dataclass(f"{spec.name}_loss",
                          [("_target_", str, field(default="losses.get")),
                           ("name", str, field(default=spec.name)), *params])


# ---------------------------------------------------------------- classical baselines
# scikit-learn estimators fitted on the same splits and corruption as the networks
# (harness.training.baseline); their own loss is the one compared (loss.* is not read)
@dataclass
class SklearnHuber:
    _target_: str = "sklearn.linear_model.HuberRegressor"
    epsilon: float = ranged(1.35, "[1, inf)")
    alpha: float = ranged(0.0001, "[0, inf)")
    max_iter: int = ranged(1000, "[1, inf)", int)


@dataclass
class SklearnQuantile:
    _target_: str = "sklearn.linear_model.QuantileRegressor"
    quantile: float = ranged(0.5, "(0, 1)")
    alpha: float = ranged(0.0, "[0, inf)")
    solver: str = one_of("highs", "highs", "highs-ds", "highs-ipm")


@dataclass
class SklearnSGDRegressor:
    _target_: str = "sklearn.linear_model.SGDRegressor"
    loss: str = one_of("squared_error", "squared_error", "huber", "epsilon_insensitive",
                       "squared_epsilon_insensitive")
    alpha: float = ranged(0.0001, "[0, inf)")
    epsilon: float = ranged(0.1, "[0, inf)")
    max_iter: int = ranged(1000, "[1, inf)", int)


@dataclass
class SklearnSGDClassifier:
    _target_: str = "sklearn.linear_model.SGDClassifier"
    loss: str = one_of("hinge", "hinge", "log_loss", "modified_huber", "squared_hinge",
                       "perceptron")
    alpha: float = ranged(0.0001, "[0, inf)")
    max_iter: int = ranged(1000, "[1, inf)", int)


@dataclass
class SklearnLinearSVC:
    _target_: str = "sklearn.svm.LinearSVC"
    C: float = ranged(1.0, "(0, inf)")
    max_iter: int = ranged(1000, "[1, inf)", int)


@dataclass
class SklearnLogistic:
    _target_: str = "sklearn.linear_model.LogisticRegression"
    C: float = ranged(1.0, "(0, inf)")
    max_iter: int = ranged(1000, "[1, inf)", int)


BASELINES = {"sklearn_huber": SklearnHuber, "sklearn_quantile": SklearnQuantile,
             "sklearn_sgd_regressor": SklearnSGDRegressor,
             "sklearn_sgd_classifier": SklearnSGDClassifier,
             "sklearn_linear_svc": SklearnLinearSVC, "sklearn_logistic": SklearnLogistic}

@dataclass
class GRUModel:
    _target_: str = "harness.models.GRU"
    hidden_size: int = ranged(6, "[1, inf)", int)
    bidirectional: bool = True


SCHEMAS = {
    "model": {"linear": LinearModel, "mlp": MLPModel, "cnn1d": CNN1DModel, "gru": GRUModel,
              **BASELINES},
    "optim": {"adam": AdamOptim, "adamw": AdamWOptim, "sgd": SGDOptim},
    "trainer": {"default": TrainerSchema},
}


def model_schema(spec: Any) -> type:
    """The schema of a plugin model (:class:`harness.plugins.ModelSpec`): its
    ``_target_`` and its declared keys."""
    return make_dataclass(f"{spec.name}_model", [
        ("_target_", str, field(default=spec.target)), *[_knob_field(k) for k in spec.knobs]])


def schemas() -> dict[str, dict[str, type]]:
    """group -> option -> schema, for every option: the fixed ones (:data:`SCHEMAS`), one
    per registered data set (:func:`data_schema`), loss (:func:`loss_schema`) and plugin
    model (:func:`model_schema`). Made once per set of registered options."""
    import losses
    from harness.data import SOURCES
    from harness.plugins import MODELS

    return _schemas(tuple(losses.available()), tuple(SOURCES.values()),
                    tuple(MODELS.values()))


@functools.lru_cache(maxsize=8)
def _schemas(loss_names: tuple[str, ...], sources: tuple, models: tuple
             ) -> dict[str, dict[str, type]]:
    import losses

    return {**SCHEMAS, "data": {src.name: data_schema(src.name) for src in sources},
            "loss": {name: loss_schema(losses.spec(name)) for name in loss_names},
            "model": {**SCHEMAS["model"],
                      **{spec.name: model_schema(spec) for spec in models}}}


_REGISTERED: list[Any] = []  # the schemas last put in the ConfigStore


USER_GROUPS = ("data", "model", "loss", "optim", "trainer", "experiment")


def group_options(group: str) -> list[str]:
    """The options of a config group a user picks from: its files in ``conf/<group>/``
    and every registered data set, loss or model (plugins' included)."""
    options = {p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml")}
    if group in ("data", "loss", "model"):
        options |= set(schemas()[group])
    return sorted(options)


def groups_help() -> str:
    """``data: binary, ..., wine`` one line per group, for ``--help``."""
    return "".join(f"{g}: {', '.join(group_options(g))}\n" for g in USER_GROUPS)


def register_configs() -> None:
    """Put every schema in Hydra's ConfigStore (idempotent): ``schema/<group>/<name>``
    for the files of ``conf/`` to start from, and ``<group>/<name>`` itself for an option
    that has no file there (a plugin's: ``loss=mine`` works as soon as it is
    registered)."""
    table_of = schemas()
    if _REGISTERED and _REGISTERED[0] is table_of:
        return  # nothing new registered since
    _REGISTERED[:] = [table_of]
    cs = ConfigStore.instance()
    cs.store(name="harness_schema", node=HarnessSchema)
    for group, table in table_of.items():
        files = {p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml")}
        for name, node in table.items():
            cs.store(group=f"schema/{group}", name=name, node=node)
            if name not in files:
                cs.store(group=group, name=name, node=node)


INT64 = (-(2**63), 2**63 - 1)  # every integer in a config: what Parquet and torch hold
SEED_RANGE = (0, INT64[1])  # HarnessSchema.seed: [0, inf) and 64 bits


class Plain(dict):
    """A job's config as plain values, read as a ``DictConfig`` is read
    (``cfg.trainer.epochs``, ``cfg.get("seed")``, ``cfg["loss"]``, ``"x" in cfg``):
    what a sweep job composed without a config of its own (see
    :meth:`harness.jobs.compose.Composer.light`) carries. Its mappings are ``Plain`` too,
    each knowing its dotted ``path`` (so an error can name ``data._target_``); the root
    knows the schema each mapping was composed from (``schema_types``, see
    :func:`validate`). :func:`as_container` gives plain ``dict`` copies."""

    __slots__ = ("path", "schema_types")

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"{self.path}.{key}" if self.path else key) from None

    def _get_full_key(self, key: Any) -> str:  # what harness.safety.target_key reads
        return self.path

    @classmethod
    def of(cls, container: dict[str, Any], path: str = "",
           types: dict[str, type] | None = None) -> Plain:
        """A deep copy of a plain ``container`` as a ``Plain`` tree (lists are copied)."""
        made = cls()
        made.path, made.schema_types = path, types
        for key, value in container.items():
            made[key] = _plain_copy(value, f"{path}.{key}" if path else str(key))
        return made


def _plain_copy(value: Any, path: str) -> Any:
    if isinstance(value, dict):
        return Plain.of(value, path)
    if isinstance(value, list):
        return [_plain_copy(v, path) for v in value]
    return value


def as_container(node: Any) -> Any:
    """A config node's values as plain containers (a fresh copy, interpolations
    resolved): ``OmegaConf.to_container(node, resolve=True)`` for a ``DictConfig``, a
    deep copy into ``dict`` and ``list`` for a :class:`Plain` node."""
    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    if isinstance(node, dict):
        return {k: as_container(v) for k, v in node.items()}
    if isinstance(node, list):
        return [as_container(v) for v in node]
    return node


def containers(cfg: DictConfig | Plain) -> tuple[dict[str, Any], dict[str, Any]]:
    """(values, raw) of a composed config as plain containers: ``raw`` as written
    (interpolations as their ``${...}`` text), ``values`` resolved (the same object when
    nothing is interpolated, the usual case: one pass over the config instead of one
    per key read). The checks below read these, not the config's nodes."""
    if isinstance(cfg, Plain):  # plain values already (never interpolated)
        return cfg, cfg
    raw = OmegaConf.to_container(cfg, resolve=False)
    if not _interpolated(raw):
        return raw, raw
    values: dict[str, Any] = {}
    for key in raw:  # each key resolved in place; Hydra's own node (some of it ??? until
        if key == "hydra":  # Hydra fills it in) is not the run's and is left out
            continue
        node = cfg._get_node(key)
        values[key] = (OmegaConf.to_container(node, resolve=True, throw_on_missing=True)
                       if isinstance(node, (DictConfig, ListConfig)) else cfg[key])
    return values, raw


def _interpolated(node: Any) -> bool:
    """Whether a raw container holds an interpolation or a missing value (``???``)."""
    return any_value(node, lambda v: isinstance(v, str) and ("${" in v or v == "???"))


def schema_types(cfg: DictConfig | Plain, values: dict[str, Any] | None = None
                 ) -> dict[str, type]:
    """The schema (dataclass) each mapping of ``cfg`` was composed from, by dotted path
    (``""`` the root, ``trainer.early_stopping``); paths without one are left out.
    ``values``: :func:`containers` of ``cfg``, if made. A :class:`Plain` config carries
    them (those of the composition it was made from)."""
    if isinstance(cfg, Plain):
        return cfg.schema_types or {}
    values = containers(cfg)[0] if values is None else values
    # the root of every harness config is composed from HarnessSchema; a sweep job's
    # task config (a copy without Hydra's node) no longer says so, but is one
    types: dict[str, type] = {"": HarnessSchema}

    def walk(node: Any, value: dict[str, Any], path: str) -> None:
        kind = OmegaConf.get_type(node) if isinstance(node, DictConfig) else None
        if is_dataclass(kind):
            types[path] = kind
        for key, item in value.items():
            if isinstance(item, dict) and not (path == "" and key == "hydra"):
                child = node._get_node(key) if isinstance(node, DictConfig) else None
                walk(child, item, f"{path}.{key}" if path else str(key))

    walk(cfg, values, "")
    return types


def validate(cfg: DictConfig, known: tuple[dict, dict] | None = None) -> None:
    """Check the composed config against its schemas and the rules that tie keys
    together; raise :class:`HarnessError` (one line, what is allowed) on the first
    mistake: a group whose option file is not a mapping or names no ``_target_``; a key
    its schema does not have (``+trainer.bogus=1``, ``+bogus=1``); a ranged or choice
    field out of range (a node without a schema is checked against the schema of its
    ``_target_``); an integer beyond 64 bits; nesterov without momentum.
    ``known``: :func:`containers` of ``cfg``, if already made."""
    values, raw = known or containers(cfg)
    types = schema_types(cfg, values)
    for group in GROUPS:
        _check_shape(group, values.get(group))
    _check_node("", values, types)
    for group in GROUPS:
        owner = str(values["loss"]["name"]) if group == "loss" else ""
        _check_node(f"{group}.", values[group], types, owner,
                    _schema_of(group, values[group], types))
    _check_ints("", raw)
    optim = values["optim"]
    if optim.get("nesterov") and not optim.get("momentum"):
        raise HarnessError(f"optim.nesterov=true needs optim.momentum > 0 (Nesterov "
                           f"momentum without momentum); got optim.momentum="
                           f"{optim.get('momentum')}. Set optim.momentum (e.g. 0.9) or "
                           "optim.nesterov=false.")


def _check_shape(group: str, node: Any) -> None:
    """A group's node is a mapping with a ``_target_`` (the loss: and a ``name``)."""
    if isinstance(node, dict) and (group == "trainer" or "_target_" in node) and \
            (group != "loss" or "name" in node):
        return
    start = (f"an option file of {group} starts from its schema, `defaults: "
             f"[/schema/{group}/<name>@_here_, _self_]`, as the files in conf/{group}/ do "
             f"(<name>: {', '.join(group_options(group))})") if group != "trainer" else \
        "conf/trainer/default.yaml shows its keys"
    if not isinstance(node, dict):
        what = "a list" if isinstance(node, list) else \
            f"{type(node).__name__} {node!r:.40}"
        raise HarnessError(f"the config of {group} is {what}, not a mapping of keys; {start}.")
    missing = "_target_" if "_target_" not in node else "name"
    keys = ", ".join(str(k) for k in node.keys()) or "none"
    raise HarnessError(f"the config of {group} has no {missing} (its keys: {keys}); {start}.")


def _schema_of(group: str, node: dict[str, Any], types: dict[str, type]) -> type | None:
    """The schema ``node`` (the group's) was composed from, else the one of the option
    whose ``_target_`` (the loss: ``name``) it names; None when there is none."""
    if group in types:
        return types[group]
    target = node.get("name") if group == "loss" else node.get("_target_")
    for option, candidate in schemas().get(group, {}).items():
        default = option if group == "loss" else getattr(candidate, "_target_", None)
        if target == default:
            return candidate
    return None


def _check_ints(prefix: str, node: Any) -> None:
    """Every integer in ``node`` (a raw container: its lists included; an interpolation
    is text here, checked where it is defined) fits in 64 bits."""
    items = node.items() if isinstance(node, dict) else \
        enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        if prefix == "" and key == "hydra":  # Hydra's own settings, not the run's
            continue
        name = f"{prefix}{key}" if isinstance(node, dict) else f"{prefix[:-1]}[{key}]"
        if isinstance(value, (dict, list)):
            _check_ints(f"{name}.", value)
        elif isinstance(value, int) and not isinstance(value, bool) and \
                not INT64[0] <= value <= INT64[1]:
            what, (lo, hi) = ("a seed", SEED_RANGE) if name == "seed" else \
                ("an integer in a config", INT64)
            raise HarnessError(f"{name}={value} does not fit in 64 bits: {what} must lie in "
                               f"[{lo}, {hi}] (what the results tables hold).")


def _check_node(prefix: str, node: dict[str, Any], types: dict[str, type], owner: str = "",
                schema: type | None = None) -> None:
    schema = schema or types.get(prefix.rstrip("."))
    if not is_dataclass(schema):
        return
    known = [f.name for f in fields(schema)]
    extra = [str(k) for k in node.keys() if k not in known and k != "hydra"]
    if extra:
        where = prefix.rstrip(".") or "the config"
        keys = [k for k in known if k != "_target_" and not (prefix == "loss." and k == "name")]
        listed = f"keys of {where}: {', '.join(keys)}" if keys else f"{where} has no keys to set"
        raise HarnessError(f"'{prefix}{extra[0]}' is not a key of {where}"
                           f"{f' ({owner})' if owner else ''}; {listed}.")
    for f in fields(schema):
        if f.name not in node:  # an option file without its schema: its function's default
            continue
        if isinstance(node[f.name], dict):  # a nested schema (trainer.early_stopping)
            if prefix or f.name not in GROUPS:  # the groups: validate checks each itself
                _check_node(f"{prefix}{f.name}.", node[f.name], types, owner)
            continue
        check = f.metadata.get("check")
        if check is None:
            continue
        value = node[f.name]
        if value is None and f.metadata.get("optional"):
            continue
        if not f.metadata.get("each"):
            check.check(prefix + f.name, value, owner)
            continue
        for item in value:
            try:
                check.check(prefix + f.name, item, owner)
            except InvalidParameterError as err:  # say it is a list, and which entry
                raise InvalidParameterError(
                    prefix + f.name, owner,
                    "a list of " + re.sub(r"^an? (\w+)", r"\1s", err.allowed), value
                ) from None


SIGNIFICANT = 12  # digits a float config value keeps: float noise beyond is one value


def canonical(value: Any) -> Any:
    """A float as the shortest float with :data:`SIGNIFICANT` significant digits, so a
    value that prints the same is the same value: ``range(0.1,0.4,0.1)``'s
    ``0.30000000000000004`` is ``0.3``. Anything else as it is.

    >>> canonical(0.1 + 0.2), canonical(1e-4), canonical(2)
    (0.3, 0.0001, 2)
    """
    if isinstance(value, float) and not isinstance(value, bool):
        return float(f"{value:.{SIGNIFICANT}g}")
    return value


def _plain(value: Any) -> Any:
    """Config values as table cells: floats :func:`canonical`, lists their JSON text
    (hashable for a pandas groupby)."""
    if isinstance(value, (ListConfig, list, tuple)):
        items = OmegaConf.to_container(value) if isinstance(value, ListConfig) else value
        return json.dumps([canonical(v) for v in items])
    return canonical(value)


def canonicalise(cfg: DictConfig | Plain, changed: list | None = None,
                 values: dict[str, Any] | None = None) -> list:
    """Make every float value of ``cfg`` (and of its lists) :func:`canonical`, in place:
    the run then computes with the value its run id was made from. A ``hydra`` node
    (Hydra's own settings, in a config composed for a sweep job) is left alone. Returns
    what changed, ``(node, key or index, value before)`` each (see :func:`as_given`).
    ``values``: :func:`containers` of ``cfg`` (its values), when made: a config whose
    floats are all canonical already (most) is then not walked."""
    changed = [] if changed is None else changed
    if values is not None and not any_value(values, _noisy_float):
        return changed
    return _canonicalise(cfg, changed, top=True)


def _canonicalise(node: Any, changed: list, top: bool = False) -> list:
    """:func:`canonicalise` of a config or a plain container (both are walked alike)."""
    items = node.items() if isinstance(node, (dict, DictConfig)) else enumerate(node)
    for key, value in list(items):
        if top and key == "hydra":
            continue
        if isinstance(value, (dict, list, DictConfig, ListConfig)):
            _canonicalise(value, changed)
        elif _noisy_float(value):
            changed.append((node, key, value))
            node[key] = canonical(value)
    return changed


def _noisy_float(value: Any) -> bool:
    return isinstance(value, float) and canonical(value) != value


def any_value(node: Any, test: Any) -> bool:
    """Whether ``test`` holds for a value anywhere in a plain container (its dicts and
    lists walked; a top-level ``hydra`` node, Hydra's own settings, left out)."""
    def walk(item: Any, top: bool) -> bool:
        if isinstance(item, dict):
            return any(walk(v, False) for k, v in item.items() if not (top and k == "hydra"))
        if isinstance(item, list):
            return any(walk(v, False) for v in item)
        return bool(test(item))

    return walk(node, True)


@contextlib.contextmanager
def as_given(changed: list) -> Iterator[None]:
    """While the block runs, the values :func:`canonicalise` changed are as they were
    given (``0.30000000000000004``): a job's ``.hydra/config.yaml`` records them as
    Hydra's own launchers do; after it, canonical again."""
    for node, key, value in changed:
        node[key] = value
    try:
        yield
    finally:
        for node, key, value in changed:
            node[key] = canonical(value)


def flatten(cfg: DictConfig | dict[str, Any], choices: dict[str, str]) -> dict[str, Any]:
    """``{"loss": "huber", "loss.delta": 1.0, "data": "outliers", ..., "seed": 0}``.

    Group columns hold the chosen option's name; ``_target_`` and ``loss.name`` (already
    the ``loss`` column) are left out. ``cfg``: a composed config, or the values of one
    (:func:`containers`).
    """
    flat: dict[str, Any] = {}
    if isinstance(cfg, DictConfig):
        cfg = containers(cfg)[0]

    def put(prefix: str, node: Any) -> None:
        for key, value in node.items():
            if isinstance(value, dict):  # nested keys: trainer.early_stopping.patience
                put(f"{prefix}{key}.", value)
            else:
                flat[f"{prefix}{key}"] = _plain(value)

    for group in GROUPS:
        flat[group] = choices.get(group, group)
        node = cfg.get(group)
        if not isinstance(node, dict):  # refused by validate(); its id stays defined
            continue
        put(f"{group}.", {k: v for k, v in node.items()
                          if k != "_target_" and not (group == "loss" and k == "name")})
    for key, value in cfg.items():
        # plugins: not the run; reference: where values came from, which are already
        # flattened where they are used (trainer.epochs, ...)
        if key not in GROUPS and key not in ("hydra", "plugins", REFERENCE_KEY):
            flat[key] = _plain(value)
    return flat


def yaml_problem(err: Exception) -> str:
    """What a YAML error (``yaml.YAMLError``) says, as one line: ``<what> (line L,
    column C)``; a ``!!python/...`` tag (which the config loader refuses: it never builds
    Python objects) is said to be refused."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    parts = [str(p).strip() for p in (getattr(err, "context", None),
                                      getattr(err, "problem", None)) if p]
    text = "; ".join(parts) or (str(err).strip().splitlines() or [type(err).__name__])[0]
    at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    hint = "; Python tags (!!python/...) are refused: a config is plain YAML" \
        if "python/" in text else ""
    return f"{text}{at}{hint}"


def yaml_error_line(err: Exception, default_file: str = "a config file") -> str:
    """One line for a YAML error met reading a config file: ``cannot read <file>:``
    and :func:`yaml_problem`. The file is the one the YAML parser names
    (``default_file`` when it names none)."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = getattr(mark, "name", None)
    if not where or where.startswith("<"):  # "<unicode string>": no file of its own
        where = default_file
    return f"cannot read {where}: {yaml_problem(err)}"
