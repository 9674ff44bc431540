"""``hydra/launcher=vectorized``: train a sweep's compatible jobs as stacked ensembles.

Jobs that share a data set and its shape, a model, an optimiser kind, epochs, batch size
and device (they may differ in seed, corruption level, loss and its parameters, learning
rate, weight decay and momentum; see :func:`harness.jobs.lifecycle.group_key`) are
trained together, one stack per group, split into chunks that fit the device's memory
(``hydra.launcher.max_members``, or sized automatically). Every job still gets its own
run folder, ``.hydra/`` record, log, ``metrics.parquet`` and ``summary.json``, exactly as
the basic launcher writes them. Jobs that cannot be stacked, and groups smaller than
``hydra.launcher.min_group``, run one by one through Hydra's own job runner and the
ordinary task function, as do the members of a stack whose training raised. All of it
goes through :func:`harness.jobs.lifecycle.run_jobs`.

A thousand small jobs are mostly bookkeeping, so a stacked job costs what it needs: its
task config is the sweep composer's light copy (:class:`harness.jobs.compose.LightJob`,
no copy of Hydra's node), its ``.hydra/hydra.yaml`` is rendered from the composition's
text with its own few values put in (:class:`_HydraRecord`, checked byte for byte
against Hydra's rendering of the composition's first job), and its log line goes to its
log file through the job logging configuration resolved once per composition. Whatever
does not fit this (another ``hydra.sweep.subdir``, a logging configuration that reads
other per-job values, callbacks with job hooks) gets the whole config, as before.

Stacked jobs get Hydra's job callbacks (``on_job_start`` / ``on_job_end``), but not
``hydra.job.chdir`` or ``hydra.job.env_set`` (they share one process and one training),
and their log file is written when they end: messages during a stack's training go to
the console.
"""


import contextlib
import copy
import functools
import logging
import logging.config
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence  # noqa: UP035  (OmegaConf needs these)

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import (
    JobReturn,
    JobStatus,
    configure_log,
    filter_overrides,
    run_job,
    setup_globals,
)
from hydra.experimental.callback import Callback
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict, read_write

from harness.jobs.resume import DEFAULT_SUBDIR

log = logging.getLogger("harness")

OUT = "/@@harness-output-dir@@"  # a sentinel output folder, replaced per job


@dataclass
class VectorizedLauncherConf:
    _target_: str = "hydra_plugins.harness_vectorized.launcher.VectorizedLauncher"
    # members per stacked training; null: as many as fit in half the device's free memory
    max_members: Optional[int] = None  # noqa: UP045
    min_group: int = 2  # smaller groups run one by one through the ordinary runner


ConfigStore.instance().store(group="hydra/launcher", name="vectorized",
                             node=VectorizedLauncherConf, provider="harness")


@dataclass
class _Job:
    idx: int
    overrides: List[str]  # noqa: UP006
    config: Optional[DictConfig] = None  # noqa: UP045  (the whole config, when composed)
    light: Any = None  # the composer's light job (task config without Hydra's node)
    hydra_cfg: Optional[DictConfig] = None  # noqa: UP045  (its hydra node, as Hydra keeps it)
    ret: Optional[JobReturn] = None  # noqa: UP045


_DIGITS = re.compile(r"0|[1-9][0-9]*")
_PLACE = 987654321  # a number no value of a job is made of (see _in_context)
_PLAIN_CHARS = re.compile(r"[A-Za-z_/][A-Za-z0-9_./=,+-]*")
_PLAIN_PLACE = "harness_plain_placeholder"  # a text no value of a job is made of
_RENDERED: Dict[tuple, str] = {}  # noqa: UP006  ((path, kind, value) -> text; bounded below)


def _in_context(path: Sequence[str], value: Any) -> str:
    """The YAML lines ``value`` gets at ``path`` inside a document (same indentation
    and key, so the same quoting and line breaks as in the whole document), written by
    OmegaConf's own YAML dumper as ``OmegaConf.to_yaml`` calls it.

    A job's values are mostly numbers and lists of override strings, each new in each
    job: an integer (or the text of one) is written as the placeholder number's lines
    with its digits in their place, and a list of strings item by item, each item's
    lines rendered once (an item of a block sequence is written on its own: its lines
    do not depend on the other items)."""
    path = tuple(path)
    if type(value) is str and _plain(value):  # the placeholder's lines, the text put in
        return _plain_in(path, "plain", value)
    if type(value) is int or (type(value) is str and _DIGITS.fullmatch(value)):
        kind = "int" if type(value) is int else "digits"
        placed = _rendered(path, kind, _PLACE if kind == "int" else str(_PLACE))
        if placed.count(str(_PLACE)) == 1:
            return placed.replace(str(_PLACE), str(value))
    if type(value) is list and value and all(type(v) is str for v in value):
        head = _rendered(path, "head", None)
        items = [_item(path, v) for v in value]
        if head is not None and all(i is not None for i in items):
            return head + "".join(items)
    if value is None or type(value) in (bool, float, str):  # a value jobs may share
        return _rendered(path, type(value).__name__, value)
    return _dump(path, value)


def _top_list(items: List[str]) -> str:  # noqa: UP006
    """A document that is a list of strings (``overrides.yaml``), as the YAML dumper
    writes it, from each item's lines (rendered once per item)."""
    if not items:
        return _dump((), items)
    return "".join(_item((), item) for item in items)


def _item(path: tuple, value: str) -> Optional[str]:  # noqa: UP045
    """A list item's lines (see :func:`_rendered`); a plain text's from the placeholder's."""
    return _plain_in(path, "item", value) if _plain(value) else _rendered(path, "item", value)


def _plain_in(path: tuple, kind: str, value: str) -> Any:
    placed = _rendered(path, kind, _PLAIN_PLACE)
    if placed is None or placed.count(_PLAIN_PLACE) != 1:
        return _rendered(path, kind, value)
    return placed.replace(_PLAIN_PLACE, value)


def _plain(value: str) -> bool:
    """Whether the YAML dumper writes the text ``value`` as it is (a plain scalar, one
    line, unquoted) wherever it sits in a block document, a mapping's value or a block
    sequence's item: ASCII letters, digits and ``_./=,+-`` only, starting with a letter,
    ``_`` or ``/`` (no space, line break, ``:``, ``#``, quote or indicator, so PyYAML's
    scalar analysis allows a plain scalar and never folds it), neither quoted by
    OmegaConf's representer (a YAML bool such as ``on``, an int, a float such as
    ``nan``) nor read back as another type by YAML's resolver (``null``). Both are asked
    of the dumper's own classes. Its lines are then the placeholder's, ``value`` put in
    (tested against the dumper on random texts)."""
    if not _PLAIN_CHARS.fullmatch(value):
        return False
    import yaml

    dumper = _dumper()
    node = dumper.represent_data(value)
    return node.style is None and \
        dumper.resolve(yaml.ScalarNode, value, (True, False)) == node.tag


@functools.cache
def _dumper() -> Any:
    """An instance of OmegaConf's YAML dumper, to represent and resolve (never to emit)."""
    import io

    from omegaconf._utils import get_omega_conf_dumper

    return get_omega_conf_dumper()(io.StringIO())


def _rendered(path: tuple, kind: str, value: Any) -> Any:
    """Memo of :func:`_dump` pieces: ``head`` (a list's lines before its items),
    ``item`` (one item's lines in that list; None where they cannot be cut out), and
    whole renderings of placeholder values."""
    key = (path, kind, value)
    if key not in _RENDERED:
        if len(_RENDERED) > 50_000:
            _RENDERED.clear()
        if path == ():  # a top-level list's item: a one-item document, exactly
            _RENDERED[key] = _dump((), [value])
        elif kind == "head":
            placed = _dump(path, ["@@harness-item@@"])
            _RENDERED[key] = placed[:placed.rfind("\n", 0, placed.rfind("- ")) + 1]
        elif kind == "item":
            head, one = _rendered(path, "head", None), _dump(path, [value])
            lines = one[len(head):] if one.startswith(head) else None
            _RENDERED[key] = (lines if lines is not None and lines.lstrip(" ").startswith("- ")
                              else None)
        else:
            _RENDERED[key] = _dump(path, value)
    return _RENDERED[key]


def _dump(path: Sequence[str], value: Any) -> str:
    """:func:`_in_context`, written by the YAML dumper itself."""
    import yaml
    from omegaconf._utils import get_omega_conf_dumper

    nested: Any = value
    for key in reversed(path):
        nested = {key: nested}
    text = yaml.dump(nested, default_flow_style=False, allow_unicode=True, sort_keys=False,
                     Dumper=get_omega_conf_dumper())
    return "".join(text.splitlines(keepends=True)[max(len(path) - 1, 0):])


# where each per-job value sits in .hydra/hydra.yaml (whose root is the hydra node)
FIELDS = {"task": ("hydra", "overrides", "task"), "dirname": ("hydra", "job", "override_dirname"),
          "id": ("hydra", "job", "id"), "num": ("hydra", "job", "num"),
          "out": ("hydra", "runtime", "output_dir")}
SENTINELS = {"task": ["@@harness-task@@"], "dirname": "@@harness-dirname@@",
             "id": "@@harness-id@@", "num": 987654321, "out": OUT}


class _HydraRecord:
    """``.hydra/hydra.yaml`` of every job of one composition: Hydra's rendering with the
    per-job values (task overrides, ``override_dirname``, job id and number, output
    folder) put in where they go. ``ok`` is False when a check against Hydra's own
    rendering of a real job fails (the jobs then get the whole config)."""

    def __init__(self, full: DictConfig, fields: Dict[str, Any]):  # noqa: UP006
        expected = OmegaConf.to_yaml(OmegaConf.masked_copy(full, "hydra"))  # as Hydra has it
        probe = OmegaConf.masked_copy(copy.deepcopy(full), "hydra")
        with read_write(probe), open_dict(probe):
            for name, path in FIELDS.items():
                OmegaConf.update(probe, ".".join(path), SENTINELS[name], merge=False,
                                 force_add=True)
        self.template = OmegaConf.to_yaml(probe)
        self.sentinels = {name: _in_context(path, SENTINELS[name])
                          for name, path in FIELDS.items()}
        self.ok = all(self.template.count(text) == 1 for text in self.sentinels.values()) \
            and self.render(fields) == expected

    def render(self, fields: Dict[str, Any]) -> str:  # noqa: UP006
        text = self.template
        for name, path in FIELDS.items():
            text = text.replace(self.sentinels[name], _in_context(path, fields[name]))
        return text


class _TaskRecord:
    """``.hydra/config.yaml`` of the jobs of one composition that set the same keys by
    plain ``key=value`` overrides (``seed=3``): the composition's task config rendered
    once with a sentinel at each of those keys, each job's values put in where they go
    (each rendered in context, so quoted and indented as in the whole document).
    ``ok`` is False when a key is not a plain value there or the rendering of a real
    job differs from ``OmegaConf.to_yaml`` of its task config by one byte (those jobs
    then get ``OmegaConf.to_yaml``)."""

    def __init__(self, light: Any):
        self.base, self.keys = light.base, light.plain_keys
        self.paths = [tuple(k.split(".")) for k in self.keys]
        self.ok = all(p and all(part.isidentifier() for part in p) for p in self.paths)
        if not self.ok:
            return
        from harness.config import as_container

        plain = not isinstance(light.task, DictConfig)  # a harness.config.Plain
        container = as_container(light.task) if plain else \
            OmegaConf.to_container(light.task, resolve=False, enum_to_str=True)
        self.sentinels = []
        for i, path in enumerate(self.paths):
            node = container
            for part in path[:-1]:
                node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict) or path[-1] not in node or \
                    isinstance(node[path[-1]], (dict, list)):
                self.ok = False
                return
            node[path[-1]] = f"@@harness-value-{i}@@"
            self.sentinels.append(_in_context(path, node[path[-1]]))
        from harness.jobs.compose import to_yaml

        self.template = to_yaml(container)
        if plain:  # what the ordinary way records: the task of the whole config
            full = light.full()
            expected = OmegaConf.to_yaml(OmegaConf.masked_copy(
                full, [k for k in full if k != "hydra"]))
        else:
            expected = OmegaConf.to_yaml(light.task)
        self.ok = all(self.template.count(t) == 1 for t in self.sentinels) and \
            self.render(light) == expected

    def render(self, light: Any) -> Optional[str]:  # noqa: UP045
        """The job's ``config.yaml`` text; None when a value is not a plain one."""
        text = self.template
        for path, sentinel in zip(self.paths, self.sentinels, strict=True):
            node = light.task
            if not isinstance(node, DictConfig):  # plain values
                for part in path:
                    node = node[part]
                if isinstance(node, (dict, list)):
                    return None
                text = text.replace(sentinel, _in_context(path, node))
                continue
            for part in path[:-1]:
                node = node._get_node(part)
            value = node._get_node(path[-1])
            if value is None or isinstance(value, (DictConfig, ListConfig)):
                return None
            text = text.replace(sentinel, _in_context(path, value._value()))
        return text


class _JobLog:
    """The job logging configuration of one composition, resolved once with a sentinel
    output folder; :meth:`configure` points it at one job's folder (what
    ``configure_log(config.hydra.job_logging)`` does with the job's whole config)."""

    def __init__(self, full: DictConfig):
        raw = OmegaConf.to_container(full.hydra.job_logging, resolve=False)
        allowed = ("${hydra.runtime.output_dir}", "${hydra.job.name}")
        self.ok = full.hydra.verbose is False and not _mentions_other_values(raw, allowed)
        probe = copy.deepcopy(full)  # the whole config: interpolations resolve within it
        with read_write(probe.hydra), open_dict(probe.hydra):
            probe.hydra.runtime.output_dir = OUT
        self.conf = (OmegaConf.to_container(probe.hydra.job_logging, resolve=True)
                     if self.ok else {})

        self.plain = _plain_root(self.conf) if self.ok else None

    @contextlib.contextmanager
    def active(self, out: str, restore: Dict[str, Any]) -> Iterator[None]:  # noqa: UP006
        """While the block runs, log records go where the job's logging configuration,
        pointed at ``out``, sends them; after it, logging is configured by ``restore``
        (Hydra's own logging configuration). A configuration whose root logger has only
        plain stream and file handlers (Hydra's default and the harness's) gets those
        handlers on the root logger for the block, without reconfiguring every logger
        (``logging.config.dictConfig`` visits each of the process's loggers: torch has
        hundreds, which made it most of a stacked job's logging cost); any other is
        applied with ``dictConfig``, as Hydra's ``configure_log`` does."""
        if self.plain is None:
            logging.config.dictConfig(_replace(self.conf, OUT, out))
            try:
                yield
            finally:
                logging.config.dictConfig(restore)
            return
        level, specs = self.plain
        root = logging.getLogger()
        saved = root.handlers[:], root.level
        handlers = [_make_handler(spec, out) for spec in specs]
        root.handlers = handlers
        if root.level != level:
            root.setLevel(level)
        try:
            yield
        finally:
            root.handlers = saved[0]
            if root.level != saved[1]:
                root.setLevel(saved[1])
            for handler in handlers:
                handler.close()


_PLAIN_HANDLERS = {"logging.StreamHandler": {"class", "formatter", "level", "stream"},
                   "logging.FileHandler": {"class", "formatter", "level", "filename", "mode",
                                           "encoding", "delay"}}
_STREAMS = {"ext://sys.stdout": "stdout", "ext://sys.stderr": "stderr"}


def _plain_root(conf: Dict[str, Any]) -> Optional[tuple]:  # noqa: UP006, UP045
    """(root level, handler specs) when ``conf`` (a resolved ``logging.config``
    dictionary) only gives the root logger plain stream and file handlers with plain
    formatters, and sets nothing else but other loggers' levels (applied here, once);
    else None."""
    if set(conf) - {"version", "formatters", "handlers", "root", "loggers",
                    "disable_existing_loggers"} or conf.get("incremental"):
        return None
    root = conf.get("root") or {}
    if set(root) - {"level", "handlers"}:
        return None
    loggers = conf.get("loggers") or {}
    if any(set(v or {}) - {"level"} or name == "harness" for name, v in loggers.items()):
        return None
    formatters = conf.get("formatters") or {}
    specs = []
    for name in root.get("handlers") or []:
        spec = (conf.get("handlers") or {}).get(name)
        if not isinstance(spec, dict) or set(spec) - _PLAIN_HANDLERS.get(spec.get("class"),
                                                                          set()):
            return None
        if "stream" in spec and spec["stream"] not in _STREAMS:
            return None
        form = formatters.get(spec.get("formatter"), {}) if spec.get("formatter") else {}
        if not isinstance(form, dict) or set(form) - {"format", "datefmt", "style"}:
            return None
        specs.append((spec, logging.Formatter(form.get("format"), form.get("datefmt"),
                                              form.get("style", "%"))))
    for name, v in loggers.items():
        if v and "level" in v:
            logging.getLogger(name).setLevel(v["level"])
    level = root.get("level", "WARNING")
    return (logging.getLevelName(level) if isinstance(level, str) else level), specs


def _make_handler(made: tuple, out: str) -> logging.Handler:
    import sys

    spec, formatter = made
    handler: logging.Handler
    if spec["class"] == "logging.FileHandler":
        handler = logging.FileHandler(spec["filename"].replace(OUT, out),
                                      mode=spec.get("mode", "a"),
                                      encoding=spec.get("encoding"),
                                      delay=spec.get("delay", False))
    else:
        handler = logging.StreamHandler(getattr(sys, _STREAMS[spec.get("stream",
                                                                      "ext://sys.stderr")]))
    handler.setFormatter(formatter)
    if "level" in spec:
        handler.setLevel(spec["level"])
    return handler


def _mentions_other_values(node: Any, allowed: Sequence[str]) -> bool:
    if isinstance(node, dict):
        return any(_mentions_other_values(v, allowed) for v in node.values())
    if isinstance(node, list):
        return any(_mentions_other_values(v, allowed) for v in node)
    if isinstance(node, str) and "${" in node:
        rest = node
        for a in allowed:
            rest = rest.replace(a, "")
        return "${" in rest
    return False


def _replace(node: Any, old: str, new: str) -> Any:
    if isinstance(node, dict):
        return {k: _replace(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace(v, old, new) for v in node]
    return node.replace(old, new) if isinstance(node, str) else node


class VectorizedLauncher(Launcher):
    def __init__(self, max_members: Optional[int] = None,  # noqa: UP045
                 min_group: int = 2) -> None:
        self.max_members, self.min_group = max_members, min_group
        self.config: Optional[DictConfig] = None  # noqa: UP045
        self.task_function: Optional[TaskFunction] = None  # noqa: UP045
        self.hydra_context: Optional[HydraContext] = None  # noqa: UP045
        self.composer: Any = None  # the sweeper's, when it hands one over
        self._bases: Dict[int, Any] = {}  # noqa: UP006  (per composition: record, log)
        self._tasks: Dict[tuple, _TaskRecord] = {}  # noqa: UP006  (config.yaml templates)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def use_composer(self, composer: Any) -> None:
        """Take job configs from the sweeper's composer (None: compose them here)."""
        self.composer = composer

    # ------------------------------------------------------------ launching
    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        from harness.jobs.job import Task
        from harness.jobs.lifecycle import run_jobs

        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        self._hooks = self._job_hooks()
        self._hydra_log = OmegaConf.to_container(self.config.hydra.hydra_logging, resolve=True)

        tasks = []
        for i, overrides in enumerate(job_overrides):
            job = _Job(initial_job_idx + i, list(overrides))
            light = self.composer.take_light(overrides) if self.composer is not None else None
            if light is not None and self._base(light) is not None:
                job.light = light
                tasks.append(Task(light.task, light.choices, "", ref=job,
                                  checked=light.checked, identity=light.identity))
            else:
                config = self._full(job)
                keys = [k for k in config if k != "hydra"]
                tasks.append(Task(OmegaConf.masked_copy(config, keys),
                                  dict(config.hydra.runtime.choices), "", ref=job))
        run_jobs(tasks, self._done, stack=True, limit=self.max_members,
                 min_group=self.min_group, alone=self._run_alone, on_start=self._open,
                 log=log.info)
        return [task.ref.ret for task in tasks]

    def _job_hooks(self) -> bool:
        """Whether a callback has job hooks (then every job gets its whole config)."""
        callbacks = getattr(self.hydra_context.callbacks, "callbacks", [])
        return any(type(c).on_job_start is not Callback.on_job_start
                   or type(c).on_job_end is not Callback.on_job_end for c in callbacks)

    def _full(self, job: _Job) -> DictConfig:
        """The job's whole config, composed once (as Hydra's basic launcher has it)."""
        if job.config is None:
            config = None
            if self.composer is not None:
                config = (self.composer.take(job.overrides) if job.light is None
                          else job.light.full())
            if config is None:
                config = self.hydra_context.config_loader.load_sweep_config(
                    self.config, list(job.overrides))
            with open_dict(config):
                config.hydra.job.id = config.hydra.job.num = job.idx
            job.config = config
        return job.config

    def _base(self, light: Any) -> Any:
        """(record, log, sweep folder) of the light job's composition, or None when its
        jobs need their whole config (see the module docstring)."""
        key = id(light.base)
        if key not in self._bases or self._bases[key][0] is not light.base:
            base = light.base
            raw = OmegaConf.to_container(base.hydra.sweep, resolve=False)
            made = None
            if raw.get("subdir") == DEFAULT_SUBDIR and not self._hooks:
                full = copy.deepcopy(light.full())
                job_num = 0
                with open_dict(full):
                    full.hydra.job.id = full.hydra.job.num = job_num
                out = os.path.abspath(os.path.join(str(full.hydra.sweep.dir),
                                                   str(full.hydra.sweep.subdir)))
                with read_write(full.hydra.runtime), open_dict(full.hydra.runtime):
                    full.hydra.runtime.output_dir = out
                record = _HydraRecord(full, self._fields(light, job_num, out))
                job_log = _JobLog(full)
                if record.ok and job_log.ok:
                    made = (record, job_log, str(full.hydra.sweep.dir),
                            full.hydra.output_subdir, str(full.hydra.job.name))
            self._bases[key] = (base, made)  # the config too: its id is only unique while it lives
        return self._bases[key][1]

    def _task_text(self, light: Any) -> Optional[str]:  # noqa: UP045
        """The job's ``config.yaml`` text from its composition's template
        (:class:`_TaskRecord`), or None (then ``OmegaConf.to_yaml`` writes it)."""
        key = (id(light.base), light.plain_keys)
        record = self._tasks.get(key)
        if record is None or record.base is not light.base:
            record = self._tasks[key] = _TaskRecord(light)
        return record.render(light) if record.ok else None

    @staticmethod
    def _fields(light: Any, num: int, out: str) -> Dict[str, Any]:  # noqa: UP006
        return {"task": list(light.task_overrides), "dirname": light.override_dirname,
                "id": str(num), "num": num, "out": out}

    def _run_alone(self, task: Any) -> None:
        """The basic launcher's way: Hydra's ``run_job`` calls the task function."""
        assert self.hydra_context is not None and self.task_function is not None
        job = task.ref
        log.info("\t#%d : %s", job.idx, " ".join(filter_overrides(job.overrides)))
        job.ret = run_job(hydra_context=self.hydra_context, task_function=self.task_function,
                          config=self._full(job), job_dir_key="hydra.sweep.dir",
                          job_subdir_key="hydra.sweep.subdir")
        assert self.config is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)

    def _open(self, task: Any) -> None:
        """What ``run_job`` does before calling a task: the job's output folder (its
        ``out_dir``) and its ``.hydra/`` record."""
        from harness.config import as_given
        from harness.jobs.compose import write_job_record
        from harness.jobs.resume import job_dirname

        job = task.ref
        if job.light is not None:  # the light way (see the module docstring)
            record, _, sweep_dir, output_subdir, _ = self._bases[id(job.light.base)][1]
            out = os.path.abspath(os.path.join(sweep_dir,
                                               job_dirname(job.light.override_dirname)))
            Path(out).mkdir(parents=True, exist_ok=True)
            if output_subdir is not None:
                folder = Path(out) / str(output_subdir)
                with as_given(job.light.given):  # recorded as given, as Hydra records it
                    write_job_record(folder, task.cfg, None, list(job.light.task_overrides),
                                     hydra_text=record.render(self._fields(job.light, job.idx,
                                                                           out)),
                                     task_text=self._task_text(job.light),
                                     overrides_text=_top_list(list(job.light.task_overrides)))
            task.out_dir = out
            return
        config = self._full(job)
        # the sweep folder and subfolder interpolate nodes of the config itself
        out = os.path.join(str(OmegaConf.select(config, "hydra.sweep.dir")),
                           str(OmegaConf.select(config, "hydra.sweep.subdir")))
        with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
            config.hydra.runtime.output_dir = os.path.abspath(out)
        HydraConfig.instance().set_config(config)
        job.hydra_cfg = HydraConfig.instance().cfg
        Path(out).mkdir(parents=True, exist_ok=True)
        assert self.hydra_context is not None
        self.hydra_context.callbacks.on_job_start(config=config,
                                                  task_function=self.task_function)
        if config.hydra.output_subdir is not None:
            write_job_record(Path(config.hydra.runtime.output_dir)
                             / str(config.hydra.output_subdir),
                             task.cfg, job.hydra_cfg, config.hydra.overrides.task)
        task.out_dir = out

    def _done(self, task: Any, summary: dict) -> None:
        """The job's log line (in its own log file, as a job run alone) and its return."""
        from harness.sweep import record_progress

        job = task.ref
        if job.light is not None:
            _, job_log, sweep_dir, _, job_name = self._bases[id(job.light.base)][1]
            with job_log.active(task.out_dir, self._hydra_log):
                record_progress(sweep_dir, job.light.override_dirname or "(no overrides)",
                                summary)
            job.ret = JobReturn(overrides=list(job.overrides), cfg=task.cfg, hydra_cfg=None,
                                working_dir=os.getcwd(), task_name=job_name,
                                status=JobStatus.COMPLETED,
                                _return_value=summary.get("final", {}).get("val.objective"))
            return
        config = job.config  # its log file's path interpolates nodes of the config itself
        configure_log(config.hydra.job_logging, config.hydra.verbose)
        name = config.hydra.job.override_dirname or "(no overrides)"
        record_progress(config.hydra.sweep.dir, name, summary)
        job.ret = JobReturn(overrides=list(job.overrides), cfg=task.cfg,
                            hydra_cfg=job.hydra_cfg, working_dir=os.getcwd(),
                            task_name=str(config.hydra.job.name),
                            status=JobStatus.COMPLETED,
                            _return_value=summary.get("final", {}).get("val.objective"))
        assert self.hydra_context is not None
        self.hydra_context.callbacks.on_job_end(config=config, job_return=job.ret)
        assert self.config is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
