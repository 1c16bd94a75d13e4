"""Providers page, once connected: Test connection (success, and the CRM's reason on failure), Disconnect
(asks first; revokes at the CRM and deletes our copy), and a saved secret that never comes back out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from app_harness import AppHarness, button
from streamlit.testing.v1 import AppTest
from test_app_providers_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    SANDBOX_TOKEN,
    Servers,
    click,
    context,
    page_source,
    providers_page,
    saved,
    serving,
    session_values,
    shown,
)

from crm.sandbox.core import SandboxOptions
from data import connections as store

# Shaped like a real HubSpot private-app token; long enough for crm.redact to mask it anywhere.
LONG_TOKEN = "pat-na1-5f0c4e1a-9b2d-4c7e-8a31-7d2f6b9e0c44"


@pytest.fixture
def servers(crm_app: AppHarness) -> Iterator[Servers]:
    with serving(crm_app) as running:
        yield running


def connect_hubspot_token(crm_app: AppHarness, token: str) -> AppTest:
    at = providers_page(crm_app)
    at.text_input(key="providers_hubspot_token").input(token)
    return button(at, "Test and save token").click().run()


def test_test_connection_shows_fields_and_identity_then_the_crms_reason(
    crm_app: AppHarness, servers: Servers
) -> None:
    at = connect_hubspot_token(crm_app, SANDBOX_TOKEN)
    at = click(at, "providers_test_hubspot")
    assert "Connected ✓ to HubSpot: 46 fields, as portal 146872913." in shown(at)

    servers["hubspot"].app.options = SandboxOptions(token="rotated-in-hubspot")  # the saved token is dead
    at = click(at, "providers_test_hubspot")

    page = shown(at)
    assert "Test failed. HubSpot refused the credentials (a bad, revoked or expired token)." in page
    assert "Authentication credentials not found" in page
    assert ":red-badge[:material/error: Error]" in page and "Traceback" not in page
    assert saved(crm_app)["hubspot"].status == "error"
    at = at.run()  # the notice is gone; the card keeps the last error
    assert "Last error: HubSpot refused the credentials" in shown(at)
    assert "Test failed." not in shown(at)
    assert not at.exception


def test_test_connection_of_salesforce_names_user_org_and_fields(crm_app: AppHarness) -> None:
    at = click(providers_page(crm_app), "providers_sandbox_salesforce")
    at = click(at, "providers_test_salesforce")
    assert (
        "Connected ✓ to Salesforce: 54 fields, as integration@crm-push.sandbox in org 00D8d000000SbXpEAK."
        in shown(at)
    )
    assert not at.exception


def test_disconnect_asks_first_then_revokes_and_deletes(crm_app: AppHarness, servers: Servers) -> None:
    at = providers_page(crm_app)
    at.text_input(key="providers_salesforce_domain_url").input(servers["salesforce"].base_url)
    at.text_input(key="providers_salesforce_client_id").input(CLIENT_ID)
    at.text_input(key="providers_salesforce_client_secret").input(CLIENT_SECRET)
    at = button(at, "Test and save client credentials").click().run()
    ctx = context()
    try:
        with ctx.db.session() as session:
            token = store.get_secret(session, ctx.box, saved(crm_app)["salesforce"].id)["access_token"]
    finally:
        ctx.close()
    assert token in servers["salesforce"].app.issued_tokens

    at = click(at, "providers_disconnect_salesforce")
    assert "Disconnect Salesforce? Its tokens are revoked at Salesforce" in shown(at)
    at = click(at, "providers_disconnect_cancel_salesforce")
    assert "Disconnect Salesforce?" not in shown(at)
    assert "salesforce" in saved(crm_app)

    at = click(at, "providers_disconnect_salesforce")
    at = click(at, "providers_disconnect_confirm_salesforce")

    assert "Salesforce disconnected; credentials deleted. Tokens revoked at the CRM." in shown(at)
    assert saved(crm_app) == {}
    assert token not in servers["salesforce"].app.issued_tokens  # revoked at Salesforce
    assert ":gray-badge[:material/link_off: Not connected]" in shown(at)
    assert "providers_test_salesforce" not in {b.key for b in at.button}
    assert not at.exception


def test_disconnect_of_a_sandbox(crm_app: AppHarness) -> None:
    at = click(providers_page(crm_app), "providers_sandbox_hubspot")
    at = click(at, "providers_disconnect_hubspot")
    at = click(at, "providers_disconnect_confirm_hubspot")
    assert "HubSpot disconnected; credentials deleted." in shown(at)
    assert saved(crm_app) == {}
    assert not at.exception


def assert_no_token(at: AppTest) -> None:
    """The token is nowhere in what the run sent to the browser, nor kept in the session."""
    source = page_source(at)
    assert "146872913" in source  # the walk does see the card's contents …
    assert LONG_TOKEN not in source  # … and the token is nowhere in them
    assert LONG_TOKEN[8:] not in source  # not even without its prefix
    assert LONG_TOKEN not in session_values(at)
    assert "access token ••••0c44" in shown(at)  # the last 4 characters at most
    assert all(box.value == "" for box in at.text_input if box.key == "providers_hubspot_token")
    assert not at.exception


def test_a_saved_token_never_comes_back_out(crm_app: AppHarness) -> None:
    with serving(crm_app, token=LONG_TOKEN):
        at = connect_hubspot_token(crm_app, LONG_TOKEN)
        assert "Connected ✓ to HubSpot with a private app token" in shown(at)
        assert_no_token(at)
        assert_no_token(click(at, "providers_test_hubspot"))
        assert_no_token(click(at, "providers_disconnect_hubspot"))  # the confirmation step
        assert_no_token(providers_page(crm_app))  # a new session that never saw the token typed
        assert LONG_TOKEN not in str(saved(crm_app)["hubspot"].secret)  # ciphertext at rest
