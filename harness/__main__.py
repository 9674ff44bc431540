"""``python -m harness [overrides]``: train one configuration, or a sweep with ``-m``.

See :mod:`harness.cli` for what happens; this file only starts it.
"""

from harness.cli import main

if __name__ == "__main__":
    from harness.errors import run_command

    run_command(main)
