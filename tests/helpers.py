"""Helpers the tests share: the real config composed as the CLI composes it (once per
distinct override list per test run), tiny-run overrides, and the real command line."""

from __future__ import annotations

import copy
import functools
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
TINY = ["data.n_samples=200", "trainer.epochs=2", "trainer.progress=false"]
CHOICES = {"data": "outliers", "model": "mlp", "loss": "mse", "optim": "adam",
           "trainer": "default"}


@functools.lru_cache(maxsize=512)
def _composed(overrides: tuple[str, ...]):
    from hydra import compose, initialize_config_dir

    from harness.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def make_cfg(*overrides: str):
    """The composed config for ``overrides``, exactly as ``python -m harness`` builds it
    (a fresh copy: a test may change it)."""
    return copy.deepcopy(_composed(tuple(overrides)))


def choices(*overrides: str) -> dict[str, str]:
    """The group choices ``overrides`` make, on top of the defaults."""
    picked = {o.split("=")[0]: o.split("=")[1] for o in overrides
              if o.split("=")[0] in CHOICES}
    return {**CHOICES, **picked}


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 120,
            module: str = "harness") -> subprocess.CompletedProcess:
    """Run ``python -m <module> ARGS`` in a subprocess, as a user would."""
    env = {**os.environ}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd or ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def run_main(*args: str, module: str = "harness") -> subprocess.CompletedProcess:
    """``python -m <module> ARGS`` run in this process, stdout and stderr captured: the
    command line's own code, without a new interpreter's start-up (about 3 s each). For
    what does not depend on the process boundary (signals, exit of the interpreter,
    worker processes): those tests use :func:`run_cli`."""
    import contextlib
    import importlib
    import io
    import logging

    out, err = io.StringIO(), io.StringIO()
    argv, env = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    os.environ.pop("HYDRA_FULL_ERROR", None)
    sys.argv = [module, *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main = importlib.import_module(module if module != "harness" else "harness.cli")
            target = getattr(main, "main", None) or importlib.import_module(
                f"{module}.__main__").main
            try:
                result = target(list(args)) if module != "harness" else target()
                code = result if isinstance(result, int) else 0
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None
                                                                     else 1)
    finally:
        sys.argv = argv
        if env is not None:
            os.environ["HYDRA_FULL_ERROR"] = env
        for handler in logging.getLogger().handlers[:]:  # the job's log file and stream
            handler.close()
            logging.getLogger().removeHandler(handler)
    return subprocess.CompletedProcess([module, *args], code, out.getvalue(), err.getvalue())


def isolated_registries():
    """A context in which plugins may register losses, data sets and models; on exit the
    registries (and the ConfigStore options and trusted modules they added) are as
    before, so other tests see the built-ins only."""
    import contextlib

    @contextlib.contextmanager
    def isolated():
        from hydra.core.config_store import ConfigStore

        import losses.registry as registry
        from harness import plugins, safety
        from harness.data import sources

        saved = [(registry._SPECS, dict(registry._SPECS)), (registry._NAMES,
                 dict(registry._NAMES)), (sources.SOURCES, dict(sources.SOURCES)),
                 (plugins.MODELS, dict(plugins.MODELS)), (plugins.LOADED,
                 dict(plugins.LOADED))]
        trusted, modules = list(safety.TRUSTED), set(sys.modules)
        repo = ConfigStore.instance().repo
        store = {g: set(repo[g]) if isinstance(repo.get(g), dict) else None
                 for g in ("loss", "data", "model")}
        schema = {g: set(repo["schema"][g]) for g in repo.get("schema", {})}
        try:
            yield
        finally:
            for live, copy in saved:
                live.clear()
                live.update(copy)
            safety.TRUSTED[:] = trusted
            from harness import config

            config._REGISTERED.clear()  # the next registration puts the built-ins back
            for name in set(sys.modules) - modules:
                if not name.startswith(("harness", "losses", "torch", "sklearn", "pandas",
                                        "numpy", "scipy", "matplotlib", "seaborn")):
                    sys.modules.pop(name, None)
            for group, names in store.items():
                if names is None:
                    repo.pop(group, None)
                else:
                    for name in set(repo.get(group, {})) - names:
                        del repo[group][name]
            for group, names in schema.items():
                for name in set(repo["schema"][group]) - names:
                    del repo["schema"][group][name]

    return isolated()
