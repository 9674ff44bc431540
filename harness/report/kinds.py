"""The figure kinds of a report, declared once: name, ``--help`` line, drawing function.

Each kind names the function that draws it (``module:function`` under
:mod:`harness.report`), called with the panel's :class:`~harness.report.sections.Context`;
the page (``sections.panel`` and the protocol report), ``FIGURE_KINDS``, the cleanup of a
rebuilt report and the ``--help`` epilog all read this one table, so they cannot drift.
This module imports nothing heavy: ``--help`` reads it without pandas or matplotlib.
To add a figure: write the function in :mod:`harness.report.sections` and add a line here.
"""

from __future__ import annotations

import importlib
import textwrap
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class FigureKind:
    """``name``: the PNG is ``<name>_<metric>.png``; ``help``: one line for ``--help``;
    ``draw``: ``module:function`` under ``harness.report``; ``scope``: ``comparison`` (one
    per compared metric, every report) or ``protocol`` (protocol folders only)."""

    name: str
    help: str
    draw: str
    scope: str = "comparison"

    def function(self) -> Callable:
        module, _, name = self.draw.partition(":")
        return getattr(importlib.import_module(f"harness.report.{module}"), name)


KINDS = (
    FigureKind("robustness", "final clean test metric against corruption level, per loss "
               "(small multiples with more than 4 losses)", "sections:robustness"),
    FigureKind("convergence", "clean test and clean validation metric and the training "
               "objective against epoch", "sections:convergence"),
    FigureKind("distribution", "final test metric of every run, per loss and setting",
               "sections:distribution"),
    FigureKind("ranking", "critical-difference diagrams, only where the ranking test "
               "(Friedman over independent blocks or seeds) rejected", "sections:ranking"),
    FigureKind("memorisation", "corrupted training points: mean pull towards the corrupted "
               "targets and fractions memorised, per epoch", "sections:memorisation"),
    FigureKind("speed", "epochs (and comparable seconds) to reach the target (--target)",
               "sections:speed"),
    FigureKind("sensitivity", "(a protocol folder) every tuning trial's final metric "
               "against each tuned hyperparameter, validation and test on separate rows",
               "protocol:sensitivity_section", scope="protocol"),
)
FIGURE_KINDS = tuple(k.name for k in KINDS)


def of_scope(scope: str) -> tuple[FigureKind, ...]:
    return tuple(k for k in KINDS if k.scope == scope)


def epilog() -> str:
    """The figure list of ``python -m harness.report --help``."""
    width = max(len(k.name) for k in KINDS) + 4
    return "\n".join(textwrap.fill(k.help, 88, initial_indent=f"  {k.name:<{width - 2}}",
                                   subsequent_indent=" " * width) for k in KINDS)
