"""The harness's one contact with Hydra's private API.

Hydra (1.3) offers no public way to compose a sweep job's config, to write a job's
``.hydra/`` record, or to extend its basic sweeper. The harness needs all three (fast
composition of thousands of jobs, stacked jobs that are recorded as Hydra records them,
a sweeper that resumes), so every use of ``hydra._internal`` and of Hydra's private
helpers lives here, behind :func:`check_version`: a Hydra upgrade touches this file only.
``tests/test_sweep.py`` holds the fast composition equal to Hydra's own.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from harness.errors import HarnessError

SUPPORTED = "1.3"  # the Hydra minor version whose private API this module uses


def check_version() -> None:
    """Raise :class:`HarnessError` unless the installed Hydra is the supported minor."""
    import hydra

    if not hydra.__version__.startswith(SUPPORTED + "."):
        raise HarnessError(f"hydra-core {hydra.__version__} is installed, but the harness "
                           f"composes sweep jobs with Hydra {SUPPORTED}'s API; install "
                           f"'hydra-core>={SUPPORTED},<1.4'.")


def guard_compositions(check) -> None:
    """Run ``check(cfg)`` on every config Hydra composes (the primary config, each sweep
    job's, ``--help``'s and ``--cfg``'s), before Hydra configures logging from it or
    instantiates its launcher, sweeper or callbacks: Hydra composes every config through
    ``ConfigLoaderImpl.load_configuration``, which this wraps once per process."""
    check_version()
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    original = ConfigLoaderImpl.load_configuration
    if getattr(original, "harness_guard", None) is check:
        return

    def load_configuration(self, *args, **kwargs):
        cfg = original(self, *args, **kwargs)
        check(cfg)
        return cfg

    load_configuration.harness_guard = check  # type: ignore[attr-defined]
    load_configuration.__wrapped__ = original  # type: ignore[attr-defined]
    ConfigLoaderImpl.load_configuration = load_configuration  # type: ignore[method-assign]


def basic_sweeper() -> type:
    """Hydra's basic grid sweeper class (the harness sweeper extends it)."""
    check_version()
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    return BasicSweeper


def loader(conf_dir: str | Path) -> Any:
    """A Hydra config loader searching ``conf_dir`` (as ``@hydra.main`` sets one up)."""
    check_version()
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path

    return ConfigLoaderImpl(config_search_path=create_config_search_path(str(conf_dir)))


def write_job_record(folder: str | Path, task_cfg: DictConfig | None,
                     hydra_cfg: DictConfig | None, overrides: Any,
                     hydra_text: str | None = None, task_text: str | None = None,
                     overrides_text: str | None = None) -> None:
    """A job's ``.hydra/`` record (``config.yaml``, ``hydra.yaml``, ``overrides.yaml``),
    byte for byte as Hydra's ``run_job`` writes it; ``hydra_text``, ``task_text`` and
    ``overrides_text``: the files' text, already rendered (instead of ``hydra_cfg``,
    ``task_cfg`` and ``overrides``). ``overrides``: a ``ListConfig`` or a list of str."""
    folder = Path(folder)  # made by the first file's write if it is not there
    texts = (("config.yaml", task_text if task_text is not None else to_yaml(task_cfg)),
             ("hydra.yaml", hydra_text if hydra_text is not None
              else OmegaConf.to_yaml(hydra_cfg)),
             ("overrides.yaml", overrides_text if overrides_text is not None
              else to_yaml(overrides)))
    from harness.results import atomic_write_data

    for name, text in texts:  # whole files, never through a link left in the folder
        atomic_write_data(folder / name, text)


def to_yaml(value: Any) -> str:
    """``OmegaConf.to_yaml(value)``, for a config or a plain list, dict or value (a
    :class:`harness.config.Plain` too): the same dump of the same container (a plain one
    is not wrapped in a config first)."""
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_yaml(value)
    import yaml
    from omegaconf._utils import get_omega_conf_dumper

    from harness.config import as_container

    value = as_container(value)  # dict and list themselves (the dumper's types)

    return yaml.dump(value, default_flow_style=False, allow_unicode=True, sort_keys=False,
                     Dumper=get_omega_conf_dumper())


def _value_node(task: DictConfig, path: str) -> Any:
    """The value node at dotted ``path`` of ``task`` (a key of existing mappings only),
    or False when there is none there (a new key, a mapping, a list, an interpolation)."""
    from omegaconf import ValueNode

    node: Any = task
    for part in path.split("."):
        if not isinstance(node, DictConfig) or not part.isidentifier() or part not in node:
            return False
        node = node._get_node(part)
    if not isinstance(node, ValueNode) or node._is_interpolation():
        return False
    return node


def _typed(node: Any) -> Any:
    """``node`` with each plain value paired with its type (``1`` is not ``1.0``)."""
    if isinstance(node, dict):
        return {k: _typed(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_typed(v) for v in node]
    return type(node), node


_INT = re.compile(r"(?:0|-?[1-9][0-9]*)")  # what Hydra's grammar reads as this int
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+")  # ... and as this float


def number_like(text: str, parsed: dict[str, Any]) -> Any:
    """Hydra's parse of ``text`` (``key=value``) made from ``parsed[key]``, a parse of
    another value of that key, when both values are plain decimal numbers of one kind
    (``seed=3`` like ``seed=0``; ``optim.lr=0.25`` like ``optim.lr=0.1``): the same
    override with this value and line. None for anything else (Hydra parses it)."""
    import dataclasses

    from hydra.core.override_parser.types import OverrideType, ValueType

    key, sep, value = text.partition("=")
    like = parsed.get(key)
    if not sep or like is None or like.type != OverrideType.CHANGE or like.package is not \
            None or like.value_type != ValueType.ELEMENT or \
            like.input_line.partition("=")[0] != key:
        return None
    if type(like._value) is int and _INT.fullmatch(value) and \
            _INT.fullmatch(like.input_line.partition("=")[2]):
        return dataclasses.replace(like, _value=int(value), input_line=text)
    if type(like._value) is float and _FLOAT.fullmatch(value) and \
            _FLOAT.fullmatch(like.input_line.partition("=")[2]):
        return dataclasses.replace(like, _value=float(value), input_line=text)
    return None


@dataclass
class LightJob:
    """A sweep job composed without copying Hydra's node: its task config (the config
    without ``hydra``, typed as the full one), the structural composition it was made
    from (shared by the jobs of that composition: Hydra's node there is the sweep's,
    not this job's), and what differs in this job's Hydra node (its task overrides and
    ``override_dirname``). :meth:`full` composes the whole config when one is needed."""

    overrides: tuple[str, ...]
    task: DictConfig
    base: DictConfig
    task_overrides: list[str]
    override_dirname: str
    composer: Any
    plain_keys: tuple[str, ...] = ()  # the keys its plain ``key=value`` overrides set
    checked: bool = False  # harness.jobs.job.check passed on ``task`` (the sweep's plan)
    given: list = field(default_factory=list)  # floats check made canonical (as_given)
    identity: tuple[dict[str, Any], str] | None = None  # (flat config, run id), once known

    @property
    def choices(self) -> dict[str, str]:
        """The group choices of its composition (a copy; read once per composition)."""
        return dict(self.composer.choices_of(self.base))

    def full(self) -> DictConfig:
        return self.composer(self.overrides)


class Composer:
    """A sweep job's config, as Hydra's ``load_sweep_config`` composes it, fast.

    Composing a config from its defaults list takes Hydra a few tenths of a second; a
    sweep of a thousand jobs would spend minutes on it. Jobs differ mostly in plain
    values (``seed=3``, ``optim.lr=0.01``, ``loss.delta=2``), which change no defaults
    list. So Hydra composes once per distinct set of the other overrides (group choices
    such as ``loss=huber``, ``+``/``~`` overrides, Hydra's own), and each job gets a copy
    of that composition with its plain values applied by Hydra's own override code and
    its ``hydra.overrides.task`` and ``hydra.job.override_dirname`` set as Hydra sets
    them. Composed configs are kept by override list (:meth:`take` hands one over, so a
    launcher in the same process need not compose it again).
    """

    def __init__(self, config_loader: Any, master: DictConfig) -> None:
        check_version()
        from hydra.core.override_parser.overrides_parser import OverridesParser

        self.loader, self.master = config_loader, master
        self.parser = OverridesParser.create(config_loader=config_loader)
        self.groups = set(master.hydra.runtime.choices)
        self.bases: dict[tuple[str, ...], DictConfig] = {}
        self.configs: dict[tuple[str, ...], DictConfig] = {}
        self.light_jobs: dict[tuple[str, ...], LightJob] = {}
        self._parsed: dict[str, Any] = {}  # override text -> Hydra's parse (slow: ANTLR)
        self._choices: dict[int, tuple[DictConfig, dict[str, str]]] = {}
        self._dirname: dict[int, tuple[DictConfig, dict[str, Any]]] = {}
        self._numbers: dict[str, Any] = {}  # key -> a parsed plain number override of it
        self._groups: dict[str, bool] = {}  # key -> whether it names a config group
        # composition -> (its task config, that as plain values, schema types, value
        # nodes by key) for jobs made as plain values; None: those jobs are configs
        self._plain_bases: dict[tuple[str, ...], Any] = {}

    @classmethod
    def for_conf_dir(cls, conf_dir: str | Path, overrides: Sequence[str] = ()) -> Composer:
        """A composer of the primary config in ``conf_dir``, as a multirun composes it."""
        from hydra.types import RunMode

        config_loader = loader(conf_dir)
        master = config_loader.load_configuration("config", overrides=list(overrides),
                                                  run_mode=RunMode.MULTIRUN)
        return cls(config_loader, master)

    def choices_of(self, base: DictConfig) -> dict[str, str]:
        """``hydra.runtime.choices`` of a composition, read once (do not change it)."""
        found = self._choices.get(id(base))
        if found is None or found[0] is not base:
            found = self._choices[id(base)] = (base, dict(base.hydra.runtime.choices))
        return found[1]

    def _group(self, key: str) -> bool:
        found = self._groups.get(key)
        if found is None:
            found = self._groups[key] = (key in self.groups
                                         or self.loader.repository.group_exists(key))
        return found

    def _plain(self, override: Any) -> bool:
        """A value override (``key=value`` of a config key, not of a group)."""
        from hydra.core.override_parser.types import OverrideType

        key = override.key_or_group
        return (override.type == OverrideType.CHANGE and override.package is None
                and not override.is_hydra_override() and "/" not in key
                and not self._group(key) and not override.is_sweep_override())

    def _fast(self, parsed: list) -> bool:
        """Whether the fast path composes these overrides as Hydra does: Hydra applies
        value overrides (``k=v``, ``+k=v``, ``++k=v``, ``~k``) in command-line order after
        the defaults list; the fast path applies plain ``k=v`` after the others, so any
        ``+``/``++``/``~`` on a config key (not a group) takes Hydra's own route."""
        return all(self._plain(o) or o.is_hydra_override()
                   or (o.type.name in ("CHANGE", "ADD") and self._group(o.key_or_group))
                   for o in parsed)

    def _parse(self, overrides: Sequence[str]) -> list:
        """Hydra's parse of each override, once per distinct text (jobs share most). A
        sweep's values of one key (``seed=0`` ... ``seed=1023``) differ in every job:
        a plain decimal number whose key Hydra has already parsed to a number of the
        same kind is parsed like that one (:func:`number_like`), without Hydra's
        grammar (a few milliseconds per override)."""
        new = []
        for text in dict.fromkeys(overrides):
            if text in self._parsed:
                continue
            made = number_like(text, self._numbers)
            if made is not None:
                self._parsed[text] = made
            else:
                new.append(text)
        if new:
            parsed = self.parser.parse_overrides(new)
            self._parsed.update(zip(new, parsed, strict=True))
            for override in parsed:
                key = override.input_line.split("=", 1)[0]
                if key not in self._numbers and number_like(override.input_line, {
                        key: override}) is not None:
                    self._numbers[key] = override
        return [self._parsed[o] for o in overrides]

    def _split(self, overrides: Sequence[str]) -> tuple[list, list, tuple[str, ...]] | None:
        """(parsed, plain, structural) of a fast-path job; None for Hydra's own route."""
        parsed = self._parse(overrides)
        if not self._fast(parsed):
            return None
        plain = [o for o in parsed if self._plain(o)]
        structural = tuple(o.input_line for o in parsed if not self._plain(o))
        if structural not in self.bases:
            self.bases[structural] = self.loader.load_sweep_config(self.master,
                                                                   list(structural))
        return parsed, plain, structural

    def _job_fields(self, parsed: list, base: DictConfig) -> tuple[list[str], str]:
        """(``hydra.overrides.task``, ``hydra.job.override_dirname``) as Hydra sets them."""
        from hydra._internal.config_loader_impl import get_overrides_dirname

        app = [o for o in parsed if not o.is_hydra_override()]
        found = self._dirname.get(id(base))
        if found is None or found[0] is not base:  # read once per composition, as plain values
            node = base.hydra.job.config.override_dirname
            found = self._dirname[id(base)] = (base, {
                "kv_sep": node.kv_sep, "item_sep": node.item_sep,
                "exclude_keys": list(node.exclude_keys)})
        return [o.input_line for o in app], get_overrides_dirname(overrides=app, **found[1])

    def __call__(self, overrides: Sequence[str]) -> DictConfig:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl

        key = tuple(overrides)
        if key in self.configs:
            return self.configs[key]
        split = self._split(overrides)
        if split is None:
            cfg = self.configs[key] = self.loader.load_sweep_config(self.master, list(overrides))
            return cfg
        parsed, plain, structural = split
        base = self.bases[structural]
        cfg = copy.deepcopy(base)
        ConfigLoaderImpl._apply_overrides_to_config(plain, cfg)
        task, dirname = self._job_fields(parsed, base)
        with open_dict(cfg.hydra):
            cfg.hydra.overrides.task = task
            cfg.hydra.job.override_dirname = dirname
        OmegaConf.copy_cache(from_config=self.master, to_config=cfg)
        self.configs[key] = cfg
        return cfg

    def light(self, overrides: Sequence[str]) -> LightJob | None:
        """The job without a copy of Hydra's node (:class:`LightJob`, kept until
        :meth:`take_light`); None for a job Hydra must compose itself.

        Its task config is a :class:`harness.config.Plain` (plain values, no config
        nodes: a thousand jobs are a thousand small dicts, not a thousand copies of a
        config) wherever the composition holds plain values only and each of the
        job's values goes through its config node's own type check and conversion
        (``data.outlier_frac=0`` is ``0.0``) without error; the first such job of each
        composition is checked against the config its overrides give the ordinary way,
        value for value. Otherwise (an interpolation, a value the node refuses, whose
        error the ordinary way then gives) it is a ``DictConfig``."""
        from hydra._internal.config_loader_impl import ConfigLoaderImpl

        key = tuple(overrides)
        if key in self.light_jobs:
            return self.light_jobs[key]
        split = self._split(overrides)
        if split is None:
            return None
        parsed, plain, structural = split
        base = self.bases[structural]
        task = self._plain_task(structural, plain)
        if task is None:
            task = OmegaConf.masked_copy(base, [k for k in base if k != "hydra"])
            ConfigLoaderImpl._apply_overrides_to_config(plain, task)
        task_overrides, dirname = self._job_fields(parsed, base)
        job = self.light_jobs[key] = LightJob(key, task, base, task_overrides, dirname, self,
                                              tuple(o.key_or_group for o in plain))
        return job

    def _plain_task(self, structural: tuple[str, ...], plain: list) -> Any:
        """The task config of a job of composition ``structural`` with value overrides
        ``plain``, as a :class:`harness.config.Plain`; None where it must be a config
        (see :meth:`light`)."""
        import enum

        from hydra._internal.config_loader_impl import ConfigLoaderImpl

        from harness.config import _interpolated, any_value, schema_types

        made = self._plain_bases.get(structural, False)
        if made is False:  # first job of this composition: its plain form, if it has one
            base = self.bases[structural]
            task = OmegaConf.masked_copy(base, [k for k in base if k != "hydra"])
            raw = OmegaConf.to_container(task, resolve=False)
            enums = any_value(raw, lambda v: isinstance(v, enum.Enum))
            made = None if _interpolated(raw) or enums else \
                (task, raw, schema_types(task, raw), {})
            self._plain_bases[structural] = made
            if made is not None:  # held against the ordinary way, value for value
                job = self._plain_job(made, plain)
                slow = copy.deepcopy(task)
                try:
                    ConfigLoaderImpl._apply_overrides_to_config(plain, slow)
                    same = job is not None and _typed(OmegaConf.to_container(
                        slow, resolve=False)) == _typed(job)
                except Exception:
                    same = False
                if not same:
                    self._plain_bases[structural] = None
                return job if same else None
        return None if made is None else self._plain_job(made, plain)

    @staticmethod
    def _plain_job(made: tuple, plain: list) -> Any:
        from harness.config import Plain

        task, raw, types, nodes = made
        values = Plain.of(raw, types=types)
        for override in plain:
            path = override.key_or_group
            node = nodes.get(path)
            if node is None:
                node = nodes[path] = _value_node(task, path)
            if node is False:
                return None
            try:  # the node's own type check and conversion, on a copy
                probe = copy.copy(node)
                probe._set_value(override.value())
                value = probe._value()
            except Exception:
                return None
            if isinstance(value, (dict, list)) or (isinstance(value, str) and (
                    "${" in value or value == "???")):
                return None
            where = values
            *parents, last = path.split(".")
            for part in parents:
                where = where[part]
            where[last] = value
        return values

    def take_light(self, overrides: Sequence[str]) -> LightJob | None:
        """The light job of ``overrides`` if this composer made it, handed over."""
        return self.light_jobs.pop(tuple(overrides), None)

    def take(self, overrides: Sequence[str]) -> DictConfig | None:
        """The composed config of ``overrides`` if this composer made it, handed over
        (the composer forgets it)."""
        return self.configs.pop(tuple(overrides), None)
