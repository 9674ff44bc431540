"""Jobs: how a configured run is prepared, trained and written, alone or many at once.

- :mod:`~harness.jobs.job`: one job's stages (:class:`~harness.jobs.job.Task` ->
  :func:`~harness.jobs.job.prepare` -> :func:`~harness.jobs.job.train` ->
  :func:`~harness.jobs.job.finish`), run ids, devices, threads;
- :mod:`~harness.jobs.lifecycle`: :func:`~harness.jobs.lifecycle.run_jobs`, the one
  lifecycle and failure policy of every runner (single run, launchers, protocol), and
  how jobs are grouped into stacks;
- :mod:`~harness.jobs.resume`: which runs are finished (one rule), job folder names;
- :mod:`~harness.jobs.compose`: fast composition of sweep jobs and every use of Hydra's
  private API.
"""
