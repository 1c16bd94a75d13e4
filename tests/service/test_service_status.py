"""Status check: a run's records read back from the CRM after someone deleted one and edited another."""

from __future__ import annotations

import pytest
from service_support import DACH, NA_SAAS, get_run, push_request, records, sandbox_client

from crm import sandbox
from data.models import PushRecord
from service import connections, runs, status
from service.auth import SYSTEM
from service.context import AppContext

RECORD_PATHS = {
    "hubspot": "/crm/v3/objects/contacts/{id}",
    "salesforce": "/services/data/v68.0/sobjects/Lead/{id}",
}
TITLE = {"hubspot": "jobtitle", "salesforce": "Title"}


def edit_in_crm(provider: str, deleted: PushRecord, changed: PushRecord) -> None:
    """What a CRM user does between the push and the check."""
    path = RECORD_PATHS[provider]
    body = (
        {"properties": {"jobtitle": "Changed in HubSpot"}}
        if provider == "hubspot"
        else {"Title": "Changed in SF"}
    )
    with sandbox_client(sandbox.shared(provider)) as client:
        client.delete(path.format(id=deleted.crm_id)).raise_for_status()
        client.patch(path.format(id=changed.crm_id), json=body).raise_for_status()


@pytest.mark.parametrize("provider", ["hubspot", "salesforce"])
def test_check_reports_deleted_and_changed_records_and_keeps_the_findings(
    sqlite_demo_ctx: AppContext, provider: str
) -> None:
    ctx = sqlite_demo_ctx
    assert connections.connect_sandbox(ctx, SYSTEM, provider).ok
    run_id = runs.create(ctx, push_request(ctx, provider, NA_SAAS))
    runs.execute(ctx, run_id)
    pushed = [r for r in records(ctx, run_id) if r.action == "created"]
    deleted, changed = pushed[3], pushed[7]
    edit_in_crm(provider, deleted, changed)

    summary = status.check(ctx, run_id)

    assert summary.checked == len(pushed)
    assert summary.by_state == {"exists": len(pushed) - 1, "deleted": 1}
    assert summary.changed == 1
    # a later visit (a new session) reads the stored findings back
    after = {r.row_index: r for r in records(ctx, run_id)}
    assert after[deleted.row_index].check_state == "deleted" and after[deleted.row_index].check_diff is None
    now = "Changed in HubSpot" if provider == "hubspot" else "Changed in SF"
    assert after[changed.row_index].check_state == "exists"
    assert after[changed.row_index].check_diff == [[TITLE[provider], changed.payload[TITLE[provider]], now]]
    assert after[changed.row_index].check_modified_at  # the CRM's last-modified time
    untouched = [after[r.row_index] for r in pushed if r not in (deleted, changed)]
    assert all(r.check_state == "exists" and not r.check_diff for r in untouched)
    assert all(r.checked_at is not None for r in after.values() if r.action == "created")
    assert all(r.check_state is None for r in after.values() if r.action != "created")  # failed ones
    assert get_run(ctx, run_id).last_check_at is not None


def test_check_of_a_run_with_nothing_pushed_still_records_the_visit(sqlite_demo_ctx: AppContext) -> None:
    ctx = sqlite_demo_ctx
    assert connections.connect_sandbox(ctx, SYSTEM, "hubspot").ok
    run_id = runs.create(ctx, push_request(ctx, "hubspot", DACH, dry_run=True))
    runs.execute(ctx, run_id)

    summary = status.check(ctx, run_id)

    assert (summary.checked, summary.by_state, summary.changed) == (0, {}, 0)
    assert get_run(ctx, run_id).last_check_at is not None
    with pytest.raises(ValueError, match="No run #424242"):
        status.check(ctx, 424242)
