"""Where a sweep's per-job time goes: the tiny vectorised sweep of ``bench_many.py``, run
in this process (after a two-job warm-up that pays the imports), each stage of a job
timed around the harness function that does it.

    python benchmarks/bench_stages.py            # 256 jobs
    python benchmarks/bench_stages.py --jobs 1024

Stages (milliseconds per job; one job's stages add up to less than the sweep's time per
job, the rest being Hydra's and the launcher's own bookkeeping and the stacked training):

- compose: the job's config from its composition (``Composer.light``);
- check: allow-list, canonical floats, schemas (``harness.jobs.job.check``), and the run id;
- record: the job's ``.hydra/`` files (``write_job_record``);
- data: the job's data set (clean data shared by members of one seed), split, corrupted;
- train: the stacked training of all members, shared out;
- write: ``metrics.parquet`` and ``summary.json`` (``harness.results.write_run``);
- progress: the ``[k/N]`` line, to the console and the job's log;
- merge: ``results.parquet`` of the sweep, from what the process wrote.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

TINY = ["hydra/launcher=vectorized", "data=outliers", "model=linear", "loss=huber",
        "data.n_samples=200", "trainer.epochs=1", "trainer.progress=false"]
SPENT: dict[str, float] = collections.defaultdict(float)


def timed(owner, name: str, stage: str) -> None:
    """Wrap ``owner.name`` so its time adds to ``stage``."""
    fn = getattr(owner, name)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[stage] += time.perf_counter() - t0

    setattr(owner, name, wrapper)


def sweep(n: int, folder: Path) -> float:
    """Run the tiny sweep of ``n`` jobs in this process; its wall seconds."""
    from harness import cli

    argv = sys.argv
    sys.argv = ["harness", "-m", *TINY, f"seed=range(0,{n})", f"hydra.sweep.dir={folder}"]
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            cli.main()
    except SystemExit as stop:
        if stop.code not in (0, None):
            sys.exit(f"error: the sweep of {n} jobs failed (exit {stop.code})")
    finally:
        sys.argv = argv
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=256)
    args = ap.parse_args()

    import harness.data.dataset as dataset
    import harness.jobs.compose as compose
    import harness.jobs.job as job
    import harness.jobs.lifecycle as lifecycle
    import harness.results as results
    import harness.sweep as sweep_module

    with tempfile.TemporaryDirectory() as tmp:
        sweep(2, Path(tmp) / "warm-up")  # imports, first compositions, first data set
        SPENT.clear()
        for owner, name, stage in [
                (compose.Composer, "light", "compose"), (job, "check", "check"),
                (job, "identity", "check"), (compose, "write_job_record", "record"),
                (dataset, "build", "data"), (lifecycle, "train", "train"),
                (results, "write_run", "write"), (sweep_module, "record_progress", "progress"),
                (results, "merge_with_summaries", "merge")]:
            timed(owner, name, stage)
        wall = sweep(args.jobs, Path(tmp) / "sweep")
        shutil.rmtree(Path(tmp) / "sweep", ignore_errors=True)
    n = args.jobs
    print(f"tiny vectorised sweep of {n} jobs in one process after a warm-up: "
          f"{wall:.2f} s, {wall / n * 1000:.2f} ms per job")
    print(f"{'stage':10}{'ms per job':>12}")
    for stage in ("compose", "check", "record", "data", "train", "write", "progress",
                  "merge"):
        print(f"{stage:10}{SPENT[stage] / n * 1000:12.2f}")
    rest = wall - sum(SPENT.values())
    print(f"{'the rest':10}{rest / n * 1000:12.2f}   (Hydra, the launcher, Python)")


if __name__ == "__main__":
    main()
