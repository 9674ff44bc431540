"""``python -m harness.report``: the command line of :func:`harness.report.build`."""

from __future__ import annotations

import argparse
import sys
import warnings

from harness.errors import USER_ERRORS, HarnessError

EPILOG = """\
examples:
  python -m harness.report outputs/sweeps/2026-11-26_10-00-00
  python -m harness.report outputs/sweeps/a outputs/sweeps/b --out reports/ab
  python -m harness.report outputs/runs/2026-11-26_10-00-00 --metric mae

figures (each drawn only when the results hold what it needs):
  robustness    final clean test metric against corruption level, one line per loss
  convergence   test/validation metric and training objective against epoch
  distribution  final test metric of every run, per loss and setting
  ranking       critical-difference diagram (average ranks, Friedman, Nemenyi)
  memorisation  corrupted training points fitted to their wrong target, per epoch
  speed         epochs and seconds to reach the target (--target)
  sensitivity   (a protocol folder) every tuning trial's final metric against each
                tuned hyperparameter, per loss
A setting is a data set at one corruption level; seeds are the replicates. Failed and
diverged runs are counted and listed, never plotted. A folder written by
python -m harness.protocol gets the protocol report: its final runs compared, plus runs
by stage, tuned vs default, the tuning trials and the sensitivity figure.
"""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (what was wrong, where help is), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message}; see {self.prog} --help.\n")


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
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if not 0 < args.target <= 1:
            raise HarnessError(f"--target must be in (0, 1]; got {args.target}.")
        if not 0 < args.alpha < 1:
            raise HarnessError(f"--alpha must be in (0, 1); got {args.alpha}.")
        from harness.report.build import build  # seaborn and scipy only when needed
        from harness.results import ResultsWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResultsWarning)
            report = build(args.folders, args.out, args.metric, args.target, args.alpha)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the report folder cannot be written
        print(f"error: cannot write the report to {err.filename or args.out}: "
              f"{err.strerror or err}; choose a folder you can write with --out DIR.",
              file=sys.stderr)
        return 2
    said = set()
    for w in caught:
        if isinstance(w.message, ResultsWarning):
            if str(w.message) not in said:  # a file is skipped once, said once
                said.add(str(w.message))
                print(f"warning: {w.message} (left out of the report)", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    counts = ", ".join(f"{n} {s}" for s, n in report.runs.items())
    print(f"report: {report.index} ({len(report.figures)} figures; runs: {counts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
