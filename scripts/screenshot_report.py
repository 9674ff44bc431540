"""Render a report's index.html in headless Chromium and save a screenshot (PNG).

    python scripts/screenshot_report.py outputs/sweeps/<time>/report [--out shot.png]
        [--width 1400] [--height 3000] [--trim] [--colors 256]

Needs Debian's ``chromium`` (``apt-get install -y chromium``); also finds
``chromium-browser`` and ``google-chrome``. Each call uses a fresh profile folder, no
network, no GPU. The screenshot goes to ``<report>-screenshot.png`` beside the report
folder (not into it: a report folder holds only what a report writes) unless ``--out``;
``--trim`` cuts the blank bottom of a window taller than the page (use a large
``--height`` and ``--trim`` for the whole page); ``--colors N`` reduces it to N colours
(a file a few times smaller, to commit).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    sys.exit("error: no headless Chromium found (tried " + ", ".join(BROWSERS)
             + "); install it with: apt-get update && apt-get install -y chromium")


def screenshot(page: Path, out: Path, width: int, height: int, timeout: int = 120) -> Path:
    out = out.resolve()
    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        cmd = [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--hide-scrollbars",
               f"--user-data-dir={profile}", f"--screenshot={out}",
               f"--window-size={width},{height}", page.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if not out.is_file() or out.stat().st_size == 0:
        sys.exit(f"error: chromium wrote no screenshot (exit {proc.returncode}):\n"
                 + proc.stderr[-2000:])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report", type=Path, help="a report folder or its index.html")
    p.add_argument("--out", type=Path, help="the PNG to write (default: REPORT/screenshot.png)")
    p.add_argument("--width", type=int, default=1400)
    p.add_argument("--height", type=int, default=3000)
    p.add_argument("--trim", action="store_true",
                   help="cut the blank (white) rows below the end of the page")
    p.add_argument("--colors", type=int, help="reduce the PNG to this many colours (<= 256)")
    args = p.parse_args(argv)
    page = args.report / "index.html" if args.report.is_dir() else args.report
    if not page.is_file():
        sys.exit(f"error: {page} does not exist; build it with python -m harness.report")
    default = page.parent.parent / f"{page.parent.name}-screenshot.png"
    out = screenshot(page, args.out or default, args.width, args.height)
    if args.trim or args.colors:
        from PIL import Image, ImageOps

        image = Image.open(out).convert("RGB")
        if args.trim:
            box = ImageOps.invert(image).getbbox()  # the non-white part
            if box:
                image = image.crop((0, 0, image.width, min(image.height, box[3] + 24)))
        if args.colors:
            image = image.quantize(args.colors)
        image.save(out, optimize=True)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
