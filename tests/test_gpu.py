"""The CUDA path (skipped without CUDA; ``benchmarks/gpu_check.py`` runs these on a GPU):
a run alone and a stack on the GPU compute what they compute on the CPU, to float32
tolerance, and the training loop makes no host sync inside an epoch."""

from __future__ import annotations

import pytest
import torch

from harness.jobs import job as J
from harness.training.loop import FitResult
from tests.helpers import choices, make_cfg

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
SMALL = ["data.n_samples=400", "trainer.epochs=3", "trainer.progress=false",
         "trainer.batch_size=32"]


def trained(device: str, *members: list[str]) -> list[FitResult]:
    jobs = [J.prepare(make_cfg(*SMALL, f"trainer.device={device}", *o), choices(*o))
            for o in members]
    out = [FitResult() for _ in jobs]
    J.train(jobs, out)
    return out


def close(a: FitResult, b: FitResult, tol: float = 2e-3) -> None:
    assert (a.status, a.epochs_run) == (b.status, b.epochs_run)
    for ra, rb in zip(a.rows, b.rows, strict=True):
        assert ra[:3] == rb[:3]
        if ra[2] != "elapsed_s":
            assert rb[3] == pytest.approx(ra[3], rel=tol, abs=tol), (ra, rb)


@pytest.mark.parametrize("overrides", [["loss=huber"], ["data=multiclass", "loss=gce",
                                                        "data.label_noise=0.3"]])
def test_a_run_alone_on_cuda_computes_what_it_computes_on_the_cpu(overrides):
    close(trained("cpu", overrides)[0], trained("cuda", overrides)[0])


def test_a_stack_on_cuda_computes_what_its_members_compute_on_the_cpu():
    members = [["loss=mse", "seed=0"], ["loss=huber", "seed=1", "data.outlier_frac=0.1"],
               ["loss=mae", "seed=2", "optim.lr=0.01"]]
    for a, b in zip(trained("cpu", *members), trained("cuda", *members), strict=True):
        close(a, b)


def test_a_training_step_makes_no_host_sync(monkeypatch):
    """Objective, backward and the optimiser's step on the GPU, with torch refusing any
    host sync: the loop syncs once per epoch, for its evaluation, and nowhere else."""
    from harness.training.loop import Alone

    def strict(method):
        def run(*args, **kwargs):
            torch.cuda.set_sync_debug_mode("error")
            try:
                return method(*args, **kwargs)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        return run

    warm = J.prepare(make_cfg(*SMALL, "trainer.device=cuda", "trainer.epochs=1"), {})
    J.train([warm], [FitResult()])  # lazy CUDA initialisation may sync
    monkeypatch.setattr(Alone, "objective", strict(Alone.objective))
    monkeypatch.setattr(Alone, "step", strict(Alone.step))
    job = J.prepare(make_cfg(*SMALL, "trainer.device=cuda"), {})
    result = [FitResult()]
    J.train([job], result)
    assert result[0].status == "completed"
