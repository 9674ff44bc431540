"""Bad input, table-driven: every case exits 2 with one line on stderr that names what was
wrong and what is allowed, and no traceback (unless HYDRA_FULL_ERROR=1).

Each case runs through the command's own entry point (``harness.cli.main`` with the
case's argv, ``harness.report.__main__.main``) in this process, which is fast; a handful
run as real subprocesses by default and every case does under ``-m slow``.
"""

from __future__ import annotations

import copy
import math
import sys
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from harness.config import schemas, validate
from harness.errors import HarnessError
from harness.jobs.job import Task, write_failed
from harness.jobs.lifecycle import run_one as run
from losses import Interval, InvalidParameterError
from tests.helpers import TINY, make_cfg

CHOICES = {"data": "outliers", "model": "mlp", "loss": "mse", "optim": "adam",
           "trainer": "default"}
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
NO_MPS = pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is available here")


@dataclass
class Case:
    id: str
    args: list[str]  # {tmp} is the test's tmp_path, {runs} the shared results folders
    expect: list[str]  # fragments of the one line: what was wrong, what is allowed
    command: str = "harness"  # or "harness.report"
    # also run as a real subprocess: True in the default test run, "slow" with -m slow
    real: bool | str = False
    marks: tuple = ()


CLI = [
    Case("unknown loss", ["loss=hubr"],
         ["Could not find 'loss/hubr'", "Available options in 'loss':", "pseudo_huber",
          "did you mean 'huber'"], real=True),
    Case("unknown data", ["data=outlier"],
         ["Could not find 'data/outlier'", "friedman, iris", "did you mean 'outliers'"],
         real="slow"),
    Case("unknown model", ["model=resnet"],
         ["Could not find 'model/resnet'", "cnn1d, gru, linear, mlp"]),
    Case("unknown optimiser", ["optim=adamm"],
         ["Could not find 'optim/adamm'", "adam, adamw, sgd"]),
    Case("misspelt loss key", ["loss=huber", "loss.detla=2"],
         ["Could not override 'loss.detla'", "Key 'detla' not in", "keys of loss: delta;",
          "did you mean 'delta'?"]),
    Case("key of another optimiser", ["optim=adamw", "optim.momentum=0.9"],
         ["Key 'momentum' not in", "keys of optim: lr, weight_decay, fused"]),
    Case("unknown top-level key", ["sed=1"],
         ["Could not override 'sed'", "keys of the config: data, model, loss, optim, "
          "trainer, seed"]),
    Case("wrong type", ["trainer.epochs=abc"],
         ["trainer.epochs=abc", "Value 'abc' of type 'str' could not be converted to Integer"],
         real="slow"),
    Case("wrong item type", ["model.hidden=[a]"], ["model.hidden=[a]", "Integer"]),
    Case("unparsable override", ["loss=[a"],
         ["cannot parse the override 'loss=[a'", "an override is group=option"],
         real="slow"),
    Case("unknown flag", ["--bogus"], ["unrecognized arguments: --bogus",
                                      "see python -m harness --help"],
         real="slow"),
    Case("unknown --cfg choice", ["--cfg", "nope"],
         ["argument --cfg/-c: invalid choice: 'nope'", "choose from 'job', 'hydra', 'all'"]),
    Case("pickle rerun", ["--experimental-rerun", "{tmp}/config.pickle"],
         ["--experimental-rerun loads a pickle", "the harness reads no pickles",
          ".hydra/overrides.yaml"]),
    Case("sweep value of the wrong type", ["-m", "trainer.epochs=1,abc",
                                           "hydra.sweep.dir={tmp}/sweep"],
         ["trainer.epochs=abc", "could not be converted to Integer"],
         real="slow"),
    Case("loss not fit for the task", ["loss=hinge", "data=outliers"],
         ["loss 'hinge' is a binary loss", "losses for regression: barron, cauchy"],
         real="slow"),
    Case("multiclass loss on binary data", ["loss=ce", "data=binary"],
         ["loss 'ce' is a multiclass loss", "losses for binary: bce"]),
    Case("loss parameter out of range", ["loss=huber", "loss.delta=-1"],
         ["'loss.delta' parameter of huber", "(0, inf)", "Got -1.0"]),
    Case("loss parameter at an open bound", ["loss=quantile", "loss.q=1"],
         ["'loss.q' parameter of quantile", "(0, 1)", "Got 1.0"]),
    Case("corruption level out of range", ["data.outlier_frac=1.5"],
         ["'data.outlier_frac'", "[0, 1]", "Got 1.5"]),
    Case("label noise out of range", ["data=binary", "loss=bce", "data.label_noise=0.5"],
         ["'data.label_noise'", "[0, 0.5)", "Got 0.5"]),
    Case("split fraction out of range", ["data.val_frac=0.9"], ["'data.val_frac'", "(0, 0.5]"]),
    Case("zero epochs", ["trainer.epochs=0"], ["'trainer.epochs'", "int in the range [1, inf)"]),
    Case("zero batch size", ["trainer.batch_size=0"], ["'trainer.batch_size'", "[1, inf)"]),
    Case("zero learning rate", ["optim.lr=0"], ["'optim.lr'", "(0, inf)", "Got 0.0"]),
    Case("momentum of one", ["optim=sgd", "optim.momentum=1"], ["'optim.momentum'", "[0, 1)"]),
    Case("negative seed", ["seed=-1"], ["'seed'", "[0, inf)", "Got -1"]),
    Case("empty hidden layer", ["model.hidden=[64,0]"], ["'model.hidden'", "[1, inf)"]),
    Case("unknown device", ["trainer.device=gpu"],
         ["trainer.device=gpu is not a torch device", "auto, cpu, cuda, cuda:<index>, mps"]),
    Case("absent device", ["trainer.device=mps"],
         ["trainer.device=mps but torch", "has no mps device here"], marks=(NO_MPS,)),
    Case("cuda without a GPU", ["trainer.device=cuda"],
         ["trainer.device=cuda but CUDA is not available", "use trainer.device=auto or cpu"],
         marks=(NO_CUDA,),
         real="slow"),
    Case("msle with negative targets", ["loss=msle", "data=outliers"],
         ["data 'outliers' (train split) does not fit loss 'msle'",
          "msle needs targets in [0, inf)"], real=True),
    Case("output folder that cannot be created", ["hydra.run.dir=/proc/harness_no/run"],
         ["cannot write /proc/harness_no", "choose a folder you can write with hydra.run.dir"],
         real="slow"),
    Case("output folder below a file", ["hydra.run.dir={tmp}/a_file/run"],
         ["cannot write {tmp}/a_file", "Not a directory", "hydra.run.dir=..."]),
    Case("sweep folder below a file", ["-m", "loss=mse,mae", "hydra.sweep.dir={tmp}/a_file/s"],
         ["cannot write {tmp}/a_file", "hydra.sweep.dir=..."],
         real="slow"),
    Case("config target outside the allow-list", ["--config-dir", "{tmp}/conf", "data=evil"],
         ["data._target_=os.system is not allowed",
          "must start with harness., losses., torch., sklearn."],
         real="slow"),
    Case("config target reached through torch", ["--config-dir", "{tmp}/conf", "model=evil"],
         ["model._target_=torch.os.system is not allowed", "defined in posix"]),
    # allowed targets of the wrong kind: one line, not a traceback
    Case("data target that builds no data set", ["data._target_=torch.nn.Linear"],
         ["data._target_=torch.nn.Linear is not a data set builder", "one of conf/data/"]),
    Case("optimiser target that takes other keys", ["optim._target_=torch.nn.Linear"],
         ["optim._target_=torch.nn.Linear cannot be called with the keys of optim",
          "lr, weight_decay"]),
    Case("model target that builds no module", ["model._target_=sklearn.utils.Bunch"],
         ["built a Bunch, not a torch.nn.Module", "one of conf/model/"]),
    Case("nesterov without momentum", ["optim=sgd", "optim.nesterov=true", "optim.momentum=0"],
         ["optim.nesterov=true needs optim.momentum > 0", "optim.nesterov=false"]),
    # config files that are not YAML, or not option files: the file and what is wrong
    Case("option file that is not YAML", ["--config-dir", "{tmp}/conf", "data=not_yaml"],
         ["cannot read {tmp}/conf/data/not_yaml.yaml: while parsing a flow",
          "(line 3, column 1)"], real="slow"),
    Case("option file with a Python tag", ["--config-dir", "{tmp}/conf", "data=python_tag"],
         ["cannot read {tmp}/conf/data/python_tag.yaml", "python/object/apply:os.system",
          "Python tags (!!python/...) are refused"], real=True),
    Case("experiment file that is not YAML", ["--config-dir", "{tmp}/conf",
                                              "+experiment=not_yaml"],
         ["cannot read {tmp}/conf/experiment/not_yaml.yaml", "(line 3, column 1)"]),
    Case("option file without its schema", ["--config-dir", "{tmp}/conf", "data=no_schema"],
         ["the config of data has no _target_ (its keys: n_samples)",
          "`defaults: [/schema/data/<name>@_here_, _self_]`", "outliers"], real="slow"),
    Case("option file whose root is a list", ["--config-dir", "{tmp}/conf", "model=a_list"],
         ["the config of model is a list, not a mapping of keys", "conf/model/"]),
    Case("option file out of range without its schema",
         ["--config-dir", "{tmp}/conf", "data=unchecked"],
         ["'data.outlier_frac'", "[0, 1]", "Got 1.5"]),
    # a key added with + that no schema has: every group, and the top level
    Case("key added to data", ["+data.bogus=1"],
         ["'data.bogus' is not a key of data", "keys of data: n_samples, n_features"]),
    Case("key added to trainer", ["+trainer.bogus=1"],
         ["'trainer.bogus' is not a key of trainer", "keys of trainer: epochs, batch_size"]),
    Case("key added to a loss", ["+loss.bogus=1"],
         ["'loss.bogus' is not a key of loss (mse)", "loss has no keys to set"]),
    Case("key added at the top", ["+bogus=1"],
         ["'bogus' is not a key of the config", "keys of the config: data, model, loss, optim, "
          "trainer, seed"]),
    Case("seed beyond 64 bits", ["seed=99999999999999999999999"],
         ["seed=99999999999999999999999 does not fit in 64 bits",
          "a seed must lie in [0, 9223372036854775807]"]),
    Case("integer beyond 64 bits", ["trainer.batch_size=99999999999999999999"],
         ["trainer.batch_size=99999999999999999999 does not fit in 64 bits"]),
    Case("group set to null", ["data=null"],
         ["Config group override must be a string or a list. Got NoneType",
          "an override is group=option"]),
    Case("empty output folder", ["hydra.run.dir="],
         ["hydra.run.dir is empty, which would write the results into the current folder"]),
]

PROTOCOL = [
    Case("protocol: preset that is not YAML", ["{tmp}/presets/not_yaml.yaml"],
         ["cannot read {tmp}/presets/not_yaml.yaml: while parsing a flow sequence", "line 3"],
         command="harness.protocol"),
    Case("protocol: preset with a Python tag", ["{tmp}/presets/python_tag.yaml"],
         ["cannot read {tmp}/presets/python_tag.yaml", "Python tags (!!python/...) are refused"],
         command="harness.protocol", real="slow"),
    Case("protocol: preset that is a list", ["{tmp}/presets/a_list.yaml"],
         ["a protocol preset is a mapping of spec keys", "this one is a list"],
         command="harness.protocol"),
    Case("protocol: preset with a negative sampler seed", ["{tmp}/presets/negative_seed.yaml",
                                                           "out={tmp}/p"],
         ["sampler_seed must be an integer in [0, 9223372036854775807]", "got -1"],
         command="harness.protocol"),
    Case("protocol: negative sampler seed argument", ["regression_diabetes", "sampler_seed=-1",
                                                      "out={tmp}/p"],
         ["sampler_seed must be an integer in [0, 9223372036854775807]", "got -1"],
         command="harness.protocol"),
    Case("protocol: seed beyond 64 bits", ["regression_diabetes", "out={tmp}/p",
                                           "seeds=[99999999999999999999999]"],
         ["seeds must be a non-empty list of distinct integers in [0, 9223372036854775807]"],
         command="harness.protocol"),
    Case("protocol: argument that is not YAML", ["regression_diabetes", "out={tmp}/p",
                                                 "settings=[data.outlier_frac=[0]]"],
         ["cannot parse the argument 'settings=[data.outlier_frac=[0]]'",
          "a spec key takes a YAML value"], command="harness.protocol"),
    Case("protocol: one setting twice", ["regression_diabetes", "out={tmp}/p",
                                         "data.outlier_frac=0.1,0.10"],
         ["data.outlier_frac=0.1,data=diabetes,loss=mse", "comes twice (one run id",
          "0.1 and 0.10 are one value"], command="harness.protocol"),
    Case("protocol: key added to trainer", ["regression_diabetes", "out={tmp}/p",
                                            "+trainer.bogus=5"],
         ["'trainer.bogus' is not a key of trainer", "keys of trainer: epochs"],
         command="harness.protocol"),
]

REPORT = [
    Case("report: missing folder", ["{tmp}/nope"],
         ["{tmp}/nope does not exist", "give a run folder or a folder of runs"],
         command="harness.report", real="slow"),
    Case("report: empty folder", ["{tmp}"],
         ["no runs under {tmp}", "no summary.json was found"], command="harness.report"),
    Case("report: a file, not a folder", ["{tmp}/conf/data/no_schema.yaml"],
         ["{tmp}/conf/data/no_schema.yaml is a file, not a folder"], command="harness.report"),
    Case("report: failed runs only", ["{runs}/failed_only"],
         ["no completed runs under", "(2 failed)", "needs at least one finished run"],
         command="harness.report",
         real="slow"),
    Case("report: unreadable summaries only", ["{runs}/corrupt_only"],
         ["no readable runs under", "corrupt_only/a/summary.json", "needs a readable"],
         command="harness.report",
         real="slow"),
    Case("report: unknown metric", ["{runs}/done", "--metric", "nope"],
         ["unknown metric 'nope'", "choose one of: mae, objective, r2, rmse"],
         command="harness.report"),
    Case("report: target out of range", ["{runs}/done", "--target", "2"],
         ["--target must be in (0, 1]", "got 2.0"], command="harness.report"),
    Case("report: alpha out of range", ["{runs}/done", "--alpha", "0"],
         ["--alpha must be in (0, 1)", "got 0.0"], command="harness.report"),
    Case("report: not a number", ["{runs}/done", "--target", "abc"],
         ["argument --target: invalid float value: 'abc'", "python -m harness.report --help"],
         command="harness.report"),
    Case("report: no folder", [], ["required: FOLDER", "python -m harness.report --help"],
         command="harness.report",
         real="slow"),
    Case("report: output below a file", ["{runs}/done", "--out", "{tmp}/a_file/report"],
         ["cannot write the report to {tmp}/a_file", "choose a folder you can write with --out"],
         command="harness.report",
         real="slow"),
]

CASES = CLI + REPORT + PROTOCOL


def make_runs(root: Path) -> Path:
    """Results folders the report cases read: one completed run, failed runs only,
    unreadable summaries only."""
    run(make_cfg(*TINY), root / "done", CHOICES, echo=False)
    for i in range(2):
        write_failed(Task(make_cfg(*TINY, f"seed={i}"), CHOICES, root / "failed_only" / str(i)),
                     HarnessError("broken on purpose"))
    (root / "corrupt_only" / "a").mkdir(parents=True)
    (root / "corrupt_only" / "a" / "summary.json").write_text('{"run_id": "x", "sta')
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return make_runs(tmp_path_factory.mktemp("results"))


def prepare(case: Case, tmp: Path, runs: Path) -> tuple[list[str], list[str]]:
    """The case's argv and expected fragments with paths filled in; files it needs."""
    (tmp / "a_file").write_text("a file, not a folder\n")
    for group, target in (("data", "os.system"), ("model", "torch.os.system")):
        (tmp / "conf" / group).mkdir(parents=True, exist_ok=True)
        (tmp / "conf" / group / "evil.yaml").write_text(
            f"_target_: {target}\ncommand: touch {tmp}/pwned\nn_samples: 200\n")
    tag = f'!!python/object/apply:os.system ["touch {tmp}/pwned"]\n'
    (tmp / "conf" / "experiment").mkdir(parents=True, exist_ok=True)
    (tmp / "presets").mkdir(exist_ok=True)
    for path, text in {
        "conf/data/not_yaml.yaml": "_target_: harness.data.outliers\nn_samples: [1,\n",
        "conf/data/python_tag.yaml": tag,
        "conf/experiment/not_yaml.yaml": "# @package _global_\nseed: {1\n",
        "conf/data/no_schema.yaml": "n_samples: -5\n",
        "conf/data/unchecked.yaml": "_target_: harness.data.outliers\nn_samples: 200\n"
                                    "outlier_frac: 1.5\n",
        "conf/model/a_list.yaml": "- 64\n- 64\n",
        "presets/not_yaml.yaml": "name: x\nlosses: [mse\n",
        "presets/python_tag.yaml": tag,
        "presets/a_list.yaml": "- mse\n- mae\n",
        "presets/negative_seed.yaml": "losses: [mse]\nsampler_seed: -1\nbudget: 1\n"
                                      "space: [optim.lr=0.01]\n",
    }.items():
        (tmp / path).write_text(text)
    fill = {"tmp": str(tmp), "runs": str(runs)}
    args = [a.format(**fill) for a in case.args]
    if case.command == "harness":  # flags first, then TINY, then the case's own overrides
        i = 0
        while i < len(args) and args[i].startswith("-"):
            i += 2 if args[i] in ("--config-dir", "--cfg", "--experimental-rerun") else 1
        args = [*args[:i], *TINY, *args[i:]]
        if not any(a.startswith(("hydra.run.dir=", "hydra.sweep.dir=")) for a in args):
            args.append(f"hydra.run.dir={tmp}/run")
    return args, [e.format(**fill) for e in case.expect]


def in_process(case: Case, args: list[str], monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    capsys.readouterr()
    if case.command in ("harness.report", "harness.protocol"):
        import importlib

        command = importlib.import_module(f"{case.command}.__main__").main
        try:
            code = command(args)
        except SystemExit as stop:  # argparse
            code = stop.code
    else:
        from harness.cli import main

        monkeypatch.setattr(sys, "argv", ["harness", *args])
        try:
            main()
            code = 0
        except SystemExit as stop:
            code = stop.code
    return code, capsys.readouterr().err


def check(case: Case, code: int, err: str, expect: list[str], tmp: Path) -> None:
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "To append to your config" not in err  # Hydra's advice: refused too (schemas)
    for fragment in expect:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert not (tmp / "run" / "summary.json").exists()  # stopped before training
    assert not list(tmp.rglob("summary.json"))  # no run of any command
    assert not (tmp / "pwned").exists()  # no config target ran, no YAML tag was built


def params(real_only: bool):
    """Every case (in process), or those also run as real commands: ``real=True`` by
    default, ``real="slow"`` under ``-m slow``; the rest share their code paths."""
    out = []
    for case in CASES:
        if real_only and not case.real:
            continue
        marks = [*case.marks, *([pytest.mark.slow] if real_only and case.real == "slow" else [])]
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


def test_the_table_is_big_enough():
    assert len(CLI) >= 20 and len(REPORT) >= 5 and len(PROTOCOL) >= 5
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", params(real_only=False))
def test_bad_input_is_one_line_exit_2(case, tmp_path, runs, monkeypatch, capsys):
    args, expect = prepare(case, tmp_path, runs)
    code, err = in_process(case, args, monkeypatch, capsys)
    check(case, code, err, expect, tmp_path)


def test_help_and_cfg_still_work(monkeypatch, capsys):
    from harness.cli import main

    for argv, expect in ((["--help"], "python -m harness loss=huber data=outliers"),
                         (["--cfg", "job", "loss=huber"], "name: huber")):
        monkeypatch.setattr(sys, "argv", ["harness", *argv])
        with pytest.raises(SystemExit) as stop:  # Hydra ends --help with exit 0 or returns
            main()
            raise SystemExit(0)
        assert stop.value.code in (0, None)
        assert expect in capsys.readouterr().out


# ---------------------------------------------------------------- every numeric parameter


def out_of_range(interval: Interval) -> float | int | None:
    """A value just outside ``interval`` (None when it spans every value of its kind)."""
    if math.isfinite(interval.lo):
        value = interval.lo if not interval.lo_closed else interval.lo - 1
    elif math.isfinite(interval.hi):
        value = interval.hi if not interval.hi_closed else interval.hi + 1
    elif interval.kind is float and not interval.hi_closed:
        value = math.inf
    else:
        return None
    return interval.kind(value)


def numeric_fields():
    """(group, schema, key, interval, each) for every ranged number of every option."""
    found = []
    tables = schemas()
    for group, table in tables.items():
        for schema in table.values():
            for f in fields(schema):
                check = f.metadata.get("check")
                if isinstance(check, Interval):
                    found.append((group, schema, f"{group}.{f.name}", check,
                                  f.metadata.get("each", False)))
    return found


NUMERIC = numeric_fields()


def test_every_numeric_parameter_out_of_range_is_refused_with_its_range():
    """Each group option's schema in turn, with one number just out of its range."""
    assert len(NUMERIC) > 60
    base = make_cfg()
    checked = 0
    for group, schema, key, interval, each in [*NUMERIC, (None, None, "seed",
                                                          Interval("[0, inf)", int), False)]:
        value = out_of_range(interval)
        if value is None:
            continue
        cfg = copy.deepcopy(base)
        if group is not None:
            cfg[group] = OmegaConf.structured(schema)  # typed: validate reads its ranges
        OmegaConf.update(cfg, key, [value] if each else value, merge=False)
        with pytest.raises(InvalidParameterError) as err:
            validate(cfg)
        message = str(err.value)
        assert f"'{key}'" in message and interval.text in message, message
        assert "\n" not in message
        checked += 1
    assert checked >= len(NUMERIC) - 2


def test_numeric_fields_cover_the_schemas():
    keys = {key for _, _, key, _, _ in NUMERIC} | {"seed"}
    assert {"data.outlier_frac", "data.label_noise", "data.n_samples", "model.hidden",
            "optim.lr", "optim.momentum", "trainer.epochs", "trainer.batch_size", "seed",
            "loss.delta", "loss.q", "loss.alpha"} <= keys
    assert all(is_dataclass(s) for table in schemas().values() for s in table.values())
