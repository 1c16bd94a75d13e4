"""The Push page's mapping editor: CRM fields from the adapter, reset, custom fields, value maps, the
remembered mapping, and HubSpot's score and tier properties (admins create them, analysts are told why)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from app_harness import AppHarness
from test_app_push_support import (
    click,
    connect,
    crm,
    crm_fields,
    fresh_sandboxes,
    last_run,
    push_page,
    records,
    shown,
    table,
)

from crm.mapping import HUBSPOT_SCORE_PROPERTIES
from crm.sandbox import SandboxApp

SF = "push_map_salesforce_Lead_"
HS = "push_map_hubspot_contacts_"


@pytest.fixture(autouse=True)
def sandboxes() -> Iterator[dict[str, SandboxApp]]:
    yield from fresh_sandboxes()


def dry_run(crm_app: AppHarness, at):  # type: ignore[no-untyped-def]
    at.toggle(key="push_test_mode").set_value(True).run()
    click(at, "push_dry_run")
    return last_run(crm_app)


def test_crm_fields_come_from_the_adapter_with_labels_and_required_marks(crm_app: AppHarness) -> None:
    connect(crm_app, "salesforce")
    at = push_page(crm_app, provider="salesforce")

    box = at.selectbox(key=f"{SF}last_name")
    assert box.value == "LastName"
    assert "Last Name (LastName) · required" in box.options
    assert "Company (Company) · required" in box.options
    assert "Rating (Rating)" in box.options
    assert "— not sent —" in box.options
    assert not any("Created Date" in option for option in box.options)  # read-only fields are not offered
    assert not at.exception


def test_an_unmapped_field_is_not_sent_and_reset_brings_the_defaults_back(crm_app: AppHarness) -> None:
    connect(crm_app, "salesforce")
    at = push_page(crm_app, provider="salesforce")

    at.selectbox(key=f"{SF}title").select("").run()
    at.selectbox(key=f"{SF}phone").select("MobilePhone").run()
    run = dry_run(crm_app, at)
    payloads = [r.payload for r in records(crm_app, run.id)]
    assert not any("Title" in p for p in payloads)
    assert any("MobilePhone" in p for p in payloads) and not any("Phone" in p for p in payloads)
    assert run.mapping["fields"]["phone"] == "MobilePhone"

    click(at, f"{SF}reset")
    assert at.selectbox(key=f"{SF}title").value == "Title"
    assert at.selectbox(key=f"{SF}phone").value == "Phone"
    assert not at.exception


def test_the_last_mapping_is_offered_next_time(crm_app: AppHarness) -> None:
    connect(crm_app, "salesforce")
    at = push_page(crm_app, provider="salesforce")
    at.selectbox(key=f"{SF}industry").select("").run()
    dry_run(crm_app, at)

    later = push_page(crm_app, provider="salesforce", analyst=True)  # another session, another user

    assert later.selectbox(key=f"{SF}industry").value == ""
    assert later.selectbox(key=f"{SF}email").value == "Email"
    assert not later.exception


def test_custom_fields_are_checked_against_the_crm(crm_app: AppHarness) -> None:
    connect(crm_app, "salesforce")
    at = push_page(crm_app, provider="salesforce")

    click(at, f"{SF}custom_add")
    at.text_input(key=f"{SF}custom_0_key").input("Trade_Fair__c").run()
    at.text_input(key=f"{SF}custom_0_value").input("Hannover").run()
    message = "custom field Trade_Fair__c -> 'Trade_Fair__c': Salesforce Lead has no such field"
    assert message in shown(at)
    assert at.button(key="push_start").disabled
    assert "Fix the field mapping first" in shown(at)

    at.text_input(key=f"{SF}custom_0_key").input("LeadSource").run()
    at.text_input(key=f"{SF}custom_0_value").input("Trade Show").run()
    assert "no such field" not in shown(at)
    assert not at.button(key="push_start").disabled
    run = dry_run(crm_app, at)
    assert all(r.payload.get("LeadSource") == "Trade Show" for r in records(crm_app, run.id) if r.payload)
    assert run.mapping["constants"] == {"LeadSource": "Trade Show"}

    click(at, f"{SF}custom_0_remove")
    assert f"{SF}custom_0_key" not in [box.key for box in at.text_input]
    assert not at.exception


def test_tier_value_map_defaults_to_the_rating_picklist(crm_app: AppHarness) -> None:
    connect(crm_app, "salesforce")
    at = push_page(crm_app, provider="salesforce")

    assert [at.selectbox(key=f"{SF}tier_{tier}").value for tier in ("HOT", "WARM", "COOL")] == [
        "Hot",
        "Warm",
        "Cold",
    ]
    at.selectbox(key=f"{SF}tier_WARM").select("Hot").run()
    run = dry_run(crm_app, at)

    ratings = {r.row["tier"]: r.payload.get("Rating") for r in records(crm_app, run.id) if r.row.get("tier")}
    assert ratings == {"HOT": "Hot", "WARM": "Hot", "COOL": "Cold"}
    assert run.mapping["value_maps"]["tier"] == {"HOT": "Hot", "WARM": "Hot", "COOL": "Cold"}
    assert not at.exception


def test_an_admin_creates_hubspot_score_and_tier_properties(crm_app: AppHarness) -> None:
    connect(crm_app, "hubspot")
    at = push_page(crm_app)
    assert "HubSpot has no property for the lead's score and tier" in shown(at)

    click(at, "push_create_properties")

    created = {fd.name: fd for fd in crm_fields(crm("hubspot")) if fd.name.startswith("crmpush_")}
    assert sorted(created) == sorted(spec["name"] for spec in HUBSPOT_SCORE_PROPERTIES.values())
    assert created["crmpush_tier"].options == ("HOT", "WARM", "COOL")
    assert "Created Lead score, Lead tier in HubSpot" in shown(at)
    assert at.selectbox(key=f"{HS}score").value == "crmpush_score"
    assert at.selectbox(key=f"{HS}tier").value == "crmpush_tier"
    assert "HubSpot has no property" not in shown(at)
    run = dry_run(crm_app, at)
    payload = next(r.payload for r in records(crm_app, run.id) if r.row.get("tier") == "HOT")
    assert payload["crmpush_tier"] == "HOT" and "crmpush_score" in payload
    assert not at.exception


def test_an_analyst_is_told_why_they_cannot_create_properties(crm_app: AppHarness) -> None:
    connect(crm_app, "hubspot")
    at = push_page(crm_app, analyst=True)

    assert "Only admins can create HubSpot properties" in shown(at)
    assert "push_create_properties" not in [button.key for button in at.button]
    assert len(table(at)) == 102  # the push itself is open to analysts
    assert not at.exception
