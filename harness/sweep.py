"""Sweeps: resume, progress, and one results table per sweep folder.

- :func:`plan` splits a sweep's jobs into those already finished in the sweep folder
  (a ``summary.json`` with the same run id and status ``completed`` or ``diverged``) and
  those to run (new, failed, or never finished). The harness sweeper
  (``hydra_plugins/harness_sweeper``) launches only the latter.
- :func:`record_progress` is called by each job when it ends and logs ``[k/N] ...``;
  it works under parallel launchers because it counts lines of a shared append-only file.
- :class:`SweepCallback` merges every run of the sweep folder into ``results.parquet``
  when the multirun ends, prints one closing line, and exits non-zero if any run failed.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from harness import results

log = logging.getLogger("harness")

KEEP = ("completed", "diverged")  # finished results a re-run does not redo
MANIFEST = "sweep.json"
PROGRESS = ".progress"


def finished_runs(sweep_dir: str | Path) -> dict[str, str]:
    """run id -> status, for every run under ``sweep_dir`` whose summary and metrics
    files are both readable (a run with a corrupt or missing metrics file is redone)."""
    import pyarrow.parquet as pq

    found: dict[str, str] = {}
    for summary_path in Path(sweep_dir).rglob(results.SUMMARY_FILE):
        try:
            s = json.loads(summary_path.read_text())
            pq.read_metadata(summary_path.parent / results.METRICS_FILE)  # its footer
            found[s["run_id"]] = s["status"]
        except Exception:  # unreadable (OSError, bad JSON, bad Parquet, ...): redone
            continue
    return found


class Composer:
    """A sweep job's config, as Hydra's ``load_sweep_config`` composes it, fast.

    Composing a config from its defaults list takes Hydra a few tenths of a second; a
    sweep of a thousand jobs would spend minutes on it. Jobs differ mostly in plain
    values (``seed=3``, ``optim.lr=0.01``, ``loss.delta=2``), which change no defaults
    list. So Hydra composes once per distinct set of the other overrides (group choices
    such as ``loss=huber``, ``+``/``~`` overrides, Hydra's own), and each job gets a copy
    of that composition with its plain values applied by Hydra's own override code and
    its ``hydra.overrides.task`` and ``hydra.job.override_dirname`` set as Hydra sets
    them. ``tests/test_sweep.py`` checks the result equals Hydra's full composition.
    Composed configs are kept by override list (:meth:`get`), so a launcher in the same
    process need not compose them again.
    """

    def __init__(self, loader: Any, master: DictConfig) -> None:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        self.loader, self.master = loader, master
        self.parser = OverridesParser.create(config_loader=loader)
        self.groups = set(master.hydra.runtime.choices)
        self.bases: dict[tuple[str, ...], DictConfig] = {}
        self.configs: dict[tuple[str, ...], DictConfig] = {}

    def _group(self, key: str) -> bool:
        return key in self.groups or self.loader.repository.group_exists(key)

    def _plain(self, override: Any) -> bool:
        """A value override (``key=value`` of a config key, not of a group)."""
        from hydra.core.override_parser.types import OverrideType

        key = override.key_or_group
        return (override.type == OverrideType.CHANGE and override.package is None
                and not override.is_hydra_override() and "/" not in key
                and not self._group(key) and not override.is_sweep_override())

    def _fast(self, parsed: list) -> bool:
        """Whether the fast path composes these overrides as Hydra does: Hydra applies
        value overrides (``k=v``, ``+k=v``, ``++k=v``, ``~k``) in command-line order after
        the defaults list; the fast path applies plain ``k=v`` after the others, so any
        ``+``/``++``/``~`` on a config key (not a group) takes Hydra's own route."""
        return all(self._plain(o) or o.is_hydra_override()
                   or (o.type.name in ("CHANGE", "ADD") and self._group(o.key_or_group))
                   for o in parsed)

    def __call__(self, overrides: Sequence[str]) -> DictConfig:
        import copy

        from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
        from omegaconf import OmegaConf, open_dict

        key = tuple(overrides)
        if key in self.configs:
            return self.configs[key]
        parsed = self.parser.parse_overrides(list(overrides))
        if not self._fast(parsed):
            cfg = self.configs[key] = self.loader.load_sweep_config(self.master, list(overrides))
            return cfg
        plain = [o for o in parsed if self._plain(o)]
        structural = tuple(o.input_line for o in parsed if not self._plain(o))
        if structural not in self.bases:
            self.bases[structural] = self.loader.load_sweep_config(self.master,
                                                                   list(structural))
        cfg = copy.deepcopy(self.bases[structural])
        ConfigLoaderImpl._apply_overrides_to_config(plain, cfg)
        app = [o for o in parsed if not o.is_hydra_override()]
        dirname = cfg.hydra.job.config.override_dirname
        with open_dict(cfg.hydra):
            cfg.hydra.overrides.task = [o.input_line for o in app]
            cfg.hydra.job.override_dirname = get_overrides_dirname(
                overrides=app, kv_sep=dirname.kv_sep, item_sep=dirname.item_sep,
                exclude_keys=dirname.exclude_keys)
        OmegaConf.copy_cache(from_config=self.master, to_config=cfg)
        self.configs[key] = cfg
        return cfg

    def take(self, overrides: Sequence[str]) -> DictConfig | None:
        """The composed config of ``overrides`` if this composer made it, handed over
        (the composer forgets it)."""
        return self.configs.pop(tuple(overrides), None)


# the composer of the sweep running in this process (set by the harness sweeper), which
# the vectorised launcher asks before composing a job's config itself
ACTIVE: list[Composer] = []


def plan(jobs: Sequence[Sequence[str]], compose: Callable[[list[str]], DictConfig],
         sweep_dir: str | Path, rerun: bool = False) -> tuple[list[list[str]], list[list[str]]]:
    """(to run, already done) among ``jobs`` (each a list of overrides)."""
    from harness.run import identity  # torch-heavy; only when a sweep starts

    finished = {} if rerun else finished_runs(sweep_dir)
    todo, done = [], []
    for job in jobs:
        cfg = compose(list(job))
        _, rid = identity(cfg, dict(cfg.hydra.runtime.choices))
        (done if finished.get(rid) in KEEP else todo).append(list(job))
    return todo, done


def write_manifest(sweep_dir: str | Path, total: int, done: int, to_run: int) -> None:
    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    results.write_json(sweep_dir / MANIFEST,
                       {"total": total, "done_before": done, "to_run": to_run})
    (sweep_dir / PROGRESS).write_text("")


def headline(summary: dict[str, Any]) -> str:
    """``completed, test.rmse=0.8679`` (the task's first metric on the clean test split)."""
    from harness.metrics import METRICS

    status = summary.get("status", "?")
    if status == "failed":
        return f"failed: {summary.get('error', '')}"
    if summary.get("diverged_epoch"):
        status += f" at epoch {summary['diverged_epoch']}"
    metric = METRICS.get(summary.get("task", ""), ("objective",))[0]
    value = summary.get("final", {}).get(f"test.{metric}")
    return status if value is None else f"{status}, test.{metric}={value:.4g}"


def record_progress(sweep_dir: str | Path, name: str, summary: dict[str, Any]) -> None:
    """Log ``[k/N] <job>: <status>, <metric>`` for a job that just ended."""
    sweep_dir = Path(sweep_dir)
    line = f"{name}\t{summary.get('status')}\n"
    fd = os.open(sweep_dir / PROGRESS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one small O_APPEND write: lines never interleave
    finally:
        os.close(fd)
    try:
        manifest = json.loads((sweep_dir / MANIFEST).read_text())
        count = manifest["done_before"] + len((sweep_dir / PROGRESS).read_text().splitlines())
        where = f"[{count}/{manifest['total']}]"
    except (OSError, ValueError, KeyError):
        where = "[?]"  # a sweeper that writes no manifest (e.g. Optuna's)
    log.info("%s %s: %s", where, name, headline(summary))


class SweepCallback(Callback):
    """At the end of a multirun: merge the sweep folder, count, and set the exit code."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        import warnings

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", results.ResultsWarning)
                table = results.merge(sweep_dir)
        except results.HarnessError as err:  # e.g. every job was skipped and none exist
            print(f"error: {err}")
            raise SystemExit(1) from None
        for said in dict.fromkeys(str(w.message) for w in caught
                                  if isinstance(w.message, results.ResultsWarning)):
            print(f"warning: {said} (left out of {results.MERGED_FILE})")
        statuses = Counter(results.summaries(sweep_dir).status)
        total = sum(statuses.values())
        parts = ", ".join(f"{statuses[s]} {s}" for s in ("completed", "diverged", "failed",
                                                         "interrupted") if statuses[s])
        print(f"{total} runs: {parts}; {table.run_id.nunique()} with metrics in "
              f"{sweep_dir / results.MERGED_FILE}")
        if statuses["failed"] or statuses["interrupted"]:
            raise SystemExit(1)
