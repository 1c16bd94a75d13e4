"""SalesforceAdapter's Bulk API 2.0 path (above ``bulk_threshold``) against the in-process sandbox: a
constant number of job calls whatever N, results joined back although the sandbox shuffles them, bulk
failures per row, and stopping cleanly.
"""

import csv
import io
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from crm.batching import NOT_SENT
from crm.model import (
    Action,
    LeadRecord,
    PushSummary,
    RecordResult,
    WriteKind,
    WriteOp,
)
from crm.push import MemoryRecorder
from crm.salesforce_bulk import RESULT_UNKNOWN
from crm.sandbox.salesforce import SalesforceSandbox

pytest.register_assert_rewrite("tests.crm.salesforce_support")  # before the import below, for its asserts
from tests.crm.salesforce_support import (  # noqa: E402
    DATA,
    POLL_ROUTES,
    RecordingTransport,
    SfAdapterFactory,
    assert_org_holds_exactly,
    lead_rows,
    live_by_email,
    live_records,
    make_adapter,
    make_sf_app,
    push,
    sandbox_client,
    seed_records,
    write_all,
)

pytest_plugins = ("tests.crm.salesforce_support",)

SANDBOX_USER = "integration@crm-push.sandbox"


# ===== Bulk API 2.0: above ``bulk_threshold`` =============================================================
# The sandbox advances a job one step per status poll and hands result rows back shuffled, as real orgs
# do, so these tests check the adapter's join (by email for inserts, by Id for updates) and count calls
# per route: a constant number of job calls whatever the row count, polls aside.
# (They live here, not in tests/crm/test_salesforce_bulk.py: that basename is taken by the sandbox's own
# tests/crm/sandbox/salesforce/test_salesforce_bulk.py, and two test modules of one basename break
# collection in pytest's default import mode.)
THRESHOLD = 50
JOB_CALLS = {  # one query job for the lookup, one insert job and one update job, polls aside
    "describe": 1,
    "bulkQuery.create": 1,
    "bulkQuery.results": 1,
    "bulk.create": 2,
    "bulk.upload": 2,
    "bulk.state": 2,
    "bulk.successfulResults": 2,
    "bulk.failedResults": 2,
    "bulk.unprocessedrecords": 2,
}


def job_calls(app: SalesforceSandbox) -> dict[str, int]:
    return {route: n for route, n in app.stats.by_route.items() if route not in POLL_ROUTES}


def half_existing_push(
    n: int, adapter_options: dict[str, Any] | None = None
) -> tuple[SalesforceSandbox, list[LeadRecord], dict[str, str], dict[str, RecordResult], PushSummary]:
    app = make_sf_app()
    rows = lead_rows(n, Title="Director")
    existing = seed_records(app, [r.email.lower() for r in rows[::2]])
    adapter = make_adapter(app, bulk_threshold=THRESHOLD, **(adapter_options or {}))
    try:
        results, summary = push(adapter, rows)
    finally:
        adapter.close()
    return app, rows, existing, results, summary


def job_results(app: SalesforceSandbox, operation: str, which: str) -> list[dict[str, str]]:
    """A finished ingest job's result file, read straight from the sandbox."""
    with sandbox_client(app) as client:
        jobs = [j for j in client.get(f"{DATA}/jobs/ingest").json()["records"] if j["operation"] == operation]
        assert len(jobs) == 1
        text = client.get(f"{DATA}/jobs/ingest/{jobs[0]['id']}/{which}").text
    return list(csv.DictReader(io.StringIO(text)))


# ----- call counts and the join ---------------------------------------------------------------------
def test_a_bulk_push_makes_the_same_job_calls_whatever_the_row_count() -> None:
    small_app, *_, small = half_existing_push(300)
    large_app, *_, large = half_existing_push(900)

    assert (small.created, small.updated, small.failed) == (150, 150, 0)
    assert (large.created, large.updated, large.failed) == (450, 450, 0)
    assert job_calls(small_app) == job_calls(large_app) == JOB_CALLS
    assert "query" not in large_app.stats.by_route
    assert not any(route.startswith("collections.") for route in large_app.stats.by_route)


def test_bulk_results_are_joined_back_although_the_rows_come_back_shuffled() -> None:
    app, rows, existing, results, summary = half_existing_push(600)

    assert (summary.created, summary.updated, summary.failed) == (300, 300, 0)
    sent_order = [r.email.lower() for r in rows[1::2]]
    returned = job_results(app, "insert", "successfulResults")
    assert sorted(r["Email"].lower() for r in returned) == sorted(sent_order)
    assert [r["Email"].lower() for r in returned] != sent_order  # the sandbox really shuffled them

    held = assert_org_holds_exactly(app, [r.email for r in rows])
    for i, row in enumerate(rows):
        result, record = results[row.key], held[row.email.lower()]
        assert result.crm_id == record["Id"], row.key
        assert result.action == (Action.UPDATED if i % 2 == 0 else Action.CREATED)
        assert (record["Title"], record["LastName"]) == ("Director", f"Last {i}")
    assert all(results[r.key].crm_id == existing[r.email.lower()] for r in rows[::2])


def test_a_bulk_lookup_is_one_query_job_skipping_converted_leads(
    sf_app: SalesforceSandbox, make_sf_adapter: SfAdapterFactory
) -> None:
    ids = seed_records(sf_app, [f"b.{i}@example.com" for i in range(60)])
    with sandbox_client(sf_app) as client:
        assert client.post(f"/__sandbox/convert/{ids['b.0@example.com']}").status_code == 200
    adapter = make_sf_adapter(sf_app, bulk_threshold=THRESHOLD)

    found = adapter.lookup([f"B.{i}@Example.com" for i in range(60)] + ["nobody@example.com"], ["LastName"])

    assert sf_app.stats.by_route["bulkQuery.create"] == 1
    assert "query" not in sf_app.stats.by_route
    assert {e: [r.crm_id for r in rs] for e, rs in found.items()} == {
        f"b.{i}@example.com": [ids[f"b.{i}@example.com"]] for i in range(1, 60)
    }
    assert {r.properties["LastName"] for rs in found.values() for r in rs} == {"Seeded"}


def test_a_bulk_lookup_reports_two_leads_sharing_an_email(
    sf_app: SalesforceSandbox, make_sf_adapter: SfAdapterFactory
) -> None:
    rows = lead_rows(80)
    with sandbox_client(sf_app) as client:
        for _ in range(2):
            twin = {"LastName": "Twin", "Company": "T", "Email": rows[7].email}
            assert client.post(f"{DATA}/sobjects/Lead", json=twin).status_code == 201

    results, summary = push(make_sf_adapter(sf_app, bulk_threshold=THRESHOLD), rows)

    assert (summary.created, summary.failed) == (79, 1)
    assert results[rows[7].key].error_code == "AMBIGUOUS_MATCH"
    assert len(live_by_email(sf_app)[rows[7].email.lower()]) == 2


# ----- failures -----------------------------------------------------------------------------------------
def test_failed_bulk_rows_carry_the_sf_error_code_and_message(
    sf_app: SalesforceSandbox, make_sf_adapter: SfAdapterFactory
) -> None:
    updatable = seed_records(sf_app, [f"up.{i}@example.com" for i in range(60)])
    with sandbox_client(sf_app) as client:
        assert client.delete(f"{DATA}/sobjects/Lead/{updatable['up.5@example.com']}").status_code == 204
        assert client.post(f"/__sandbox/convert/{updatable['up.9@example.com']}").status_code == 200
    creates = [
        WriteOp(
            f"new-{i}",
            f"new.{i}@example.com",
            WriteKind.CREATE,
            {"Email": f"new.{i}@example.com", "LastName": f"New {i}", "Company": "Acme"},
        )
        for i in range(60)
    ]
    creates[3] = WriteOp(
        "new-3", "new.3@example.com", WriteKind.CREATE, {"Email": "new.3@example.com", "LastName": "X"}
    )
    creates[40] = WriteOp(
        "new-40",
        "new.40@example.com",
        WriteKind.CREATE,
        {"Email": "new.40@example.com", "LastName": "X", "Company": "C" * 256},
    )
    updates = [
        WriteOp(
            f"up-{i}",
            f"up.{i}@example.com",
            WriteKind.UPDATE,
            {"Title": "CFO"},
            updatable[f"up.{i}@example.com"],
        )
        for i in range(60)
    ]

    results = write_all(make_sf_adapter(sf_app, bulk_threshold=THRESHOLD), creates + updates)

    assert (results["new-3"].error_code, results["new-3"].error_message) == (
        "REQUIRED_FIELD_MISSING",
        "Required fields are missing: [Company]",
    )
    assert results["new-40"].error_code == "STRING_TOO_LONG"
    assert (results["new-40"].error_message or "").startswith("Company: data value too large: CCC")
    assert (results["new-40"].error_message or "").endswith("(max length=255)")
    assert (results["up-5"].error_code, results["up-5"].error_message) == (
        "ENTITY_IS_DELETED",
        "entity is deleted",
    )
    assert results["up-9"].error_code == "CANNOT_UPDATE_CONVERTED_LEAD"
    assert results["up-9"].crm_id == updatable["up.9@example.com"]
    failed = {"new-3", "new-40", "up-5", "up-9"}
    assert {k for k, r in results.items() if r.action == Action.FAILED} == failed
    held = live_by_email(sf_app)
    for key, result in results.items():
        if key not in failed:
            email = key.replace("-", ".") + "@example.com"
            assert [r["Id"] for r in held[email]] == [result.crm_id]
    assert "new.3@example.com" not in held and "new.40@example.com" not in held
    assert {r[0]["Title"] for e, r in held.items() if e.startswith("up.") and e != "up.9@example.com"} == {
        "CFO"
    }


def test_an_unknown_column_fails_the_job_cleanly_on_every_row(
    sf_app: SalesforceSandbox, make_sf_adapter: SfAdapterFactory
) -> None:
    """The engine refuses unknown fields before sending; the adapter alone must still fail cleanly."""
    rows = lead_rows(120, Campaign_Code__c="SPRING")
    existing = seed_records(sf_app, [r.email for r in rows[:60]])
    ops = [
        WriteOp(r.key, r.email, WriteKind.UPDATE, r.properties, existing[r.email.lower()]) for r in rows[:60]
    ] + [WriteOp(r.key, r.email, WriteKind.CREATE, r.properties) for r in rows[60:]]

    results = write_all(make_sf_adapter(sf_app, bulk_threshold=THRESHOLD), ops)

    for result in results.values():
        assert (result.action, result.error_code) == (Action.FAILED, "BULK_JOB_FAILED")
        assert "Field name not found : Campaign_Code__c" in (result.error_message or "")
    assert sf_app.stats.by_route["bulk.create"] == 2  # both jobs tried, both refused the column
    assert len(live_records(sf_app)) == 60
    assert {r["LastName"] for r in live_records(sf_app)} == {"Seeded"}  # the seeded records were left alone


# ----- stopping ------------------------------------------------------------------------------------------
class StopAfterFirstBatch(MemoryRecorder):
    def record(self, results: Sequence[RecordResult], api_calls: int) -> None:
        super().record(results, api_calls)
        self.stop = True


def test_cancelling_after_the_insert_job_leaves_the_update_rows_not_sent(
    sf_app: SalesforceSandbox, make_sf_adapter: SfAdapterFactory
) -> None:
    rows = lead_rows(200, Title="Changed")
    existing = seed_records(sf_app, [r.email for r in rows[:100]])

    results, summary = push(
        make_sf_adapter(sf_app, bulk_threshold=THRESHOLD), rows, recorder=StopAfterFirstBatch()
    )

    assert (summary.created, summary.updated, summary.failed) == (100, 0, 100)
    assert "cancelled" in (summary.stopped_reason or "")
    assert sf_app.stats.by_route["bulk.create"] == 1  # no update job was ever made
    for row in rows[:100]:
        assert (results[row.key].action, results[row.key].error_code) == (Action.FAILED, NOT_SENT)
        assert results[row.key].crm_id == existing[row.email.lower()]
    held = assert_org_holds_exactly(sf_app, [r.email for r in rows])
    assert {held[r.email.lower()]["Title"] for r in rows[:100]} == {None}
    assert {held[r.email.lower()]["Title"] for r in rows[100:]} == {"Changed"}


def test_a_push_cancelled_before_writing_sends_no_job(
    sf_app: SalesforceSandbox, make_sf_adapter: SfAdapterFactory
) -> None:
    recorder = MemoryRecorder()
    recorder.stop = True

    results, summary = push(
        make_sf_adapter(sf_app, bulk_threshold=THRESHOLD), lead_rows(100), recorder=recorder
    )

    assert summary.failed == 100 and summary.stopped_reason
    assert {r.error_code for r in results.values()} == {NOT_SENT}
    assert "bulk.create" not in sf_app.stats.by_route
    assert live_records(sf_app) == []


def test_the_daily_limit_after_a_closed_job_does_not_claim_its_rows_were_not_sent() -> None:
    """A closed job is processed whatever happens to us next: its rows may have landed, so they are not
    NOT_SENT. The limit comes from a twin run, so it runs out right after the insert job's successful
    results were read: its failed results can no longer be fetched."""
    rows = lead_rows(120)
    twin = make_sf_app()
    seed_records(twin, [r.email for r in rows[:60]])
    transport = RecordingTransport(twin)
    twin_adapter = make_adapter(twin, bulk_threshold=THRESHOLD, transport=transport)
    push(twin_adapter, rows)
    twin_adapter.close()
    paths = [r.url.path for r in transport.sent]
    allowed = next(i for i, path in enumerate(paths) if path.endswith("/successfulResults")) + 1

    app = make_sf_app()
    seed_records(app, [r.email for r in rows[:60]])
    app.configure(daily_limit=app.api_used() + allowed)
    adapter = make_adapter(app, bulk_threshold=THRESHOLD)
    results, summary = push(adapter, rows)

    assert app.stats.throttled == 1  # the failed-results call, and nothing after it
    codes = Counter((r.action, r.error_code) for r in results.values())
    assert codes == {(Action.FAILED, RESULT_UNKNOWN): 60, (Action.FAILED, NOT_SENT): 60}
    assert all("limit" in (results[r.key].error_message or "") for r in rows)
    assert "limit" in (summary.stopped_reason or "")
    assert_org_holds_exactly(app, [r.email for r in rows])  # the closed insert job did land

    app.configure(daily_limit=None)
    again = make_adapter(app, bulk_threshold=THRESHOLD)
    _, second = push(again, rows)
    adapter.close()
    again.close()

    assert (second.created, second.updated, second.failed) == (0, 120, 0)
    assert_org_holds_exactly(app, [r.email for r in rows])
