"""Heavy imports settled (harness.startup): imported with the cyclic garbage collector
paused, then frozen out of it; and a command's exit freezes everything first, with the
rest of the exit (atexit handlers, flushed output, exit code) as before."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

import pytest

from harness.startup import import_settled
from tests.helpers import ROOT


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("settled_probe")]:
        del sys.modules[name]


@pytest.fixture
def as_command(monkeypatch):
    """This test process taken for a command's (harness.startup.command)."""
    from harness import startup

    monkeypatch.setattr(startup, "_COMMAND", [True])


def test_an_import_runs_with_the_collector_paused_and_its_objects_are_frozen(module_dir,
                                                                             as_command):
    (module_dir / "settled_probe_a.py").write_text(
        "import gc\nCOLLECTING = gc.isenabled()\nclass Made:\n    pass\nMADE = Made()\n")
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    try:
        (module,) = import_settled("settled_probe_a")
        assert module.COLLECTING is False  # paused while it was imported
        assert gc.isenabled()  # and running again after
        assert gc.get_freeze_count() > frozen
        assert all(obj is not module.MADE for obj in gc.get_objects())  # frozen: not walked
        # imported already: nothing paused, nothing frozen
        count = gc.get_freeze_count()
        assert import_settled("settled_probe_a") == [module]
        assert gc.get_freeze_count() == count
    finally:
        gc.unfreeze()


def test_a_library_user_gets_the_pause_but_no_freeze_and_its_garbage_is_collected(
        module_dir):
    """Outside a command (a program or notebook importing the harness), nothing is frozen:
    garbage not collected yet at the import is still collected afterwards."""
    import weakref

    class Node:
        pass

    (module_dir / "settled_probe_d.py").write_text(
        "import gc\nCOLLECTING = gc.isenabled()\n")
    cycle = Node()
    cycle.me = cycle
    alive = weakref.ref(cycle)
    del cycle  # garbage, in a cycle: only the collector frees it
    frozen = gc.get_freeze_count()
    (module,) = import_settled("settled_probe_d")
    assert module.COLLECTING is False and gc.isenabled()
    assert gc.get_freeze_count() == frozen
    gc.collect()
    assert alive() is None


def test_a_failed_import_raises_and_leaves_the_collector_running(module_dir):
    (module_dir / "settled_probe_b.py").write_text("raise ImportError('no such thing')\n")
    try:
        with pytest.raises(ImportError, match="no such thing"):
            import_settled("settled_probe_b")
        assert gc.isenabled()
        with pytest.raises(ModuleNotFoundError):
            import_settled("settled_probe_not_there")
        assert gc.isenabled()
    finally:
        gc.unfreeze()


def test_a_paused_collector_stays_paused(module_dir):
    (module_dir / "settled_probe_c.py").write_text("X = 1\n")
    gc.disable()
    try:
        import_settled("settled_probe_c")
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


def _command(body: str, tmp_path) -> subprocess.CompletedProcess:
    script = tmp_path / "command.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_the_exit_freezes_first_and_still_runs_atexit_and_flushes(tmp_path):
    mark = tmp_path / "atexit.txt"
    proc = _command(f"""
        import atexit, gc, sys
        from harness.errors import run_command

        def handler():
            with open({str(mark)!r}, "w") as f:
                f.write(str(gc.get_freeze_count()))

        def main():
            atexit.register(handler)
            sys.stdout.write("no newline, still buffered")
            return 3

        run_command(main)
        """, tmp_path)
    assert proc.returncode == 3
    assert proc.stdout == "no newline, still buffered"
    assert int(mark.read_text()) > 0  # frozen before the atexit handlers ran


def test_a_failing_command_is_frozen_too_and_keeps_its_exit_code(tmp_path):
    mark = tmp_path / "atexit.txt"
    proc = _command(f"""
        import atexit, gc, sys
        from harness.errors import run_command

        atexit.register(lambda: open({str(mark)!r}, "w").write(str(gc.get_freeze_count())))

        def main():
            print("error: something the user did", file=sys.stderr)
            sys.exit(2)

        run_command(main)
        """, tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: something the user did"
    assert int(mark.read_text()) > 0


def test_no_full_collection_of_a_run_walks_the_imports(tmp_path):
    """A real one-run command (tiny data): torch, scikit-learn, SciPy, pandas and pyarrow
    make some 300,000 tracked objects; no full collection of the command walks them
    (the largest walks what the run itself made). Before the imports were settled, the
    command made five full collections, walking 54,000 to 258,000 objects each."""
    proc = _command(f"""
        import gc, json, sys
        walked = []  # the objects each full collection walks

        def watch(phase, info):
            if phase == "start" and info["generation"] == 2:
                walked.append(len(gc.get_objects()))

        gc.callbacks.append(watch)
        sys.argv = ["harness", "data=outliers", "model=linear", "data.n_samples=200",
                    "trainer.epochs=1", "trainer.progress=false",
                    "hydra.run.dir={tmp_path / 'run'}"]
        import runpy
        try:
            runpy.run_module("harness", run_name="__main__")  # python -m harness
        except SystemExit as stop:
            assert stop.code == 0, stop.code
        finally:
            import torch, sklearn, scipy, pandas, pyarrow  # all imported by the run
            print(json.dumps(dict(walked=walked, tracked=len(gc.get_objects()),
                                  frozen=gc.get_freeze_count())))
        """, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = __import__("json").loads(proc.stdout.strip().splitlines()[-1])
    assert (tmp_path / "run" / "summary.json").is_file()
    assert seen["frozen"] > 200_000  # the imports' objects
    assert all(n < 30_000 for n in seen["walked"]), seen
