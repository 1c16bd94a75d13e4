"""The Push page's lead table: filters, unticked rows, edits (pushed; saved only on purpose), markup."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from app_harness import AppHarness
from sqlalchemy import select
from test_app_push_support import (
    FINTECH,
    NA_SAAS,
    campaign_id,
    click,
    connect,
    crm,
    edit,
    fresh_sandboxes,
    last_run,
    metric,
    position,
    push_page,
    records,
    shown,
    table,
)

from crm.sandbox import SandboxApp
from data.models import Lead


@pytest.fixture(autouse=True)
def sandboxes() -> Iterator[dict[str, SandboxApp]]:
    yield from fresh_sandboxes()


def stored_leads(crm_app: AppHarness, name: str) -> dict[str, Lead]:
    with crm_app.db.session() as session:
        leads = session.scalars(select(Lead).where(Lead.campaign_id == campaign_id(crm_app, name)))
        return {lead.email: lead for lead in leads}


def hubspot_contact(email: str) -> dict:
    found = [c["properties"] for c in crm("hubspot").dump() if c["properties"].get("email") == email]
    assert len(found) == 1, f"{email}: {len(found)} contacts"
    return found[0]


def test_min_score_and_tiers_filter_the_table_and_the_count(crm_app: AppHarness) -> None:
    connect(crm_app, "hubspot")
    at = push_page(crm_app, analyst=True)
    leads = stored_leads(crm_app, NA_SAAS).values()
    assert metric(at, "Rows to push") == "102"

    at.slider(key="push_min_score").set_value(70).run()
    expected = sorted(lead.row_number for lead in leads if (lead.score or -1) >= 70)
    assert sorted(table(at)["row_number"]) == expected
    assert metric(at, "Rows to push") == str(len(expected))

    at.slider(key="push_min_score").set_value(0).run()
    at.checkbox(key="push_tier_WARM").uncheck().run()
    at.checkbox(key="push_tier_COOL").uncheck().run()
    hot = sorted(lead.row_number for lead in leads if lead.tier == "HOT")
    assert set(table(at)["tier"]) == {"HOT"}
    assert sorted(table(at)["row_number"]) == hot
    assert metric(at, "Rows to push") == str(len(hot))

    at.toggle(key="push_test_mode").set_value(True).run()
    click(at, "push_dry_run")
    run = last_run(crm_app)
    assert run.total == len(hot)
    assert run.filters["tiers"] == ["HOT"] and run.filters["min_score"] == 0
    assert run.created_by == "analyst"
    assert not at.exception


def test_unticked_rows_are_left_out(crm_app: AppHarness) -> None:
    connect(crm_app, "hubspot")
    at = push_page(crm_app)
    first, second = table(at)["email"].iloc[:2]

    edit(at, {0: {"push": False}, 1: {"push": False}})
    assert metric(at, "Rows to push") == "100"
    assert list(table(at)["push"].iloc[:3]) == [False, False, True]
    edit(at, {0: {"push": False}, 1: {"push": True}})  # ticked again
    assert metric(at, "Rows to push") == "101"

    at.toggle(key="push_test_mode").set_value(True).run()
    click(at, "push_dry_run")
    run = last_run(crm_app)
    sent = {record.email for record in records(crm_app, run.id)}
    assert run.total == 101 and first not in sent and second in sent
    assert run.filters["excluded_rows"] == 1
    assert not at.exception


def test_an_edited_cell_is_pushed_while_the_campaign_keeps_its_value(crm_app: AppHarness) -> None:
    connect(crm_app, "hubspot")
    at = push_page(crm_app)
    email = table(at)["email"].iloc[3]
    stored_title = stored_leads(crm_app, NA_SAAS)[email].title

    edit(at, {3: {"title": "Chief Pushing Officer"}})
    assert table(at)["title"].iloc[3] == "Chief Pushing Officer"
    assert metric(at, "Edited rows") == "1"
    assert "pushed as edited" in shown(at)

    click(at, "push_start")
    click(at, "push_confirm")
    run = last_run(crm_app)
    assert run.state == "completed" and run.created == 102
    assert hubspot_contact(email)["jobtitle"] == "Chief Pushing Officer"
    assert stored_leads(crm_app, NA_SAAS)[email].title == stored_title  # the campaign is unchanged
    record = next(r for r in records(crm_app, run.id) if r.email == email)
    assert record.row["title"] == "Chief Pushing Officer"
    assert not at.exception


def test_save_edits_writes_them_to_the_campaign(crm_app: AppHarness) -> None:
    connect(crm_app, "hubspot")
    at = push_page(crm_app, analyst=True)
    email = table(at)["email"].iloc[0]

    edit(at, {0: {"company": "Renamed Inc", "score": 99}})
    assert stored_leads(crm_app, NA_SAAS)[email].company != "Renamed Inc"
    click(at, "push_save_edits")

    saved = stored_leads(crm_app, NA_SAAS)[email]
    assert (saved.company, saved.score) == ("Renamed Inc", 99)
    assert "Saved 1 edited lead" in shown(at)
    assert metric(at, "Edited rows") == "0"
    row = table(at).iloc[0]
    assert (row["company"], row["score"]) == ("Renamed Inc", 99)  # the table shows the stored values
    assert not at.exception


def test_discard_edits_restores_the_stored_values(crm_app: AppHarness) -> None:
    connect(crm_app, "hubspot")
    at = push_page(crm_app)
    original = table(at)["city"].iloc[0]

    edit(at, {0: {"city": "Atlantis"}})
    click(at, "push_discard_edits")

    assert table(at)["city"].iloc[0] == original
    assert metric(at, "Edited rows") == "0"
    assert not at.exception


def test_problems_column_flags_what_the_push_would_refuse(crm_app: AppHarness) -> None:
    connect(crm_app, "hubspot")
    at = push_page(crm_app, campaign=FINTECH)
    bad = position(at, "priya.raman at quantpay.example")

    problems = table(at)["problems"]
    assert "'priya.raman at quantpay.example' is not a valid email address" in problems.iloc[bad]
    assert (problems != "").sum() == 1
    assert metric(at, "Fail the checks") == "1"

    # A duplicate email in this push: the earlier row is merged into the later one.
    first, second = table(at)["email"].iloc[0], table(at)["row_number"].iloc[1]
    edit(at, {1: {"email": first.upper()}, bad: {"email": "priya.raman@quantpay.example"}})
    problems = table(at)["problems"]
    assert problems.iloc[bad] == ""  # fixed in place
    assert problems.iloc[0] == (
        f"Same email as row {second} in this push: merged into it (the later row wins)."
    )
    assert metric(at, "Duplicate emails") == "1"
    assert metric(at, "Fail the checks") == "0"
    assert not at.exception


def test_problems_column_flags_length_required_fields_and_picklists(crm_app: AppHarness) -> None:
    connect(crm_app, "hubspot", "salesforce")
    at = push_page(crm_app, provider="salesforce")

    problems = table(at)["problems"]
    required = problems[problems.str.startswith("If new:")]
    assert len(required) == 2  # the demo's two leads without a company or a last name
    assert all("is required to create the record" in text for text in required)

    edit(at, {0: {"last_name": "L" * 90, "company": None}})
    problem = table(at)["problems"].iloc[0]
    assert "Last Name (LastName) is 90 characters; the CRM allows 80" in problem
    assert metric(at, "Fail the checks") == "1"

    at.selectbox(key="push_provider").select("hubspot").run()  # another CRM: other rules
    at.selectbox(key="push_map_hubspot_contacts_tier").select("hs_lead_status").run()
    problems = table(at)["problems"]
    assert problems.str.contains("is not an allowed value; use one of NEW, OPEN").all()
    assert metric(at, "Fail the checks") == "102"
    assert not at.exception


def test_markup_in_a_cell_stays_text(crm_app: AppHarness) -> None:
    connect(crm_app, "hubspot")
    at = push_page(crm_app)

    edit(at, {0: {"first_name": "<script>alert(1)</script>", "company": "**bold** <b>x</b>"}})

    row = table(at).iloc[0]
    assert row["first_name"] == "<script>alert(1)</script>"
    assert row["company"] == "**bold** <b>x</b>"
    assert not at.get("html") or all("<script>" not in str(h.proto.body) for h in at.get("html"))
    assert "<script>" not in "".join(str(m.value) for m in at.markdown)
    assert not at.exception
