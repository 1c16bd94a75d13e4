"""The queue runner in this process: what ``submit`` puts on RQ, when a job is enqueued again, and how a
starting worker recovers interrupted runs (the worker runs here, in burst mode, on the real Redis)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from queue_support import actions, get_run, new_run, sandbox_emails
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from sqlalchemy import update

from crm.errors import NotConfigured
from crm.governor import RollingWindowGovernor
from crm.sandbox.server import SandboxHTTPServer
from data.models import PushRun, utcnow
from service import adapters, connections, runs
from service.context import AppContext
from service.jobs import runner_for
from service.queue import (
    FAILURE_TTL,
    JOB_TIMEOUT,
    MAX_RECOVERIES,
    RESULT_TTL,
    QueueConfig,
    QueueRunner,
    QueueUnavailable,
    run_worker,
)
from service.redis_governor import RedisGovernor


def test_the_queue_url_names_the_redis_server_and_the_queue() -> None:
    config = QueueConfig.parse(
        "redis://:s3cret@cache.internal:6380/2?queue=staging-push&health_check_interval=5"
    )
    assert config.name == "staging-push"
    assert config.redis_url == "redis://:s3cret@cache.internal:6380/2?health_check_interval=5"
    assert "s3cret" not in config.redacted and "cache.internal:6380/2" in config.redacted
    assert QueueConfig.parse("redis://127.0.0.1:6379/0").name == "crm-push"
    with pytest.raises(NotConfigured, match="only hold letters"):
        QueueConfig.parse("redis://127.0.0.1:6379/0?queue=a:b")
    with pytest.raises(NotConfigured, match="redis://"):
        QueueConfig.parse("http://127.0.0.1:6379/0")


def test_submit_says_so_when_the_queue_is_unreachable() -> None:
    runner = QueueRunner("redis://:s3cret@127.0.0.1:1/0")  # nothing listens on port 1
    with pytest.raises(QueueUnavailable, match=r"job queue at redis://:\*\*\*@127.0.0.1:1/0") as caught:
        runner.submit("push", 7)
    assert "run #7 was not started" in caught.value.message and "s3cret" not in caught.value.message


def test_submit_enqueues_perform_once_per_kind_and_run(queue_ctx: AppContext, queue_name: str) -> None:
    runner = runner_for(queue_ctx)
    assert isinstance(runner, QueueRunner)
    runner.submit("push", 41)
    runner.submit("push", 41)  # a double click
    runner.submit("status", 41)  # another job of the same run
    queue = Queue(queue_name, connection=runner.redis, serializer=JSONSerializer)
    assert queue.job_ids == [f"{queue_name}-push-41", f"{queue_name}-status-41"]

    job = Job.fetch(f"{queue_name}-push-41", connection=runner.redis, serializer=JSONSerializer)
    assert job.func_name == "service.queue.perform"
    assert list(job.args) == ["push", 41]
    assert (job.timeout, job.result_ttl, job.failure_ttl) == (JOB_TIMEOUT, RESULT_TTL, FAILURE_TTL)
    assert job.ttl is None  # a queued run waits for a worker however long that takes
    with pytest.raises(ValueError, match="unknown job kind 'export'"):
        runner.submit("export", 41)


def test_a_done_job_is_enqueued_again_but_a_waiting_one_is_not(
    queue_ctx: AppContext, queue_name: str, redis_conn: Redis
) -> None:
    runner = QueueRunner(queue_ctx.settings.queue_url or "")
    job_id = f"{queue_name}-status-987654"
    runner.submit("status", 987654)  # no such run: the job fails in the worker
    assert run_worker(queue_ctx, burst=True) == 0
    failed = Job.fetch(job_id, connection=redis_conn, serializer=JSONSerializer)
    assert failed.get_status() == JobStatus.FAILED
    assert "No run #987654" in (failed.latest_result().exc_string or "")  # type: ignore[union-attr]

    assert runner.enqueue("status", 987654)  # the failed job gave its id up
    assert not runner.enqueue("status", 987654)  # this one is waiting
    queued = Job.fetch(job_id, connection=redis_conn, serializer=JSONSerializer)
    assert queued.get_status() == JobStatus.QUEUED
    assert Queue(queue_name, connection=redis_conn).count == 1


def _die(ctx: AppContext, run_id: int) -> None:
    """Make the run look like one whose worker, on another host, went silent two minutes ago."""
    with ctx.db.begin() as session:
        session.execute(
            update(PushRun)
            .where(PushRun.id == run_id)
            .values(state="running", worker="gone-host:4242", heartbeat_at=utcnow() - timedelta(minutes=2))
        )


def test_a_starting_worker_resumes_the_interrupted_runs_of_its_queue(
    queue_ctx: AppContext, queue_name: str, redis_conn: Redis, hubspot_server: SandboxHTTPServer
) -> None:
    runner = QueueRunner(queue_ctx.settings.queue_url or "")
    queued_here = new_run(queue_ctx, 150, "q.example")
    elsewhere = new_run(queue_ctx, 20, "c.example")
    worn_out = new_run(queue_ctx, 20, "w.example")
    for run_id in (queued_here, worn_out):
        runner.submit("push", run_id)
        Queue(queue_name, connection=redis_conn).pop_job_id()  # a worker took it ...
    for run_id in (queued_here, elsewhere, worn_out):
        _die(queue_ctx, run_id)  # ... and died; `elsewhere` ran in the CLI, with no job on the queue
    redis_conn.set(f"{queue_name}:recoveries:{worn_out}", MAX_RECOVERIES)

    assert run_worker(queue_ctx, burst=True) == 0  # reaps, re-enqueues, runs the resume job, exits

    done = get_run(queue_ctx, queued_here)
    assert (done.state, done.created, done.worker) == ("completed", 150, runs.WORKER)
    assert actions(queue_ctx, queued_here) == {"created": 150}
    resume = Job.fetch(f"{queue_name}-resume-{queued_here}", connection=redis_conn, serializer=JSONSerializer)
    assert resume.return_value() == {
        "kind": "resume",
        "run_id": queued_here,
        "worker": runs.WORKER,
        "state": "completed",
    }
    assert redis_conn.get(f"{queue_name}:recoveries:{queued_here}") == b"1"
    emails = sandbox_emails(hubspot_server.app)
    assert len(emails) == len(set(emails)) == 150
    # a run of the CLI, and one that already died MAX_RECOVERIES times, wait for a person
    assert get_run(queue_ctx, elsewhere).state == "interrupted"
    assert get_run(queue_ctx, worn_out).state == "interrupted"
    assert not Job.exists(f"{queue_name}-resume-{elsewhere}", connection=redis_conn)
    assert not Job.exists(f"{queue_name}-resume-{worn_out}", connection=redis_conn)


def test_hubspot_adapters_share_a_redis_governor_only_in_queue_mode(queue_ctx: AppContext) -> None:
    conn = connections.get(queue_ctx, "hubspot")
    assert conn is not None
    adapter = adapters.build_adapter(queue_ctx, conn)
    try:
        governor = adapter.governor  # type: ignore[attr-defined]
        assert isinstance(governor, RedisGovernor)
        account = conn.settings["identity"]["account_id"]
        assert governor.key.endswith(f":hubspot:{account}")
        assert governor.limit == 190  # the connection's tier: professional
    finally:
        adapter.close()

    embedded = replace(queue_ctx, settings=replace(queue_ctx.settings, queue_url=None))
    adapter = adapters.build_adapter(embedded, conn)
    try:
        assert isinstance(adapter.governor, RollingWindowGovernor)  # type: ignore[attr-defined]
    finally:
        adapter.close()
