"""Real ``python -m crm worker`` processes on one PostgreSQL database and one Redis queue, pushing to an
HTTP HubSpot sandbox: each run executed exactly once, a SIGKILLed worker's run finished without
duplicates, and a cancel obeyed after the current batch."""

from __future__ import annotations

import pytest
from queue_support import (
    Workers,
    WriteTap,
    actions,
    get_run,
    new_run,
    records,
    sandbox_emails,
    wait_for,
    worker_id,
)
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from crm.batching import NOT_SENT
from crm.sandbox.server import SandboxHTTPServer
from service import runs
from service.context import AppContext
from service.queue import QueueRunner, perform

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]


def test_two_workers_execute_each_run_exactly_once_even_when_delivered_twice(
    queue_ctx: AppContext,
    queue_name: str,
    redis_conn: Redis,
    hubspot_server: SandboxHTTPServer,
    workers: Workers,
) -> None:
    runner = QueueRunner(queue_ctx.settings.queue_url or "")
    first, second = new_run(queue_ctx, 300, "a.example"), new_run(queue_ctx, 300, "b.example")
    queue = Queue(queue_name, connection=redis_conn, serializer=JSONSerializer)
    for run_id in (first, second):
        runner.submit("push", run_id)
        # the same job delivered again (a redelivery, a person re-enqueueing it by hand)
        queue.enqueue(perform, "push", run_id, job_id=f"{queue_name}-again-{run_id}")
    # each run's writes wait until the other run writes too: both must be in flight at once
    tap = WriteTap(hubspot_server.app, meet=2)
    try:
        procs = [workers.start("--burst"), workers.start("--burst")]
        assert workers.wait(procs) == [0, 0], workers.logs()
    finally:
        tap.uninstall()

    assert tap.met_in_time, "the two runs never ran at the same time\n" + workers.logs()
    done = [get_run(queue_ctx, run_id) for run_id in (first, second)]
    assert [(r.state, r.created, r.failed) for r in done] == [("completed", 300, 0)] * 2
    # claimed once each, by different workers (each waited for the other's run)
    assert {r.worker for r in done} == {worker_id(p) for p in procs}
    assert set(tap.counts.values()) == {1} and len(tap.counts) == 600  # every email sent exactly once
    emails = sandbox_emails(hubspot_server.app)
    assert len(emails) == len(set(emails)) == 600
    # all four deliveries ran to the end; the two that lost the claim returned without sending anything
    for run_id in (first, second):
        for job_id in (f"{queue_name}-push-{run_id}", f"{queue_name}-again-{run_id}"):
            job = Job.fetch(job_id, connection=redis_conn, serializer=JSONSerializer)
            assert job.get_status() == JobStatus.FINISHED, workers.logs()
            assert job.return_value()["worker"] in {worker_id(p) for p in procs}  # type: ignore[index]


@pytest.mark.parametrize("finisher", ["another-worker", "cli-resume"])
def test_a_sigkilled_workers_run_is_finished_without_duplicates(
    finisher: str,
    queue_ctx: AppContext,
    queue_name: str,
    redis_conn: Redis,
    hubspot_server: SandboxHTTPServer,
    workers: Workers,
) -> None:
    run_id = new_run(queue_ctx, 500, "kill.example")  # five batches of 100, one at a time
    QueueRunner(queue_ctx.settings.queue_url or "").submit("push", run_id)
    tap = WriteTap(hubspot_server.app, hold_after=1)  # the second batch waits at the CRM
    try:
        victim = workers.start()
        wait_for(tap.held.is_set, "the push to reach its second batch")
        assert actions(queue_ctx, run_id) == {"created": 100, "pending": 400}
        sent_before = {
            r.email.lower() for r in records(queue_ctx, run_id) if r.action == "created" and r.email
        }
        victim.kill()  # SIGKILL, mid-batch: the CRM gets batch 2, its answer is lost
        victim.wait()
        tap.release()
        wait_for(
            lambda: tap.write_requests >= 2 and len(sandbox_emails(hubspot_server.app)) == 200, "batch 2"
        )
        assert get_run(queue_ctx, run_id).state == "running"  # nobody has noticed yet

        if finisher == "another-worker":  # it reaps at start, and queues the run to resume
            rescuer = workers.start("--burst")
            assert workers.wait([rescuer]) == [0], workers.logs()
            assert get_run(queue_ctx, run_id).worker == worker_id(rescuer)
            assert Job.exists(f"{queue_name}-resume-{run_id}", connection=redis_conn)
        else:
            done = workers.run_cli("resume", str(run_id), "--json")
            assert done.returncode == 0, done.stderr
    finally:
        tap.uninstall()

    run = get_run(queue_ctx, run_id)
    assert (run.state, run.created + run.updated, run.failed) == ("completed", 500, 0), workers.logs()
    assert actions(queue_ctx, run_id)["pending"] == 0
    emails = sandbox_emails(hubspot_server.app)
    assert len(emails) == len(set(emails)) == 500  # no duplicate contact
    assert all(tap.counts[email] == 1 for email in sent_before)  # no recorded success sent again
    resent = [email for email, count in tap.counts.items() if count > 1]
    assert len(resent) <= 100 and max(tap.counts.values()) == 2  # only the batch whose answer was lost


def test_cancel_stops_a_queued_push_after_the_current_batch(
    queue_ctx: AppContext, hubspot_server: SandboxHTTPServer, workers: Workers
) -> None:
    run_id = new_run(queue_ctx, 500, "cancel.example")
    QueueRunner(queue_ctx.settings.queue_url or "").submit("push", run_id)
    tap = WriteTap(hubspot_server.app, hold_after=1)
    try:
        proc = workers.start("--burst")
        wait_for(tap.held.is_set, "the push to reach its second batch")
        assert runs.cancel(queue_ctx, run_id)  # from the page, mid-batch
        tap.release()
        assert workers.wait([proc]) == [0], workers.logs()
    finally:
        tap.uninstall()

    run = get_run(queue_ctx, run_id)
    assert (run.state, run.created, run.failed) == ("cancelled", 200, 300)  # the batch in flight counted
    final = records(queue_ctx, run_id)
    assert {r.error_code for r in final if r.action == "failed"} == {NOT_SENT}
    created = {r.email.lower() for r in final if r.action == "created" and r.email}
    assert set(sandbox_emails(hubspot_server.app)) == created  # what was sent is what was recorded
