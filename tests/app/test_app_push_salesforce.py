"""The whole Push page flow against the Salesforce sandbox as Leads: filter to HOT, test, push, summary;
the test run's prediction for every row is what the push then does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from app_harness import AppHarness
from test_app_push_support import (
    NA_SAAS,
    click,
    connect,
    crm,
    fresh_sandboxes,
    last_run,
    metric,
    push_page,
    records,
    summary,
    table,
)

from crm.sandbox import SandboxApp


@pytest.fixture(autouse=True)
def sandboxes() -> Iterator[dict[str, SandboxApp]]:
    yield from fresh_sandboxes()


def outcomes(crm_app: AppHarness, run_id: int) -> dict[str, tuple[str, str | None]]:
    return {r.email or "": (r.action, r.error_code) for r in records(crm_app, run_id)}


def test_hot_leads_to_salesforce_leads_test_then_push(crm_app: AppHarness) -> None:
    connect(crm_app, "hubspot", "salesforce")
    at = push_page(crm_app, campaign=NA_SAAS, provider="salesforce")
    assert at.radio(key="push_object").value == "Lead"
    at.checkbox(key="push_tier_WARM").uncheck().run()
    at.checkbox(key="push_tier_COOL").uncheck().run()
    hot = len(table(at))
    assert set(table(at)["tier"]) == {"HOT"} and metric(at, "Rows to push") == str(hot)

    at.toggle(key="push_test_mode").set_value(True).run()
    click(at, "push_dry_run")
    test_run = last_run(crm_app)
    at.run()
    assert test_run.dry_run and test_run.object_name == "Lead" and test_run.total == hot
    assert summary(at)[1].startswith(f"Test run #{test_run.id}: a push would create {test_run.created}")
    assert crm("salesforce").dump()["Lead"] == []  # a test run writes nothing

    at.toggle(key="push_test_mode").set_value(False).run()
    click(at, "push_start")
    click(at, "push_confirm")
    push = last_run(crm_app)
    at.run()

    assert outcomes(crm_app, push.id) == outcomes(crm_app, test_run.id)  # the prediction held, row by row
    assert (push.created, push.failed) == (test_run.created, test_run.failed)
    assert len(crm("salesforce").dump()["Lead"]) == push.created
    ratings = {lead["Rating"] for lead in crm("salesforce").dump()["Lead"]}
    assert ratings == {"Hot"}  # tier HOT through the default value map
    colour, headline = summary(at)
    assert colour == ("green" if push.failed == 0 else "amber")
    assert headline.startswith(f"Push #{push.id} ")
    created = [r for r in records(crm_app, push.id) if r.action == "created"]
    assert all(r.crm_id and r.crm_id.startswith("00Q") for r in created)  # Lead ids
    assert not at.exception
