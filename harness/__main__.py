"""``python -m harness [overrides]``: train one configuration, or a sweep with ``-m``.

See :mod:`harness.cli` for what happens; this file only starts it.
"""

from harness.startup import command, import_settled

if __name__ == "__main__":
    command()  # this process is the command (see harness.startup)
import_settled("harness.cli")  # Hydra, OmegaConf, NumPy (see harness.startup)
from harness.cli import main  # noqa: E402

if __name__ == "__main__":
    from harness.errors import run_command

    run_command(main)
