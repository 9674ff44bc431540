"""Time the harness's training loop against a hand-written minimal PyTorch loop.

Both do the same work in the same process on the same data: the default run
(``loss=huber data=outliers``: MLP 20-64-64-1, Adam, batch 64, 50 epochs), with a
per-epoch evaluation of the objective and RMSE/MAE/R^2 on train, clean train, val and
test. The hand loop uses ``torch.nn.functional.huber_loss`` and plain tensor code; the
harness runs its own job stages (``harness.jobs.job.prepare``, untimed, then ``train``:
the one loop of ``harness.training.loop``, its registry loss and metrics module). Runs
alternate (A B A B ...) so machine noise hits both alike; the ratio of medians is the
figure to quote.

Also times the whole command ``python -m harness loss=huber data=outliers`` (start-up
included) in a subprocess.

    python benchmarks/bench_loop.py [--repeats 7] [--cli-repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.config import register_configs  # noqa: E402
from harness.jobs.job import call, prepare, train  # noqa: E402
from harness.seeding import derive_seeds  # noqa: E402
from harness.training.loop import FitResult  # noqa: E402

OVERRIDES = ["loss=huber", "data=outliers", "trainer.progress=false"]


def setup(cfg, data):
    seeds = derive_seeds(int(cfg.seed))
    torch.manual_seed(seeds["init"])
    model = call(cfg.model, in_features=data.n_features, out_features=data.n_outputs)
    return model, call(cfg.optim, params=model.parameters()), seeds["shuffle"]


def harness_fit(cfg, data) -> tuple[float, float]:
    job = prepare(cfg)  # the data again, the model from the same seed (untimed)
    res = [FitResult()]
    t0 = time.perf_counter()
    train([job], res)
    return time.perf_counter() - t0, res[0].train_seconds


def hand_fit(cfg, data) -> tuple[float, float]:
    model, opt, shuffle = setup(cfg, data)
    delta, bs = float(cfg.loss.delta), int(cfg.trainer.batch_size)
    X, y = data.X["train"], data.y["train"]
    splits = [(X, y), (X, data.y_train_clean), (data.X["val"], data.y["val"]),
              (data.X["test"], data.y["test"])]
    gen = torch.Generator().manual_seed(shuffle)
    log, train_time = [], 0.0

    def evaluate(epoch):
        with torch.no_grad():
            for Xs, ys in splits:
                p = model(Xs).squeeze(-1)
                e = p - ys
                sse = e.square().sum()
                log.append((epoch, F.huber_loss(p, ys, delta=delta).item(),
                            (sse / len(e)).sqrt().item(), e.abs().mean().item(),
                            (1 - sse / (ys - ys.mean()).square().sum()).item()))

    t0 = time.perf_counter()
    evaluate(0)
    for epoch in range(1, cfg.trainer.epochs + 1):
        t1 = time.perf_counter()
        perm = torch.randperm(len(X), generator=gen)
        Xp, yp = X[perm], y[perm]
        for i in range(0, len(X), bs):
            loss = F.huber_loss(model(Xp[i:i + bs]).squeeze(-1), yp[i:i + bs], delta=delta)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        train_time += time.perf_counter() - t1
        evaluate(epoch)
    return time.perf_counter() - t0, train_time


def cli_wall(repeats: int) -> list[float]:
    walls = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "harness", *OVERRIDES[:2],
                            f"hydra.run.dir={out}"], cwd=ROOT, check=True,
                           capture_output=True)
            walls.append(time.perf_counter() - t0)
    return walls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--cli-repeats", type=int, default=3)
    args = ap.parse_args()

    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=OVERRIDES)
    data = call(cfg.data, seeds=derive_seeds(int(cfg.seed)))
    torch.set_num_threads(int(cfg.trainer.threads or 0) or torch.get_num_threads())
    harness_fit(cfg, data), hand_fit(cfg, data)  # warm-up: first Adam imports dynamo

    h_total, h_train, r_total, r_train = [], [], [], []
    for _ in range(args.repeats):
        a, b = harness_fit(cfg, data), hand_fit(cfg, data)
        h_total.append(a[0]); h_train.append(a[1])  # noqa: E702
        r_total.append(b[0]); r_train.append(b[1])  # noqa: E702
    med = statistics.median
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.repeats} alternating repeats, default run ({cfg.trainer.epochs} epochs)")
    print(f"{'':22}{'harness':>10}{'hand loop':>11}{'ratio':>8}")
    print(f"{'fit incl. eval (s)':22}{med(h_total):10.3f}{med(r_total):11.3f}"
          f"{med(h_total) / med(r_total):8.3f}")
    print(f"{'training steps (s)':22}{med(h_train):10.3f}{med(r_train):11.3f}"
          f"{med(h_train) / med(r_train):8.3f}")
    ratios = [a / b for a, b in zip(h_total, r_total, strict=True)]
    print(f"per-pair ratio of fit time: min {min(ratios):.3f}, median {med(ratios):.3f}, "
          f"max {max(ratios):.3f}")
    if args.cli_repeats:
        walls = cli_wall(args.cli_repeats)
        print(f"python -m harness {' '.join(OVERRIDES[:2])}: wall median {med(walls):.2f} s "
              f"(min {min(walls):.2f}, max {max(walls):.2f}, {len(walls)} runs, start-up "
              "included)")


if __name__ == "__main__":
    main()
