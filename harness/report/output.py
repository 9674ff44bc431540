"""Where a report is written, and how it replaces an earlier one: whole or not at all.

A report is drawn into a fresh *staging* folder beside its target
(``<parent>/.<name>.staging-<pid>-<random>``) and only then swapped in: on Linux with one
``renameat2(RENAME_EXCHANGE)`` (atomic: a reader sees the old report or the new one),
elsewhere with two renames (a process killed between them leaves the old report in
``.<name>.old-<pid>-.../report``). A report killed while drawing leaves
the old one untouched; its staging folder is removed by the next run.

The target is refused, with one line, when it is a symbolic link (the report never writes
or deletes through a link it did not create), not a folder, or a folder holding anything
a report does not write (so ``--out`` pointing at a folder of your own never loses a file).
Files are created with the process's umask, like any other file the user writes.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.errors import HarnessError
from harness.report.kinds import FIGURE_KINDS

# what a report folder holds; anything else in a target folder stops the report
# (screenshot.png: where scripts/screenshot_report.py wrote by default before)
REPORT_FILES = re.compile(r"(index\.html|summary\.(md|csv|tex)|tuned_vs_default\.csv|"
                          rf"screenshot\.png|({'|'.join(FIGURE_KINDS)})_[^/]+\.png)")


@dataclass
class Report:
    """What :func:`harness.report.build` wrote: the folder ``out``, its figures and the
    runs counted per status. ``staging`` is where it is drawn until published."""

    out: Path
    staging: Path | None = None
    names: list[str] = field(default_factory=list)  # figure file names
    runs: pd.Series | None = None  # count per status

    @property
    def index(self) -> Path:
        return self.out / "index.html"

    @property
    def figures(self) -> list[Path]:
        return [self.out / n for n in self.names]

    @property
    def folder(self) -> Path:
        """Where files are written now (the staging folder while drawing)."""
        return self.staging or self.out


def default_out(folder: str | Path) -> Path:
    """``<folder>/report`` (a run folder or a sweep folder)."""
    return Path(folder) / "report"


def check_target(out: Path) -> None:
    """Refuse a target the report may not replace (see the module docstring); raises
    :class:`~harness.errors.HarnessError` with one line naming it."""
    if out.is_symlink():
        raise HarnessError(f"{out} is a symbolic link; a report never writes through a link "
                           "it did not create. Remove the link or choose another folder "
                           "with --out DIR.")
    if out.exists() and not out.is_dir():
        raise HarnessError(f"{out} exists and is not a folder; choose a folder with --out DIR.")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.is_dir() or p.is_symlink()
                         or not REPORT_FILES.fullmatch(p.name))
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise HarnessError(f"{out} holds files a report does not write ({shown}); a "
                               "report replaces its folder whole, so choose an empty or new "
                               "folder with --out DIR.")


@contextmanager
def staging(report: Report) -> Iterator[Path]:
    """A fresh folder beside ``report.out`` to draw into; published over ``report.out``
    when the block ends without an error, removed when it raises."""
    out = report.out
    check_target(out)
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(parent, out.name)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-{os.getpid()}-", dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp's 0700 would hide the report from a team
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(parent)) from None
    report.staging = tmp
    try:
        yield tmp
        _publish(tmp, out)
    finally:
        report.staging = None
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _remove_stale(parent: Path, name: str) -> None:
    """Staging folders of report processes that no longer run (killed while drawing)."""
    for p in parent.glob(f".{name}.staging-*"):
        match = re.fullmatch(rf"\.{re.escape(name)}\.staging-(\d+)-\w+", p.name)
        if not match or p.is_symlink() or not p.is_dir():
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except (PermissionError, OverflowError):
            pass  # alive (another user's), or not a pid: leave it


def _publish(tmp: Path, out: Path) -> None:
    if not out.exists() and not out.is_symlink():
        os.rename(tmp, out)
        return
    check_target(out)  # again: it may have changed while the report was drawn
    if _exchange(tmp, out):  # tmp now holds the old report
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=out.parent))
    os.rename(out, old / "report")
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2`` with ``RENAME_EXCHANGE``); False
    where the system or the file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def write_text(report: Report, name: str, text: str) -> None:
    (report.folder / name).write_text(text, encoding="utf-8")


def write_csv(report: Report, name: str, frame: pd.DataFrame) -> None:
    frame.to_csv(report.folder / name, index=False)
