"""One job interface, two runners: push, dry run, resume and status check run as background jobs.

* **Embedded** (default): a worker thread pool inside the app process. A rerun, a reload or a closed
  tab does not stop a job; its progress is read back from the database.
* **Queue** (``CRM_QUEUE_URL=redis://…``): jobs go to RQ and run on ``python -m crm worker`` processes
  (see :mod:`service.queue`).

Either way the caller only submits ``(kind, run_id)`` and reads the run from the database; a run is
executed at most once because executing starts with an atomic claim in the database.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from service.context import AppContext

log = logging.getLogger("service.jobs")

KINDS = ("push", "resume", "status")
EMBEDDED_WORKERS = 4


def run_job(ctx: AppContext, kind: str, run_id: int) -> None:
    """Execute one job in this process: the body shared by every runner."""
    from service import runs, status

    if kind == "push":
        runs.execute(ctx, run_id)
    elif kind == "resume":
        runs.resume(ctx, run_id)
    elif kind == "status":
        status.check(ctx, run_id)
    else:
        raise ValueError(f"unknown job kind {kind!r}; one of {', '.join(KINDS)}")


class JobRunner(Protocol):
    def submit(self, kind: str, run_id: int) -> None: ...


class EmbeddedRunner:
    """Jobs on daemon threads of this process."""

    def __init__(self, ctx: AppContext, workers: int = EMBEDDED_WORKERS) -> None:
        self.ctx = ctx
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crm-job")
        self._futures: dict[tuple[str, int], Future[None]] = {}
        self._lock = threading.Lock()

    def submit(self, kind: str, run_id: int) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        with self._lock:
            future = self._pool.submit(self._run, kind, run_id)
            self._futures[(kind, run_id)] = future

    def _run(self, kind: str, run_id: int) -> None:
        try:
            run_job(self.ctx, kind, run_id)
        except Exception:
            log.exception("%s job for run %s failed", kind, run_id)

    def wait(self, kind: str, run_id: int, timeout: float | None = None) -> None:
        """Block until a submitted job is done (the CLI and tests; pages poll the database instead)."""
        with self._lock:
            future = self._futures.get((kind, run_id))
        if future is not None:
            future.result(timeout=timeout)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def runner_for(ctx: AppContext) -> JobRunner:
    """The runner the settings ask for."""
    if ctx.settings.queue_url:
        from service.queue import QueueRunner

        return QueueRunner(ctx.settings.queue_url)
    return EmbeddedRunner(ctx)
