"""The Push page's source step: campaign, provider and Salesforce object pickers, and no connection yet."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from app_harness import AppHarness
from test_app_push_support import (
    DACH,
    FINTECH,
    NA_SAAS,
    connect,
    fresh_sandboxes,
    metric,
    push_page,
    shown,
    table,
)

from crm.sandbox import SandboxApp
from data.leads import list_campaigns


@pytest.fixture(autouse=True)
def sandboxes() -> Iterator[dict[str, SandboxApp]]:
    yield from fresh_sandboxes()


def test_without_a_connection_points_to_providers(crm_app: AppHarness) -> None:
    at = crm_app.open(crm_app.as_analyst(), "push")

    assert "No CRM is connected yet" in shown(at)
    links = at.get("page_link")
    assert [link.proto.label for link in links] == ["Go to Providers"]
    assert links[0].proto.page_script_hash  # a page of the app, not an external link
    assert not at.dataframe  # no table to push from
    assert not at.exception


def test_campaign_picker_shows_name_count_and_date(crm_app: AppHarness) -> None:
    connect(crm_app, "hubspot")
    at = push_page(crm_app, campaign=FINTECH, analyst=True)

    with crm_app.db.session() as session:
        campaigns = list_campaigns(session)
    picker = at.selectbox(key="push_campaign")
    for campaign in campaigns:
        label = f"{campaign.name} — {campaign.lead_count:,} leads — {campaign.created_at:%Y-%m-%d}"
        assert label in picker.options
    assert len(table(at)) == 88
    assert metric(at, "Rows to push") == "88"

    picker.select(DACH).run()
    assert len(table(at)) == 85
    assert metric(at, "Rows to push") == "85"
    assert not at.exception


def test_provider_picker_lists_connections_and_salesforce_asks_for_the_object(crm_app: AppHarness) -> None:
    connect(crm_app, "hubspot", "salesforce")
    at = push_page(crm_app, campaign=NA_SAAS)

    provider = at.selectbox(key="push_provider")
    assert provider.options == ["HubSpot (sandbox)", "Salesforce (sandbox)"]
    assert not at.radio  # HubSpot has one object: contacts
    assert "Object: contacts" in shown(at)
    assert at.selectbox(key="push_map_hubspot_contacts_email").value == "email"

    provider.select("salesforce").run()
    assert at.radio(key="push_object").options == ["Lead", "Contact"]
    assert at.radio(key="push_object").value == "Lead"
    assert at.selectbox(key="push_map_salesforce_Lead_company").value == "Company"

    at.radio(key="push_object").set_value("Contact").run()
    # Contact has no Company field: the Contact defaults leave it unmapped.
    assert at.selectbox(key="push_map_salesforce_Contact_company").value == ""
    assert at.selectbox(key="push_map_salesforce_Contact_city").value == "MailingCity"
    assert not at.exception
