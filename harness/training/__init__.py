"""Training: :mod:`~harness.training.loop` (the one epoch loop and evaluation, for one run
or many over a leading member axis) and :mod:`~harness.training.stacked` (many runs of
one shape as stacked parameters, a batched forward and an elementwise optimiser).

Training knows models, losses, tensors and optimiser settings; it knows nothing of
configs, files or Hydra (see :mod:`harness.jobs`).
"""
