"""``python -m harness.zoo``: the command line of the loss cards (:mod:`harness.zoo.cards`).

Its ``--help`` imports neither torch nor matplotlib.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import losses
from harness.cmdline import OneLineParser
from harness.errors import HarnessError

EPILOG = """\
what is drawn:
  regression  loss and derivative against the residual r = p - y (msle at target 1)
  binary      loss and derivative against the margin m = (2y - 1) * score
  multiclass  loss against the true-class probability p_y, the other classes
              sharing 1 - p_y evenly (C = 5), and its derivative with respect to
              the true class's logit z_y (how hard training pushes it up)
  Per task: <task>_losses.png and <task>_derivatives.png (one panel per loss, a few
  parameter settings each) and <task>_overview.png (all losses at their defaults);
  for regression also barron.png (Barron's loss across alpha).

table columns:
  bounded     whether the loss has a finite upper bound (bounded losses ignore gross
              outliers / wrong labels beyond a point)
  symmetric   regression: even in the residual, l(y + r, y) = l(y - r, y);
              classification: the loss summed over every possible label is the same
              for every prediction, which makes it robust to symmetric label noise
              (Ghosh et al., 2017). "if ..." names the parameter values where it holds.

examples:
  python -m harness.zoo                         # table + all figures in outputs/zoo
  python -m harness.zoo --task binary --out /tmp/zoo
  python -m harness.zoo --no-plots --markdown   # the table as markdown, no figures
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = OneLineParser(
        prog="python -m harness.zoo",
        description="Loss cards: draw every registered loss (and its derivative) as PNG\n"
                    "files and print the registry table: name, task, aliases, parameters\n"
                    "with defaults and valid ranges, bounded?, symmetric?",
        epilog=EPILOG)
    parser.add_argument("--out", type=Path, default=Path("outputs/zoo"), metavar="DIR",
                        help="folder for the PNG files (created; default: %(default)s)")
    parser.add_argument("--task", choices=losses.TASKS, action="append",
                        help="only this task (repeat for several; default: all)")
    parser.add_argument("--no-plots", action="store_true",
                        help="print the table only, write no figures")
    parser.add_argument("--markdown", action="store_true",
                        help="print the table as markdown, with each loss's one-line summary")
    parser.add_argument("--dpi", type=int, default=100,
                        help="resolution of the PNG files (default: %(default)s)")
    parser.add_argument("--plugins", nargs="+", default=[], metavar="MODULE",
                        help="modules or .py files whose losses to draw too (installed "
                             "plugins are always loaded)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, list[str]]:
    args = parse_args(argv)
    try:
        from harness import plugins

        plugins.load(args.plugins)
    except HarnessError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    from harness.zoo.cards import draw, format_table, registry_table  # matplotlib, torch

    tasks = tuple(dict.fromkeys(args.task)) if args.task else losses.TASKS
    print(format_table(registry_table(tasks), markdown=args.markdown))
    if args.no_plots:
        return {}
    drawn = draw(args.out, tasks, dpi=args.dpi)
    print(f"\nwrote {len(drawn)} figures to {args.out}/: {', '.join(drawn)}", file=sys.stderr)
    return drawn


if __name__ == "__main__":
    from harness.errors import run_command

    run_command(main)
