"""Summary tables: built once as :class:`Table` objects, written as Markdown, HTML and
LaTeX (``summary.tex``: booktabs rules, the best value in bold).

Numbers are formatted here and only here, so ``summary.md``, ``index.html`` and
``summary.tex`` agree.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field

import pandas as pd

STATUSES = ("completed", "diverged", "failed", "interrupted")


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    bold: set[tuple[int, int]] = field(default_factory=set)  # (row, column) cells
    note: str = ""

    def markdown(self) -> str:
        def cell(i: int, j: int, text: str) -> str:
            text = text.replace("|", "\\|")
            return f"**{text}**" if (i, j) in self.bold and text else text

        lines = [f"### {self.title}", ""]
        if self.note:
            lines += [self.note, ""]
        lines.append("| " + " | ".join(h.replace("|", "\\|") for h in self.header) + " |")
        lines.append("|" + "---|" * len(self.header))
        for i, row in enumerate(self.rows):
            lines.append("| " + " | ".join(cell(i, j, c) for j, c in enumerate(row)) + " |")
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        def cell(i: int, j: int, text: str) -> str:
            tag = "th" if j == 0 else "td"
            text = html.escape(text)
            return f"<{tag}><strong>{text}</strong></{tag}>" if (i, j) in self.bold \
                else f"<{tag}>{text}</{tag}>"

        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(cell(i, j, c) for j, c in enumerate(row)) + "</tr>"
                       for i, row in enumerate(self.rows))
        note = f"<p class='note'>{html.escape(self.note)}</p>" if self.note else ""
        return (f"<h3>{html.escape(self.title)}</h3>{note}"
                f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def latex(self, label: str = "") -> str:
        """A ``table`` float with a booktabs ``tabular`` (``\\usepackage{booktabs}``):
        first column left, the others right; bold cells in ``\\textbf``; the note as
        the caption."""
        def cell(i: int, j: int, text: str) -> str:
            text = latex_escape(text)
            return f"\\textbf{{{text}}}" if (i, j) in self.bold and text else text

        cols = "l" + "r" * (len(self.header) - 1)
        lines = ["\\begin{table}[ht]", "\\centering", "\\small",
                 f"\\caption{{{latex_escape(self.title)}. {latex_escape(self.note)}}}"]
        if label:
            lines.append(f"\\label{{{label}}}")
        lines += [f"\\begin{{tabular}}{{{cols}}}", "\\toprule",
                  " & ".join(latex_escape(h) for h in self.header) + " \\\\", "\\midrule"]
        lines += [" & ".join(cell(i, j, c) for j, c in enumerate(row)) + " \\\\"
                  for i, row in enumerate(self.rows)]
        lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
        return "\n".join(lines) + "\n"


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$",
                 "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                 "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                 "\u00b1": r"$\pm$", "\u00b2": r"$^2$", "\u2264": r"$\leq$"}


def latex_escape(text: str) -> str:
    """``text`` safe inside a LaTeX table cell (special characters escaped, +- as
    ``$\\pm$``)."""
    return re.sub("|".join(re.escape(c) for c in LATEX_SPECIAL),
                  lambda m: LATEX_SPECIAL[m.group()], text)


def num(x: float, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:.{digits}g}"


def pval(p: float) -> str:
    if p is None or math.isnan(p):
        return ""
    return "< 1e-4" if p < 1e-4 else f"{p:.3g}"


def settings_header(frame: pd.DataFrame, level_name: str) -> tuple[list[str], list[str]]:
    """(setting keys in display order, their column titles)."""
    keys = frame[["context", "level", "setting"]].drop_duplicates().sort_values(
        ["context", "level"])
    one_context = keys.context.nunique() == 1
    titles = [f"{level_name} {lv:.12g}" if one_context else f"{c}; {level_name} {lv:.12g}"
              for c, lv in zip(keys.context, keys.level, strict=True)]
    return list(keys.setting), titles


def status_table(runs: pd.DataFrame) -> Table:
    """Runs per loss by status (every run, whatever happened to it)."""
    counts = runs.groupby(["loss_label", "status"]).size().unstack(fill_value=0)
    present = [s for s in STATUSES if s in counts] + [s for s in counts if s not in STATUSES]
    rows = [[loss] + [str(int(counts.at[loss, s])) for s in present]
            + [str(int(counts.loc[loss].sum()))] for loss in counts.index]
    total = ["all"] + [str(int(counts[s].sum())) for s in present] + [str(len(runs))]
    return Table("Runs by status", ["loss", *present, "total"], rows + [total])


def problem_table(runs: pd.DataFrame) -> Table | None:
    """Every run that did not complete, with where and why."""
    bad = runs[runs.status != "completed"].sort_values(["setting", "loss_label", "seed"])
    if bad.empty:
        return None
    rows = []
    for _, r in bad.iterrows():
        why = r.get("error") if isinstance(r.get("error"), str) else ""
        epoch = r.get("diverged_epoch")
        if r.status == "diverged" and pd.notna(epoch):
            why = f"training objective not finite at epoch {int(epoch)}"
        rows.append([r.loss_label, r.setting, str(r.seed), r.status, why])
    return Table("Runs without a final result (not plotted, not in the statistics)",
                 ["loss", "setting", "seed", "status", "why"], rows)


def mean_table(desc: pd.DataFrame, runs: pd.DataFrame, metric: str, higher: bool,
               level_name: str) -> Table:
    """Losses x settings: mean +- std (n completed of m runs), best in bold."""
    cols = ["context", "level", "setting"]
    settings, titles = settings_header(pd.concat([desc[cols], runs[cols]]), level_name)
    total = runs.groupby(["setting", "loss_label"]).size()
    losses = sorted(set(desc.loss_label) | set(runs.loss_label))
    cells = desc.set_index(["setting", "loss_label"])
    rows, bold = [], set()
    for i, loss in enumerate(losses):
        row = [loss]
        for j, setting in enumerate(settings, start=1):
            m = int(total.get((setting, loss), 0))
            if (setting, loss) not in cells.index:
                row.append(f"- (0/{m})" if m else "")
                continue
            c = cells.loc[(setting, loss)]
            spread = f" \u00b1 {num(c['std'], 2)}" if c.n >= 2 else ""
            row.append(f"{num(c['mean'])}{spread} ({int(c.n)}/{m})")
            if c.best:
                bold.add((i, j))
        rows.append(row)
    direction = "higher" if higher else "lower"
    spread = "Mean \u00b1 standard deviation over seeds" if (desc.n >= 2).any() \
        else "One seed: the value of the single run"
    note = (f"{spread} (completed runs / all runs); {direction} is better; the best mean per "
            "column in bold.")
    return Table(f"Final clean test {metric}", ["loss", *titles], rows, bold, note)


def paired_table(paired: pd.DataFrame, metric: str, alpha: float) -> Table | None:
    if paired.empty:
        return None
    notes = set(paired.note)
    shared = notes.pop() if len(notes) == 1 else None  # said once above, not on every row
    header = ["setting", "best", "loss", "n pairs", "mean difference", "W", "p", "p Holm"]
    rows, bold = [], set()
    for i, r in enumerate(paired.itertuples()):
        rows.append([r.setting, r.best, r.loss, str(r.n), num(r.mean_diff, 3),
                     num(r.statistic, 3), pval(r.p), pval(r.p_holm)]
                    + ([] if shared is not None else [r.note]))
        if not math.isnan(r.p_holm) and r.p_holm < alpha:
            bold.add((i, 7))
    note = (f"Wilcoxon signed-rank test (two-sided, scipy) of each loss against the "
            f"setting's best, paired by seed; difference = loss - best in test {metric}; "
            f"p Holm: adjusted for the comparisons within the setting, bold when < "
            f"{alpha:g}.")
    if shared:
        note += f" For every comparison: {shared}."
    return Table(f"Paired comparisons with the best loss ({metric})",
                 header + ([] if shared is not None else ["note"]), rows, bold, note)


def auc_table(auc: pd.DataFrame, metric: str, higher: bool, level_name: str) -> Table | None:
    if auc.empty:
        return None
    rows = [[r.context, r.loss, r.levels, num(r.auc)] for r in auc.itertuples()]
    bold = {(i, 3) for i, r in enumerate(auc.itertuples()) if r.best}
    note = (f"Area under the mean robustness curve (test {metric} against {level_name}, "
            "trapezoidal) divided by the range of levels: the curve's average height, in "
            f"{metric} units; {'higher' if higher else 'lower'} is better.")
    return Table(f"Robustness summary (normalised AUC of test {metric})",
                 ["context", "loss", "levels", "AUC / range"], rows, bold, note)


def block_rank_table(scores: pd.DataFrame, higher: bool, what: str, metric: str,
                     unit: str, title: str, dropped: list[str] = ()) -> Table:
    """Losses x blocks: each block's score (``what`` of ``metric``) with the loss's rank
    in that block, and the average rank; the best average rank in bold."""
    from harness.report.stats import ranks

    r = ranks(scores, higher)
    avg = r.mean().sort_values()
    blocks = list(scores.index)
    wide = len(blocks) > 12  # many seeds or data sets: the average only
    name = "seed " if unit == "seeds" else ""
    header = ["loss"] + ([] if wide else [f"{name}{b}" for b in blocks]) + ["average rank"]
    rows, bold = [], set()
    for i, (loss, rank) in enumerate(avg.items()):
        cells = [] if wide else [f"{num(scores.at[b, loss])} ({num(r.at[b, loss], 3)})"
                                 for b in blocks]
        rows.append([loss, *cells, num(rank, 3)])
        if rank == avg.min():
            bold.add((i, len(header) - 1))
    direction = "higher" if higher else "lower"
    note = (f"Per {unit[:-1] if unit.endswith('s') else unit}: the {what} of test {metric} "
            f"({direction} is better) and, in brackets, the loss's rank there (1 = best, "
            f"ties averaged); average rank over the {len(blocks)} {unit}.")
    if dropped:
        note += f" Left out (some loss has no complete result there): {', '.join(dropped)}."
    return Table(title, header, rows, bold, note)


def speed_table(speed: pd.DataFrame, level_name: str, fraction: float,
                seconds: str | None) -> Table | None:
    """Losses x settings: mean epochs (and ``seconds``, when they compare) to the target,
    over the runs that reached it (reached / runs)."""
    if speed.empty:
        return None
    settings, titles = settings_header(speed, level_name)
    cells = speed.set_index(["setting", "loss_label"])
    rows = []
    for loss in sorted(speed.loss_label.unique()):
        row = [loss]
        for setting in settings:
            if (setting, loss) not in cells.index:
                row.append("")
                continue
            c = cells.loc[(setting, loss)]
            time = f", {num(c.seconds, 2)} s" if seconds else ""
            row.append(f"{num(c.epochs, 3)} ep{time} ({int(c.reached)}/{int(c.runs)})"
                       if c.reached else f"not reached (0/{int(c.runs)})")
        rows.append(row)
    note = (f"Mean epochs{' and ' + seconds if seconds else ''} to get {fraction:.0%} of "
            "the way from the untrained model (epoch 0) to the best final value of any loss "
            "with the same seed, over the runs that got there (reached / runs).")
    return Table("Speed to target", ["loss", *titles], rows, note=note)


# ---------------------------------------------------------------- protocol reports
def stage_table(runs: pd.DataFrame) -> Table:
    """Runs per protocol stage (tune / final / default) by status."""
    counts = runs.groupby(["stage", "status"]).size().unstack(fill_value=0)
    order = [s for s in ("tune", "final", "default") if s in counts.index]
    present = [s for s in STATUSES if s in counts] + [s for s in counts if s not in STATUSES]
    rows = [[stage] + [str(int(counts.at[stage, s])) for s in present]
            + [str(int(counts.loc[stage].sum()))] for stage in order]
    note = ("tune: every candidate configuration with the tuning seeds, selected on the "
            "corrupted validation split (val_corrupted); final: the selected configuration "
            "with the final seeds; "
            "default: the configuration's own defaults with the same seeds. A run found "
            "finished in another stage with the same config and seed was copied, not rerun.")
    return Table("Runs by protocol stage", ["stage", *present, "total"], rows, note=note)


def _pm(mean: float, std: float, n: int, runs: int) -> str:
    if n == 0:
        return f"- (0/{runs})"
    spread = f" \u00b1 {num(std, 2)}" if n >= 2 else ""
    return f"{num(mean)}{spread} ({n}/{runs})"


def tuned_default_table(frame: pd.DataFrame, metric: str, higher: bool) -> Table | None:
    """Per setting and loss: the default configuration and the tuned one, their final
    clean test metric (mean +- std over seeds) and the change; the better one in bold.
    ``frame``: setting, loss, default, tuned (override texts), and per stage ``*_mean``,
    ``*_std``, ``*_n``, ``*_runs``."""
    if frame.empty:
        return None
    rows, bold = [], set()
    for i, r in enumerate(frame.itertuples()):
        diff = r.tuned_mean - r.default_mean if r.tuned_n and r.default_n else math.nan
        rows.append([r.setting, r.loss, r.default, _pm(r.default_mean, r.default_std,
                                                        r.default_n, r.default_runs),
                     r.tuned, _pm(r.tuned_mean, r.tuned_std, r.tuned_n, r.tuned_runs),
                     "" if math.isnan(diff) else
                     "0 (same configuration)" if r.tuned == r.default else f"{diff:+.3g}"])
        if not math.isnan(diff) and diff != 0:
            bold.add((i, 5 if (diff > 0) == higher else 3))
    direction = "higher" if higher else "lower"
    note = (f"Final clean test {metric}, mean \u00b1 standard deviation over the final seeds "
            "(completed / all runs), of the configuration's own defaults and of the "
            f"configuration selected on the corrupted validation split; change = tuned - default; "
            f"{direction} is better, the better of the two in bold.")
    return Table(f"Tuned vs default (test {metric})",
                 ["setting", "loss", "default", f"default test {metric}", "tuned (selected)",
                  f"tuned test {metric}", "change"], rows, bold, note)


def trials_table(trials: pd.DataFrame, metric: str, higher: bool, budget: int) -> Table | None:
    """Every tuning candidate with its validation score; the selected one in bold.
    ``trials``: setting, loss, candidate (override text), value, status, selected."""
    if trials.empty:
        return None
    rows, bold = [], set()
    for i, r in enumerate(trials.itertuples()):
        rows.append([r.setting, r.loss, r.candidate, num(r.value), r.status,
                     "selected" if r.selected else ""])
        if r.selected:
            bold.update({(i, 2), (i, 3)})
    note = (f"Each loss had the same budget of {budget} candidate configuration(s) per "
            f"setting; score: final-epoch val_corrupted {metric} (mean over the tuning seeds), "
            f"{'higher' if higher else 'lower'} is better. The test split played no part.")
    return Table(f"Tuning trials (validation {metric})",
                 ["setting", "loss", "candidate", f"val_corrupted {metric}", "status", ""],
                 rows, bold, note)
