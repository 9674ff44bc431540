"""The Hydra task function behind ``python -m harness``: thin glue to the job lifecycle.

The task function, :func:`task`, lives in an importable module (not ``__main__``) so
parallel launchers (joblib, submitit, Ray) pickle it by reference: a worker process
imports this module, which registers the config schemas and the ``harness_job_dir``
resolver there too. Importing it imports neither torch nor scikit-learn nor pandas, so
``--help`` is fast; the task imports them when a job runs.

Single run: a user mistake ends with one line on stderr and exit code 2. That holds for
Hydra's own errors too (a misspelt key, an unknown option, a value of the wrong type, an
override it cannot parse, an output folder it cannot create): :func:`main` asks Hydra to
re-raise them (``HYDRA_FULL_ERROR=1`` for the call) and prints them as one line, so the
useful part (e.g. the available options) stays and the traceback goes. Set
``HYDRA_FULL_ERROR=1`` yourself to get Hydra's full report instead. A bug (any other
exception from the task) keeps its traceback.
Multirun: every job goes through :func:`harness.jobs.lifecycle.run_jobs` and ends with a
``summary.json`` whatever happens, one progress line, and the sweep goes on; the sweep's
last line counts the failures (see :class:`harness.sweep.SweepCallback`).

Ctrl-C (SIGINT) and SIGTERM: the runs being trained are written with
``status=interrupted`` (see :mod:`harness.jobs.lifecycle`), and :func:`main` ends with one
line saying what was kept and where (:func:`harness.jobs.resume.interrupted_line`) and
exit code 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import difflib
import errno
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException, OverrideParseException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from harness.config import CONF_DIR, groups_help, register_configs, yaml_error_line
from harness.errors import HarnessError
from harness.jobs.compose import guard_compositions
from harness.jobs.resume import fresh_dir, job_dirname

log = logging.getLogger("harness")

if not OmegaConf.has_resolver("harness_job_dir"):
    OmegaConf.register_new_resolver("harness_job_dir", job_dirname)
if not OmegaConf.has_resolver("harness_groups"):  # --help's list of config groups
    OmegaConf.register_new_resolver("harness_groups", groups_help)
if not OmegaConf.has_resolver("harness_fresh"):  # default output folders never collide
    # cached in the config (as Hydra's ${now:}), which Hydra hands to every job's config
    OmegaConf.register_new_resolver("harness_fresh", fresh_dir, use_cache=True)
register_configs()


def _check_composed(cfg: DictConfig) -> None:
    """Every composed config: what Hydra would build from its ``hydra`` node must be
    allowed (:func:`harness.safety.check_hydra`) before Hydra builds anything."""
    from harness.safety import check_hydra

    if "hydra" in cfg:
        check_hydra(cfg.hydra)


guard_compositions(_check_composed)


def task(cfg: DictConfig) -> float | None:
    """What Hydra runs for each job (see the module docstring)."""
    try:
        return _task(cfg)
    except KeyboardInterrupt as stop:  # a single run: its folder is what was kept
        hc = HydraConfig.get()
        if hc.mode != RunMode.MULTIRUN and not hasattr(stop, "harness_folder"):
            stop.harness_folder = hc.runtime.output_dir  # type: ignore[attr-defined]
        raise
    except Exception as err:  # escaped the task: a bug, which keeps its traceback
        err.harness_task_error = True  # type: ignore[attr-defined]
        raise


def _task(cfg: DictConfig) -> float | None:
    from harness.startup import import_settled

    import_settled("harness.jobs.lifecycle", "harness.sweep")  # torch, pandas, pyarrow
    from harness import plugins
    from harness.errors import user_errors
    from harness.jobs.job import Task
    from harness.jobs.lifecycle import run_jobs, run_one
    from harness.sweep import record_progress

    hc = HydraConfig.get()
    out_dir = hc.runtime.output_dir
    choices = dict(hc.runtime.choices)
    plugins.load(cfg.get("plugins") or [])  # a worker process loads them too
    if hc.mode != RunMode.MULTIRUN:
        try:
            summary = run_one(cfg, out_dir, choices)
        except user_errors() as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        return summary["final"].get("val.objective")

    launcher = str(OmegaConf.select(hc.launcher, "_target_", default=""))
    parallel = not launcher.endswith(("BasicLauncher", "VectorizedLauncher"))  # in-process
    if parallel and not cfg.trainer.get("threads"):  # "every core": share them
        with open_dict(cfg):
            cfg.trainer.threads = _cores_per_worker(hc.launcher)
    ended: list[dict[str, Any]] = []
    name = hc.job.override_dirname or "(no overrides)"

    def done(_task, summary: dict[str, Any]) -> None:
        ended.append(summary)
        record_progress(hc.sweep.dir, name, summary)

    run_jobs([Task(cfg, choices, out_dir, device_slot=int(hc.job.num) if parallel else None)],
             done, progress=bool(cfg.trainer.progress) and not parallel)
    return ended[0].get("final", {}).get("val.objective") if ended else None


def _cores_per_worker(launcher: DictConfig) -> int:
    """Parallel CPU jobs split the cores instead of each starting one thread per core."""
    cores = os.cpu_count() or 1
    n_jobs = int(OmegaConf.select(launcher, "n_jobs", default=-1) or -1)
    workers = cores if n_jobs < 1 else min(n_jobs, cores)
    return max(1, cores // workers)


hydra_main = hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")(task)


def main() -> None:
    """``python -m harness``: Hydra's command line, with its errors as one line (exit 2),
    and an interrupt (SIGINT, SIGTERM) as one line saying what was kept (exit 130, 143)."""
    from harness.jobs.resume import exit_code, interrupted_line, interrupts

    try:
        with interrupts():
            _main()
    except KeyboardInterrupt as stop:  # the runs were kept as they were (lifecycle)
        print(interrupted_line(stop, getattr(stop, "harness_folder", None),
                               resume=getattr(stop, "harness_resume", "")), file=sys.stderr)
        sys.exit(exit_code(stop))


def _main() -> None:
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        _check_arguments(sys.argv[1:], one_line=False)
        hydra_main()  # the user asked for Hydra's own, full error report
        return
    _check_arguments(sys.argv[1:])
    try:  # before Hydra composes: a plugin's options must exist by then
        from harness import plugins

        plugins.load(plugins.named_in(sys.argv[1:]))  # installed, HARNESS_PLUGINS, named
    except HarnessError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    sys.argv[1:] = defer_group_keys(sys.argv[1:])
    if _print_help(sys.argv[1:]):
        return
    before = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises instead of printing a report
    try:
        hydra_main()
    except Exception as err:
        line = None if getattr(err, "harness_task_error", False) else error_line(err)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        sys.exit(2)
    finally:
        if before is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = before


def _print_help(argv: list[str]) -> bool:
    """``--help``, rendered from ``hydra.help`` as Hydra renders it, but without listing
    Hydra's own config groups first (Hydra computes every group's options for its help,
    each from a copy of the whole config store: seconds, for a page that shows the
    harness's groups only). False when Hydra should answer (other flags it owns)."""
    if not {"--help", "-h"} & set(argv):
        return False
    overrides = [a for a in argv if a not in ("--help", "-h")]
    if any(a.startswith("-") for a in overrides):  # --config-dir, -m, ...: Hydra's own way
        return False
    import string

    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    try:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3",
                                   job_name="harness"):
            cfg = compose(config_name="config", overrides=overrides,
                          return_hydra_config=True)
    except Exception as err:  # an override it cannot compose: one line, as for a run
        line = error_line(err)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        sys.exit(2)
    template = str(cfg.hydra.help.template)
    with open_dict(cfg):
        del cfg["hydra"]
    print(string.Template(template).safe_substitute(
        CONFIG=OmegaConf.to_yaml(cfg), APP_CONFIG_GROUPS=groups_help(),
        HYDRA_CONFIG_GROUPS="", FLAGS_HELP=""))
    return True


def defer_group_keys(argv: list[str]) -> list[str]:
    """In a sweep over a group's options (``-m data=binary,moons``), a key of that group
    (``data.label_noise=0.1``) belongs to each option the sweep picks, not to the primary
    config's default option (which may not have it: Hydra would refuse it there). So it
    becomes a one-value sweep (``data.label_noise=choice(0.1)``), which Hydra applies to
    each job after its option is chosen; every job sees ``data.label_noise=0.1``."""
    if not {"-m", "--multirun"} & set(argv):
        return argv
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType

    from harness.config import USER_GROUPS

    try:
        parsed = {a: OverridesParser.create().parse_override(a)
                  for a in argv if not a.startswith("-")}
    except Exception:  # Hydra reports what it cannot parse, as one line, later
        return argv
    swept = {o.key_or_group for o in parsed.values()
             if o.is_sweep_override() and o.key_or_group in USER_GROUPS}
    out = []
    for arg in argv:
        o = parsed.get(arg)
        if (o is not None and o.type == OverrideType.CHANGE and not o.is_sweep_override()
                and o.key_or_group.split(".", 1)[0] in swept and "." in o.key_or_group):
            key, value = arg.split("=", 1)
            arg = f"{key}=choice({value})"
        out.append(arg)
    return out


def _parser():
    """Hydra's own argument parser (None for a Hydra version without one)."""
    try:
        from hydra.main import get_args_parser
    except ImportError:
        return None
    return get_args_parser()


def _refuse_rerun(args: Any) -> None:
    """``--experimental-rerun`` (or any prefix argparse expands to it) loads a pickle."""
    if getattr(args, "experimental_rerun", None) is not None:
        print("error: --experimental-rerun loads a pickle (config.pickle), which can run any "
              "code, and the harness reads no pickles; re-run a folder's config with the "
              "overrides in its .hydra/overrides.yaml instead.", file=sys.stderr)
        sys.exit(2)


def _check_arguments(argv: list[str], one_line: bool = True) -> None:
    """Hydra's own flags parsed first, so a wrong one is one line too (not a usage text),
    and the pickle-loading ``--experimental-rerun`` is refused however it is spelt."""
    parser = _parser()
    if parser is None:  # another Hydra version: let it parse and report as it does
        return
    if not one_line:  # HYDRA_FULL_ERROR=1: Hydra reports its own parse errors
        _refuse_rerun(parser.parse_known_args(argv)[0])
        return

    def say(message: str) -> None:
        print(f"error: {message}; see python -m harness --help (Hydra's flags: "
              "--hydra-help).", file=sys.stderr)
        sys.exit(2)

    parser.error = say  # type: ignore[method-assign]
    _refuse_rerun(parser.parse_args(argv))
    for arg in argv:  # an empty folder is the current one: the results would land there
        key, _, value = arg.partition("=")
        if key.lstrip("+~") in ("hydra.run.dir", "hydra.sweep.dir") and not value.strip():
            print(f"error: {key.lstrip('+~')} is empty, which would write the results into "
                  f"the current folder; give a folder ({key.lstrip('+~')}=outputs/mine).",
                  file=sys.stderr)
            sys.exit(2)


# Hydra options that a pip extra installs: option -> (what, the install command)
EXTRAS = {
    "hydra/launcher/joblib": ("the joblib launcher", "-e '.[joblib]'"),
    "hydra/launcher/submitit_local": ("the submitit launcher", "-e '.[submitit]'"),
    "hydra/launcher/submitit_slurm": ("the submitit launcher", "-e '.[submitit]'"),
    "hydra/launcher/ray": ("the Ray launcher", "-e '.[ray]'"),
    "hydra/launcher/ray_aws": ("the Ray launcher", "-e '.[ray]'"),
    "hydra/launcher/rq": ("the RQ launcher", "hydra-rq-launcher"),
    "hydra/sweeper/optuna": ("the Optuna sweeper", "hydra-optuna-sweeper"),
    "hydra/sweeper/ax": ("the Ax sweeper", "hydra-ax-sweeper"),
    "hydra/sweeper/nevergrad": ("the Nevergrad sweeper", "hydra-nevergrad-sweeper"),
}


def error_line(err: BaseException) -> str | None:
    """One line for an error Hydra raises before a job runs, keeping what it says is
    allowed; None for anything else (a bug: it keeps its traceback)."""
    cause = err
    while cause is not None:  # the harness's own refusal, wherever Hydra wrapped it
        if isinstance(cause, HarnessError):
            return str(cause)
        cause = cause.__cause__ or cause.__context__
    cause = err
    while cause is not None:  # a config file that is not YAML, wherever it was read
        if type(cause).__module__.startswith("yaml"):
            return yaml_error_line(cause)
        cause = cause.__cause__ or cause.__context__
    if isinstance(err, OverrideParseException):
        return (f"cannot parse the override '{err.override}': {'; '.join(_lines(err.message))}"
                " (an override is group=option, group.key=value or +group.key=value).")
    if isinstance(err, (HydraException, OmegaConfBaseException)):
        first, *rest = _lines(str(err)) or [type(err).__name__]
        # Hydra's "To append to your config use +key=value": a key no schema has is
        # refused with + too, so the advice that works is the list of keys (below)
        rest = [r for r in rest if not r.startswith("To append to your config")]
        cause = err.__cause__
        if isinstance(cause, OmegaConfBaseException):  # what exactly was wrong
            first += ": " + "; ".join(_lines(str(cause))) + _allowed_keys(cause)
        text = "; ".join([first, *rest])
        missing = re.search(r"Could not find '([^']*)'", text)
        options = getattr(err, "options", None)
        extra = EXTRAS.get(missing.group(1)) if missing else None
        if extra:  # an option a pip extra provides
            group, option = missing.group(1).rsplit("/", 1)
            text += f"; {group}={option} needs {extra[0]}: pip install {extra[1]}"
        elif missing and options:
            close = difflib.get_close_matches(missing.group(1).rsplit("/", 1)[-1], options, 1)
            if close:
                text += f"; did you mean '{close[0]}'?"
            if missing.group(1).split("/")[0] in ("loss", "data", "model"):
                text += ("; one of your own: load its module with plugins=[./my_module.py] "
                         "(README: Bring your own)")
        return text
    if isinstance(err, ValueError) and _raised_by_hydra(err):  # e.g. data=null
        return (f"{'; '.join(_lines(str(err)))} (an override is group=option, "
                "group.key=value or +group.key=value; options: python -m harness --help).")
    if isinstance(err, OSError) and err.filename:
        name = str(err.filename)
        if os.path.isfile(name) and not os.access(name, os.R_OK):  # a config file
            return f"cannot read {name}: {err.strerror or err}; make it readable."
        # the output folder, or a file of Hydra's own in it (.hydra/*.yaml, the log)
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            return (f"cannot write {name}: {err.strerror or err}; free some space and run "
                    "the command again (finished runs are kept).")
        return (f"cannot write {name}: {err.strerror or err}; choose a folder you can "
                "write with hydra.run.dir=... (hydra.sweep.dir=... with -m).")
    return None


def _raised_by_hydra(err: BaseException) -> bool:
    """Whether ``err`` was raised inside Hydra's own code (composing the config from the
    command line's overrides), not in the harness's."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    return Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(
        Path(hydra.__file__).resolve().parent)


def _lines(message: str) -> list[str]:
    """Hydra's and OmegaConf's multi-line messages as parts of one line: blank lines, the
    config search path and OmegaConf's ``full_key``/``object_type`` lines dropped, a
    tab-indented list joined onto the line that introduces it."""
    parts: list[str] = []
    for raw in message.splitlines():
        line = raw.strip()
        if raw.startswith("Config search path"):
            break
        if not line or line.startswith(("full_key:", "object_type=", "reference_type=")):
            continue
        if raw.startswith("\t") and parts:
            sep = " " if parts[-1].endswith(":") else ", "
            parts[-1] += sep + line
            continue
        parts.append(line.rstrip("."))
    return parts


def _allowed_keys(cause: Any) -> str:
    """``; keys of loss: name, delta`` for a key that is not in its config node."""
    node = getattr(cause, "parent_node", None)
    if not isinstance(cause, (ConfigAttributeError, ConfigKeyError)) or \
            not isinstance(node, DictConfig):
        return ""
    where = node._get_full_key(None) or "the config"
    keys = [str(k) for k in node.keys() if k not in ("_target_", "hydra")
            and not (where == "loss" and k == "name")]
    if not keys:
        return f"; {where} has no keys to set"
    close = difflib.get_close_matches(str(getattr(cause, "key", "") or ""), keys, 1)
    return f"; keys of {where}: {', '.join(keys)}" + (f"; did you mean '{close[0]}'?"
                                                       if close else "")
