"""A thousand runs: per-job overhead of sweeps of tiny jobs, and what stacking buys.

Whole commands, as a user types them, timed from outside (start-up included):

1. the tiny sweep, ``hydra/launcher=vectorized data=outliers model=linear loss=huber
   data.n_samples=200 trainer.epochs=1 seed=range(0,N)``, for each N of ``--sizes``;
   the per-job overhead is the slope between the smallest and each larger N
   ((wall(N) - wall(N0)) / (N - N0)): what one more job costs, start-up excluded;
2. ``python -m harness.report`` on the largest tiny sweep;
3. the 16-seed default-run sweep (``data=outliers``, the default MLP, 3 epochs) with the
   sequential (basic) launcher and the vectorised one, side by side, and the same with
   one seed: the whole commands' ratio (start-up included: a few seconds of imports and
   composition that no launcher can share out), and the ratio of what the 15 seeds
   beyond the first cost each launcher ((wall(16) - wall(1)) / 15 per job).

Each measurement is the median of ``--repeats`` runs, the commands of one repeat run in
alternation. The sweeps' folders are kept until the end: on a file system mounted with
``discard`` (this project's machines), creating files just after thousands were deleted
ran 1.4x slower for a few seconds (a 1,024-job sweep: 20.1 s with 5.2 s of system time
against 14.3 s with 1.7 s), which measures the disk, not the harness.
``--root`` runs another checkout's code (e.g. an older commit, for a before/after table):
the commands run with that folder as their working directory.

    python benchmarks/bench_many.py                       # sizes 16 256 1024, 1 repeat
    python benchmarks/bench_many.py --sizes 16 256 --repeats 3 --root /tmp/old-checkout
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ["hydra/launcher=vectorized", "data=outliers", "model=linear", "loss=huber",
        "data.n_samples=200", "trainer.epochs=1", "trainer.progress=false"]
DEFAULT = ["data=outliers", "trainer.epochs=3", "trainer.progress=false"]


def wall(args: list[str], root: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 256, 1024])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--root", type=Path, default=ROOT,
                    help="the checkout whose code runs (default: this one)")
    ap.add_argument("--no-default", action="store_true", help="skip the 16-seed comparison")
    ap.add_argument("--no-report", action="store_true", help="skip the report timing")
    args = ap.parse_args()
    root = args.root.resolve()
    sizes = sorted(args.sizes)
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for n in sizes:
                out = Path(tmp) / f"tiny{n}-{r}"
                times.setdefault(f"tiny {n}", []).append(
                    wall(["-m", "harness", "-m", *TINY, f"seed=range(0,{n})",
                          f"hydra.sweep.dir={out}"], root))
                if n == sizes[-1] and not args.no_report:
                    times.setdefault(f"report {n}", []).append(
                        wall(["-m", "harness.report", str(out), "--out",
                              str(Path(tmp) / f"report{r}")], root))
            if not args.no_default:
                for seeds in (16, 1):
                    for launcher in ("basic", "vectorized"):
                        out = Path(tmp) / f"default-{launcher}-{seeds}-{r}"
                        times.setdefault(f"default x{seeds} {launcher}", []).append(
                            wall(["-m", "harness", "-m", *DEFAULT, f"seed=range(0,{seeds})",
                                  f"hydra/launcher={launcher}", f"hydra.sweep.dir={out}"],
                                 root))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"code: {root}; median of {args.repeats} run(s) per command")
    print(f"{'command':30}{'wall s':>9}{'per job ms':>12}")
    base = sizes[0]
    for n in sizes:
        w = med[f"tiny {n}"]
        slope = "" if n == base else f"{(w - med[f'tiny {base}']) / (n - base) * 1000:12.1f}"
        print(f"{f'tiny sweep, {n} jobs':30}{w:9.2f}{slope}")
    if not args.no_report:
        print(f"{f'report of the {sizes[-1]}-job sweep':30}{med[f'report {sizes[-1]}']:9.2f}")
    if not args.no_default:
        b, v = med["default x16 basic"], med["default x16 vectorized"]
        b1, v1 = med["default x1 basic"], med["default x1 vectorized"]
        pb, pv = (b - b1) / 15, (v - v1) / 15
        print(f"{'default run x1, basic':30}{b1:9.2f}")
        print(f"{'default run x1, vectorized':30}{v1:9.2f}")
        print(f"{'default run x16, basic':30}{b:9.2f}{pb * 1000:12.1f}")
        print(f"{'default run x16, vectorized':30}{v:9.2f}"
              + (f"{pv * 1000:12.1f}" if pv > 0 else "  below the run-to-run noise"))
        print(f"basic / vectorized: whole commands {b / v:.2f}x; the 15 seeds beyond the "
              f"first {pb / pv:.2f}x" if pv > 0 else
              f"basic / vectorized: whole commands {b / v:.2f}x; the 15 seeds beyond the "
              "first cost the vectorised launcher less than the noise between runs")


if __name__ == "__main__":
    main()
