"""Collect the literature presets' results into the tables of README "Reproducing the
literature": one Markdown file and one JSON record per preset in docs/literature/.

    python docs/literature/collect.py outputs/lit/<preset> [...] [--out docs/literature]

Each folder is a preset's sweep (``python -m harness -m +experiment=<preset>
hydra/launcher=vectorized hydra.sweep.dir=outputs/lit/<preset>``) whose report has been
built (``python -m harness.report outputs/lit/<preset>``). Written per preset:

- ``<preset>.json``: per loss (or model) and setting, the seeds, every run's final clean
  test metric, mean, sample standard deviation, the baseline comparison and, for
  ``mnist1d_paper``, the config each row ran with (``tests/test_literature.py`` checks it
  against today's config and the issue's targets);
- ``<preset>.md``: mean ± sd (n) per loss and setting; each loss against the baseline of
  the claim (``ce`` for label noise, ``mse`` for regression, ``cnn1d`` nothing: the
  paper's table) with a two-sided Wilcoxon signed-rank test paired by seed
  (``scipy.stats.wilcoxon``) and Holm's adjustment over the losses of a setting, the
  same test and adjustment the report uses against its best loss; and the report's own
  Friedman sentences, copied from its page.

Reads the results tables and the report page only; trains nothing.
"""

from __future__ import annotations

import argparse
import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from harness import results
from harness.report.stats import holm  # statsmodels' multipletests(method="holm")

PAPER_TABLE1 = {"linear": 0.32, "mlp": 0.68, "cnn1d": 0.94, "gru": 0.91}  # Greydanus 2020
PAPER_NAMES = {"linear": "logistic regression", "mlp": "MLP", "cnn1d": "CNN", "gru": "GRU"}
BASELINE = {"regression": "mse", "multiclass": "ce", "binary": "bce"}
METRIC = {"regression": "rmse", "multiclass": "accuracy", "binary": "accuracy"}


def setting_columns(runs: pd.DataFrame) -> list[str]:
    """The config keys that vary across the preset's runs, besides loss, model and seed."""
    keys = [c for c in runs.columns if c.startswith(("data.", "data")) and c != "data_info"]
    return [c for c in keys if runs[c].astype(str).nunique() > 1
            and not c.startswith("data_info")]


def friedman_sentences(report: Path) -> list[str]:
    """The report page's sentences stating a Friedman test's outcome (and its Nemenyi
    follow-up), as plain text."""
    page = report / "index.html"
    if not page.exists():
        return []
    text = re.sub(r"<style.*?</style>", " ", page.read_text(), flags=re.S)
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)))
    found = re.findall(r"(Within [^:]{1,80}: seeds as blocks \(each seed's.*?)"
                       r"(?= Critical-difference| Within [^:]{1,80}: seeds as blocks| "
                       r"Paired comparisons|$)", text)
    short = [re.sub(r": seeds as blocks \(.*?\): Friedman", ": Friedman", s.strip())
             for s in found]
    return list(dict.fromkeys(short))


def describe(runs: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    done = runs[runs.status == "completed"]
    g = done.groupby(by, dropna=False)[value]
    out = g.agg(["mean", "std", "count"]).reset_index()
    total = runs.groupby(by, dropna=False).size().rename("total").reset_index()
    return out.merge(total, on=by)


def paired_vs(runs: pd.DataFrame, setting: list[str], unit: str, baseline: str,
              value: str, higher: bool) -> pd.DataFrame:
    """Each ``unit`` (loss) against ``baseline`` per setting, paired by seed."""
    rows = []
    done = runs[runs.status == "completed"]
    for key, group in done.groupby(setting, dropna=False) if setting else [((), done)]:
        base = group[group[unit] == baseline].set_index("seed")[value]
        part = []
        for other, mine in group.groupby(unit):
            if other == baseline:
                continue
            pairs = pd.concat([mine.set_index("seed")[value], base], axis=1,
                              keys=["x", "y"], join="inner").dropna()
            diff = pairs.x - pairs.y
            p = (float(stats.wilcoxon(pairs.x, pairs.y).pvalue)
                 if len(pairs) > 1 and (diff != 0).any() else 1.0)
            part.append({**dict(zip(setting, key if isinstance(key, tuple) else (key,),
                                    strict=False)),
                         unit: other, "n_pairs": len(pairs), "diff": float(diff.mean()),
                         "wins": int(((diff > 0) if higher else (diff < 0)).sum()), "p": p})
        if part:
            adj = holm(np.array([r["p"] for r in part]))
            for r, a in zip(part, adj, strict=True):
                better = (r["diff"] > 0) == higher
                r["p_holm"] = float(a)
                r["verdict"] = ("better" if better else "worse") if a < 0.05 else "no difference"
            rows += part
    return pd.DataFrame(rows)


def label(value) -> str:
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def collect(folder: Path, out: Path) -> str:
    preset = folder.name
    runs = results.summaries(folder)
    task = str(runs.task.iloc[0])
    metric = METRIC[task]
    value = f"final.test.{metric}"
    higher = metric != "rmse"
    unit = "model" if preset == "mnist1d_paper" else "loss"
    level = "data.label_noise" if task != "regression" else "data.outlier_frac"
    if level in runs and "data.corruption" in runs and runs["data.corruption"].nunique() > 1:
        # rate 0 corrupts nothing: the same runs under every kind, shown once as "clean"
        clean = runs[level] == 0
        runs.loc[clean, "data.corruption"] = "none"
        runs = runs[~(clean & runs.duplicated([unit, "seed", level, "data.corruption"]))]
    setting = [] if unit == "model" else setting_columns(runs)
    table = describe(runs, [*setting, unit], value)
    record = {"preset": preset, "folder": str(folder), "task": task, "metric": metric,
              "n_runs": int(len(runs)), "completed": int((runs.status == "completed").sum()),
              "stack_train_time_s": float(runs.get("stack_train_time_s", pd.Series(
                  [np.nan])).drop_duplicates().sum()),
              "rows": []}
    lines = [f"### `{preset}`: clean test {metric}, mean ± sd over seeds (completed/runs)", ""]
    if unit == "model":
        lines += ["| model | paper (Table 1) | ours, mean ± sd | seeds | per seed |",
                  "|---|---|---|---|---|"]
        for model in ["linear", "mlp", "cnn1d", "gru"]:
            mine = runs[runs.model == model].sort_values("seed")
            if mine.empty:
                continue
            done = mine[mine.status == "completed"]
            acc = [round(float(a), 4) for a in done[value]]
            cfg_keys = [c for c in mine.columns if c.startswith(
                ("model.", "trainer.epochs", "trainer.batch_size", "optim.lr", "data.val_frac",
                 "optim.weight_decay"))]
            row = {"model": model, "seeds": [int(s) for s in done.seed], "accuracy": acc,
                   "n": int(len(mine)), "completed": int(len(done)),
                   "mean": round(float(np.mean(acc)), 4),
                   "sd": round(float(np.std(acc, ddof=1)), 4),
                   "paper": PAPER_TABLE1[model],
                   "config": {c: v.item() if isinstance(v, np.generic) else v  # numpy -> JSON
                              for c in cfg_keys if not pd.isna(v := mine[c].iloc[0])},
                   "train_time_s_each": round(float(done.train_time_s.mean()), 1)}
            record["rows"].append(row)
            lines.append(f"| {PAPER_NAMES[model]} (`model={model}`) | {row['paper']:.0%} | "
                         f"**{row['mean']:.3f}** ± {row['sd']:.3f} | {row['completed']}/"
                         f"{row['n']} | {', '.join(f'{a:.3f}' for a in acc)} |")
    else:
        baseline = BASELINE[task]
        names = {r: str(r) for r in table[unit].unique()}
        settings = table[setting].drop_duplicates().sort_values(setting)
        heads = [", ".join(f"{c.split('.')[-1]} {label(v)}" for c, v in zip(setting, s,
                                                                               strict=True))
                 .replace("corruption none, label_noise 0.0", "clean")
                 .replace("corruption ", "")
                 for s in settings.itertuples(index=False)]
        vs = paired_vs(runs, setting, unit, baseline, value, higher)
        lines += [f"| {unit} | " + " | ".join(heads) + " |",
                  "|---|" + "---|" * len(heads)]
        order = (table[table[unit] != baseline].groupby(unit)["mean"].mean()
                 .sort_values(ascending=not higher).index.tolist())
        for name in [baseline, *order]:
            cells = []
            for s in settings.itertuples(index=False):
                hit = table[(table[unit] == name) & np.logical_and.reduce(
                    [table[c].astype(str) == str(v) for c, v in zip(setting, s,
                                                                    strict=True)])]
                if hit.empty:
                    cells.append("-")
                    continue
                h = hit.iloc[0]
                cell = f"{h['mean']:.3f} ± {h['std']:.3f} ({int(h['count'])}/{int(h['total'])})"
                if name != baseline and len(vs):
                    v = vs[(vs[unit] == name) & np.logical_and.reduce(
                        [vs[c].astype(str) == str(x) for c, x in zip(setting, s,
                                                                     strict=True)])]
                    if len(v):
                        v = v.iloc[0]
                        mark = {"better": "▲", "worse": "▼", "no difference": "="}[v.verdict]
                        cell += f" {mark} p={v.p_holm:.2g}"
                cells.append(cell)
                record["rows"].append({unit: names[name], **{c: (None if pd.isna(x) else x)
                                       for c, x in zip(setting, s, strict=True)},
                                       "mean": float(h["mean"]), "sd": float(h["std"]),
                                       "n": int(h["count"]), "runs": int(h["total"])})
            lines.append(f"| {'**' + baseline + '** (baseline)' if name == baseline else name}"
                         f" | " + " | ".join(cells) + " |")
        lines += ["", f"▲/▼: better/worse than `{baseline}` (two-sided Wilcoxon signed-rank "
                  "test paired by seed, Holm-adjusted over the losses of the setting, p < "
                  "0.05); =: no significant difference; p: the Holm-adjusted p-value."]
        record["vs_baseline"] = json.loads(vs.to_json(orient="records")) if len(vs) else []
        record["baseline"] = baseline
    sentences = friedman_sentences(folder / "report")
    record["report_friedman"] = sentences
    if sentences:
        lines += ["", "The report's ranking tests:", ""] + [f"- {s}" for s in sentences]
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{preset}.json").write_text(json.dumps(record, indent=1, default=str) + "\n")
    (out / f"{preset}.md").write_text("\n".join(lines) + "\n")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args(argv)
    for folder in args.folders:
        print(collect(folder, args.out), end="\n\n")


if __name__ == "__main__":
    main()
