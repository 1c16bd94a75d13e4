"""Test mode and pushing from the Push page: predictions with changes, the confirmation, progress from
the background job, the summary card's colour, re-attaching after a reload, and one push at a time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from app_harness import AppHarness
from test_app_push_support import (
    DACH,
    FINTECH,
    NA_SAAS,
    HeldWrites,
    campaign_id,
    click,
    connect,
    crm,
    fresh_sandboxes,
    last_run,
    push_page,
    records,
    runs,
    shown,
    summary,
    table,
    wait_for_run,
)

from crm.http import StaticToken
from crm.hubspot import HubSpotAdapter
from crm.mapping import default_mapping
from crm.model import WriteKind, WriteOp
from crm.sandbox import SandboxApp, SandboxTransport
from data.leads import leads_frame


@pytest.fixture(autouse=True)
def sandboxes() -> Iterator[dict[str, SandboxApp]]:
    yield from fresh_sandboxes()


def seed_hubspot(app, contacts: list[dict[str, str]]) -> None:  # type: ignore[no-untyped-def]
    """Contacts already in the CRM before the push (written as a HubSpot user would)."""
    adapter = HubSpotAdapter(
        StaticToken(app.options.token), base_url=app.base_url, transport=SandboxTransport(app)
    )
    ops = [WriteOp(str(i), c["email"], WriteKind.UPSERT, c) for i, c in enumerate(contacts)]
    try:
        results = [r for batch in adapter.write(ops) for r in batch]
    finally:
        adapter.close()
    assert all(r.action in ("created", "updated") for r in results)


def lead_payloads(crm_app: AppHarness, name: str) -> list[dict]:
    with crm_app.db.session() as session:
        frame = leads_frame(session, campaign_id(crm_app, name))
    mapping = default_mapping("hubspot", "contacts")
    return [mapping.apply(row) for row in frame.to_dict("records")]


def test_test_mode_predicts_creates_updates_and_changes_and_writes_nothing(crm_app: AppHarness) -> None:
    connect(crm_app, "hubspot")
    at = push_page(crm_app)
    first, second, *_ = lead_payloads(crm_app, NA_SAAS)
    seed_hubspot(crm("hubspot"), [{**first, "jobtitle": "Intern"}, second])  # second: identical

    at.toggle(key="push_test_mode").set_value(True).run()
    assert "test mode: nothing is written" in shown(at)
    click(at, "push_dry_run")
    run = last_run(crm_app)
    at.run()

    assert run.dry_run and (run.created, run.updated, run.skipped, run.failed) == (100, 2, 0, 0)
    outcome = table(at)["outcome"]
    assert outcome.iloc[0] == f"would update: jobtitle: Intern → {first['jobtitle']}"
    assert outcome.iloc[1] == "unchanged"
    assert set(outcome.iloc[2:]) == {"would create"}
    changes = {r.email: r.changes for r in records(crm_app, run.id) if r.action == "updated"}
    assert changes[first["email"]] == [["jobtitle", "Intern", first["jobtitle"]]]
    assert not changes[second["email"]]
    colour, headline = summary(at)
    assert colour == "green"
    assert headline.startswith(f"Test run #{run.id}: a push would create 100, update 2, skip 0 and fail 0")
    assert len(crm("hubspot").dump()) == 2  # nothing written
    assert not at.exception


def test_push_asks_for_confirmation_with_counts_and_api_calls(crm_app: AppHarness) -> None:
    connect(crm_app, "hubspot")
    at = push_page(crm_app, campaign=FINTECH)

    click(at, "push_start")
    text = shown(at)
    assert "Push 88 rows of Demo: Fintech webinar attendees to HubSpot contacts?" in text
    assert "**87** will be sent (created or updated); **1** fail the checks" in text
    assert (
        "Estimated API calls: **2**: 1 batch upsert of up to 100 contacts, and 1 to read the fields" in text
    )
    assert "API calls left today: **" in text
    assert not runs(crm_app)  # nothing started before the confirmation

    click(at, "push_cancel")
    assert "push_confirm" not in [b.key for b in at.button]
    assert not runs(crm_app)
    assert not at.exception


def test_a_push_runs_in_the_background_with_progress_then_a_green_summary(crm_app: AppHarness) -> None:
    connect(crm_app, "hubspot")
    at = push_page(crm_app, campaign=DACH)

    with HeldWrites(crm("hubspot")) as held:
        click(at, "push_start")
        click(at, "push_confirm")
        assert held.waiting.wait(30)  # the job is sending, in the runner's thread, not in the script run
        at.run()
        (bar,) = at.get("progress")
        assert "Push #1 running: 0 of 85 rows" in bar.proto.text and "rows/s" in bar.proto.text
        assert at.button(key="push_start").disabled
        assert "Run #1 of this campaign is under way" in shown(at)
        held.release()
        run = wait_for_run(crm_app, 1)

    at.run()
    assert (run.state, run.created, run.failed) == ("completed", 85, 0)
    assert not at.get("progress")
    assert summary(at) == ("green", "Push #1 done: 85 created, 0 updated, 0 skipped, 0 failed of 85 rows.")
    assert len(crm("hubspot").dump()) == 85
    assert not at.exception


def test_summary_is_amber_when_some_rows_fail(crm_app: AppHarness) -> None:
    connect(crm_app, "hubspot")
    at = push_page(crm_app, campaign=FINTECH)

    click(at, "push_start")
    click(at, "push_confirm")
    last_run(crm_app)
    at.run()

    assert any(
        "Push #1 partly done: 87 created, 0 updated, 0 skipped, 1 failed" in w.value for w in at.warning
    )
    assert not at.success
    assert not at.exception


def test_summary_is_red_when_every_row_fails(crm_app: AppHarness) -> None:
    connect(crm_app, "salesforce")
    at = push_page(crm_app, campaign=DACH, provider="salesforce")
    at.selectbox(key="push_map_salesforce_Lead_company").select("").run()
    assert "Company (Company) is required to create a Salesforce Lead record" in shown(at)

    click(at, "push_start")
    click(at, "push_confirm")
    run = last_run(crm_app)
    at.run()

    assert (run.state, run.failed) == ("failed", 85)
    colour, headline = summary(at)
    assert colour == "red"
    assert headline.startswith("Push #1 failed: 0 created, 0 updated, 0 skipped, 85 failed")
    assert not at.exception


def test_a_second_push_of_the_same_campaign_is_refused_and_the_page_reattaches(crm_app: AppHarness) -> None:
    connect(crm_app, "hubspot")
    other = push_page(crm_app, analyst=True)
    click(other, "push_start")  # the analyst's confirmation is open before the admin pushes
    at = push_page(crm_app)

    with HeldWrites(crm("hubspot")) as held:
        click(at, "push_start")
        click(at, "push_confirm")
        assert held.waiting.wait(30)

        click(other, "push_confirm")
        assert (
            "A push of Demo: North America SaaS decision-makers to hubspot is already running (run #1)"
            in (shown(other))
        )
        assert [r.id for r in runs(crm_app)] == [1]  # nothing else was started
        assert other.get("progress")  # the analyst's page shows the running push

        reloaded = push_page(crm_app, analyst=True)  # a new session: a reload, or another tab
        assert "Push #1 running" in reloaded.get("progress")[0].proto.text
        assert reloaded.button(key="push_start").disabled
        held.release()
        wait_for_run(crm_app, 1)

    reloaded.run()
    assert not reloaded.button(key="push_start").disabled
    assert not at.exception and not other.exception and not reloaded.exception
