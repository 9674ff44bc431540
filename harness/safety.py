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
what is allowed, before the target is called. Hydra's own targets (``hydra.launcher``,
``hydra.sweeper``, ``hydra.callbacks``) are Hydra's business and are not checked here.
"""

from __future__ import annotations

import re
from typing import Any

from omegaconf import DictConfig, ListConfig

from harness.errors import HarnessError

ALLOWED = ("harness.", "losses.", "torch.", "sklearn.")
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


def _allowed_text() -> str:
    return (f"a target must start with {', '.join(ALLOWED)} (this project, torch or "
            "scikit-learn) and not be a code- or pickle-loading entry point such as "
            "torch.hub, torch.load or torch.jit")


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
    if not name.startswith(ALLOWED) or _refused(name) or \
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
    if not isinstance(home, str) or not (home + ".").startswith(ALLOWED) or _refused(home):
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
