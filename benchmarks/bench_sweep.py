"""Wall time of one 16-run sweep under the basic (sequential) and joblib launchers.

The sweep: ``loss=mse,mae,huber,pseudo_huber seed=0,1,2,3`` on ``data=outliers`` (the
default run, with ``--epochs`` epochs). Each launcher runs it into a fresh folder, in
alternating order over ``--repeats`` rounds, and the script checks both produced the
same metrics before quoting times, so the speed-up is for identical work.

    python benchmarks/bench_sweep.py [--epochs 20] [--repeats 2] [--n-jobs 2]
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
sys.path.insert(0, str(ROOT))

from harness import results  # noqa: E402

GRID = ["loss=mse,mae,huber,pseudo_huber", "seed=0,1,2,3", "data=outliers",
        "trainer.progress=false"]


def sweep(folder: Path, epochs: int, launcher: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness", "-m", *GRID,
                    f"trainer.epochs={epochs}", *launcher, f"hydra.sweep.dir={folder}"],
                   cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t0


def final_values(folder: Path):
    df = results.load(folder)
    df = df[df.metric != "elapsed_s"]
    return df.sort_values(["run_id", "epoch", "split", "metric"]).value.to_numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args()
    launchers = {"basic": [],
                 "joblib": ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.n_jobs}"]}
    times: dict[str, list[float]] = {k: [] for k in launchers}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            order = list(launchers) if r % 2 == 0 else list(launchers)[::-1]
            for name in order:
                times[name].append(sweep(Path(tmp) / f"{name}{r}", args.epochs,
                                         launchers[name]))
        same = (final_values(Path(tmp) / "basic0") == final_values(Path(tmp) / "joblib0")).all()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"16-run sweep ({args.epochs} epochs each), {args.repeats} rounds, alternating:")
    for name, ts in times.items():
        print(f"  {name:7} median {med[name]:6.1f} s   ({', '.join(f'{t:.1f}' for t in ts)})")
    print(f"  joblib (n_jobs={args.n_jobs}) / basic: {med['joblib'] / med['basic']:.2f}x the "
          f"wall time; identical metrics: {bool(same)}")


if __name__ == "__main__":
    main()
