"""service.history on SQLite and PostgreSQL: the chart aggregates agree with the runs they count, the
filters and paging match ``data.runs.list_runs``, records are searched and filtered in SQL, the CSV is
formula-safe and complete, record links come from the adapter, and a check's progress is measured."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from service_support import DACH, NA_SAAS, campaign_id, push_request, records, sandbox_client
from sqlalchemy import update

from crm import sandbox
from data.models import PushRecord, PushRun
from service import adapters, connections, history, history_records, runs, status
from service.auth import SYSTEM
from service.context import AppContext
from service.history import RecordQuery, RunFilters


def push(ctx: AppContext, provider: str, campaign: str, **options: object) -> int:
    if connections.get(ctx, provider) is None:
        assert connections.connect_sandbox(ctx, SYSTEM, provider).ok
    run_id = runs.create(ctx, push_request(ctx, provider, campaign, **options))
    runs.execute(ctx, run_id)
    return run_id


def started(ctx: AppContext, run_id: int, when: datetime) -> None:
    with ctx.db.begin() as session:
        session.execute(update(PushRun).where(PushRun.id == run_id).values(started_at=when))


def test_aggregates_count_real_pushes_per_utc_day_and_provider_in_sql(demo_ctx: AppContext) -> None:
    ctx = demo_ctx
    first = push(ctx, "hubspot", NA_SAAS)  # completed, 102 created
    second = push(ctx, "salesforce", NA_SAAS)  # partial, 100 created, 2 failed
    third = push(ctx, "hubspot", DACH)  # completed, 85 created
    dry = push(ctx, "hubspot", NA_SAAS, dry_run=True, force_full=True)  # never counted
    # Just before and just after midnight UTC (an hour apart, two days): the day is the UTC day.
    started(ctx, first, datetime(2025, 6, 1, 23, 30, tzinfo=UTC))
    started(ctx, second, datetime(2025, 6, 2, 0, 30, tzinfo=UTC))
    started(ctx, third, datetime(2025, 6, 2, 1, 0, tzinfo=UTC))
    started(ctx, dry, datetime(2025, 6, 2, 2, 0, tzinfo=UTC))

    days = history.outcomes_by_day(ctx, RunFilters())
    assert [(d.day, d.state, d.runs) for d in days] == [
        (date(2025, 6, 1), "completed", 1),
        (date(2025, 6, 2), "completed", 1),
        (date(2025, 6, 2), "partial", 1),
    ]
    totals = {(t.provider, t.object_name): t for t in history.totals_by_provider(ctx, RunFilters())}
    hubspot, salesforce = totals["hubspot", "contacts"], totals["salesforce", "Lead"]
    assert (hubspot.runs, hubspot.created, hubspot.updated, hubspot.failed) == (2, 187, 0, 0)
    assert (salesforce.runs, salesforce.created, salesforce.failed) == (1, 100, 2)

    june_2 = RunFilters(first_day=date(2025, 6, 2), last_day=date(2025, 6, 2), provider="hubspot")
    assert [(d.day, d.state, d.runs) for d in history.outcomes_by_day(ctx, june_2)] == [
        (date(2025, 6, 2), "completed", 1)
    ]
    assert [t.created for t in history.totals_by_provider(ctx, june_2)] == [85]
    partial_only = RunFilters(states=("partial",), campaign_id=campaign_id(ctx, NA_SAAS))
    assert [t.provider for t in history.totals_by_provider(ctx, partial_only)] == ["salesforce"]
    # the table uses the same filters, dry runs included unless asked otherwise
    rows, total = history.runs_page(ctx, RunFilters(first_day=date(2025, 6, 2)), page=1, size=2)
    assert total == 3 and [r.id for r in rows] == [dry, third]
    rows, total = history.runs_page(ctx, RunFilters(first_day=date(2025, 6, 2)), page=2, size=2)
    assert total == 3 and [r.id for r in rows] == [second]
    assert history.runs_page(ctx, RunFilters(dry_run=True), page=1, size=50)[1] == 1


def test_campaign_choices_are_the_campaigns_that_have_runs(demo_ctx: AppContext) -> None:
    push(demo_ctx, "hubspot", DACH)
    push(demo_ctx, "hubspot", NA_SAAS)

    assert history.campaign_choices(demo_ctx) == [
        (campaign_id(demo_ctx, DACH), DACH),
        (campaign_id(demo_ctx, NA_SAAS), NA_SAAS),
    ]


def test_records_are_searched_filtered_and_paged_in_the_database(sqlite_demo_ctx: AppContext) -> None:
    ctx = sqlite_demo_ctx
    run_id = push(ctx, "salesforce", NA_SAAS)  # 2 failed
    every = records(ctx, run_id)
    failed = [r for r in every if r.action == "failed"]
    with ctx.db.begin() as session:  # an error text with SQL wildcards, which must match literally
        session.execute(
            update(PushRecord).where(PushRecord.id == failed[0].id).values(error_message="100%_sure")
        )

    rows, total = history.records_page(ctx, run_id, RecordQuery(), page=2, size=40)
    assert total == 102 and [r.row_index for r in rows] == list(range(41, 81))
    rows, total = history.records_page(ctx, run_id, RecordQuery(action="failed"), page=1, size=40)
    assert total == 2 and {r.email for r in rows} == {r.email for r in failed}
    email = every[10].email or ""
    rows, total = history.records_page(ctx, run_id, RecordQuery(search=email.upper()), page=1, size=40)
    assert (total, rows[0].row_index) == (1, every[10].row_index)
    rows, total = history.records_page(ctx, run_id, RecordQuery(search="%_s"), page=1, size=40)
    assert total == 1 and rows[0].error_message == "100%_sure"
    crm_id = every[20].crm_id or ""
    assert history.records_page(ctx, run_id, RecordQuery(search=crm_id), page=1, size=5)[1] == 1
    rows, total = history.records_page(ctx, run_id, RecordQuery(action="failed", search="%"), page=1, size=5)
    assert total == 1
    assert history.records_page(ctx, run_id, RecordQuery(check="unchecked"), page=1, size=5)[1] == 102


def test_check_filters_progress_and_summary_follow_a_status_check(demo_ctx: AppContext) -> None:
    ctx = demo_ctx
    run_id = push(ctx, "hubspot", NA_SAAS)
    pushed = records(ctx, run_id)
    path = "/crm/v3/objects/contacts/{id}"
    with sandbox_client(sandbox.shared("hubspot")) as client:
        client.delete(path.format(id=pushed[0].crm_id)).raise_for_status()
        body = {"properties": {"company": "Renamed Inc"}}
        client.patch(path.format(id=pushed[1].crm_id), json=body).raise_for_status()

    before = history.check_progress(ctx, run_id, None)
    assert (before.checkable, before.done, before.finished) == (102, 0, False)
    assert history.run_detail(ctx, run_id).check is None  # type: ignore[union-attr]

    status.check(ctx, run_id)

    assert history.check_progress(ctx, run_id, None).finished
    detail = history.run_detail(ctx, run_id)
    assert detail is not None and detail.check is not None and detail.run.last_check_at is not None
    assert (detail.check.checked, detail.check.changed) == (102, 1)
    assert detail.check.by_state == {"exists": 101, "deleted": 1}

    def matching(check: str) -> list[int]:
        rows, _ = history.records_page(ctx, run_id, RecordQuery(check=check), page=1, size=200)
        return [r.row_index for r in rows]

    assert matching("deleted") == [pushed[0].row_index]
    assert matching("changed") == [pushed[1].row_index]
    assert len(matching("unchanged")) == 100 and matching("unchecked") == []
    changed = history.records_page(ctx, run_id, RecordQuery(check="changed"), page=1, size=1)[0][0]
    assert (
        history.describe_diff(changed.check_diff) == f"company: {pushed[1].payload['company']} → Renamed Inc"
    )

    again = history.check_progress(ctx, run_id, detail.run.last_check_at)  # a second check starts
    assert (again.done, again.finished) == (0, False)
    status.check(ctx, run_id)
    assert history.check_progress(ctx, run_id, detail.run.last_check_at).finished


def test_the_csv_holds_every_matching_record_and_no_cell_runs_as_a_formula(
    sqlite_demo_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = sqlite_demo_ctx
    monkeypatch.setattr(history_records, "CSV_CHUNK", 7)  # many chunks: none lost or repeated at the seams
    run_id = push(ctx, "salesforce", NA_SAAS)
    rows = records(ctx, run_id)
    with ctx.db.begin() as session:
        for record, (email, message) in zip(
            rows[:4],
            [("=1+2@evil.example", None), ("+cmd@evil.example", "@SUM(A1)"), ("ok@example.com", "-2"),
             ("\tx@example.com", "=HYPERLINK(1)")],
            strict=True,
        ):  # fmt: skip
            session.execute(
                update(PushRecord)
                .where(PushRecord.id == record.id)
                .values(email=email, error_message=message)
            )
    template = history.record_link_template(ctx, "salesforce", "Lead")

    data = history.records_csv(ctx, run_id, RecordQuery(), template)

    assert data.startswith("\ufeff".encode())
    table = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [int(row["row"]) for row in table] == [r.row_index for r in rows]  # all 102, in order
    assert [row["email"] for row in table[:4]] == [
        "'=1+2@evil.example", "'+cmd@evil.example", "ok@example.com", "'\tx@example.com"
    ]  # fmt: skip
    assert [row["error_message"] for row in table[:4]] == ["", "'@SUM(A1)", "'-2", "'=HYPERLINK(1)"]
    created = next(row for row in table if row["action"] == "created")
    assert created["record_url"].endswith(f"/lightning/r/Lead/{created['crm_id']}/view")
    assert created["record_url"] == history.record_link(template, created["crm_id"])
    failed_only = history.records_csv(ctx, run_id, RecordQuery(action="failed"), template)
    assert len(list(csv.DictReader(io.StringIO(failed_only.decode("utf-8-sig"))))) == 2


def test_record_links_come_from_the_adapter_or_not_at_all(sqlite_demo_ctx: AppContext) -> None:
    ctx = sqlite_demo_ctx
    assert history.record_link_template(ctx, "hubspot", "contacts") is None  # not connected
    assert connections.connect_sandbox(ctx, SYSTEM, "hubspot").ok
    template = history.record_link_template(ctx, "hubspot", "contacts")
    adapter = adapters.adapter_for(ctx, "hubspot", "contacts")
    try:
        assert history.record_link(template, "1234") == adapter.record_url("1234")
    finally:
        adapter.close()
    assert history.record_link(template, "a/b?c") == (adapter.record_url("a%2Fb%3Fc") or "")
    assert history.record_link(template, None) is None and history.record_link(None, "1") is None
    sandbox.shared("hubspot").configure(token="rotated")  # the CRM refuses us: no links, no error
    assert history.record_link_template(ctx, "hubspot", "contacts") is None


def test_detail_links_a_run_to_its_parent_and_children(sqlite_demo_ctx: AppContext) -> None:
    ctx = sqlite_demo_ctx
    first = push(ctx, "salesforce", NA_SAAS)
    retry = runs.retry_failed(ctx, first, SYSTEM)
    runs.execute(ctx, retry)

    parent, child = history.run_detail(ctx, first), history.run_detail(ctx, retry)

    assert parent is not None and child is not None
    assert [c.id for c in parent.children] == [retry] and parent.parent is None
    assert child.parent is not None and child.parent.id == first and child.run.parent_kind == "retry"
    assert child.mapping == parent.mapping and parent.checkable == 100
    assert history.run_detail(ctx, 424242) is None
    assert history.get_run(ctx, first) == parent.run
    assert parent.connection_id == connections.get(ctx, "salesforce").id  # type: ignore[union-attr]
    connections.disconnect(ctx, SYSTEM, "salesforce")
    assert history.run_detail(ctx, first).connection_id is None  # type: ignore[union-attr]


def test_filter_days_are_utc_and_inclusive_and_diffs_read_as_text() -> None:
    filters = RunFilters(first_day=date(2025, 1, 31), last_day=date(2025, 2, 1))
    assert filters.since == datetime(2025, 1, 31, tzinfo=UTC)
    assert filters.until == datetime(2025, 2, 2, tzinfo=UTC)  # the last day is included
    assert RunFilters().since is None and RunFilters().until is None
    assert history.describe_diff([["city", None, "Bonn"], ["title", "CTO", ""]]) == (
        "city: (empty) → Bonn; title: CTO → (empty)"
    )
    assert history.describe_diff(None) == ""
