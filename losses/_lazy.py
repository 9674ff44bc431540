"""Import torch on first use, so ``import losses`` (and the registry's metadata) stays light.

The registry's names, parameters, ranges and docs are plain Python: listing them (as the
harness's ``--help`` and its Hydra schemas do) must not pay torch's ~1.5 s import. A loss
module therefore writes::

    torch = lazy_import(globals(), "torch")
    F = lazy_import(globals(), "torch.nn.functional", as_="F")

and uses ``torch.xxx`` / ``F.xxx`` inside its functions as usual. The first attribute read
on any proxy imports the real module and *rebinds* the global name in every namespace that
asked for it (and does the same for every other proxy whose module is imported by then),
so from then on a function's ``torch.exp`` is an ordinary module attribute lookup: the hot
path pays nothing. Do not read a proxy's attributes at import time (for
example ``fused_mean=F.mse_loss`` in a decorator): that imports torch; give the import
path instead (``fused_mean="torch.nn.functional.mse_loss"``), which the registry imports
on the loss's first call, or a small function that calls ``F.mse_loss``.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module ``name`` until an attribute is first read."""

    def __init__(self, name: str):
        self.__dict__["_name"] = name
        self.__dict__["_bindings"] = []  # (namespace dict, global name)

    def _load(self) -> ModuleType:
        module = importlib.import_module(self.__dict__["_name"])
        for proxy in _PROXIES.values():  # importing torch.nn.functional imported torch too
            proxy._bind()
        return module

    def _bind(self) -> None:
        module = sys.modules.get(self.__dict__["_name"])
        if module is None:
            return
        for namespace, alias in self.__dict__["_bindings"]:
            if namespace.get(alias) is self:
                namespace[alias] = module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError(f"{self.__dict__['_name']} is imported lazily; "
                             f"set {attr!r} on the real module")

    def __repr__(self) -> str:
        return f"<lazy module {self.__dict__['_name']!r} (not imported yet)>"


_PROXIES: dict[str, LazyModule] = {}


def lazy_import(namespace: dict[str, Any], name: str, as_: str | None = None) -> Any:
    """A proxy for module ``name`` bound as ``as_`` (default: ``name``) in ``namespace``
    (the caller's ``globals()``); see the module docstring. Returns the real module when
    it is already imported."""
    alias = as_ or name
    module = sys.modules.get(name)
    if module is not None:
        return module
    proxy = _PROXIES.setdefault(name, LazyModule(name))
    proxy.__dict__["_bindings"].append((namespace, alias))
    return proxy
