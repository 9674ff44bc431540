"""Hydra discovers plugins in the ``hydra_plugins`` namespace package; this one provides
``hydra/launcher=vectorized``: a sweep's compatible jobs trained as stacked ensembles."""
