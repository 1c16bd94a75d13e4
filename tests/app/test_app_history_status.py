"""History page: Check status finds what happened in the CRM since the push (deleted, merged, converted,
changed), shows it live and keeps it for the next visit; Resume finishes an interrupted run without
sending a success again or creating a duplicate."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from app_harness import AppHarness, texts
from streamlit.testing.v1 import AppTest
from test_app_history_support import (
    NA_SAAS,
    OBJECTS,
    WAIT_SECONDS,
    HeldCalls,
    buttons,
    context,
    fresh_sandboxes,
    history_page,
    open_run,
    push,
    records,
    records_table,
    run,
    set_run,
    wait_for,
)

from crm import sandbox
from crm.model import LeadRecord
from crm.push import MemoryRecorder, run_push
from data import runs as store
from data.models import PushRecord, utcnow
from service import adapters, connections, history
from service.context import AppContext
from ui import services

RECORD_PATHS = {
    "hubspot": "/crm/v3/objects/contacts/{id}",
    "salesforce": "/services/data/v68.0/sobjects/Lead/{id}",
}
TITLE = {"hubspot": "jobtitle", "salesforce": "Title"}
READS = {"hubspot": ("contacts.batch_read",), "salesforce": ("collections.retrieve",)}


@pytest.fixture(autouse=True)
def _sandboxes() -> Iterator[None]:
    with fresh_sandboxes():
        yield


def crm_client(provider: str) -> httpx.Client:
    """The test acting as a person in the CRM, on the in-process sandbox the app's connection uses."""
    app = sandbox.shared(provider)
    return httpx.Client(
        transport=sandbox.SandboxTransport(app),
        base_url=app.base_url,
        headers={"Authorization": f"Bearer {app.options.token}"},
    )


def edit_in_crm(provider: str, pushed: list[PushRecord]) -> dict[str, PushRecord]:
    """Delete one record, change another's title, and merge (HubSpot) or convert and merge (Salesforce)
    others, as CRM users do between a push and a check. Returns the records touched, by what happened."""
    touched = {"deleted": pushed[3], "changed": pushed[7], "merged": pushed[11]}
    path = RECORD_PATHS[provider]
    with crm_client(provider) as client:
        client.delete(path.format(id=touched["deleted"].crm_id)).raise_for_status()
        title = {"jobtitle": "Changed in the CRM"} if provider == "hubspot" else None
        body = {"properties": title} if title else {"Title": "Changed in the CRM"}
        client.patch(path.format(id=touched["changed"].crm_id), json=body).raise_for_status()
        if provider == "hubspot":
            merge = {"primaryObjectId": pushed[12].crm_id, "objectIdToMerge": touched["merged"].crm_id}
            client.post("/crm/v3/objects/contacts/merge", json=merge).raise_for_status()
        else:
            merge = {"masterId": pushed[12].crm_id, "mergedId": touched["merged"].crm_id}
            client.post("/__sandbox/merge", json=merge).raise_for_status()
            touched["converted"] = pushed[15]
            client.post(f"/__sandbox/convert/{pushed[15].crm_id}", json={}).raise_for_status()
    return touched


def checked(ctx: AppContext, run_id: int, after: Any) -> bool:
    return history.check_progress(ctx, run_id, after).finished


@pytest.mark.parametrize("provider", ["hubspot", "salesforce"])
def test_check_status_finds_records_deleted_merged_converted_or_changed_since_the_push(
    crm_app: AppHarness, provider: str
) -> None:
    ctx = context()
    run_id = push(ctx, provider, NA_SAAS)
    pushed = [r for r in records(ctx, run_id) if r.action == "created"]
    touched = edit_in_crm(provider, pushed)
    at = open_run(history_page(crm_app, analyst=True), run_id)  # analysts check too
    assert "Never checked." in texts(at)

    with HeldCalls(sandbox.shared(provider), READS[provider]) as reads:
        buttons(at)["Check status"].click().run()
        assert reads.held.wait(WAIT_SECONDS)
        assert f"Checking… 0 of {len(pushed)} records read back" in _progress(at)
        assert buttons(at)["Check status"].disabled  # one check at a time
    wait_for(lambda: checked(ctx, run_id, None), "the status check")
    at.run()  # the progress fragment sees the check done and reruns the page

    shown = texts(at)
    assert f"Status check done: {len(pushed)} records read back." in shown
    # A HubSpot merge makes a new record that both old ids point to; Salesforce keeps the master.
    expected = {"deleted": 1, "merged": 2 if provider == "hubspot" else 1, "changed since the push": 1}
    expected |= {"converted": 1} if provider == "salesforce" else {}
    unchanged = len(pushed) - sum(expected.values())
    summary = next(w.value for w in at.warning if w.value.startswith("Last checked "))
    assert f"{len(pushed)} records — {unchanged} unchanged" in summary
    assert all(f"{n} {what}" in summary for what, n in expected.items())

    table = records_table(at).set_index("CRM id")
    assert table.loc[touched["deleted"].crm_id, "Now in the CRM"] == "deleted"
    assert table.loc[touched["merged"].crm_id, "Now in the CRM"] == "merged"
    diff = table.loc[touched["changed"].crm_id, "Changed (pushed → now)"]
    pushed_title = touched["changed"].payload[TITLE[provider]]
    assert diff == f"{TITLE[provider]}: {pushed_title} → Changed in the CRM"
    assert table.loc[touched["changed"].crm_id, "Modified in CRM"]  # the CRM's last-modified time

    at.selectbox(key=f"history_check_filter_{run_id}").set_value("changed").run()
    assert list(records_table(at)["CRM id"]) == [touched["changed"].crm_id]
    at.selectbox(key=f"history_check_filter_{run_id}").set_value("deleted").run()
    assert list(records_table(at)["CRM id"]) == [touched["deleted"].crm_id]
    if provider == "salesforce":
        at.selectbox(key=f"history_check_filter_{run_id}").set_value("converted").run()
        assert list(records_table(at)["CRM id"]) == [touched["converted"].crm_id]
    assert not at.exception

    later = open_run(history_page(crm_app), run_id)  # another session, another day: the findings stay
    assert any(w.value == summary for w in later.warning)
    assert not later.exception


def test_a_check_that_the_crm_refuses_ends_with_the_reason_to_act_on(crm_app: AppHarness) -> None:
    ctx = context()
    run_id = push(ctx, "hubspot", NA_SAAS)
    at = open_run(history_page(crm_app), run_id)
    sandbox.shared("hubspot").configure(token="rotated-token")  # the CRM now refuses our token

    with HeldCalls(sandbox.shared("hubspot"), READS["hubspot"]) as reads:
        buttons(at)["Check status"].click().run()
        assert reads.held.wait(WAIT_SECONDS) and "Checking…" in _progress(at)
    wait_for(lambda: _job_done(run_id), "the failed check")
    at.run()

    assert "The status check stopped before it finished" in texts(at)
    assert run(ctx, run_id).last_check_at is None and not buttons(at)["Check status"].disabled
    assert not at.exception


def _job_done(run_id: int) -> bool:
    runner: Any = services.job_runner()  # the embedded runner of this process (jobs are its threads)
    runner.wait("status", run_id, timeout=WAIT_SECONDS)
    return True


def _ended(ctx: AppContext, run_id: int) -> Any:
    found = run(ctx, run_id)
    return found if found.state not in ("interrupted", "running") else None


def _progress(at: AppTest) -> str:
    return "\n".join(str(bar.proto.text) for bar in at.get("progress"))


def test_resume_finishes_an_interrupted_run_sending_no_success_again(crm_app: AppHarness) -> None:
    ctx = context()
    app = sandbox.shared("hubspot")
    run_id = push(ctx, "hubspot", NA_SAAS, execute=False)
    conn = connections.get(ctx, "hubspot")
    assert conn is not None
    with ctx.db.begin() as session:  # a worker on another machine sent and recorded 40 rows, then died
        assert store.claim_run(session, run_id, "elsewhere:4242")
        first = store.pending_records(session, run_id)[:40]
    leads = [LeadRecord(str(r.row_index), r.email or "", r.payload, r.payload_hash) for r in first]
    done = MemoryRecorder()
    run_push(adapters.adapter_for(ctx, "hubspot", OBJECTS["hubspot"]), leads, recorder=done)
    results = [store.ResultRow(int(r.key), str(r.action), r.crm_id) for r in done.results]
    with ctx.db.begin() as session:
        store.record_results(session, run_id, results, connection_id=conn.id, object_name="contacts")
    set_run(ctx, run_id, heartbeat_at=utcnow() - timedelta(minutes=5))
    sent_before = {r.email.lower() for r in first if r.email}

    at = open_run(history_page(crm_app, analyst=True), run_id)  # analysts may resume
    assert run(ctx, run_id).state == "interrupted"
    assert "Interrupted" in texts(at) and "Check status" in buttons(at)
    with HeldCalls(app, HeldCalls.WRITES) as log:
        buttons(at)["Resume"].click().run()
        assert "Resuming run" in texts(at) and "Resume" not in buttons(at)
        assert log.held.wait(WAIT_SECONDS)
        at.run()
        assert "Pushing… 40 of 102 rows done" in _progress(at)
        log.release()
        finished = wait_for(lambda: _ended(ctx, run_id), "the resumed run")
    at.run()

    assert finished.state == "completed" and finished.created == 102 and finished.worker != "elsewhere:4242"
    assert sum(log.emails.values()) == 102 - 40 and not set(log.emails) & sent_before  # no success again
    emails = [str(c["properties"].get("email", "")).lower() for c in app.dump()]
    assert len(emails) == len(set(emails)) == 102  # and no duplicate
    assert "Resume" not in buttons(at) and "Completed" in texts(at)
    assert socket.gethostname() in (finished.worker or "")
    assert not at.exception
