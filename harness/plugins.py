"""Bring your own loss, data set or model: plugins, opted into explicitly.

A plugin is a Python module that registers things when imported, with the same
registration the built-ins use:

- a loss: ``@losses.register(name, task=..., params=[losses.Param(...)], ...)`` (see
  :mod:`losses.registry`); ``loss=<name>`` then works everywhere, stacked included;
- a data set: ``@harness.data.source(name, task, ranges)`` returning a
  :class:`harness.data.Pool` (the harness splits, standardises and corrupts it);
- a model: ``@harness.plugins.model(name, ranges)`` on an ``nn.Module`` class (or any
  callable) taking ``in_features, out_features`` and keyword parameters (its config
  keys).

Two ways in, and nothing else is trusted:

- an installed package advertises its modules as entry points in the groups
  :data:`GROUPS` (``harness.losses``, ``harness.data``, ``harness.models``); they are
  loaded by every command;
- a module or a file the user names: ``plugins=[my_losses]`` or
  ``plugins=[./my_losses.py]`` on ``python -m harness``'s command line, ``plugins:`` in a
  protocol preset, or the environment variable ``HARNESS_PLUGINS`` (paths or module
  names separated by ``:``) for every command.

A loaded plugin's modules join the ``_target_`` allow-list (:mod:`harness.safety`);
everything else stays refused. A plugin that fails to import, or registers a name that
is taken, stops the command with one line naming the plugin.

This module imports nothing heavy; a plugin imports what it needs when it is loaded.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.data.knobs import Knob, signature_knobs
from harness.errors import HarnessError

GROUPS = ("harness.losses", "harness.data", "harness.models")
ENV = "HARNESS_PLUGINS"

LOADED: dict[str, str] = {}  # what the user named or installed -> the module it loaded


@dataclass(frozen=True)
class ModelSpec:
    """A plugin model: its ``_target_`` (the factory's dotted path) and config keys."""

    name: str
    target: str
    knobs: tuple[Knob, ...]


MODELS: dict[str, ModelSpec] = {}
BUILT_IN_MODELS = ("cnn1d", "linear", "mlp")


def model(name: str, ranges: Mapping[str, str] | None = None,
          docs: Mapping[str, str] | None = None) -> Callable[[Any], Any]:
    """Decorator: register an ``nn.Module`` factory (usually its class) as ``model=<name>``.

    The factory is called as ``factory(in_features, out_features, **keys)`` with the
    data's input and output sizes (one output for regression and binary tasks, the
    number of classes for multiclass; a one-output model returns ``[N]`` or ``[N, 1]``
    predictions, a multiclass one ``[N, C]`` logits). Its keyword-only parameters with
    defaults are the model's config keys; ``ranges`` gives each numeric key's interval
    (``"[1, inf)"``). Raises :class:`HarnessError` for a name that is taken."""

    def register(factory: Any) -> Any:
        if name in MODELS or name in BUILT_IN_MODELS:
            held = MODELS[name].target if name in MODELS else "the harness"
            raise HarnessError(f"model '{name}' is already registered (by {held}); "
                               "choose another name.")
        init = factory.__init__ if isinstance(factory, type) else factory
        knobs = tuple(signature_knobs(init, ranges or {}, docs=docs))
        target = f"{factory.__module__}.{factory.__qualname__}"
        MODELS[name] = ModelSpec(name, target, knobs)
        return factory

    return register


def _module_name(path: Path) -> str:
    """The module name a plugin file is loaded under: its file name, so every process
    (a parallel launcher's workers too) gives it the same name."""
    name = path.stem
    if not name.isidentifier():
        raise HarnessError(f"plugin file {path} has no valid module name ({name!r}); "
                           "rename it (letters, digits, underscores).")
    return name


def _trust(module: str) -> None:
    from harness import safety

    prefix = module.split(".", 1)[0] + "."
    if prefix not in safety.TRUSTED:
        safety.TRUSTED.append(prefix)


def _failed(what: str, err: BaseException) -> HarnessError:
    lines = [ln for ln in f"{type(err).__name__}: {err}".splitlines() if ln.strip()]
    return HarnessError(f"plugin {what} failed to load: {lines[-1] if lines else err}")


def load_one(spec: str) -> str:
    """Import the plugin ``spec`` names (a module name, or a ``.py`` file path) once and
    trust its module; return the module's name."""
    spec = str(spec).strip()
    if spec in LOADED:
        return LOADED[spec]
    path = Path(spec)
    is_file = spec.endswith(".py") or os.sep in spec or path.is_file()
    from losses.registry import LossError

    try:
        if is_file:
            if not path.is_file():
                raise HarnessError(f"plugin file {spec} does not exist; name a .py file "
                                   "or an importable module.")
            name = _module_name(path)
            if name in sys.modules and getattr(sys.modules[name], "__file__", None) \
                    != str(path.resolve()):
                raise HarnessError(f"plugin file {spec}: a module named '{name}' is "
                                   "already imported; rename the file.")
            module_spec = importlib.util.spec_from_file_location(name, path.resolve())
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            try:
                module_spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
        else:
            name = spec
            importlib.import_module(name)
    except (HarnessError, LossError) as err:
        raise HarnessError(f"plugin {spec}: {err}") from None
    except Exception as err:
        raise _failed(spec, err) from None
    _trust(name)
    LOADED[spec] = name
    return name


def load(specs: Iterable[str] = ()) -> list[str]:
    """Load the installed plugins (entry points of :data:`GROUPS`), those of the
    ``HARNESS_PLUGINS`` environment variable and ``specs``; register their config
    options; return every plugin loaded so far. Loading one twice does nothing."""
    from importlib.metadata import entry_points

    for group in GROUPS:
        for ep in entry_points(group=group):
            key = f"{ep.group}:{ep.name}"
            if key in LOADED:
                continue
            try:
                obj = ep.load()
            except Exception as err:
                raise _failed(f"'{ep.name}' ({ep.group} = {ep.value})", err) from None
            _trust(getattr(obj, "__name__", ep.module))
            LOADED[key] = ep.module
    extra = [s for s in os.environ.get(ENV, "").split(os.pathsep) if s.strip()]
    for spec in [*extra, *specs]:
        load_one(spec)
    from harness.config import register_configs

    register_configs()
    return list(LOADED)


def named_in(argv: Iterable[str]) -> list[str]:
    """The plugins a command line names (``plugins=[a,b]``, ``+plugins=...``,
    ``plugins=a``), before Hydra reads it (a plugin's options must exist by then)."""
    out: list[str] = []
    for arg in argv:
        key, _, value = str(arg).partition("=")
        if key.lstrip("+~") != "plugins" or not value:
            continue
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            value = value[1:-1]
        out += [v.strip().strip("'\"") for v in value.split(",") if v.strip()]
    return out
