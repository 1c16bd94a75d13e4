"""Change detection at run creation: a row whose payload is unchanged since its last successful push to
the connection is stored final (skipped, UNCHANGED, with the CRM id) and never pending, so a re-push of an
unchanged campaign stores no copy of its rows and sends nothing."""

from __future__ import annotations

from collections import Counter

from service_support import NA_SAAS, campaign_id, campaign_rows, get_run, push_request, records, writes

from crm import sandbox
from service import connections, runs
from service.auth import SYSTEM
from service.context import AppContext


def first_push(ctx: AppContext) -> dict[str, str]:
    """Push the demo campaign to the HubSpot sandbox once; email -> CRM id of what it created."""
    assert connections.connect_sandbox(ctx, SYSTEM, "hubspot").ok
    run_id = runs.create(ctx, push_request(ctx, "hubspot", NA_SAAS))
    runs.execute(ctx, run_id)
    assert get_run(ctx, run_id).created == 102
    return {r.email: r.crm_id for r in records(ctx, run_id) if r.email and r.crm_id}


def test_unchanged_rows_are_final_from_creation_with_their_crm_id(demo_ctx: AppContext) -> None:
    pushed = first_push(demo_ctx)
    app = sandbox.shared("hubspot")
    writes_before = writes(app)

    run_id = runs.create(demo_ctx, push_request(demo_ctx, "hubspot", NA_SAAS))

    created = records(demo_ctx, run_id)
    assert Counter(r.action for r in created) == {"skipped": 102}  # nothing pending before execution
    assert {r.error_code for r in created} == {"UNCHANGED"}
    assert all(r.crm_id == pushed[r.email] for r in created if r.email)
    assert all(r.row == {} and r.payload == {} and r.payload_hash for r in created)  # no copy stored
    run = get_run(demo_ctx, run_id)
    assert (run.total, run.skipped, run.created, run.failed) == (102, 102, 0, 0)

    runs.execute(demo_ctx, run_id)

    assert get_run(demo_ctx, run_id).state == "completed"
    assert writes(app) == writes_before


def test_a_changed_row_and_a_repeated_email_stay_pending_until_the_engine_decides(
    demo_ctx: AppContext,
) -> None:
    first_push(demo_ctx)
    rows = campaign_rows(demo_ctx, campaign_id(demo_ctx, NA_SAAS))
    rows[0] = {**rows[0], "title": "Chief Everything Officer"}  # changed since the push
    rows.append({**rows[1], "lead_id": None})  # the same email again: the later row wins in the engine

    run_id = runs.create(demo_ctx, push_request(demo_ctx, "hubspot", NA_SAAS, rows=rows))

    pending = {r.row_index for r in records(demo_ctx, run_id) if r.action == "pending"}
    assert pending == {1, 2, 103}
    runs.execute(demo_ctx, run_id)
    by_row = {r.row_index: r for r in records(demo_ctx, run_id)}
    assert by_row[1].action == "updated"
    assert (by_row[2].action, by_row[2].error_code) == ("skipped", "MERGED")
    assert (by_row[103].action, by_row[103].error_code) == ("skipped", "UNCHANGED")


def test_a_forced_full_push_decides_nothing_at_creation(demo_ctx: AppContext) -> None:
    first_push(demo_ctx)

    run_id = runs.create(demo_ctx, push_request(demo_ctx, "hubspot", NA_SAAS, force_full=True))

    assert Counter(r.action for r in records(demo_ctx, run_id)) == {"pending": 102}
