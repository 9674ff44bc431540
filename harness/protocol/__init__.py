"""``python -m harness.protocol <preset>``: a fair comparison of losses.

Comparing losses at one shared learning rate is unfair: a loss whose gradient has another
scale (MAE vs MSE, GCE vs CE) needs another step size. The protocol gives every loss the
same tuning budget, selects on the *corrupted* validation split only (``val_corrupted``:
the validation rows corrupted exactly as training is, since a user never has clean
labels), and then measures the selected configuration over several seeds on the clean
test split:

1. **tune** (``<out>/tune/``): for each setting (the product of ``settings``, e.g. a data
   set at one corruption level) and each loss, exactly ``budget`` candidate
   configurations, each trained with every ``tune_seeds`` seed. The candidates come from
   the shared search space ``space`` (e.g. ``optim.lr``) times the loss's own
   ``loss_space`` (e.g. Huber ``loss.delta``): the whole grid when it has exactly
   ``budget`` points, else ``budget`` distinct points drawn from it with a fixed seed
   (``sampler_seed``; intervals such as ``tag(log,interval(1e-4,1e-1))`` are sampled).
   A loss with extra hyperparameters gets no extra trials: the budget is split over the
   joint space by the draw. The candidates of a loss are the same in every setting.
2. **select**: the candidate with the best mean over the tuning seeds of the corrupted
   validation split's primary metric (``rmse`` for regression, ``accuracy`` for classification, or
   ``metric``) at the final epoch, the epoch the final runs also report. Runs that
   diverged or failed are never selected; ties go to the earlier candidate. Selection
   reads nothing but ``val_corrupted.*`` values (:func:`score` keeps nothing else).
3. **final** (``<out>/final/``): the selected configuration with each of ``seeds``;
   **default** (``<out>/default/``): the configuration's own defaults (no tuned override)
   with the same seeds, for the "tuned vs default" comparison. Both are measured on the
   clean test split.

Every stage runs inside this one process (configs composed by Hydra exactly as
``python -m harness`` composes them, so run ids and folder names are the ones a multirun
would give) and resumes: a job whose run already finished in its stage folder is skipped;
one that finished in another stage folder with the same run id is copied. ``<out>/
protocol.json`` records the spec, every candidate, its trial run ids and validation
scores, the selections, the final and default test scores and the wall times.
:func:`load` and :func:`summaries` read a protocol folder with a ``stage`` column
(``tune`` / ``final`` / ``default``); ``python -m harness.report <out>`` builds its report.

Modules: :mod:`~harness.protocol.spec` (the preset and its checks),
:mod:`~harness.protocol.space` (settings and candidates),
:mod:`~harness.protocol.run` (the stages, selection), :mod:`~harness.protocol.record`
(``protocol.json`` and reading a folder back: what the report reads),
``__main__`` (the command line). Presets live in ``protocols/``.
"""

from __future__ import annotations

from typing import Any

# the public names, each from its module (imported when first used: the command line's
# --help needs neither pandas nor torch)
_EXPORTS = {
    "Spec": "spec", "SPEC_KEYS": "spec", "SELECTION_SPLIT": "spec", "load_spec": "spec",
    "check_spec": "spec", "presets": "spec",
    "candidates": "space", "expand_settings": "space",
    "run_protocol": "run", "run_stage": "run", "score": "run", "select": "run", "Job": "run",
    "SPEC_FILE": "record", "STAGES": "record", "read_record": "record", "run_ids": "record",
    "load": "record", "summaries": "record", "ranking_table": "record",
    "main": "__main__",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"harness.protocol.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'harness.protocol' has no attribute '{name}'")
