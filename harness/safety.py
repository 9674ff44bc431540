"""Which ``_target_`` a config may name: this project, torch and scikit-learn only.

A config (a file in ``conf/``, a preset, or the ``.hydra/config.yaml`` of a results folder
someone hands you) names the callables the harness builds data, models and optimisers
with. Letting it name *any* importable callable would let a config file run arbitrary
code (``os.system``, ``subprocess.run``, a pickle loader). So every target must:

- start with one of :data:`ALLOWED` (``harness.``, ``losses.``, ``torch.``, ``sklearn.``)
  and have no private (``_``) part;
- not be one of torch's or scikit-learn's own code- or pickle-loading entry points
  (:data:`REFUSED`: ``torch.hub``, ``torch.load``, ``torch.jit``, ...);
- resolve to an object that is defined in one of those packages too, so
  ``torch.os.system`` (``os.system`` reached through torch's namespace) is refused.

Anything else raises :class:`~harness.errors.HarnessError` naming the key, the target and
what is allowed, before the target is called.

What Hydra itself builds from a config is checked too (:func:`check_hydra`, run on every
config Hydra composes, before Hydra imports anything from it): launchers and sweepers
must be Hydra's or an installed Hydra plugin's, callbacks the harness's or Hydra's own,
and the logging configuration may name only the standard library's ``logging`` classes
and ``ext://sys.stdout``/``ext://sys.stderr`` (no ``()`` factories). Plugins the user
installed or named (:mod:`harness.plugins`) are trusted like this project.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from omegaconf import DictConfig, ListConfig

from harness.errors import HarnessError

ALLOWED = ("harness.", "losses.", "torch.", "sklearn.")
TRUSTED: list[str] = []  # module prefixes of plugins the user installed or named
REFUSED = (
    "torch.hub", "torch.utils.model_zoo",  # download and run a repository's hubconf.py
    "torch.load", "torch.save", "torch.serialization",  # pickles
    "torch.jit", "torch.package", "torch.ops", "torch.classes", "torch.library",
    "torch.utils.cpp_extension",  # compiles and loads code given as text
    "torch.utils.benchmark",  # runs statements given as text
    "torch.distributed", "torch.multiprocessing",
    "torch.utils.collect_env",  # runs shell commands
    "sklearn.datasets.fetch_",  # downloads, and caches with joblib (pickles)
    "sklearn.externals", "sklearn.utils.estimator_checks",
)
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def _allowed() -> tuple[str, ...]:
    return (*ALLOWED, *TRUSTED)


def _allowed_text() -> str:
    plugins = f", or a plugin you installed or named ({', '.join(TRUSTED)})" if TRUSTED \
        else "; code of your own runs as a plugin you name: plugins=[./my_module.py]"
    return (f"a target must start with {', '.join(ALLOWED)} (this project, torch or "
            "scikit-learn) and not be a code- or pickle-loading entry point such as "
            f"torch.hub, torch.load or torch.jit{plugins}")


@functools.lru_cache(maxsize=4096)  # REFUSED never changes; a sweep asks of each job
def _refused(name: str) -> bool:
    return any(name == r or name.startswith(r if r.endswith("_") else r + ".")
               for r in REFUSED)


def check_target(target: Any, key: str = "_target_") -> str:
    """``target`` if a config may call it, else a :class:`HarnessError` naming ``key``.

    Checks the text first, so a refused target is never imported."""
    name = str(target) if isinstance(target, str) else None
    if name is None or not NAME.match(name):
        raise HarnessError(f"{key}={target!r} is not a dotted name like "
                           f"harness.data.outliers; {_allowed_text()}.")
    if not name.startswith(_allowed()) or _refused(name) or \
            any(part.startswith("_") for part in name.split(".")):
        raise HarnessError(f"{key}={name} is not allowed: {_allowed_text()}.")
    return name


def resolve(target: Any, key: str = "_target_") -> Any:
    """Check ``target`` (:func:`check_target`), import it, and check where the object it
    names is defined (``torch.os.system`` is ``os.system``: refused)."""
    from hydra.utils import get_object

    name = check_target(target, key)
    try:
        obj = get_object(name)
    except Exception as err:  # ImportError, AttributeError, wrapped by Hydra
        raise HarnessError(f"{key}={name} cannot be imported ({type(err).__name__}); "
                           f"{_allowed_text()}.") from None
    home = getattr(obj, "__module__", None) or getattr(obj, "__name__", None)
    if not isinstance(home, str) or not (home + ".").startswith(_allowed()) or _refused(home):
        raise HarnessError(f"{key}={name} is not allowed: it is defined in {home or '?'}, "
                           f"outside this project, torch and scikit-learn; "
                           f"{_allowed_text()}.")
    return obj


def check_config(cfg: DictConfig | ListConfig | dict | list, prefix: str = "") -> None:
    """Check every ``_target_`` in ``cfg`` (not under ``hydra``) with :func:`resolve`:
    nothing outside the allowed packages is imported; the first bad one raises
    :class:`HarnessError`."""
    items = (cfg.items() if isinstance(cfg, (DictConfig, dict))
             else enumerate(cfg) if isinstance(cfg, (ListConfig, list)) else ())
    for key, value in items:
        path = f"{prefix}{key}"
        if not prefix and key == "hydra":
            continue
        if key == "_target_":
            resolve(value, path)
        elif isinstance(value, (DictConfig, ListConfig, dict, list)):
            check_config(value, path + ".")


def target_key(node: Any) -> str:
    """``data._target_`` for the config node at ``data`` (``_target_`` if unknown)."""
    try:
        where = node._get_full_key(None)  # OmegaConf's dotted path of the node
    except Exception:
        where = ""
    return f"{where}._target_" if where else "_target_"


# ---------------------------------------------------------------- what Hydra builds
HYDRA_TARGETS = {  # config node -> prefixes its _target_ may have
    "launcher": ("hydra._internal.core_plugins.", "hydra_plugins."),
    "sweeper": ("hydra._internal.core_plugins.", "hydra_plugins."),
    "callbacks": ("harness.", "hydra.experimental.callbacks.LogJobReturnCallback"),
}
LOGGING_CLASSES = ("logging.",)
LOGGING_STREAMS = ("ext://sys.stdout", "ext://sys.stderr")
# environment variables a config may not set for its jobs (they make processes load code)
REFUSED_ENV = ("LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "PYTHONPATH", "PYTHONSTARTUP",
               "PYTHONHOME", "PYTHONUSERBASE", "PYTHONEXECUTABLE", "BASH_ENV", "ENV")


def _hydra_refused(key: str, value: Any, allowed: str) -> HarnessError:
    return HarnessError(f"{key}={value!r} is not allowed: {allowed}; a config may not make "
                        "Hydra import or run anything else (nothing runs that you did not "
                        "choose).")


def check_hydra(hydra_cfg: Any, prefix: str = "hydra.") -> None:
    """Check what Hydra instantiates from a composed config's ``hydra`` node (see the
    module docstring), before it does; the first refused value raises
    :class:`HarnessError` naming its key."""
    from omegaconf import OmegaConf

    node = OmegaConf.to_container(hydra_cfg, resolve=False) if not isinstance(
        hydra_cfg, dict) else hydra_cfg
    for group, prefixes in HYDRA_TARGETS.items():
        value = node.get(group)
        targets = ([(f"{prefix}{group}._target_", value.get("_target_"))]
                   if group != "callbacks" and isinstance(value, dict) else
                   [(f"{prefix}{group}.{k}._target_", (v or {}).get("_target_"))
                    for k, v in (value or {}).items() if isinstance(v, dict)]
                   if isinstance(value, dict) else [])
        for key, target in targets:
            if target is None:
                continue
            name = str(target)
            if not NAME.match(name) or not (name.startswith(prefixes) or name in prefixes):
                raise _hydra_refused(key, target, f"{group} targets must start with "
                                     f"{', '.join(prefixes)}")
    for logging_key in ("job_logging", "hydra_logging"):
        _check_logging(node.get(logging_key) or {}, f"{prefix}{logging_key}")
    env = (node.get("job") or {}).get("env_set") or {}
    for var in env:
        if str(var).upper() in REFUSED_ENV:
            raise _hydra_refused(f"{prefix}job.env_set.{var}", env[var],
                                 f"it makes processes load code; refused: "
                                 f"{', '.join(REFUSED_ENV)}")


def _check_logging(node: Any, key: str) -> None:
    """A logging ``dictConfig``: no ``()`` factory anywhere, handler and formatter
    classes from the standard library's ``logging`` only, streams sys.stdout/stderr."""
    if isinstance(node, dict):
        for k, v in node.items():
            where = f"{key}.{k}"
            if k == "()":
                raise _hydra_refused(where, v, "a logging configuration may not name "
                                     "factories ('()')")
            if k == "class" and isinstance(v, str) and not v.startswith(LOGGING_CLASSES):
                raise _hydra_refused(where, v, "logging classes must come from the "
                                     "standard library's logging module")
            if isinstance(v, str) and v.startswith(("ext://", "cfg://")) \
                    and v not in LOGGING_STREAMS:
                raise _hydra_refused(where, v, "the only external objects a logging "
                                     f"configuration may name are {', '.join(LOGGING_STREAMS)}")
            _check_logging(v, where)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _check_logging(v, f"{key}[{i}]")

