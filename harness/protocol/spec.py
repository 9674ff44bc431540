"""A protocol's spec: what is compared, tuned and measured (``protocols/*.yaml``).

A preset is a YAML file read into :class:`Spec` (OmegaConf structured config, so a
misspelt key fails with the keys that exist); the command line's ``key=value`` arguments
are applied by :func:`load_spec` and every user mistake is one line
(:class:`~harness.errors.HarnessError`) from :func:`check_spec`, before anything trains.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness.config import CONF_DIR, SEED_RANGE, yaml_error_line, yaml_problem
from harness.errors import HarnessError

PRESETS_DIR = Path(CONF_DIR).parent / "protocols"
SELECTION_SPLIT = "val_corrupted"  # the only split selection reads (see harness.data)


@dataclass
class Spec:
    """A protocol preset (``protocols/<name>.yaml``); every key can be set on the
    command line as ``key=value`` (lists as ``seeds=[0,1,2]``)."""

    name: str = MISSING
    description: str = ""
    losses: list[str] = field(default_factory=list)  # the compared losses
    # Hydra override syntax; the product of the sweeps is the list of settings
    settings: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)  # harness overrides of every run
    space: list[str] = field(default_factory=list)  # tuned for every loss
    loss_space: dict[str, list[str]] = field(default_factory=dict)  # loss -> its own space
    budget: int = 4  # candidate configurations per loss and setting
    tune_seeds: list[int] = field(default_factory=lambda: [0])
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])  # final and default runs
    sampler_seed: int = 0  # draws candidates when the space has more than budget points
    metric: str | None = None  # selection metric on val; null: the task's primary metric
    out: str = "outputs/protocol/${name}"
    rerun: bool = False  # true: run every job again, even those already finished
    plugins: list[str] = field(default_factory=list)  # modules or .py files (plugins)
    vectorized: bool = True  # train runs of one shape as stacks (harness.training.stacked)


SPEC_KEYS = tuple(f.name for f in fields(Spec))


def presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_spec(protocol: str, args: list[str] = ()) -> tuple[Spec, list[str]]:
    """The spec of preset ``protocol`` (a name in ``protocols/`` or a YAML path) with
    the command line's ``args`` applied; returns it and the resolved harness overrides.

    ``args`` are ``key=value``: a spec key (``budget=2``, ``seeds=[0,1]``,
    ``out=...``) sets it; anything else is a harness override: a sweep
    (``data.outlier_frac=0,0.2``) replaces or adds a setting key, a plain value
    (``trainer.epochs=20``) replaces that key wherever the preset sets it, else joins
    ``fixed``.
    """
    path = Path(protocol)
    if not (protocol.endswith((".yaml", ".yml")) and path.is_file()):
        path = PRESETS_DIR / f"{protocol}.yaml"
        if not path.is_file():
            raise HarnessError(f"unknown protocol '{protocol}'; choose one of: "
                               f"{', '.join(presets())} (protocols/), or give a YAML file.")
    raw = _read_preset(path)
    spec_args = [a for a in args if a.split("=", 1)[0].split(".", 1)[0] in SPEC_KEYS]
    try:
        if "name" not in raw:
            raw.name = path.stem
        dotlist = []
        for arg in spec_args:
            try:
                dotlist.append(OmegaConf.from_dotlist([arg]))
            except yaml.YAMLError as err:  # the value is YAML: a '[' left open
                raise HarnessError(f"cannot parse the argument '{arg}': {yaml_problem(err)}"
                                   "; a spec key takes a YAML value (seeds=[0,1,2], "
                                   "budget=4).") from None
        merged = OmegaConf.merge(OmegaConf.structured(Spec), raw, *dotlist)
        spec = OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        msg = str(err).splitlines()[0]
        raise HarnessError(f"protocol '{path.stem}': {msg}; its keys are: "
                           f"{', '.join(SPEC_KEYS)}.") from None
    harness_args = [a for a in args if a not in spec_args]
    for arg in harness_args:
        _apply_override(spec, arg)
    from harness import plugins

    plugins.load(spec.plugins)  # before the losses are checked and the jobs composed
    check_spec(spec)
    return spec, harness_args


def _read_preset(path: Path) -> DictConfig:
    """A preset file as a mapping of spec keys; one-line :class:`HarnessError` naming the
    file when it cannot be read, is not YAML (or uses a ``!!python/...`` tag, which the
    loader refuses: nothing is built from it) or is not a mapping."""
    try:
        raw = OmegaConf.load(path)
    except yaml.YAMLError as err:
        raise HarnessError(yaml_error_line(err, str(path))) from None
    except (OSError, UnicodeDecodeError) as err:
        raise HarnessError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}.") \
            from None
    if not isinstance(raw, DictConfig):
        what = "a list" if isinstance(raw, ListConfig) else "empty"
        raise HarnessError(f"cannot read {path}: a protocol preset is a mapping of spec keys "
                           f"({', '.join(SPEC_KEYS)}), and this one is {what}.")
    return raw


def _parse(overrides: list[str]):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_overrides(list(overrides))
    except Exception as err:  # Hydra's OverrideParseException, with a multi-line message
        raise HarnessError(f"cannot parse override(s) {list(overrides)}: "
                           f"{str(err).splitlines()[0]}") from None


def _key(override: str) -> str:
    return _parse([override])[0].key_or_group


def _apply_override(spec: Spec, arg: str) -> None:
    if "=" not in arg:
        raise HarnessError(f"'{arg}' is not key=value; give spec keys "
                           f"({', '.join(SPEC_KEYS)}) or harness overrides such as "
                           "trainer.epochs=20 or data.outlier_frac=0,0.2.")
    ov = _parse([arg])[0]
    key = ov.key_or_group
    if key in ("loss", "seed"):
        use = "losses=[a,b]" if key == "loss" else "seeds=[..] / tune_seeds=[..]"
        raise HarnessError(f"'{arg}': the protocol sets {key} itself; use {use}.")
    for lst in (spec.settings, spec.fixed):
        for i, old in enumerate(lst):
            if _key(old) == key:
                lst[i] = arg
                return
    (spec.settings if ov.is_sweep_override() else spec.fixed).append(arg)


def check_spec(spec: Spec) -> None:
    """User mistakes in a spec, each as one line naming what is allowed."""
    import losses

    if not spec.losses:
        raise HarnessError("the protocol names no losses; set losses=[mse,mae,...].")
    known = losses.available()
    for name in spec.losses:
        try:
            losses.spec(name)
        except losses.LossError:
            raise HarnessError(f"unknown loss '{name}' in losses; choose from: "
                               f"{', '.join(known)}.") from None
    if len(set(spec.losses)) != len(spec.losses):
        raise HarnessError(f"losses lists a loss twice: {spec.losses}.")
    if not isinstance(spec.budget, int) or spec.budget < 1:
        raise HarnessError(f"budget must be an integer >= 1 (candidate configurations per "
                           f"loss and setting); got {spec.budget}.")
    lo, hi = SEED_RANGE
    for key in ("tune_seeds", "seeds"):
        seeds = getattr(spec, key)
        if not seeds or any(not lo <= s <= hi for s in seeds) or len(set(seeds)) != len(seeds):
            raise HarnessError(f"{key} must be a non-empty list of distinct integers in "
                               f"[{lo}, {hi}] (64-bit seeds); got {seeds}.")
    if not lo <= spec.sampler_seed <= hi:
        raise HarnessError(f"sampler_seed must be an integer in [{lo}, {hi}] (it seeds the "
                           f"draw of candidates); got {spec.sampler_seed}.")
    for where, items in [("settings", spec.settings), ("fixed", spec.fixed),
                         ("space", spec.space), *[(f"loss_space.{k}", v) for k, v in
                                                  spec.loss_space.items()]]:
        for ov in _parse(items):
            if ov.key_or_group in ("loss", "seed"):
                raise HarnessError(f"{where} sets '{ov.key_or_group}', which the protocol "
                                   "sets itself (losses, tune_seeds, seeds).")
            if where == "fixed" and ov.is_sweep_override():
                raise HarnessError(f"fixed override '{ov.input_line}' is a sweep; put it "
                                   "in settings (compared) or space (tuned).")
    tuned = {o.key_or_group for o in _parse(spec.space)}
    for items in spec.loss_space.values():
        tuned |= {o.key_or_group for o in _parse(items)}
    fixed = {o.key_or_group for o in _parse(spec.settings + spec.fixed)}
    if tuned & fixed:
        raise HarnessError(f"{', '.join(sorted(tuned & fixed))} is both tuned (space/"
                           "loss_space) and set by settings/fixed; keep it in one place.")
    if spec.metric is not None:
        from harness.metrics import HIGHER_IS_BETTER, MEMORISATION, METRICS

        if spec.metric not in HIGHER_IS_BETTER or spec.metric in MEMORISATION:
            allowed = dict.fromkeys([m for ms in METRICS.values() for m in ms])
            raise HarnessError(f"metric '{spec.metric}' is not a validation metric; choose "
                               f"one of: {', '.join([*allowed, 'objective'])}.")
