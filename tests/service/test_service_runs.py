"""Push runs through the service layer, against the in-process sandboxes, on SQLite and PostgreSQL:
one final record per row, change detection, dry runs, locks, cancel, retry and resume."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from service_support import (
    DACH,
    NA_SAAS,
    OBJECTS,
    SentEmails,
    actions,
    campaign_id,
    campaign_rows,
    get_run,
    import_generated,
    push_request,
    records,
    sandbox_emails,
    writes,
)
from sqlalchemy import update

from crm import sandbox
from crm.errors import NotConfigured
from crm.model import LeadRecord
from crm.push import MemoryRecorder, run_push
from data import runs as store
from data.leads import save_lead_edits
from data.models import PushRun, utcnow
from data.runs import RunLocked
from service import adapters, connections, runs
from service.auth import SYSTEM
from service.context import AppContext

PROVIDERS = ["hubspot", "salesforce"]


def push(ctx: AppContext, request: runs.PushRequest) -> PushRun:
    run_id = runs.create(ctx, request)
    runs.execute(ctx, run_id)
    return get_run(ctx, run_id)


def assert_one_final_record_per_row(ctx: AppContext, run: PushRun, rows: int) -> Counter[str]:
    found = actions(ctx, run.id)
    assert sum(found.values()) == run.total == rows
    assert "pending" not in found
    assert found == Counter(
        {k: v for k, v in {"created": run.created, "updated": run.updated, "skipped": run.skipped,
                           "failed": run.failed}.items() if v}
    )  # fmt: skip
    return found


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("provider", PROVIDERS)
def test_push_records_every_row_once_then_skips_unchanged_rows(demo_ctx: AppContext, provider: str) -> None:
    app = sandbox.shared(provider)
    assert connections.connect_sandbox(demo_ctx, SYSTEM, provider).ok
    request = push_request(demo_ctx, provider, NA_SAAS)

    first = push(demo_ctx, request)

    assert_one_final_record_per_row(demo_ctx, first, 102)
    done = [r for r in records(demo_ctx, first.id) if r.action == "created"]
    emails = sandbox_emails(app)
    assert sorted(emails) == sorted(r.email.lower() for r in done if r.email)  # each exactly once
    assert first.created == len(emails) and first.updated == 0 and first.finished_at is not None
    if provider == "hubspot":
        assert first.state == "completed" and first.created == 102
    else:  # the demo has a lead without a last name and one without a company, both required
        assert first.state == "partial" and first.failed == 2
        failed = [r for r in records(demo_ctx, first.id) if r.action == "failed"]
        assert {r.error_code for r in failed} == {"REQUIRED_FIELD_MISSING"}
    assert first.api_calls > 0

    writes_before = writes(app)
    second = push(demo_ctx, request)

    assert_one_final_record_per_row(demo_ctx, second, 102)
    assert second.skipped == first.created and second.created == second.updated == 0
    skipped = [r for r in records(demo_ctx, second.id) if r.action == "skipped"]
    assert {r.error_code for r in skipped} == {"UNCHANGED"}
    assert writes(app) == writes_before  # no write call at all

    forced = push(demo_ctx, push_request(demo_ctx, provider, NA_SAAS, force_full=True))

    assert forced.updated == first.created and forced.created == 0 and forced.skipped == 0
    assert writes(app) > writes_before
    assert len(sandbox_emails(app)) == len(set(sandbox_emails(app))) == first.created


@pytest.mark.parametrize("provider", PROVIDERS)
def test_dry_run_writes_nothing_and_agrees_with_the_push_that_follows(
    sqlite_demo_ctx: AppContext, provider: str
) -> None:
    ctx = sqlite_demo_ctx
    app = sandbox.shared(provider)
    assert connections.connect_sandbox(ctx, SYSTEM, provider).ok
    rows = campaign_rows(ctx, campaign_id(ctx, NA_SAAS))
    push(ctx, push_request(ctx, provider, NA_SAAS, rows=rows[:30]))  # some are there already
    for row in rows[:5]:
        row["title"] = "Chief Everything Officer"  # and changed since
    contacts, writes_before = sandbox_emails(app), writes(app)

    dry = push(ctx, push_request(ctx, provider, NA_SAAS, rows=rows, dry_run=True))

    assert dry.dry_run and dry.state in ("completed", "partial")
    assert sandbox_emails(app) == contacts and writes(app) == writes_before
    predicted = {r.row_index: r for r in records(ctx, dry.id)}
    assert dry.updated == 5 and dry.skipped == 25 and dry.created == len(rows) - 30 - dry.failed
    title = "jobtitle" if provider == "hubspot" else "Title"
    changed = [r for r in predicted.values() if r.action == "updated"]
    assert all(r.changes and r.changes[0][0] == title and r.changes[0][2] == "Chief Everything Officer"
               for r in changed)  # fmt: skip

    real = push(ctx, push_request(ctx, provider, NA_SAAS, rows=rows))

    actual = {r.row_index: r.action for r in records(ctx, real.id)}
    assert actual == {index: r.action for index, r in predicted.items()}
    assert (real.created, real.updated, real.skipped, real.failed) == (
        dry.created, dry.updated, dry.skipped, dry.failed,
    )  # fmt: skip


def test_the_same_campaign_twice_at_once_is_locked(demo_ctx: AppContext) -> None:
    assert connections.connect_sandbox(demo_ctx, SYSTEM, "hubspot").ok
    request = push_request(demo_ctx, "hubspot", DACH)
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def create() -> None:
        barrier.wait()
        try:
            outcomes.append(runs.create(demo_ctx, request))
        except RunLocked as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    winners = [o for o in outcomes if isinstance(o, int)]
    locked = [o for o in outcomes if isinstance(o, RunLocked)]
    assert len(winners) == 1 and len(locked) == 1
    assert (
        str(locked[0])
        == f"A push of {request.source_label} to hubspot is already running (run #{winners[0]})"
    )
    assert runs.create(demo_ctx, push_request(demo_ctx, "hubspot", DACH, dry_run=True))  # a dry run may
    runs.execute(demo_ctx, winners[0])
    assert get_run(demo_ctx, winners[0]).state == "completed"
    assert push(demo_ctx, request).state == "completed"  # the lock went with the run's end


def test_two_campaigns_at_once_both_complete(demo_ctx: AppContext) -> None:
    assert connections.connect_sandbox(demo_ctx, SYSTEM, "hubspot").ok
    requests = [push_request(demo_ctx, "hubspot", name) for name in (NA_SAAS, DACH)]
    run_ids = [runs.create(demo_ctx, r) for r in requests]
    errors: list[BaseException] = []

    def execute(run_id: int) -> None:
        try:
            runs.execute(demo_ctx, run_id)
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=execute, args=(run_id,)) for run_id in run_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    done = [get_run(demo_ctx, run_id) for run_id in run_ids]
    assert [(r.state, r.created, r.failed) for r in done] == [("completed", 102, 0), ("completed", 85, 0)]
    for run in done:
        assert_one_final_record_per_row(demo_ctx, run, run.total)
    emails = sandbox_emails(sandbox.shared("hubspot"))
    assert len(emails) == len(set(emails)) == 187


def test_cancel_mid_run_records_unsent_rows_as_not_sent(app_ctx: AppContext) -> None:
    app = sandbox.shared("hubspot")
    assert connections.connect_sandbox(app_ctx, SYSTEM, "hubspot").ok
    cid = import_generated(app_ctx, "Big list", 1500, "cancel.example")
    run_id = runs.create(app_ctx, push_request(app_ctx, "hubspot", cid))
    cancelled: list[bool] = []

    def cancel_once(progress: Any) -> None:
        if not cancelled:
            cancelled.append(runs.cancel(app_ctx, run_id))

    runs.execute(app_ctx, run_id, on_progress=cancel_once)

    run = get_run(app_ctx, run_id)
    assert cancelled == [True] and run.state == "cancelled" and run.cancel_requested
    assert 0 < run.created < 1500 and run.created + run.failed == 1500
    assert_one_final_record_per_row(app_ctx, run, 1500)
    failed = [r for r in records(app_ctx, run_id) if r.action == "failed"]
    assert {r.error_code for r in failed} == {"NOT_SENT"}
    assert all("cancelled" in (r.error_message or "") for r in failed)
    assert len(sandbox_emails(app)) == run.created  # what is recorded as sent is what the CRM holds
    assert runs.cancel(app_ctx, run_id) is False  # it has ended


def test_cancel_of_a_queued_run_is_immediate_and_it_never_runs(sqlite_demo_ctx: AppContext) -> None:
    ctx = sqlite_demo_ctx
    assert connections.connect_sandbox(ctx, SYSTEM, "hubspot").ok
    run_id = runs.create(ctx, push_request(ctx, "hubspot", DACH))

    assert runs.cancel(ctx, run_id) is True
    assert runs.execute(ctx, run_id) is None
    assert get_run(ctx, run_id).state == "cancelled" and sandbox_emails(sandbox.shared("hubspot")) == []


def test_retry_failed_sends_only_the_failed_rows_as_fixed_since(sqlite_demo_ctx: AppContext) -> None:
    ctx = sqlite_demo_ctx
    app = sandbox.shared("salesforce")
    assert connections.connect_sandbox(ctx, SYSTEM, "salesforce").ok
    cid = campaign_id(ctx, NA_SAAS)
    rows = campaign_rows(ctx, cid)
    long_title = rows[0]
    with ctx.db.begin() as session:  # our database takes 255 characters; Salesforce's Title 128
        assert save_lead_edits(session, cid, [{"id": long_title["id"], "title": "Director " * 20}]) == []
    first = push(ctx, push_request(ctx, "salesforce", NA_SAAS))
    failed = {r.email: r for r in records(ctx, first.id) if r.action == "failed"}
    assert len(failed) == 3 and failed[long_title["email"]].error_code == "TOO_LONG"
    without_company = next(e for e, r in failed.items() if "Company" in (r.error_message or ""))
    without_last_name = next(e for e, r in failed.items() if "Last Name" in (r.error_message or ""))
    by_email = {r["email"]: r for r in rows}
    with ctx.db.begin() as session:  # the analyst fixes two of the three
        edits = [
            {"id": long_title["id"], "title": "Director"},
            {"id": by_email[without_company]["id"], "company": "Fixed Company Ltd"},
        ]
        assert save_lead_edits(session, cid, edits) == []

    retry_id = runs.retry_failed(ctx, first.id, SYSTEM)
    runs.execute(ctx, retry_id)

    retry = get_run(ctx, retry_id)
    assert (retry.parent_run_id, retry.parent_kind, retry.campaign_id) == (first.id, "retry", cid)
    assert retry.total == 3 and retry.created == 2 and retry.failed == 1
    outcome = {r.email: r.action for r in records(ctx, retry_id)}
    assert outcome == {
        long_title["email"]: "created",
        without_company: "created",
        without_last_name: "failed",
    }
    lead = next(r for r in app.dump()["Lead"] if r["Email"] == long_title["email"])
    assert lead["Title"] == "Director"
    assert len(sandbox_emails(app)) == len(set(sandbox_emails(app))) == 101
    with pytest.raises(ValueError, match="no failed rows"):
        runs.retry_failed(
            ctx,
            push(ctx, push_request(ctx, "salesforce", DACH)).id,
            SYSTEM,
        )
    with pytest.raises(ValueError, match="No run #999999"):
        runs.retry_failed(ctx, 999_999, SYSTEM)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_resume_of_an_interrupted_run_resends_no_success(
    demo_ctx: AppContext, provider: str, sent_emails: Any
) -> None:
    app = sandbox.shared(provider)
    assert connections.connect_sandbox(demo_ctx, SYSTEM, provider).ok
    run_id = runs.create(demo_ctx, push_request(demo_ctx, provider, NA_SAAS))
    conn = connections.get(demo_ctx, provider)
    assert conn is not None
    # A worker that died after sending and recording its first 40 rows:
    with demo_ctx.db.begin() as session:
        assert store.claim_run(session, run_id, f"{socket.gethostname()}:{dead_pid()}")
        first = store.pending_records(session, run_id)[:40]
    leads = [LeadRecord(str(r.row_index), r.email or "", r.payload, r.payload_hash) for r in first]
    done = MemoryRecorder()
    run_push(adapters.adapter_for(demo_ctx, provider, OBJECTS[provider]), leads, recorder=done)
    results = [
        store.ResultRow(int(r.key), str(r.action), r.crm_id, r.error_code, r.error_message)
        for r in done.results
    ]
    with demo_ctx.db.begin() as session:
        store.record_results(session, run_id, results, connection_id=conn.id, object_name=OBJECTS[provider])
    sent_before = {r.email.lower() for r in done.results if r.action == "created"}
    assert len(sent_before) >= 39
    counter: SentEmails = sent_emails(app)

    assert runs.reap(demo_ctx) == [run_id]
    assert get_run(demo_ctx, run_id).state == "interrupted"
    summary = runs.resume(demo_ctx, run_id)

    assert summary is not None and summary.total == 102 - 40
    run = get_run(demo_ctx, run_id)
    assert run.state == ("completed" if provider == "hubspot" else "partial")
    assert_one_final_record_per_row(demo_ctx, run, 102)
    assert counter.sent(sent_before) == 0  # no success was sent again
    refused_by_salesforce = 0 if provider == "hubspot" else 2  # failed before sending, in this part
    assert counter.write_requests > 0
    assert sum(counter.counts.values()) == 102 - 40 - refused_by_salesforce
    emails = sandbox_emails(app)
    assert len(emails) == len(set(emails)) == run.created  # and nothing was duplicated
    with pytest.raises(ValueError, match="only an interrupted run can be resumed"):
        runs.resume(demo_ctx, run_id)


def test_reap_leaves_live_workers_and_catches_silent_ones(sqlite_demo_ctx: AppContext) -> None:
    ctx = sqlite_demo_ctx
    assert connections.connect_sandbox(ctx, SYSTEM, "hubspot").ok
    live = runs.create(ctx, push_request(ctx, "hubspot", NA_SAAS))
    silent = runs.create(ctx, push_request(ctx, "hubspot", DACH))
    with ctx.db.begin() as session:
        store.claim_run(session, live, runs.WORKER)  # this very process: alive
        store.claim_run(session, silent, "another-host:4242")
        session.execute(
            update(PushRun).where(PushRun.id == silent).values(heartbeat_at=utcnow() - timedelta(minutes=5))
        )

    assert runs.reap(ctx) == [silent]
    assert get_run(ctx, live).state == "running" and get_run(ctx, silent).state == "interrupted"
    assert os.getpid() == int(runs.WORKER.rpartition(":")[2])


def test_a_run_whose_connection_is_gone_fails_every_row_with_the_reason(sqlite_demo_ctx: AppContext) -> None:
    ctx = sqlite_demo_ctx
    assert connections.connect_sandbox(ctx, SYSTEM, "hubspot").ok
    run_id = runs.create(ctx, push_request(ctx, "hubspot", DACH))
    connections.disconnect(ctx, SYSTEM, "hubspot")

    assert runs.execute(ctx, run_id) is None

    run = get_run(ctx, run_id)
    assert run.state == "failed" and run.failed == run.total == 85
    assert run.error_message and "No HubSpot connection yet" in run.error_message
    assert {r.error_message for r in records(ctx, run_id)} == {run.error_message}
    with pytest.raises(NotConfigured, match="HubSpot is not connected"):
        runs.create(ctx, push_request(ctx, "hubspot", DACH))


def test_a_run_the_crm_refuses_fails_with_its_reason_and_no_traceback(
    sqlite_demo_ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = sqlite_demo_ctx
    assert connections.connect_sandbox(ctx, SYSTEM, "hubspot").ok
    run_id = runs.create(ctx, push_request(ctx, "hubspot", DACH))
    sandbox.shared("hubspot").configure(token="rotated-at-hubspot")  # our saved token stops working

    with caplog.at_level(logging.WARNING, logger="service.runs"):
        assert runs.execute(ctx, run_id) is None

    run = get_run(ctx, run_id)
    assert run.state == "failed" and run.failed == run.total == 85
    assert run.error_message and run.error_message.startswith("HubSpot refused the credentials")
    [logged] = [r for r in caplog.records if r.name == "service.runs"]
    assert logged.levelno == logging.WARNING and logged.exc_info is None  # expected, not a bug


def test_refused_rows_count_in_the_total(sqlite_demo_ctx: AppContext) -> None:
    ctx = sqlite_demo_ctx
    assert connections.connect_sandbox(ctx, SYSTEM, "hubspot").ok
    rows = campaign_rows(ctx, campaign_id(ctx, DACH))[:10]
    refused = [
        (11, "not-an-email", "INVALID_EMAIL", "Not an address."),
        (12, "a@b.example", runs.FILTERED, "x"),
    ]

    run = push(ctx, push_request(ctx, "hubspot", DACH, rows=rows, refused=refused))

    assert run.total == 12 and run.created == 10 and run.failed == 1 and run.skipped == 1
    last = records(ctx, run.id)[-2:]
    assert [(r.row_index, r.action, r.error_code) for r in last] == [
        (11, "failed", "INVALID_EMAIL"),
        (12, "skipped", runs.FILTERED),
    ]
