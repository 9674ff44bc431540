"""Training time of the default command on a quiet CPU and beside a CPU-bound competitor.

torch's OpenMP threads busy-wait: when another process holds a core, a run with two
threads spends its time spinning. The harness trains with ``trainer.threads=1`` by
default; this script shows what that buys. For each thread count it runs

    python -m harness loss=mse data=outliers trainer.threads=<n>

alternately quiet and with one competitor process (``python -c "while True: pass"``)
running, and reads the ``train <s> s`` the run prints (training steps only; start-up and
evaluation excluded). Medians over ``--repeats`` alternating runs; the ratio loaded/quiet
is the figure to quote.

    python benchmarks/bench_threads.py [--repeats 5] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ["loss=mse", "data=outliers", "trainer.progress=false"]


def train_seconds(threads: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run([sys.executable, "-m", "harness", *COMMAND,
                               f"trainer.threads={threads}", f"hydra.run.dir={out}"],
                              cwd=ROOT, capture_output=True, text=True, check=True)
    return float(re.search(r"^train ([0-9.]+) s", proc.stdout, re.M).group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    times: dict[tuple[int, str], list[float]] = {}
    for _ in range(args.repeats):
        for threads in args.threads:
            times.setdefault((threads, "quiet"), []).append(train_seconds(threads))
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                times.setdefault((threads, "loaded"), []).append(train_seconds(threads))
            finally:
                hog.kill()
                hog.wait()
    med = statistics.median
    print(f"python -m harness {' '.join(COMMAND)}: training seconds, median of "
          f"{args.repeats} alternating runs (one competitor process when loaded)")
    print(f"{'threads':>8}{'quiet s':>10}{'loaded s':>10}{'loaded/quiet':>14}")
    for threads in args.threads:
        q, loaded = med(times[(threads, "quiet")]), med(times[(threads, "loaded")])
        print(f"{threads:>8}{q:>10.3f}{loaded:>10.3f}{loaded / q:>14.2f}")


if __name__ == "__main__":
    main()
