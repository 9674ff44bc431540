"""The GPU check: one script, about 5 minutes on one H100/H200, one results file.

Steps (each with its own time limit; a failed step is recorded and the next one runs):

1. ``device``: what torch sees (card, memory, versions);
2. ``gpu tests``: ``python -m pytest -m gpu`` (the CUDA tests: runs alone and stacked on
   the GPU against the CPU, no host sync in a training step);
3. ``default run``: ``python -m harness loss=huber data=outliers trainer.device=cuda``;
4. ``cuda vs cpu``: a vectorised sweep (2 losses x 2 corruption levels x 4 seeds, 3
   epochs) on CUDA and the same jobs on the CPU; every metric row must agree to float32
   tolerance (relative 2e-3);
5. ``throughput``: ``benchmarks/bench_vectorized.py --runs 1 64 256 1024 --device cuda``
   (the standard workload: MLP 20-128-128-1, 16,384 rows, batch 256, 5 epochs, Huber,
   Adam; the vectorised launcher next to a hand-written stacked loop).

Without CUDA, steps 3-5 are skipped with a line saying so (step 4's CPU half and a
1-run throughput on the CPU still run, so the script itself is known to work); the
script exits 0 when every step that ran passed. CI runs it on the CPU
(``tests/e2e/test_gpu_check.py``).

    python benchmarks/gpu_check.py [--out gpu_check.json]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ["-m", "hydra/launcher=vectorized", "loss=mse,huber", "data.outlier_frac=0,0.2",
         "seed=0,1,2,3", "trainer.epochs=3", "trainer.progress=false"]
TOL = 2e-3


def run(cmd: list[str], timeout: int) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        code, out = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as err:
        code, out = 124, f"timed out after {timeout} s: {err}"
    return code, out, time.perf_counter() - t0


def by_setting(folder: Path):
    """(loss, outlier_frac, seed, epoch, split, metric) -> value of a sweep's runs."""
    from harness import results

    df = results.load(folder)
    df = df[df.metric != "elapsed_s"]
    keys = ["loss", "data.outlier_frac", "seed", "epoch", "split", "metric"]
    return {tuple(r[:-1]): r[-1] for r in df[[*keys, "value"]].itertuples(index=False)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    args = ap.parse_args()
    import torch

    cuda = torch.cuda.is_available()
    steps: list[dict] = []

    def record(name: str, status: str, **info) -> None:
        steps.append({"step": name, "status": status, **info})
        extra = {k: v for k, v in info.items() if k != "output"}
        print(f"[{status}] {name}: {json.dumps(extra, default=str)}", flush=True)

    device = {"torch": torch.__version__, "python": platform.python_version(),
              "cuda": cuda}
    if cuda:
        props = torch.cuda.get_device_properties(0)
        device.update(card=props.name, memory_gib=round(props.total_memory / 2 ** 30, 1),
                      cuda_version=torch.version.cuda, devices=torch.cuda.device_count())
    record("device", "passed", **device)
    if not cuda:
        print("CUDA is not available: the CUDA steps are skipped (the CPU halves run).")

    code, out, secs = run([sys.executable, "-m", "pytest", "-m", "gpu", "-q",
                           "-p", "no:cacheprovider", "tests"], 300)
    record("gpu tests", "passed" if code in (0, 5) else "failed", seconds=round(secs, 1),
           summary=out.strip().splitlines()[-1] if out.strip() else "", output=out[-3000:])

    with tempfile.TemporaryDirectory() as tmp:
        if cuda:
            code, out, secs = run([sys.executable, "-m", "harness", "loss=huber",
                                   "data=outliers", "trainer.device=cuda",
                                   f"hydra.run.dir={tmp}/run"], 180)
            line = next((ln for ln in out.splitlines() if ln.startswith("train ")), "")
            record("default run", "passed" if code == 0 else "failed",
                   seconds=round(secs, 1), line=line, output=out[-2000:])
        else:
            record("default run", "skipped", reason="no CUDA")

        sweeps = {}
        for dev in (["cuda", "cpu"] if cuda else ["cpu"]):
            folder = Path(tmp) / f"sweep-{dev}"
            code, out, secs = run([sys.executable, "-m", "harness", *SWEEP,
                                   f"trainer.device={dev}", f"hydra.sweep.dir={folder}"], 300)
            sweeps[dev] = (code, folder, secs, out)
        if not cuda:
            code, _, secs, out = sweeps["cpu"]
            record("cuda vs cpu", "skipped" if code == 0 else "failed",
                   reason="no CUDA (the CPU sweep ran)", cpu_seconds=round(secs, 1),
                   output=out[-2000:])
        elif all(c == 0 for c, *_ in sweeps.values()):
            gpu, cpu = by_setting(sweeps["cuda"][1]), by_setting(sweeps["cpu"][1])
            worst = max((abs(gpu[k] - v) / max(1.0, abs(v)) for k, v in cpu.items()
                         if k in gpu and math.isfinite(v)), default=math.inf)
            ok = set(gpu) == set(cpu) and worst <= TOL
            record("cuda vs cpu", "passed" if ok else "failed", rows=len(cpu),
                   largest_relative_difference=worst, tolerance=TOL,
                   cuda_seconds=round(sweeps["cuda"][2], 1),
                   cpu_seconds=round(sweeps["cpu"][2], 1))
        else:
            record("cuda vs cpu", "failed",
                   output="\n".join(o[-1500:] for *_, o in sweeps.values()))

    runs = ["1", "64", "256", "1024"] if cuda else ["1"]
    code, out, secs = run([sys.executable, "benchmarks/bench_vectorized.py", "--runs", *runs,
                           "--device", "cuda" if cuda else "cpu", "--sequential-max", "8",
                           "--overhead-runs", "2"], 420 if cuda else 300)
    record("throughput", ("passed" if cuda else "skipped") if code == 0 else "failed",
           seconds=round(secs, 1), table=out.strip().splitlines(),
           **({} if cuda else {"reason": "no CUDA (1 run on the CPU, to check the script)"}))

    args.out.write_text(json.dumps({"device": device, "steps": steps}, indent=2,
                                   default=str) + "\n")
    failed = [s["step"] for s in steps if s["status"] == "failed"]
    print(f"{len(steps)} steps: {len(failed)} failed{': ' + ', '.join(failed) if failed else ''}"
          f"; results in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
