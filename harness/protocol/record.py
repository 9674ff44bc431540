"""A protocol's record: ``protocol.json`` (written by :mod:`harness.protocol.run`) and
reading a protocol folder back (its runs by stage, the ranking table).

``protocol.json`` holds the spec, every candidate with its trial run ids and validation
scores, the selections, the final and default test scores, ranks and wall times. This is
the module the report reads.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import HarnessError
from harness.protocol.spec import SELECTION_SPLIT

SPEC_FILE = "protocol.json"
STAGES = ("tune", "final", "default")


def finite(x: Any) -> float | None:
    """``x`` as a float, or None when it is missing or not finite (JSON-safe)."""
    return None if x is None or not math.isfinite(float(x)) else float(x)


def rank(record: dict[str, Any]) -> None:
    """Rank the tuned losses within each setting by mean final test metric (1 = best)."""
    by_setting: dict[str, list[dict]] = {}
    for e in record["entries"]:
        by_setting.setdefault(e["setting_label"], []).append(e)
    for entries in by_setting.values():
        means = pd.Series({e["loss"]: e["final"]["test_mean"] for e in entries}, dtype=float)
        higher = entries[0]["higher_is_better"]
        ranks = means.rank(ascending=not higher)
        for e in entries:
            r = ranks.get(e["loss"])
            e["rank"] = None if r is None or math.isnan(r) else float(r)


def write_record(out: Path, record: dict[str, Any]) -> None:
    """Write ``protocol.json`` atomically (a temporary file renamed over it)."""
    from harness import results

    results.write_json(out / SPEC_FILE, record)


def ranking_table(record: dict[str, Any]) -> pd.DataFrame:
    """One row per setting and loss: selected overrides, val score, tuned and default
    test mean +- std, rank."""
    rows = []
    for e in record["entries"]:
        f, d = e["final"], e["default"]
        rows.append({"setting": e["setting_label"], "rank": e.get("rank"), "loss": e["loss"],
                     "selected": " ".join(e["selected_overrides"] or []) or "-",
                     f"{SELECTION_SPLIT} {e['metric']}": e["selected_val_score"],
                     f"test {e['metric']} tuned": _pm(f), "runs": f"{f['n']}/{f['runs']}",
                     f"test {e['metric']} default": _pm(d)})
    df = pd.DataFrame(rows)
    return df.sort_values(["setting", "rank"], na_position="last").reset_index(drop=True)


def _pm(stat: dict[str, Any]) -> str:
    if stat["test_mean"] is None:
        return "-"
    sd = f" ± {stat['test_std']:.3g}" if stat["test_std"] is not None else ""
    return f"{stat['test_mean']:.4g}{sd}"


def read_record(folder: str | Path) -> dict[str, Any]:
    """The ``protocol.json`` of ``folder``; a :class:`HarnessError` naming the file if it
    cannot be read."""
    from harness import results

    path = Path(folder) / SPEC_FILE
    try:
        return results.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise HarnessError(f"cannot read {path}: {err}") from None


def run_ids(record: dict[str, Any]) -> dict[str, set[str]]:
    """stage -> the run ids the protocol of ``record`` consists of."""
    ids: dict[str, set[str]] = {s: set() for s in STAGES}
    for e in record.get("entries", []):
        for c in e["candidates"]:
            ids["tune"].update(c["run_ids"])
        for stage in ("final", "default"):
            ids[stage].update((e.get(stage) or {}).get("run_ids", []))
    return ids


def _stage_frames(folder: str | Path, reader) -> pd.DataFrame:
    """``reader``'s table of each stage folder with a ``stage`` column; when the folder
    has a finished ``protocol.json``, only the runs it lists (not those of an earlier
    spec left in the same folder)."""
    folder = Path(folder)
    keep = run_ids(read_record(folder)) if (folder / SPEC_FILE).is_file() else {}
    frames = []
    for stage in STAGES:
        if not ((folder / stage).is_dir() and any((folder / stage).rglob("summary.json"))):
            continue
        frame = reader(folder / stage).assign(stage=stage)
        if keep:  # a protocol.json: exactly its runs (none, for a stage it has none in)
            frame = frame[frame.run_id.isin(keep.get(stage, set()))]
        frames.append(frame)
    if not frames:
        raise HarnessError(f"no protocol runs under {folder} (no tune/, final/ or default/ "
                           "folder with runs).")
    return pd.concat(frames, ignore_index=True)


def load(folder: str | Path) -> pd.DataFrame:
    """Every metric row of a protocol folder (:func:`harness.results.load`), with a
    ``stage`` column: ``tune``, ``final`` or ``default``."""
    from harness import results

    return _stage_frames(folder, results.load)


def summaries(folder: str | Path) -> pd.DataFrame:
    """One row per run of a protocol folder, with its ``stage``."""
    from harness import results

    return _stage_frames(folder, results.summaries)
