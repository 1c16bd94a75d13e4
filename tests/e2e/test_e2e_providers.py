"""In the browser: connect the HubSpot sandbox, test it, take the Providers screenshot; and an OAuth
redirect back to the app's URL with a forged state, which the default page refuses after the cookie login."""

from __future__ import annotations

import re

import pytest
from e2e_harness import AppServer, open_page, screenshot, settle, wait_for_auth_cookie
from playwright.sync_api import Page, expect


@pytest.mark.e2e
def test_connect_and_test_the_hubspot_sandbox(page: Page, app_server: AppServer) -> None:
    open_page(page, "Providers")
    card = page.locator(".st-key-providers_card_hubspot")
    expect(card.get_by_text("Not connected. Connect it below.")).to_be_visible()

    page.locator(".st-key-providers_sandbox_hubspot").get_by_role("button", name="Use the sandbox").click()
    expect(card.get_by_text("Connected ✓ to HubSpot (sandbox)")).to_be_visible()
    settle(page)
    page.locator(".st-key-providers_test_hubspot").get_by_role("button", name="Test connection").click()

    tested = re.compile(r"^Connected ✓ to HubSpot: \d+ fields, as portal \d+\.$")
    expect(card.get_by_text(tested)).to_be_visible()
    settle(page)
    facts = card.get_by_role("listitem")
    expect(facts.filter(has_text="Method: Sandbox")).to_be_visible()
    expect(facts.filter(has_text="Saved secret: access token ••••oken")).to_be_visible()
    assert "sandbox-token" not in page.content()  # the saved token is not in the page, only its last 4
    expect(page.get_by_role("button", name="Connect with HubSpot")).to_have_count(0)  # no OAuth app set
    path = screenshot(page, "providers")
    assert path.stat().st_size > 0


@pytest.mark.e2e
def test_a_forged_oauth_redirect_is_refused_on_the_apps_url(page: Page, app_server: AppServer) -> None:
    wait_for_auth_cookie(page.context, present=True)
    page.goto(app_server.url("/?code=stolen-code&state=forged-state"))  # a new session: the cookie logs in

    expect(page.get_by_text(re.compile(r"^The sign-in could not be verified"))).to_be_visible()
    settle(page)
    expect(page.get_by_role("heading", name="Providers", level=1)).to_be_visible()
    assert "state=" not in page.url and "code=" not in page.url  # the parameters were cleared
