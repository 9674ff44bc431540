"""The README's report examples, run as written (paths swapped for small results folders)
and checked for the right numbers."""

from __future__ import annotations

import ast
import json
import re
import shlex
from pathlib import Path

import pytest

from harness.report.__main__ import main
from tests.test_report_cases import grid

ROOT = Path(__file__).resolve().parents[1]  # the repository
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end]


def test_the_pandas_example_gives_each_runs_final_value(tmp_path):
    block = next(b for b in re.findall(r"```python\n(.*?)```", README, re.S)
                 if "results.load(" in b and "results.summaries(" in b)
    folder = grid(tmp_path / "sweep", {"huber": 0.15, "mse": 0.9}, (0.0, 0.2), range(3))
    code = block.replace("outputs/sweeps/2026-11-26_10-00-00", str(folder))
    tree = ast.parse(code)
    for i, node in enumerate(tree.body):  # keep what each bare expression shows
        if isinstance(node, ast.Expr):
            tree.body[i] = ast.parse(f"_shown.append({ast.unparse(node.value)})").body[0]
    scope = {"_shown": []}
    exec(compile(tree, "README.md", "exec"), scope)
    by_summaries, by_rows = scope["_shown"]
    finals = {}
    for path in folder.glob("*/summary.json"):
        s = json.loads(path.read_text())
        key = (s["config"]["loss"], s["config"]["data.outlier_frac"])
        finals.setdefault(key, []).append(s["final"]["test.rmse"])
    assert len(finals) == 4
    for key, values in finals.items():
        assert by_summaries[key] == pytest.approx(sum(values) / len(values))
        assert by_rows[key] == pytest.approx(sum(values) / len(values))


@pytest.mark.slow  # CI's second step; the default run stays under 6 min
def test_the_report_commands_run_as_written(tmp_path, capsys):
    block = re.search(r"```bash\n(.*?)```", section("Reports"), re.S).group(1)
    commands = [line.split("#")[0].split() for line in block.splitlines()
                if line.startswith("python -m harness.report")]
    assert len(commands) == 4
    runs = grid(tmp_path / "sweeps" / "a", {"huber": 0.2, "mse": 0.6}, (0.0, 0.2), range(2))
    grid(tmp_path / "sweeps" / "b", {"mae": 0.3}, (0.0, 0.2), range(2))
    one = next(p for p in runs.iterdir() if p.is_dir())
    paths = {"outputs/sweeps/<time>": str(runs), "outputs/sweeps/a": str(runs),
             "outputs/sweeps/b": str(tmp_path / "sweeps" / "b"),
             "reports/ab": str(tmp_path / "reports" / "ab"), "outputs/runs/<time>": str(one)}
    for words in commands:
        args = [paths.get(w, w) for w in words[3:]]
        if args == ["--help"]:
            with pytest.raises(SystemExit) as stop:
                main(args)
            assert stop.value.code == 0
            continue
        assert main(args) == 0, shlex.join(words)
    assert "mse" in (runs / "report" / "summary.csv").read_text()
    assert (tmp_path / "reports" / "ab" / "index.html").is_file()
    assert "data:image/png;base64," in (one / "report" / "index.html").read_text()
