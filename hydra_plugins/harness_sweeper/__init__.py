"""Hydra discovers plugins in the ``hydra_plugins`` namespace package; this one provides
``hydra/sweeper=harness`` (the default sweeper of ``conf/config.yaml``)."""
