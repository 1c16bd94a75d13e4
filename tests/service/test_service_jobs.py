"""The embedded job runner: pushes and status checks run on background threads, and a push's progress
can be read from the database while it runs (what the pages poll)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from service_support import (
    SentEmails,
    actions,
    get_run,
    import_generated,
    make_ctx,
    make_settings,
    push_request,
)

from crm import sandbox
from data.db import Database
from service import connections, runs
from service.auth import SYSTEM
from service.jobs import EmbeddedRunner, runner_for


def test_push_and_status_jobs_run_in_the_background(database: Database, sent_emails: Any) -> None:
    url = database.url.render_as_string(hide_password=False)
    ctx = make_ctx(database, make_settings(url, concurrency=1), demo=False)  # one batch at a time
    assert connections.connect_sandbox(ctx, SYSTEM, "hubspot").ok
    cid = import_generated(ctx, "Background list", 300, "jobs.example")  # three batches of 100
    run_id = runs.create(ctx, push_request(ctx, "hubspot", cid))
    held: SentEmails = sent_emails(sandbox.shared("hubspot"), block_after=1)  # the 2nd write waits
    runner = runner_for(ctx)
    assert isinstance(runner, EmbeddedRunner)
    try:
        runner.submit("push", run_id)
        assert held.blocked.wait(60), "the push never reached its second batch"

        # mid-run, from the database alone: the first batch is final, the rest pending
        running = get_run(ctx, run_id)
        assert running.state == "running" and running.created == 100 and running.heartbeat_at is not None
        assert actions(ctx, run_id) == {"created": 100, "pending": 200}

        held.gate.set()
        runner.wait("push", run_id, timeout=60)
        done = get_run(ctx, run_id)
        assert (done.state, done.created, done.failed) == ("completed", 300, 0)

        runner.submit("status", run_id)
        runner.wait("status", run_id, timeout=60)
        checked = get_run(ctx, run_id)
        assert checked.last_check_at is not None
    finally:
        held.gate.set()
        runner.shutdown()


def test_unknown_kinds_are_refused_and_failing_jobs_are_logged(
    sqlite_ctx: Any, caplog: pytest.LogCaptureFixture
) -> None:
    runner = EmbeddedRunner(sqlite_ctx, workers=1)
    try:
        with pytest.raises(ValueError, match="unknown job kind 'export'"):
            runner.submit("export", 1)
        with caplog.at_level(logging.ERROR, logger="service.jobs"):
            runner.submit("status", 987654)
            runner.wait("status", 987654, timeout=30)  # the failure stays in the job, logged
        assert "status job for run 987654 failed" in caplog.text
        assert "No run #987654" in caplog.text
    finally:
        runner.shutdown()
