"""Runs per second: a hand-written stacked loop, the vectorised launcher, the sequential one.

Two workloads, each run side by side in this one script:

- **compute-bound** (the standard workload): MLP 20-128-128-1 on ``data=outliers`` with
  16,384 training rows, batch 256, 5 epochs, Huber, Adam; ``--runs`` runs (seeds 0..K-1).
  Three contenders:
  - *hand*: a hand-written stacked PyTorch loop (``torch.baddbmm`` layers, elementwise
    Adam over stacked parameters, the same per-epoch evaluation of the four splits'
    objective and RMSE with one host sync), run as its own process;
  - *vectorized*: ``python -m harness -m hydra/launcher=vectorized seed=range(0,K) ...``;
  - *sequential*: the same sweep with the basic launcher (skipped above
    ``--sequential-max`` runs).
  Wall times are whole commands (process start-up, data, training, evaluation, writing
  every run folder). ``train s`` is the training phase alone (no evaluation): the hand
  loop's own clock, and the ``train_time_s`` every stacked run records.
- **overhead-bound**: the default run (``data=outliers``, 50 k-parameter MLP, 3 epochs)
  x ``--overhead-runs`` seeds, vectorised vs sequential launcher wall time.

The script also checks that the vectorised and the sequential sweeps give the same
metrics (largest relative difference over every row).

    python benchmarks/bench_vectorized.py [--runs 1 8 32] [--device cpu] [--repeats 3]
    python benchmarks/bench_vectorized.py --runs 1 64 256 1024 --device cuda --sequential-max 8
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STANDARD = ["data=outliers", "data.n_samples=27306", "data.outlier_frac=0.2",  # 16,384 train
            "model.hidden=[128,128]", "trainer.batch_size=256", "trainer.epochs=5",
            "loss=huber", "optim=adam", "trainer.progress=false"]
OVERHEAD = ["data=outliers", "trainer.epochs=3", "trainer.progress=false"]


# ---------------------------------------------------------------- the hand-written floor
def hand(runs: int, epochs: int, device: str) -> dict[str, float]:
    """Train ``runs`` stacked MLPs by hand on the standard workload; return its clocks."""
    import torch
    import torch.nn.functional as F

    from harness.data import outliers
    from harness.seeding import derive_seeds

    dev = torch.device(device)
    data = [outliers(seeds=derive_seeds(k), n_samples=27306, outlier_frac=0.2)
            for k in range(runs)]
    X = torch.stack([d.X["train"] for d in data]).to(dev)
    Y = torch.stack([d.y["train"] for d in data]).to(dev)
    evals = {"train": (X, Y),
             "train_clean": (X, torch.stack([d.y_train_clean for d in data]).to(dev)),
             "val": (torch.stack([d.X["val"] for d in data]).to(dev),
                     torch.stack([d.y["val"] for d in data]).to(dev)),
             "test": (torch.stack([d.X["test"] for d in data]).to(dev),
                      torch.stack([d.y["test"] for d in data]).to(dev))}
    sizes = [X.shape[-1], 128, 128, 1]
    W, b = [], []
    for k in range(runs):  # nn.Linear's default initialisation, member by member
        torch.manual_seed(k)
        layers = [torch.nn.Linear(i, o) for i, o in zip(sizes, sizes[1:], strict=False)]
        W.append([lin.weight.detach().t() for lin in layers])
        b.append([lin.bias.detach()[None] for lin in layers])
    params = [torch.stack([w[i] for w in W]).to(dev).requires_grad_() for i in range(3)] + \
             [torch.stack([v[i] for v in b]).to(dev).requires_grad_() for i in range(3)]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]

    def forward(x):
        h = x
        for i in range(3):
            h = torch.baddbmm(params[3 + i], h, params[i])
            h = torch.relu(h) if i < 2 else h
        return h.squeeze(-1)

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    n, batch, step, train_s = X.shape[1], 256, 0, 0.0
    gens = [torch.Generator(device=dev).manual_seed(k) for k in range(runs)]
    rows = torch.arange(runs, device=dev).unsqueeze(1)
    sync()
    t_all = time.perf_counter()
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.stack([torch.randperm(n, device=dev, generator=g) for g in gens])
        for s in range(0, n, batch):
            idx = perm[:, s:s + batch]
            loss = F.huber_loss(forward(X[rows, idx]), Y.gather(1, idx),
                                reduction="none").mean(-1).sum()
            grads = torch.autograd.grad(loss, params)
            step += 1
            with torch.no_grad():
                for p, g, mm, vv in zip(params, grads, m, v, strict=True):
                    mm.lerp_(g, 0.1)
                    vv.mul_(0.999).addcmul_(g, g, value=0.001)
                    denom = (vv.sqrt() / (1 - 0.999 ** step) ** 0.5).add_(1e-8)
                    p.addcdiv_(mm, denom, value=-1e-3 / (1 - 0.9 ** step))
        sync()
        train_s += time.perf_counter() - t0
        with torch.no_grad():  # the per-epoch evaluation, one host sync
            vals = []
            for Xs, Ys in evals.values():
                pred = forward(Xs)
                vals += [F.huber_loss(pred, Ys, reduction="none").mean(-1),
                         (pred - Ys).square().mean(-1).sqrt()]
            torch.stack(vals).tolist()
    return {"train_s": train_s, "loop_s": time.perf_counter() - t_all}


# ---------------------------------------------------------------- the contenders
def timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stdout[-1500:]}{out.stderr[-1500:]}")
    return time.perf_counter() - t0, out.stdout


def sweep(folder: Path, runs: int, grid: list[str], device: str,
          launcher: list[str]) -> float:
    seconds, _ = timed([sys.executable, "-m", "harness", "-m", *grid, f"seed=range(0,{runs})",
                        f"trainer.device={device}", *launcher, f"hydra.sweep.dir={folder}"])
    return seconds


def train_seconds(folder: Path) -> float:
    """The training phase of a vectorised sweep: each stack's time, counted once."""
    from harness import results

    s = results.summaries(folder)
    return float(s.groupby("stacked_members").train_time_s.max().sum()) \
        if "stacked_members" in s else float(s.train_time_s.sum())


def max_rel_diff(a: Path, b: Path) -> str:
    """Largest relative difference between two sweeps' metric rows: over every row, and
    over the final clean test RMSE (what a comparison reports)."""
    from harness import results

    x, y = results.load(a), results.load(b)
    keys = ["run_id", "epoch", "split", "metric"]
    m = x.merge(y, on=keys)
    m = m[m.metric != "elapsed_s"]
    rel = (m.value_x - m.value_y).abs() / (m.value_y.abs() + 1e-6)
    final = (m.split == "test") & (m.metric == "rmse") & (m.epoch == m.epoch.max())
    return f"{rel.max():.1e} over every row, {rel[final].max():.1e} on the final test rmse"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--sequential-max", type=int, default=32,
                    help="skip the sequential launcher above this many runs")
    ap.add_argument("--overhead-runs", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=1,
                    help="rounds, in alternating order; medians are printed")
    ap.add_argument("--hand", type=int, metavar="K", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.hand:  # the hand loop in its own process: print its clocks as JSON
        print(json.dumps(hand(args.hand, 5, args.device)))
        return

    vec = ["hydra/launcher=vectorized"]
    print(f"device: {args.device}; standard workload (MLP 20-128-128-1, 16,384 rows, "
          "batch 256, 5 epochs, huber, adam)")
    head = (f"{'runs':>5} | {'hand wall s':>11} {'train s':>8} | {'vec wall s':>10} "
            f"{'train s':>8} | {'seq wall s':>10} | {'hand r/s':>8} {'vec r/s':>8} "
            f"{'seq r/s':>8} | {'vec/seq':>7} {'hand/vec':>8} {'train h/v':>9}")
    print(head)
    with tempfile.TemporaryDirectory() as tmp:
        for k in args.runs:
            runs = []  # per repeat: hand wall, hand train, vec wall, vec train, seq wall
            for r in range(args.repeats):  # alternate the order: drift hits all alike
                timings = {}
                order = ["hand", "vec", "seq"] if r % 2 == 0 else ["seq", "vec", "hand"]
                for who in order:
                    folder = Path(tmp) / f"{who}{k}-{r}"
                    if who == "hand":
                        t, out = timed([sys.executable, __file__, "--hand", str(k),
                                        "--device", args.device])
                        timings["hand"] = (t, json.loads(out.strip().splitlines()[-1])["train_s"])
                    elif who == "vec":
                        t = sweep(folder, k, STANDARD, args.device, vec)
                        timings["vec"] = (t, train_seconds(folder))
                    else:
                        t = (sweep(folder, k, STANDARD, args.device, [])
                             if k <= args.sequential_max else float("nan"))
                        timings["seq"] = (t, float("nan"))
                runs.append(timings)
            med = {w: tuple(statistics.median(r[w][i] for r in runs) for i in (0, 1))
                   for w in ("hand", "vec", "seq")}
            (th, hh), (tv, vv), (ts, _) = med["hand"], med["vec"], med["seq"]
            print(f"{k:>5} | {th:>11.1f} {hh:>8.2f} | {tv:>10.1f} {vv:>8.2f} | {ts:>10.1f} | "
                  f"{k / th:>8.2f} {k / tv:>8.2f} {k / ts:>8.2f} | {ts / tv:>6.2f}x "
                  f"{tv / th:>7.2f}x {vv / hh:>8.2f}x", flush=True)
            if args.repeats > 1:
                spread = [f"{r['seq'][0] / r['vec'][0]:.2f}x/{r['vec'][0] / r['hand'][0]:.2f}x"
                          for r in runs]
                print(f"      per repeat vec/seq / hand/vec: {', '.join(spread)}", flush=True)
            if k <= args.sequential_max and k > 1:
                diff = max_rel_diff(Path(tmp) / f"vec{k}-0", Path(tmp) / f"seq{k}-0")
                print(f"      metrics, vectorised vs sequential: largest relative "
                      f"difference {diff}", flush=True)
        k = args.overhead_runs
        ratios = []
        for r in range(args.repeats):
            pair = [("vec", vec), ("seq", [])] if r % 2 == 0 else [("seq", []), ("vec", vec)]
            t = {who: sweep(Path(tmp) / f"o{who}{r}", k, OVERHEAD, args.device, launcher)
                 for who, launcher in pair}
            ratios.append((t["vec"], t["seq"]))
        t_vec = statistics.median(v for v, _ in ratios)
        t_seq = statistics.median(s for _, s in ratios)
        print(f"\noverhead-bound: default run x {k} seeds, 3 epochs: vectorised {t_vec:.1f} s, "
              f"sequential {t_seq:.1f} s: {t_seq / t_vec:.2f}x faster (per repeat: "
              f"{', '.join(f'{s / v:.2f}x' for v, s in ratios)}); metrics: largest relative "
              f"difference {max_rel_diff(Path(tmp) / 'ovec0', Path(tmp) / 'oseq0')}")
    print("columns: r/s = runs per second of wall time; vec/seq = sequential wall / vectorised "
          "wall; hand/vec = vectorised wall / hand wall; train h/v = vectorised training "
          "phase / hand training phase")


if __name__ == "__main__":
    main()
