"""Loss cards: every registered loss drawn, and the registry as a table.

:mod:`~harness.zoo.cards` draws and tabulates; ``python -m harness.zoo`` (``__main__``) is
its command line. The cards' names are available here too (``harness.zoo.draw``,
``harness.zoo.registry_table``, ...), imported when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

COMMAND = ("main", "parse_args", "EPILOG")


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(f"module 'harness.zoo' has no attribute '{name}'")
    module = importlib.import_module("harness.zoo.__main__" if name in COMMAND
                                     else "harness.zoo.cards")
    try:
        return getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module 'harness.zoo' has no attribute '{name}'") from None
