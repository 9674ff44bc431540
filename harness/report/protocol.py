"""The report of a protocol folder (``python -m harness.protocol``; see
:mod:`harness.protocol`): a folder holding ``protocol.json`` and the stage folders
``tune/``, ``final/`` and ``default/``.

The page adds to the usual comparison, which is made on the *final* runs only (each loss
at its selected configuration, labelled by its name, so settings are not split by the
tuned keys):

- runs by stage and status;
- **tuned vs default**: per setting and loss, the final clean test metric of the
  configuration's own defaults against the configuration selected on validation;
- the tuning trials with their validation scores, the selected one marked;
- **sensitivity** plots: the final metric of each tuning trial against each tuned
  hyperparameter, per loss (validation, which selection used, and the clean test split,
  shown in hindsight only).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.metrics import HIGHER_IS_BETTER

# every access to the protocol goes through this one import, and only to SPEC_FILE,
# STAGES, read_record, run_ids, load, summaries and ranking_table
from harness.protocol import record as P
from harness.report import assemble, data, figures, kinds, output, tables
from harness.report.output import Report
from harness.report.page import Page
from harness.results import ResultsWarning

DEFAULT_SELECTION_SPLIT = "val_corrupted"  # what records without "selection" used


def is_protocol(folder: str | Path) -> bool:
    return (Path(folder) / P.SPEC_FILE).is_file()


def tuned_keys(record: dict[str, Any]) -> set[str]:
    """Config keys any candidate sets (``optim.lr``, ``loss.delta``, ...)."""
    return {o.split("=", 1)[0].lstrip("+~") for e in record["entries"]
            for c in e["candidates"] for o in c["overrides"]}


def relabel(res: data.Results, tuned: set[str]) -> data.Results:
    """Label final runs by loss name and leave the tuned keys out of the settings: each
    loss has one (selected) configuration per setting, whatever its values."""
    runs = res.runs.copy()
    runs["loss_label"] = data.text(runs["loss"])
    keys = [k for k in res.config_keys if k not in tuned]
    context_keys = data.context_keys(runs, keys)
    data.label_settings(runs, context_keys, res.level_name)
    return data.Results(runs=runs, rows=data.relabel_rows(res.rows, runs),
                        config_keys=res.config_keys, context_keys=context_keys,
                        level_name=res.level_name, sources=res.sources, notes=res.notes)


def check_record(record: Any) -> str:
    """What is wrong with the shape of a ``protocol.json`` record ("" when nothing): the
    parts this report reads, with their types."""
    if not isinstance(record, dict):
        return "not a JSON object"
    for key, kind in (("name", str), ("spec", dict), ("entries", list), ("budget", int)):
        if not isinstance(record.get(key), kind):
            return f"{key} is not a {kind.__name__}"
    spec = record["spec"]
    for key, kind in (("losses", list), ("tune_seeds", list), ("seeds", list),
                      ("space", list), ("loss_space", dict)):
        if not isinstance(spec.get(key), kind):
            return f"spec.{key} is not a {kind.__name__}"
    for i, e in enumerate(record["entries"]):
        where = f"entries[{i}]"
        if not isinstance(e, dict):
            return f"{where} is not an object"
        for key in ("setting_label", "loss", "task", "metric"):
            if not isinstance(e.get(key), str):
                return f"{where}.{key} is not a string"
        if not isinstance(e.get("candidates"), list):
            return f"{where}.candidates is not a list"
        for j, c in enumerate(e["candidates"]):
            if not (isinstance(c, dict) and all(isinstance(c.get(k), list) for k in
                                                ("overrides", "run_ids", "status"))):
                return f"{where}.candidates[{j}] lacks its overrides, run_ids or status lists"
        for stage in ("final", "default"):
            part = e.get(stage)
            if part is not None and not (isinstance(part, dict)
                                         and isinstance(part.get("run_ids", []), list)):
                return f"{where}.{stage} is not an object with a run_ids list"
        if e.get("selected") is not None and not isinstance(e["selected"], int):
            return f"{where}.selected is not an integer"
    return ""


def _values(runs: pd.DataFrame, stage: str, ids: list[str], column: str) -> list[float]:
    sel = runs[(runs.stage == stage) & runs.run_id.isin(ids) & (runs.status == "completed")]
    if column not in sel:
        return []
    return [float(v) for v in pd.to_numeric(sel[column], errors="coerce") if
            not math.isnan(v)]


def _stat(values: list[float]) -> tuple[float, float, int]:
    if not values:
        return math.nan, math.nan, 0
    return (float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1
            else math.nan, len(values))


def _config_text(runs: pd.DataFrame, stage: str, ids: list[str], keys: list[str]) -> str:
    """The values of ``keys`` in the stage's runs, ``optim.lr=0.001 loss.delta=1``."""
    sel = runs[(runs.stage == stage) & runs.run_id.isin(ids)]
    if sel.empty:
        return "-"
    first = sel.iloc[0]
    return " ".join(f"{k}={first[k]:g}" if isinstance(first.get(k), float)
                    else f"{k}={first.get(k)}" for k in keys if k in sel) or "(defaults)"


def tuned_vs_default(record: dict[str, Any], runs: pd.DataFrame, metric: str,
                     tasks: list[str]) -> pd.DataFrame:
    """One row per setting and loss: both configurations and their test statistics."""
    column = f"final.test.{metric}"
    out = []
    for e in record["entries"]:
        if e["task"] not in tasks:
            continue
        keys = sorted({o.split("=", 1)[0].lstrip("+~") for c in e["candidates"]
                       for o in c["overrides"]})
        row: dict[str, Any] = {"setting": e["setting_label"], "loss": e["loss"],
                               "selected_val_score": e.get("selected_val_score")}
        for stage, name in (("default", "default"), ("final", "tuned")):
            ids = (e.get(stage) or {}).get("run_ids", [])
            mean, std, n = _stat(_values(runs, stage, ids, column))
            row.update({f"{name}_mean": mean, f"{name}_std": std, f"{name}_n": n,
                        f"{name}_runs": len(ids)})
            row[name] = _config_text(runs, stage, ids, keys) if ids else "-"
        out.append(row)
    return pd.DataFrame(out)


def trials(record: dict[str, Any], runs: pd.DataFrame, metric: str,
           tasks: list[str]) -> pd.DataFrame:
    """Every tuning candidate: its mean final val and test metric over the tuning seeds."""
    out = []
    for e in record["entries"]:
        if e["task"] not in tasks:
            continue
        for i, c in enumerate(e["candidates"]):
            selection_key = f"final.{selection_split(record)}.{metric}"
            val = _stat(_values(runs, "tune", c["run_ids"], selection_key))[0]
            test = _stat(_values(runs, "tune", c["run_ids"], f"final.test.{metric}"))[0]
            out.append({"setting": e["setting_label"], "loss": e["loss"],
                        "candidate": " ".join(c["overrides"]) or "(defaults)",
                        "overrides": c["overrides"], "value": val, "test": test,
                        "status": ", ".join(sorted(set(c["status"]))),
                        "selected": e["selected"] == i})
    return pd.DataFrame(out)


def selection_split(record: dict[str, Any]) -> str:
    """The split the protocol selected on, as its record says."""
    selection = record.get("selection")
    split = selection.get("split") if isinstance(selection, dict) else None
    return split if isinstance(split, str) else DEFAULT_SELECTION_SPLIT


def sensitivity_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Long form for :func:`figures.sensitivity`: one row per trial, tuned key and split."""
    out = []
    for r in frame.itertuples():
        for override in r.overrides:
            key, _, value = override.partition("=")
            try:
                x = float(value)
            except ValueError:
                continue  # a categorical choice has no axis
            for split, v in (("val", r.value), ("test", r.test)):
                out.append({"setting": r.setting, "loss_label": r.loss,
                            "param": key.lstrip("+~"), "x": x, "split": split, "value": v,
                            "selected": r.selected, "n_params": len(r.overrides)})
    return pd.DataFrame(out)


@dataclass
class SensitivityInput:
    """What the sensitivity section of one compared metric draws."""

    page: Page
    report: Report
    trials: pd.DataFrame
    metric: str
    colors: dict
    suffix: str


def sensitivity_section(ctx: SensitivityInput) -> None:
    if ctx.trials.empty:
        return
    fig = figures.sensitivity(sensitivity_frame(ctx.trials), ctx.metric, ctx.colors)
    if fig is None:
        return
    name = f"sensitivity_{ctx.metric}.png"
    figures.save(fig, ctx.report.folder / name)
    ctx.report.names.append(name)
    ctx.page.figure(name, f"Sensitivity{ctx.suffix}: the final-epoch {ctx.metric} of every "
                    "tuning trial against each tuned hyperparameter, per loss; top row of "
                    "each pair: the corrupted validation split (what selection used), filled; "
                    "bottom row: the clean test split (not used, shown in hindsight), hollow; "
                    "each row on its own scale; ringed: the selected candidate. With two or "
                    "more tuned keys the points are a random draw over all of them, so a "
                    "column's points differ in the other keys.")


def build(folder: str | Path, out: str | Path | None, metric: str | None, fraction: float,
          alpha: float, embed: bool = False) -> Report:
    """The report of protocol folder ``folder`` (see the module docstring). A
    ``protocol.json`` that cannot be read or has the wrong shape is skipped with a
    :class:`~harness.results.ResultsWarning`, and the folder's final runs (or all its
    runs) are reported as plain results."""
    folder = Path(folder)
    try:
        record = P.read_record(folder)
        problem = check_record(record)
    except HarnessError as err:
        problem = str(err).removeprefix(f"cannot read {folder / P.SPEC_FILE}: ")
    if problem:
        final = folder / "final"
        plain = final if final.is_dir() else folder
        warnings.warn(ResultsWarning(folder / P.SPEC_FILE, f"{problem}; the runs under "
                                     f"{plain} are reported as plain results, without "
                                     "the protocol's tables"), stacklevel=2)
        return assemble.build_plain([plain], out or output.default_out(folder), metric,
                                    fraction, alpha, embed)
    runs = P.summaries(folder)
    if not (folder / "final").is_dir():
        raise HarnessError(f"{folder} has no final/ runs yet: the protocol stopped while "
                           f"tuning; re-run python -m harness.protocol to finish it.")
    res = data.load([folder / "final"])
    final_ids = P.run_ids(record)["final"]  # this protocol's runs, not an earlier spec's
    res.runs = res.runs[res.runs.run_id.isin(final_ids)].reset_index(drop=True)
    res.rows = res.rows[res.rows.run_id.isin(final_ids)]
    if res.runs.empty:
        raise HarnessError(f"{folder}: this protocol has no final runs (no candidate was "
                           "selected, or the protocol stopped before its final stage); "
                           "see protocol.json and re-run python -m harness.protocol.")
    res = relabel(res, tuned_keys(record))
    # by default the metric the protocol selected on (the preset's ``metric``)
    selected_on = {e["metric"] for e in record.get("entries", [])}
    if metric is None and len(selected_on) == 1 and record["spec"].get("metric"):
        metric = selected_on.pop()
    choice = data.metric_choice(res, metric)
    report = Report(Path(out) if out else output.default_out(folder))
    report.runs = runs.status.value_counts()
    colors = figures.palette(list(res.runs.loss_label) + list(record["spec"]["losses"]))
    split = selection_split(record)
    with output.staging(report):
        page = Page(f"Protocol report: {record['name']}")
        spec = record["spec"]
        page.text(
            (f"{record.get('description')}. " if record.get("description") else "")
            + f"{len(spec['losses'])} losses ({', '.join(spec['losses'])}), each with the "
            f"same budget of {record['budget']} candidate configuration(s) per setting, "
            f"trained with tuning seed(s) {spec['tune_seeds']}; the candidate with the best "
            f"final-epoch score on the corrupted validation split ({split}) was selected "
            f"and re-run with seeds {spec['seeds']}, as were the defaults; both measured on "
            "the clean test split. Wall time: "
            + ", ".join(f"{k} {v:.0f} s" for k, v in record.get("wall_s", {}).items()) + ".")
        page.notes(["Selection read the corrupted validation split only (the validation rows "
                    "corrupted as the training rows are: a user has no clean labels); the "
                    "test split played no part in tuning (test values of tuning trials are "
                    "shown below in hindsight).",
                    "Search spaces: " + "; ".join(
                        [f"every loss: {' '.join(spec['space']) or '-'}"]
                        + [f"{k}: {' '.join(v)}" for k, v in spec["loss_space"].items()
                           if k in spec["losses"]])
                    + f". When a loss's space has more points than the budget, "
                    f"{record['budget']} of them are drawn at random (sampler_seed), so every "
                    "loss gets the same number of trials."])
        page.heading("Protocol", "protocol")
        page.table(tables.stage_table(runs))
        protocol_csv = []
        for m, tasks in choice.items():
            higher = HIGHER_IS_BETTER[m]
            suffix = f" ({', '.join(tasks)})" if len(choice) > 1 else ""
            td = tuned_vs_default(record, runs, m, tasks)
            page.table(tables.tuned_default_table(td, m, higher))
            tr = trials(record, runs, m, tasks)
            page.table(tables.trials_table(tr, m, higher, record["budget"]))
            if record["entries"] and m != record["entries"][0]["metric"]:
                page.notes([f"Selection used validation {record['entries'][0]['metric']}; "
                            f"this section shows {m}."])
            for kind in kinds.of_scope("protocol"):
                kind.function()(SensitivityInput(page, report, tr, m, colors, suffix))
            protocol_csv.append(td.assign(metric=m))

        page.heading("Final runs: the tuned losses compared", "final")
        summary, latex = assemble.comparison(page, report, res, choice, colors, fraction,
                                             alpha, "No completed final run has a test {}; "
                                                    "nothing to compare.")
        assemble.write_outputs(report, page, {
            "summary.csv": summary,
            "tuned_vs_default.csv": pd.concat(protocol_csv, ignore_index=True)}, latex, embed)
    return report
