"""Heavy imports without the cyclic garbage collector walking them again and again.

torch, scikit-learn (with SciPy), pandas, pyarrow and seaborn make some 300,000 objects
the cyclic garbage collector tracks. While they are imported, CPython's full
collections (generation 2) run every time the objects alive have grown by a quarter,
and each walks all of them. Measured on this project's 2-core machine: four full
collections while ``torch, sklearn.datasets, pandas, pyarrow.parquet`` are imported
(0.6 s of their 3.0 to 3.5 s), more in the job (a one-run command made five, walking
54,000 to 258,000 objects each), and one at exit (another 0.6 s). Those objects live
as long as the process: none of them is ever garbage. Side by side, in alternation,
the main command now takes 0.78x the time it took before (5.5 s against 7.1 s).

:func:`import_settled` imports modules with the collector paused and, in a command's
process (:func:`command`), then freezes every object alive (:func:`gc.freeze`, the
standard library's tool for long-lived objects) so later collections skip them; the
commands call it where they first need a heavy package, and
:func:`harness.errors.run_command` freezes everything before the exit. Objects made
afterwards are collected as usual. A program or notebook that imports the harness as a
library gets the pause only: a freeze would also keep whatever garbage it had not
collected yet alive for good.

This module imports nothing heavy itself.
"""

from __future__ import annotations

import gc
import importlib
import sys
from types import ModuleType

_COMMAND = [False]  # whether this process is one of the harness's commands


def command() -> None:
    """Mark this process as one of the harness's commands (``python -m harness`` and the
    others), whose objects alive after an import live as long as it: from now on
    :func:`import_settled` and :func:`settle` freeze them."""
    _COMMAND[0] = True


def settle() -> None:
    """In a command's process, freeze every object alive now (see :func:`command`); in
    any other, nothing."""
    if _COMMAND[0]:
        gc.freeze()


def import_settled(*names: str) -> list[ModuleType]:
    """Import the modules ``names`` (dotted, e.g. ``"sklearn.datasets"``), the collector
    paused while those not imported yet are, then (in a command's process) everything
    alive frozen out of it.

    Returns the modules, in order. Modules already imported cost a dictionary lookup
    (nothing is frozen then). The collector is enabled again afterwards when it was
    enabled before, also when an import fails (whose exception is raised as it is:
    :class:`ImportError` for a package that is not installed)."""
    todo = [name for name in names if name not in sys.modules]
    if todo:
        enabled = gc.isenabled()
        gc.disable()
        try:
            for name in todo:
                importlib.import_module(name)
        finally:
            settle()
            if enabled:
                gc.enable()
    return [sys.modules[name] for name in names]
