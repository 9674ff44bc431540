"""``python -m harness.protocol <preset> [key=value ...]``: a fair comparison of losses.

See :mod:`harness.protocol` for what it does.
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

from harness.cmdline import OneLineParser
from harness.errors import user_errors
from harness.protocol.spec import PRESETS_DIR, SPEC_KEYS, load_spec, presets

EPILOG = """\
examples:
  python -m harness.protocol regression_diabetes
  python -m harness.protocol label_noise_mnist1d seeds=[0,1,2,3,4]
  python -m harness.protocol regression_diabetes budget=2 trainer.epochs=5 out=/tmp/p
  python -m harness.protocol regression_diabetes data.outlier_frac=0,0.1,0.3
  python -m harness.report outputs/protocol/regression_diabetes      (its report)

key=value: a spec key, or a harness override: a sweep (a,b,c) replaces or adds a
compared setting key; a single value replaces the preset's or joins every run's
overrides. Re-running the same command resumes. plugins=[./my_loss.py] loads a plugin
(README "Bring your own"). Spec keys:
{keys}
"""


def parser() -> OneLineParser:
    p = OneLineParser(
        prog="python -m harness.protocol",
        description="A fair comparison of losses: every loss gets the same tuning budget, "
                    "selected on the corrupted validation split only; the selected "
                    "configuration is "
                    "re-run over several seeds and measured on the clean test split.",
        epilog=EPILOG.format(keys=textwrap.fill(", ".join(SPEC_KEYS), 88,
                                                initial_indent="  ", subsequent_indent="  ")))
    p.add_argument("protocol", metavar="PROTOCOL",
                   help=f"a preset in {PRESETS_DIR.name}/ (protocol=NAME works too) or a "
                        f"YAML file; presets: {', '.join(presets())}")
    p.add_argument("args", nargs="*", metavar="key=value")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the protocol; 0 when every run completed and every loss has a selection, 1
    otherwise, 2 (one line) for a user mistake, 130 / 143 (one line saying what was
    kept) for SIGINT / SIGTERM."""
    from harness.jobs.resume import exit_code, interrupted_line, interrupts

    args = parser().parse_args(argv)
    name = args.protocol.removeprefix("+").removeprefix("protocol=")
    spec = None
    try:
        with interrupts():
            from harness.startup import import_settled

            import_settled("harness.protocol.run", "harness.jobs.lifecycle")
            import pandas as pd

            from harness.protocol.record import SPEC_FILE, ranking_table
            from harness.protocol.run import run_protocol

            spec, _ = load_spec(name, args.args)
            t0 = time.perf_counter()
            record = run_protocol(spec)
    except user_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:  # every stage's runs were kept (the lifecycle)
        out = None if spec is None else spec.out
        print(interrupted_line(stop, out, resume="to resume, run the same command again "
                               "(finished runs are not run again)"), file=sys.stderr)
        return exit_code(stop)
    table = ranking_table(record)
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.max_colwidth", 60):
        print("\nranking (tuned on val, measured on the clean test split):")
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    counts = "; ".join(f"{stage} " + ", ".join(f"{n} {s}" for s, n in c.items())
                       for stage, c in record["runs"].items() if c)
    print(f"protocol {spec.name}: {time.perf_counter() - t0:.1f} s; runs: {counts}; "
          f"{Path(spec.out) / SPEC_FILE}; report: python -m harness.report {spec.out}")
    failed = any(c.get("failed") or c.get("interrupted") for c in record["runs"].values())
    return 1 if failed or any(e["selected"] is None for e in record["entries"]) else 0


if __name__ == "__main__":
    from harness.errors import run_command

    run_command(main)
