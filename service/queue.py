"""Push jobs on a real task queue: RQ on Redis, several ``python -m crm worker`` processes, one database.

``CRM_QUEUE_URL=redis://host:6379/0`` makes :func:`service.jobs.runner_for` return a :class:`QueueRunner`:
``submit(kind, run_id)`` enqueues ``perform(kind, run_id)`` on the ``crm-push`` queue (``?queue=NAME`` on
the URL picks another name, e.g. for staging and production on one Redis). The app and the CLI read a
run's progress from the database exactly as with the embedded runner; Redis only carries the job.

* **One delivery, one execution.** A job's id is derived from its kind and run (``crm-push-push-42``) and
  enqueued with RQ's atomic ``unique`` check, so a double click does not queue a run twice. A second
  delivery anyway (a job re-enqueued by hand, a recovered run) is harmless: executing a run starts with
  an atomic claim in the database, and the loser returns at once.
* **The worker class is** :class:`rq.SimpleWorker` **(no fork).** The default RQ worker forks a
  work-horse per job into its own process group: a SIGKILL to the worker leaves the horse pushing
  unsupervised, and the ``host:pid`` the claim records is the parent's (``service.runs.WORKER`` is fixed
  at import, before the fork), so reap would declare a live push dead and a second worker resume it.
  Without the fork, the process that claims a run *is* the worker: a SIGKILL or OOM kill ends both, the
  run's ``host:pid`` is gone, and :func:`service.runs.reap` marks it ``interrupted``. The AppContext
  (engine pool, keys) is built once per process and reused by every job, never shared across a fork.
  Isolation between jobs comes from running several worker processes.
* **Crashes recover themselves.** A worker runs :func:`recover` when it starts and every
  ``RECOVERY_SECONDS`` while idle: reap dead runs, then re-enqueue as ``resume`` jobs the interrupted runs
  that this queue executed (a job of theirs exists here), whoever marked them (the History page reaps
  too), at most ``MAX_RECOVERIES`` times each so a run that kills its worker cannot do so forever. Runs
  that died in the CLI or an embedded app wait for a person, as before.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from crm.errors import NotConfigured
from crm.governor import Governor, governor_for
from service.context import AppContext
from service.jobs import KINDS
from service.redis_governor import RedisGovernor
from service.settings import Settings

log = logging.getLogger("service.queue")

DEFAULT_QUEUE = "crm-push"
QUEUE_PARAM = "queue"  # ?queue=NAME on CRM_QUEUE_URL
# A run is bounded by the CRM, not by us: 100,000 HubSpot rows take about a minute at 190 calls / 10 s,
# and a Salesforce Bulk API 2.0 job processes 10,000-record chunks of up to 10 minutes each, so a large
# Bulk push with its polling can take an hour. Three hours stops only a job that hangs.
JOB_TIMEOUT = 3 * 60 * 60
RESULT_TTL = 24 * 60 * 60  # a finished job's small result ({kind, run_id, worker, state}), for `rq info`
FAILURE_TTL = 7 * 24 * 60 * 60  # a failed job's traceback, for whoever looks at the failed registry
# Queued jobs never expire (ttl=None): a queued run is shown as queued until it runs or is cancelled.
RECOVERY_SECONDS = 60  # reap and recover this often while idle (service.runs.STALE_AFTER is 60 s too)
WORKER_TTL = RECOVERY_SECONDS + 15  # RQ waits worker_ttl - 15 s for a job, then does maintenance
MAX_RECOVERIES = 3  # automatic resumes of one run; after that it waits for a person
RECOVERY_SCAN = 200  # interrupted runs looked at per recovery, newest first
WAITING = frozenset({JobStatus.CREATED, JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED})
_NAME = re.compile(r"[A-Za-z0-9_-]+")  # what RQ allows in a job id, of which the queue name is part


class QueueUnavailable(NotConfigured):
    """Redis cannot be reached: the job was not enqueued (the message names the server, no password)."""


@dataclass(frozen=True)
class QueueConfig:
    """``CRM_QUEUE_URL`` split into the Redis URL and the queue name."""

    redis_url: str
    name: str = DEFAULT_QUEUE

    @classmethod
    def parse(cls, queue_url: str) -> QueueConfig:
        parts = urlsplit(queue_url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise NotConfigured("CRM_QUEUE_URL must be a redis://, rediss:// or unix:// URL.")
        query = parse_qsl(parts.query, keep_blank_values=True)
        names = [value for key, value in query if key == QUEUE_PARAM]
        name = names[-1] if names else DEFAULT_QUEUE
        if not _NAME.fullmatch(name):
            raise NotConfigured(f"The queue name {name!r} may only hold letters, digits, '_' and '-'.")
        rest = urlencode([(key, value) for key, value in query if key != QUEUE_PARAM])
        return cls(urlunsplit(parts._replace(query=rest)), name)

    @property
    def redacted(self) -> str:
        """The Redis URL without its password, for messages and logs."""
        parts = urlsplit(self.redis_url)
        if parts.password is None:
            return self.redis_url
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = f"{parts.username}:***@" if parts.username else ":***@"
        return urlunsplit(parts._replace(netloc=user + netloc))


_clients: dict[str, Redis] = {}
_clients_lock = threading.Lock()


def redis_client(redis_url: str) -> Redis:
    """One client (and connection pool) per Redis URL per process, for enqueueing and rate governors."""
    with _clients_lock:
        if redis_url not in _clients:
            _clients[redis_url] = Redis.from_url(
                redis_url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30
            )
        return _clients[redis_url]


def job_id(queue_name: str, kind: str, run_id: int) -> str:
    return f"{queue_name}-{kind}-{run_id}"


class QueueRunner:
    """Jobs on RQ: ``submit`` enqueues and returns; ``python -m crm worker`` processes run them."""

    def __init__(self, queue_url: str) -> None:
        self.config = QueueConfig.parse(queue_url)
        self.redis = redis_client(self.config.redis_url)
        self.queue = Queue(
            self.config.name,
            connection=self.redis,
            default_timeout=JOB_TIMEOUT,
            serializer=JSONSerializer,
        )

    def job_id(self, kind: str, run_id: int) -> str:
        return job_id(self.config.name, kind, run_id)

    def submit(self, kind: str, run_id: int) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        try:
            # A resume is asked for because the run is interrupted: a started resume job of it is dead.
            self.enqueue(kind, run_id, replace_started=kind == "resume")
        except RedisError as exc:
            raise QueueUnavailable(
                f"Could not reach the job queue at {self.config.redacted} ({exc}); run #{run_id} was not "
                "started. Try again when the queue is back."
            ) from None

    def enqueue(self, kind: str, run_id: int, *, replace_started: bool = False) -> bool:
        """Enqueue ``perform(kind, run_id)`` unless the same job is already waiting (or, without
        ``replace_started``, running). True when a job was enqueued."""
        for _ in range(2):  # once, and once more after clearing a finished job of the same id
            try:
                self.queue.enqueue(
                    perform,
                    kind,
                    run_id,
                    job_id=self.job_id(kind, run_id),
                    unique=True,  # atomic in Redis: two submitters cannot both enqueue it
                    job_timeout=JOB_TIMEOUT,
                    result_ttl=RESULT_TTL,
                    failure_ttl=FAILURE_TTL,
                    ttl=None,
                    description=f"{kind} run #{run_id}",
                )
                return True
            except DuplicateJobError:
                if not self._clear_previous(kind, run_id, replace_started):
                    return False
        return False

    def _clear_previous(self, kind: str, run_id: int, replace_started: bool) -> bool:
        """Delete an earlier job of the same id that is done (finished, failed, stopped), so a new one can
        take its id; False when it is still waiting, or running and not to be replaced."""
        try:
            job = Job.fetch(self.job_id(kind, run_id), connection=self.redis, serializer=JSONSerializer)
        except NoSuchJobError:
            return True  # it expired in between
        status = job.get_status(refresh=False)
        if status in WAITING or (status == JobStatus.STARTED and not replace_started):
            return False
        job.delete()
        return True

    def has_job(self, run_id: int) -> bool:
        """Whether this queue ran (or holds) a push or resume job of the run."""
        ids = (self.job_id(kind, run_id) for kind in ("push", "resume"))
        return any(Job.exists(one, connection=self.redis) for one in ids)

    def recover(self, run_id: int) -> bool:
        """Re-enqueue an interrupted run of this queue as a ``resume`` job, within ``MAX_RECOVERIES``."""
        if not self.has_job(run_id):
            return False  # it ran in the CLI or an embedded app: a person resumes it
        counter = f"{self.config.name}:recoveries:{run_id}"
        if int(self.redis.get(counter) or 0) >= MAX_RECOVERIES:
            # said once (by one worker), not at every tick of every worker
            if self.redis.set(f"{counter}:given-up", 1, nx=True, ex=FAILURE_TTL):
                log.error("run %s was interrupted %d times; resume it by hand", run_id, MAX_RECOVERIES)
            return False
        if not self.enqueue("resume", run_id, replace_started=True):
            return False
        with self.redis.pipeline() as pipe:
            pipe.incr(counter).expire(counter, FAILURE_TTL).execute()
        log.warning("run %s was interrupted; queued to resume it", run_id)
        return True


# ----- the worker side ------------------------------------------------------------------------------


class _WorkerContext:
    """The worker process's AppContext, built once (settings from the environment) and reused."""

    def __init__(self) -> None:
        self.ctx: AppContext | None = None
        self.lock = threading.Lock()

    def get(self) -> AppContext:
        with self.lock:
            if self.ctx is None:
                self.ctx = AppContext.build(Settings.load(), migrate=False, load_demo=False)
            return self.ctx

    def install(self, ctx: AppContext | None) -> AppContext | None:
        with self.lock:
            previous, self.ctx = self.ctx, ctx
            return previous


_worker_context = _WorkerContext()


def perform(kind: str, run_id: int) -> dict[str, Any]:
    """The job body: run ``kind`` on the run in this process. Returns who ran it and the run's state."""
    from service import runs
    from service.jobs import run_job

    ctx = _worker_context.get()
    if kind == "resume" and _state(ctx, run_id) not in ("interrupted", "queued"):
        # another delivery, a person or another worker has resumed it already
        log.info("run %s needs no resume", run_id)
        return {"kind": kind, "run_id": run_id, "worker": runs.WORKER, "state": _state(ctx, run_id)}
    run_job(ctx, kind, run_id)
    return {"kind": kind, "run_id": run_id, "worker": runs.WORKER, "state": _state(ctx, run_id)}


def _state(ctx: AppContext, run_id: int) -> str | None:
    from data import runs as store

    with ctx.db.session() as session:
        run = store.get_run(session, run_id)
        return run.state if run else None


def recover(ctx: AppContext, runner: QueueRunner) -> list[int]:
    """Mark dead runs interrupted, and re-enqueue this queue's interrupted runs as resume jobs."""
    from data import runs as store
    from service import runs

    runs.reap(ctx)
    with ctx.db.session() as session:
        interrupted, _ = store.list_runs(session, states=("interrupted",), limit=RECOVERY_SCAN)
        run_ids = [run.id for run in interrupted]
    return [run_id for run_id in run_ids if runner.recover(run_id)]


class PushWorker(SimpleWorker):
    """An RQ worker that runs each job in its own process (see the module docstring) and recovers
    interrupted runs at start and every ``RECOVERY_SECONDS`` (RQ's maintenance tick)."""

    recover_runs: Callable[[], list[int]] | None = None

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        if self.recover_runs is None:
            return
        try:
            self.recover_runs()
        except Exception:  # the database or Redis is away: try again next tick, keep the worker up
            log.exception("recovering interrupted runs failed")


def run_worker(ctx: AppContext, burst: bool = False) -> int:
    """``python -m crm worker``: run jobs from the queue until stopped (SIGTERM finishes the current job
    first), or with ``burst`` until the queue is empty."""
    if not ctx.settings.queue_url:
        raise NotConfigured("Set CRM_QUEUE_URL=redis://… to run a queue worker.")
    config = QueueConfig.parse(ctx.settings.queue_url)
    # Its own connection: RQ raises the socket timeout on it to outlast its blocking dequeue.
    connection = Redis.from_url(config.redis_url, socket_connect_timeout=5)
    try:
        connection.ping()
    except RedisError as exc:
        raise NotConfigured(f"Cannot reach the queue's Redis at {config.redacted}: {exc}") from None
    runner = QueueRunner(ctx.settings.queue_url)
    name = f"{config.name}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    worker = PushWorker(
        [config.name],
        name=name,
        connection=connection,
        serializer=JSONSerializer,
        worker_ttl=WORKER_TTL,
        maintenance_interval=RECOVERY_SECONDS,
        default_result_ttl=RESULT_TTL,
    )
    worker.recover_runs = lambda: recover(ctx, runner)
    previous = _worker_context.install(ctx)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.work(burst=burst)  # installs RQ's warm-shutdown handlers for SIGINT and SIGTERM
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        _worker_context.install(previous)
        connection.close()
    return 0


# ----- the rate limit shared by every worker ---------------------------------------------------------


def hubspot_governor(queue_url: str, account_key: str, tier: str) -> Governor | None:
    """The HubSpot account's rate governor in Redis, shared by the app and every worker on this queue.
    None for an unknown tier (the adapter refuses it with the list of tiers)."""
    from crm import hubspot

    limit = hubspot.TIER_LIMITS.get(tier)
    if limit is None:
        return None
    window = hubspot.RATE_WINDOW
    config = QueueConfig.parse(queue_url)
    # One key per account, whatever the tier: two processes configured differently still share a window.
    key = f"{config.name}:hubspot:{account_key}"
    return governor_for(
        f"redis:{config.redis_url}:{key}:{limit}:{window}",
        lambda: RedisGovernor(redis_client(config.redis_url), key, limit, window),
    )
