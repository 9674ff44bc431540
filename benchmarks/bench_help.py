"""Start-up: ``--help`` of every command against a minimal Hydra app, and what it imports.

A minimal Hydra app (one ``@hydra.main`` function, a one-line config, written to a
temporary folder) is the yardstick: ``python -m harness --help`` should cost at most
about twice as much. Each command's help runs ``--repeats`` times in alternation with the
yardstick; the table gives medians and the ratio. Then each help runs once more in a
process that reports whether torch, scikit-learn, pandas, matplotlib or seaborn were
imported (none should be).

    python benchmarks/bench_help.py [--repeats 7]
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
COMMANDS = ["harness", "harness.protocol", "harness.report", "harness.zoo"]
HEAVY = ("torch", "sklearn", "pandas", "matplotlib", "seaborn", "scipy")
MINIMAL = '''import hydra

@hydra.main(version_base="1.3", config_path=".", config_name="config")
def main(cfg):
    print(cfg)

if __name__ == "__main__":
    main()
'''
PROBE = '''import runpy, sys
sys.argv = [{module!r}, "--help"]
try:
    runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
except SystemExit:
    pass
sys.stderr.write(",".join(m for m in {heavy!r} if m in sys.modules) + "\\n")
'''


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t0


def heavy_imports(module: str) -> str:
    proc = subprocess.run([sys.executable, "-c", PROBE.format(module=module, heavy=HEAVY)],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "app.py").write_text(MINIMAL)
        (Path(tmp) / "config.yaml").write_text("x: 1\n")
        yardstick = [sys.executable, str(Path(tmp) / "app.py"), "--help"]
        times: dict[str, list[float]] = {"minimal Hydra app": []}
        for _ in range(args.repeats):
            times["minimal Hydra app"].append(wall(yardstick))
            for module in COMMANDS:
                times.setdefault(module, []).append(
                    wall([sys.executable, "-m", module, "--help"]))
    base = statistics.median(times["minimal Hydra app"])
    print(f"--help wall seconds, median of {args.repeats} alternating runs")
    print(f"{'command':28}{'median s':>10}{'/ minimal':>11}  heavy imports")
    for name, values in times.items():
        heavy = "" if name.startswith("minimal") else (heavy_imports(name) or "none")
        print(f"{name:28}{statistics.median(values):10.3f}"
              f"{statistics.median(values) / base:11.2f}  {heavy}")


if __name__ == "__main__":
    main()
