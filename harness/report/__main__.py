"""``python -m harness.report``: the command line of :func:`harness.report.build`."""

from __future__ import annotations

import argparse
import sys
import warnings

from harness.cmdline import OneLineParser
from harness.errors import HarnessError, user_errors
from harness.report import kinds

EPILOG = f"""\
examples:
  python -m harness.report outputs/sweeps/2026-11-26_10-00-00
  python -m harness.report outputs/sweeps/a outputs/sweeps/b --out reports/ab
  python -m harness.report outputs/runs/2026-11-26_10-00-00 --metric mae --embed

figures (each drawn only when the results hold what it needs):
{kinds.epilog()}
A setting is a data set at one corruption level; seeds are the replicates. Ranking tests
use independent blocks (data sets) or, within one data set, seeds; the page says which
and what it assumes. Failed and diverged runs are counted and listed, never plotted. A
folder written by python -m harness.protocol gets the protocol report: its final runs
compared, plus runs by stage, tuned vs default, the tuning trials and the sensitivity
figure. The report folder is replaced whole (never through a symbolic link).
"""


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m harness.report",
        description="Compare losses from the results of a run, a sweep or several sweeps: "
                    "figures, statistics and one HTML page. Reads results only; never trains.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", metavar="FOLDER",
                   help="a run folder, a sweep folder, or a folder holding either")
    p.add_argument("--out", metavar="DIR",
                   help="where to write the report (default: FOLDER/report, of the first "
                        "FOLDER)")
    p.add_argument("--metric", metavar="NAME",
                   help="the metric to compare on the clean test split (default: rmse for "
                        "regression, accuracy for classification), e.g. mae, r2, macro_f1")
    p.add_argument("--target", type=float, default=0.95, metavar="FRACTION",
                   help="speed: the fraction of the way from the untrained model to the best "
                        "final value a run must reach (default: 0.95)")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="significance level of the tests and the CD diagram (default: 0.05)")
    p.add_argument("--embed", action="store_true",
                   help="inline the figures in index.html (data URIs), so the page alone is "
                        "the whole report; the PNGs are written beside it as well")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    caught: list[warnings.WarningMessage] = []
    try:
        if not 0 < args.target <= 1:
            raise HarnessError(f"--target must be in (0, 1]; got {args.target}.")
        if not 0 < args.alpha < 1:
            raise HarnessError(f"--alpha must be in (0, 1); got {args.alpha}.")
        from harness.startup import import_settled

        import_settled("harness.report.assemble")  # seaborn and scipy only when needed
        from harness.report.assemble import build
        from harness.results import ResultsWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResultsWarning)
            report = build(args.folders, args.out, args.metric, args.target, args.alpha,
                           args.embed)
    except user_errors() as err:
        _say(caught)
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the report folder cannot be written
        _say(caught)
        print(f"error: cannot write the report to {err.filename or args.out}: "
              f"{err.strerror or err}; choose a folder you can write with --out DIR.",
              file=sys.stderr)
        return 2
    _say(caught)
    counts = ", ".join(f"{n} {s}" for s, n in report.runs.items())
    print(f"report: {report.index} ({len(report.figures)} figures; runs: {counts})")
    return 0


def _say(caught: list[warnings.WarningMessage]) -> None:
    """Each skipped file once, one line each; other warnings pass on."""
    from harness.results import ResultsWarning

    said = set()
    for w in caught:
        if isinstance(w.message, ResultsWarning):
            if str(w.message) not in said:
                said.add(str(w.message))
                print(f"warning: {w.message} (left out of the report)", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


if __name__ == "__main__":
    from harness.errors import run_command

    run_command(main)
