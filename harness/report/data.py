"""Read results tables into the shape a report needs, and label every run.

A report compares *losses* (``loss_id``, e.g. ``huber[delta=1.0]``) within *settings*.
A setting is a *context* (the data set plus any other config key that varies across the
runs, such as ``optim.lr``) at one *corruption level*; seeds are the replicates.
Nothing here plots or tests; see :mod:`harness.report.stats` and ``figures``.

Values are grouped and labelled by how they print: a config key a run lacks prints as
``-`` (it is a value of its own, not an error), and numbers print with 12 significant
digits, so ``0.3`` and ``0.30000000000000004`` (a float sweep's ``range``) are one level.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness import results
from harness.errors import HarnessError
from harness.metrics import HIGHER_IS_BETTER, METRICS

# the primary metric per task when --metric is not given
PRIMARY = {"regression": "rmse", "binary": "accuracy", "multiclass": "accuracy"}
SPLIT = "test"  # final metrics are read on the clean test split
# config keys that never define a setting: the compared loss, the replicate, plumbing
NOT_SETTING = ("loss", "seed", "trainer.progress", "trainer.device", "trainer.threads",
               "trainer.save_weights", "trainer.trackers", "trainer.tracking_uri")
META = {"status", "task", "loss_id", *results.CORRUPTION_COLUMNS}
LEVEL_NAMES = {"data.outlier_frac": "outlier fraction", "data.label_noise": "label-noise rate"}


@dataclass
class Results:
    """Everything the report reads: one row per run, the tidy metric rows, and labels.

    ``runs`` and ``rows`` both carry ``loss_label``, ``context``, ``level`` and ``setting``.
    """

    runs: pd.DataFrame
    rows: pd.DataFrame
    config_keys: list[str]
    context_keys: list[str]
    level_name: str
    sources: list[Path]
    notes: list[str] = field(default_factory=list)

    @property
    def completed(self) -> pd.DataFrame:
        return self.runs[self.runs.status == "completed"]


@dataclass
class Panel:
    """The runs compared on one metric (one per metric when tasks differ)."""

    metric: str
    higher: bool
    tasks: list[str]
    level_name: str  # what the corruption level is for these runs
    finals: pd.DataFrame  # completed runs: loss_label, context, level, setting, seed, value
    curves: pd.DataFrame  # their metric rows, every split and metric


def load(folders: list[str | Path]) -> Results:
    """Every run under ``folders`` (each a run, a sweep, or a folder of sweeps).

    Raises :class:`~harness.errors.HarnessError` (one line) when nothing can be compared:
    a folder is missing, holds no readable run, or no run completed. A file that cannot be
    read is skipped with a :class:`~harness.results.ResultsWarning` and named in
    ``notes``. Runs repeating the loss, setting and seed of a run found earlier (e.g.
    the same sweep made twice with another ``trainer.device`` or harness version) are
    kept once, the first found, and ``notes`` says which keys differed."""
    runs, rows, notes = [], [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", results.ResultsWarning)
        for order, folder in enumerate(folders):
            table = _summaries(folder)  # raises HarnessError: missing or empty
            runs.append(table.assign(_folder=order))
            rows.append(_metric_rows(folder, notes))
    skipped = _skipped(caught)
    notes += [f"Skipped {w.path}: {w.reason}" for w in skipped]
    run_table = pd.concat(runs, ignore_index=True)
    read = {rid for r in rows for rid in r.run_id.unique()} if rows else set()
    unreadable = {w.run_id for w in skipped if w.run_id} - read  # summary read, metrics not
    run_table = run_table[~run_table.run_id.isin(unreadable)]
    if run_table.empty:
        raise HarnessError(f"no readable runs under {', '.join(str(f) for f in folders)}: "
                           f"every run had an unreadable file ({skipped[0]}).")
    dupes = run_table.run_id.duplicated()
    if dupes.any():
        notes.append(f"{int(dupes.sum())} run(s) found twice (same run id) were counted once.")
        run_table = run_table[~dupes]
    filled = [r for r in rows if len(r)]
    # no rows at all: an empty table still names the config keys the report groups by
    row_table = pd.concat(filled, ignore_index=True) if filled else max(
        rows, key=lambda r: len(r.columns))
    row_table = row_table.drop_duplicates(["run_id", "epoch", "split", "metric"])
    _refuse_nothing_to_compare(run_table, folders)

    config_keys = [c for c in row_table.columns
                   if c not in results.METRIC_COLUMNS and c not in META and c in run_table]
    for key in config_keys:  # a key only some runs have is "-" in the others
        run_table[key] = run_table[key].astype(object).where(run_table[key].notna(), None)
    run_table = run_table.reset_index(drop=True)
    run_table["loss_label"] = _loss_labels(run_table)
    run_table["corruption_level"] = _fill_levels(run_table, config_keys)
    run_table["level"] = run_table["corruption_level"]
    level_name = _level_name(run_table, config_keys)
    keys = context_keys(run_table, config_keys)
    label_settings(run_table, keys, level_name)
    run_table, repeated = _drop_repeats(run_table, config_keys, folders)
    notes += repeated
    row_table = relabel_rows(row_table, run_table)
    return Results(runs=run_table.drop(columns="_folder"), rows=row_table,
                   config_keys=config_keys, context_keys=keys, level_name=level_name,
                   sources=[Path(f) for f in folders], notes=notes)


def _summaries(folder) -> pd.DataFrame:
    """:func:`harness.results.summaries`, with a summary of the wrong shape (that the
    results reader let through) said in one line naming the folder, not a traceback."""
    try:
        return results.summaries(folder)
    except (TypeError, AttributeError, ValueError) as err:
        raise HarnessError(f"cannot read the run summaries under {folder}: a summary.json "
                           f"there has the wrong shape ({type(err).__name__}: {err}).") from None


def _metric_rows(folder, notes: list[str]) -> pd.DataFrame:
    """:func:`harness.results.load` of ``folder``, keeping only rows a report can use: a
    table without the metric columns is left out, and so are the runs whose values are
    not numbers (each said in ``notes`` and warned about)."""
    table = results.load(folder)
    missing = [c for c in results.METRIC_COLUMNS if c not in table]
    if missing:
        reason = (f"its results table has no column(s) {', '.join(missing)}; every metric "
                  "row of this folder was left out")
        warnings.warn(results.ResultsWarning(Path(folder), reason), stacklevel=2)
        return table.iloc[:0].assign(**{c: [] for c in missing})  # keeps the config columns
    values = pd.to_numeric(table["value"], errors="coerce")
    bad = values.isna() & table["value"].notna()
    if bad.any():
        ids = sorted(table.loc[bad, "run_id"].astype(str).unique())
        reason = (f"metric values that are not numbers in run(s) {', '.join(ids)}; "
                  "those runs were left out")
        warnings.warn(results.ResultsWarning(Path(folder), reason), stacklevel=2)
        table = table[~table.run_id.isin(ids)]
    return table.assign(value=pd.to_numeric(table["value"], errors="coerce"))


def _drop_repeats(runs: pd.DataFrame, config_keys: list[str],
                  folders) -> tuple[pd.DataFrame, list[str]]:
    """Keep one completed run per (loss, setting, seed): the first found (folder order).
    A repeat differs only in keys that define no setting (``trainer.device``) or in the
    harness that made it; the note names those keys."""
    done = runs.status == "completed"
    key = runs[["loss_label", "setting"]].astype(str).agg("|".join, axis=1) + "|" + \
        text(runs["seed"])
    repeat = done & key.where(done).duplicated(keep="first") & done
    if not repeat.any():
        return runs, []
    first = runs[done & ~repeat].assign(_key=key).set_index("_key")
    compare = [c for c in (*config_keys, "harness_version", "torch_version", "device",
                           "stacked_members") if c in runs]
    differ: set[str] = set()
    for i in runs.index[repeat]:
        kept = first.loc[key[i]]
        differ |= {c for c in compare if text(pd.Series([runs.at[i, c], kept[c]])).nunique() > 1}
    where = sorted({str(folders[int(f)]) for f in runs.loc[repeat, "_folder"]})
    note = (f"{int(repeat.sum())} completed run(s) repeat the loss, setting and seed of a run "
            f"found earlier (differing only in {', '.join(sorted(differ)) or 'their run id'}); "
            f"the first found was kept, the repeat(s) from {', '.join(where)} left out.")
    return runs[~repeat].reset_index(drop=True), [note]


def relabel_rows(rows: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``rows`` of the runs in ``runs`` only, carrying their labels (``loss_label``,
    ``context``, ``level``, ``setting``)."""
    labels = runs[["run_id", "loss_label", "context", "level", "setting"]]
    rows = rows.drop(columns=["loss_label", "level", "context", "setting"], errors="ignore")
    return rows.merge(labels, on="run_id", how="inner")


def _skipped(caught: list[warnings.WarningMessage]) -> list[results.ResultsWarning]:
    """The results files skipped as unreadable, once each; other warnings pass on, and
    the skipped ones are warned about again for the caller (the command prints them)."""
    skipped: dict[Path, results.ResultsWarning] = {}
    for w in caught:
        if isinstance(w.message, results.ResultsWarning):
            skipped.setdefault(w.message.path, w.message)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    for w in skipped.values():
        warnings.warn(w, stacklevel=3)
    return list(skipped.values())


def _refuse_nothing_to_compare(runs: pd.DataFrame, folders) -> None:
    if (runs.status == "completed").any():
        return
    counts = ", ".join(f"{n} {s}" for s, n in runs.status.value_counts().items())
    where = ", ".join(str(f) for f in folders)
    raise HarnessError(f"no completed runs under {where} ({counts}); a report needs at "
                       "least one finished run to show numbers.")


def _loss_labels(runs: pd.DataFrame) -> list[str]:
    """``loss_id`` where the run has one; a failed run gets it rebuilt from its config."""
    params = sorted(c for c in runs.columns if c.startswith("loss."))
    out = []
    for _, run in runs.iterrows():
        if isinstance(run.get("loss_id"), str):
            out.append(run["loss_id"])
            continue
        given = [(p[5:], run[p]) for p in params if _present(run[p])]
        inner = ",".join(f"{k}={v!r}" for k, v in given)
        out.append(f"{run.get('loss', '?')}[{inner}]" if inner else str(run.get("loss", "?")))
    return out


def _present(value) -> bool:
    return not (value is None or (isinstance(value, float) and np.isnan(value)))


def text(values: pd.Series) -> pd.Series:
    """Each value as it prints in a label: numbers with 12 significant digits, a missing
    value (a key the run's config lacks) as ``-``. Safe under pandas 2 and 3, where
    ``astype(str)`` may keep NaN."""
    return pd.Series([fmt_value(v) for v in values], index=values.index, dtype=object)


def fmt_value(value) -> str:
    """One config value as a label prints it (``-`` when missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.12g}"
    return str(value)


def canonical(value: float) -> float:
    """``value`` rounded to the 12 significant digits it prints with (NaN stays NaN)."""
    return value if pd.isna(value) else float(f"{float(value):.12g}")


def fmt_level(level: float) -> str:
    """A corruption level as the page prints it (``?`` when unknown)."""
    return "?" if pd.isna(level) else f"{level:.12g}"


def _fill_levels(runs: pd.DataFrame, config_keys: list[str]) -> pd.Series:
    """The corruption level; a run that failed before reading its data has none, so it
    borrows the level of a run with the same data config (else 0 when nothing varies)."""
    if "corruption_level" in runs:
        level = pd.to_numeric(runs["corruption_level"], errors="coerce")
    else:
        level = pd.Series(np.nan, index=runs.index)
    data_keys = [c for c in config_keys if c == "data" or c.startswith("data.")]
    if level.isna().any() and data_keys:
        key = runs[data_keys].apply(text).agg("|".join, axis=1)
        known = level.groupby(key).first()
        level = level.fillna(key.map(known))
    if level.isna().any() and level.nunique() <= 1:
        level = level.fillna(level.dropna().iloc[0] if level.notna().any() else 0.0)
    return level.map(canonical).astype(float)


def context_keys(runs: pd.DataFrame, config_keys: list[str]) -> list[str]:
    """Config keys besides the data set that vary and are not already fixed by the data
    set, the corruption level and the keys chosen before them: ``data.outlier_frac`` is the
    level, ``optim.momentum`` follows ``optim``, ``optim.lr`` may be a key of its own.
    ``runs`` needs ``data``, ``level`` and ``config_keys`` columns (missing values allowed).
    """
    keys: list[str] = []
    base = text(runs["data"]) + "|" + text(runs["level"])
    # a classical baseline (model=sklearn_*) stands beside the networks of its setting:
    # its model and optimiser keys do not split settings
    nets = ~runs["baseline"].eq(True) if "baseline" in runs else pd.Series(True, runs.index)
    # group choices (``optim``) before their keys (``optim.momentum``)
    for key in sorted(config_keys, key=lambda k: (k.count("."), config_keys.index(k))):
        if key == "data" or key in NOT_SETTING or key.startswith("loss."):
            continue
        among = nets if key.split(".")[0] in ("model", "optim") else slice(None)
        values = text(runs[key])
        if values[among].nunique() > 1 and values[among].groupby(base[among]).nunique().max() > 1:
            keys.append(key)
            base = base + "|" + values
    return keys


def context_labels(runs: pd.DataFrame, keys: list[str]) -> list[str]:
    """``friedman`` or ``outliers, optim=sgd, optim.lr=0.01``: the data set and ``keys``."""
    parts = [text(runs["data"])] + [k + "=" + text(runs[k]) for k in keys]
    return list(pd.concat(parts, axis=1).agg(", ".join, axis=1)) if len(runs) else []


def label_settings(runs: pd.DataFrame, keys: list[str], level_name: str) -> None:
    """Add ``context`` (:func:`context_labels`) and ``setting`` (context; level) to
    ``runs``, in place."""
    runs["context"] = context_labels(runs, keys)
    runs["setting"] = [f"{c}; {level_name} {fmt_level(v)}" for c, v in
                       zip(runs.context, runs.level, strict=True)]


def _level_name(runs: pd.DataFrame, config_keys: list[str]) -> str:
    """What the corruption level is, named by the data key that holds it."""
    done = runs[runs.corruption_level.notna()]
    for key in config_keys:
        if not key.startswith("data.") or key not in done:
            continue
        values = pd.to_numeric(done[key], errors="coerce")
        if values.notna().all() and np.allclose(values, done.corruption_level):
            if values.nunique() > 1 or key in LEVEL_NAMES:
                return LEVEL_NAMES.get(key, key)
    return "corruption level"


def metric_choice(res: Results, metric: str | None) -> dict[str, list[str]]:
    """metric -> the tasks compared on it: ``metric`` for every task that has it, or each
    task's primary metric (regression rmse, classification accuracy)."""
    done = res.completed
    tasks = sorted(done.task.dropna().unique())
    on_test = set(res.rows.loc[res.rows.split == SPLIT, "metric"])
    if metric is not None:
        if metric not in on_test or metric == "elapsed_s":
            known = ", ".join(sorted(on_test - {"elapsed_s"}))
            raise HarnessError(f"unknown metric '{metric}' for these results; choose one of: "
                               f"{known}.")
        if metric not in HIGHER_IS_BETTER:
            raise HarnessError(f"metric '{metric}' has no known direction (better higher or "
                               "lower) in harness.metrics.HIGHER_IS_BETTER.")
        with_it = set(res.rows.loc[(res.rows.split == SPLIT) & (res.rows.metric == metric),
                                   "task"])
        return {metric: [t for t in tasks if t in with_it]}
    chosen: dict[str, list[str]] = {}
    for task in tasks:
        name = PRIMARY.get(task) or METRICS.get(task, ("objective",))[0]
        chosen.setdefault(name, []).append(task)
    return chosen


def panel(res: Results, metric: str, tasks: list[str]) -> Panel:
    done = res.completed[res.completed.task.isin(tasks)]
    column = f"final.{SPLIT}.{metric}"
    finals = done[["run_id", "loss_label", "context", "level", "setting", "seed", "task"]].copy()
    finals["value"] = pd.to_numeric(done[column], errors="coerce") if column in done else np.nan
    finals = finals[finals.value.notna()].reset_index(drop=True)
    curves = res.rows[res.rows.run_id.isin(finals.run_id)]
    return Panel(metric=metric, higher=HIGHER_IS_BETTER[metric], tasks=tasks,
                 level_name=_level_name(done, res.config_keys), finals=finals, curves=curves)
