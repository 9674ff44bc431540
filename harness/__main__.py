"""``python -m harness [overrides]``: train one configuration (or a sweep with ``-m``).

Hydra composes ``conf/config.yaml`` with the overrides; :func:`harness.run.run` does the
work. User mistakes (a loss that does not fit the data, a value out of range) end with one
line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from harness.config import register_configs
from harness.errors import USER_ERRORS

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from harness.run import run  # imported here so `--help` stays fast

    hc = HydraConfig.get()
    try:
        summary = run(cfg, hc.runtime.output_dir, dict(hc.runtime.choices))
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    return summary["final"].get("val.objective")


if __name__ == "__main__":
    main()
