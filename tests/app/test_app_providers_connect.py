"""Providers page: every way to connect without OAuth (sandbox, HubSpot private-app token, Salesforce
access token and client credentials) against the sandboxes, refusals that save nothing, and the analyst's
view, which has no forms and whose direct calls the service refuses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from app_harness import AppHarness, button
from test_app_providers_support import (
    ADMIN,
    ANALYST,
    CLIENT_ID,
    CLIENT_SECRET,
    SANDBOX_TOKEN,
    Servers,
    click,
    context,
    providers_page,
    saved,
    serving,
    session_values,
    shown,
)

from data import users
from service import connections
from service.auth import PermissionDenied
from ui import providers_cards, providers_forms, providers_oauth


@pytest.fixture
def servers(crm_app: AppHarness) -> Iterator[Servers]:
    with serving(crm_app) as running:
        yield running


def test_sandbox_connects_both_providers_in_one_click(crm_app: AppHarness) -> None:
    at = providers_page(crm_app)
    assert at.title[0].value == "Providers"
    assert "Not connected" in shown(at)

    click(at, "providers_sandbox_hubspot")
    click(at, "providers_sandbox_salesforce")

    page = shown(at)
    assert "Connected ✓ to Salesforce (sandbox): 54 fields, as integration@crm-push.sandbox in org" in page
    assert "Portal: 146872913" in page  # HubSpot's card
    assert "Org: 00D8d000000SbXpEAK" in page and "User: integration@crm-push.sandbox" in page
    assert "Instance URL: https://sandbox.my.salesforce.sandbox" in page
    assert page.count("Method: Sandbox") == 2
    assert "API calls left:" in page and "not reported" not in page
    rows = saved(crm_app)
    assert {name: (c.auth_kind, c.status) for name, c in rows.items()} == {
        "hubspot": ("sandbox", "connected"),
        "salesforce": ("sandbox", "connected"),
    }
    assert not at.exception


def test_hubspot_private_app_token_is_tested_then_saved(crm_app: AppHarness, servers: Servers) -> None:
    at = providers_page(crm_app)
    at.text_input(key="providers_hubspot_token").input(SANDBOX_TOKEN)
    at = button(at, "Test and save token").click().run()

    assert "Connected ✓ to HubSpot with a private app token: 46 fields, as portal" in shown(at)
    assert "Method: Private app" in shown(at)
    assert at.text_input(key="providers_hubspot_token").value == ""  # the field forgets the token
    assert SANDBOX_TOKEN not in session_values(at)
    conn = saved(crm_app)["hubspot"]
    assert (conn.auth_kind, conn.status) == ("private_app", "connected")
    assert conn.settings["base_url"] == servers["hubspot"].base_url  # only the host differs
    assert servers["hubspot"].app.stats  # the page really talked to the HTTP sandbox
    assert not at.exception


def test_bad_hubspot_token_shows_hubspots_reason_and_saves_nothing(
    crm_app: AppHarness, servers: Servers
) -> None:
    at = providers_page(crm_app)
    at.text_input(key="providers_hubspot_token").input("pat-na1-not-a-real-token")
    at = button(at, "Test and save token").click().run()

    page = shown(at)
    assert "Nothing was saved. HubSpot refused the credentials (a bad, revoked or expired token)." in page
    assert "Authentication credentials not found" in page  # HubSpot's own words
    assert "Traceback" not in page
    assert at.text_input(key="providers_hubspot_token").value == ""
    assert saved(crm_app) == {}
    assert not at.exception


def test_salesforce_access_token_with_instance_url(crm_app: AppHarness, servers: Servers) -> None:
    instance_url = servers["salesforce"].base_url
    at = providers_page(crm_app)
    at.text_input(key="providers_salesforce_instance_url").input(instance_url + "/")
    at.text_input(key="providers_salesforce_access_token").input(SANDBOX_TOKEN)
    at = button(at, "Test and save access token").click().run()

    page = shown(at)
    assert "Connected ✓ to Salesforce with an access token: 54 fields, as integration@" in page
    assert f"Instance URL: {instance_url}" in page and "Method: Access token" in page
    assert at.text_input(key="providers_salesforce_access_token").value == ""
    conn = saved(crm_app)["salesforce"]
    assert (conn.auth_kind, conn.settings["instance_url"]) == ("access_token", instance_url)
    assert not at.exception


def test_salesforce_access_token_at_a_wrong_instance_url_saves_nothing(
    crm_app: AppHarness, servers: Servers
) -> None:
    at = providers_page(crm_app)
    not_salesforce = servers["hubspot"].base_url
    at.text_input(key="providers_salesforce_instance_url").input(not_salesforce)
    at.text_input(key="providers_salesforce_access_token").input(SANDBOX_TOKEN)
    at = button(at, "Test and save access token").click().run()

    assert "Nothing was saved. Salesforce has no API at that address: check the instance URL." in shown(at)
    assert saved(crm_app) == {}
    assert not at.exception


def test_salesforce_client_credentials(crm_app: AppHarness, servers: Servers) -> None:
    my_domain = servers["salesforce"].base_url
    at = providers_page(crm_app)
    at.text_input(key="providers_salesforce_domain_url").input(my_domain)
    at.text_input(key="providers_salesforce_client_id").input(CLIENT_ID)
    at.text_input(key="providers_salesforce_client_secret").input("wrong-secret-value")
    at = button(at, "Test and save client credentials").click().run()
    assert "Nothing was saved. Salesforce refused the credentials" in shown(at)
    assert "invalid client credentials" in shown(at)  # Salesforce's own words
    assert saved(crm_app) == {}

    at.text_input(key="providers_salesforce_client_secret").input(CLIENT_SECRET)
    at = button(at, "Test and save client credentials").click().run()

    page = shown(at)
    assert "Connected ✓ to Salesforce with client credentials: 54 fields" in page
    assert f"Method: Client credentials via {my_domain}" in page
    assert "client secret ••••cret" in page and CLIENT_SECRET not in page
    assert at.text_input(key="providers_salesforce_client_secret").value == ""
    assert saved(crm_app)["salesforce"].auth_kind == "client_credentials"
    assert not at.exception


def test_analyst_sees_status_only(crm_app: AppHarness) -> None:
    ctx = context()
    try:
        for provider in ("hubspot", "salesforce"):
            assert connections.connect_sandbox(ctx, ADMIN, provider).ok
    finally:
        ctx.close()

    at = providers_page(crm_app, analyst=True)

    page = shown(at)
    assert "Only admins can change connections. You are logged in as an analyst." in page
    assert "Portal: 146872913" in page and "Org: 00D8d000000SbXpEAK" in page
    assert not at.text_input and not at.link_button and not at.get("form")
    keys = {b.key for b in at.button}
    assert {"providers_test_hubspot", "providers_test_salesforce"} <= keys
    assert not {k for k in keys if k and ("sandbox" in k or "disconnect" in k)}
    click(at, "providers_test_salesforce")  # testing changes nothing, so analysts may
    assert "Connected ✓ to Salesforce: 54 fields" in shown(at)
    assert not at.exception


def test_analyst_cannot_connect_by_calling_the_page_functions(crm_app: AppHarness, servers: Servers) -> None:
    crm_app.add_user(ANALYST.username, "analyst")
    ctx = context()
    try:
        sf_url = servers["salesforce"].base_url
        attempts = [
            lambda: providers_forms.connect_sandbox(ctx, ANALYST, "hubspot"),
            lambda: providers_forms.connect_hubspot_token(ctx, ANALYST, SANDBOX_TOKEN),
            lambda: providers_forms.connect_salesforce_token(ctx, ANALYST, sf_url, SANDBOX_TOKEN),
            lambda: providers_forms.connect_salesforce_client_credentials(
                ctx, ANALYST, sf_url, CLIENT_ID, CLIENT_SECRET
            ),
            lambda: providers_oauth.authorize_link(ctx, ANALYST, "hubspot"),
            lambda: providers_oauth.finish_callback(ctx, ANALYST, code="any", state="any"),
        ]
        for attempt in attempts:
            with pytest.raises(PermissionDenied, match="Only an admin can change connections"):
                attempt()
        assert saved(crm_app) == {}

        assert connections.connect_sandbox(ctx, ADMIN, "hubspot").ok
        with pytest.raises(PermissionDenied):
            providers_cards.disconnect(ctx, ANALYST, "hubspot")
        assert "hubspot" in saved(crm_app)
    finally:
        ctx.close()


def test_a_demoted_admins_open_page_cannot_connect(crm_app: AppHarness) -> None:
    at = providers_page(crm_app)  # rendered while "admin" is an admin
    crm_app.add_user("bob", "admin")
    with crm_app.db.begin() as session:
        users.set_role(session, "admin", "analyst")

    at = click(at, "providers_sandbox_hubspot")  # the callback runs before the gate re-reads the user

    assert "Only an admin can change connections; admin is an analyst. Nothing was changed." in shown(at)
    assert saved(crm_app) == {}
    assert "providers_sandbox_hubspot" not in {b.key for b in at.button}  # and the page is an analyst's now
    assert not at.exception
