"""Providers page: the OAuth round trip against the sandboxes' authorize and token endpoints over HTTP.

The page's "Connect with …" link is followed with httpx as a browser would (redirects off); the code and
state from the redirect's Location become the page's query parameters, as when the CRM sends the browser
back to the app's URL. A forged state, a reused one, a code obtained under another PKCE challenge, an
analyst's session and a CRM's error redirect are all refused with nothing saved.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from app_harness import AppHarness, texts
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from streamlit.testing.v1 import AppTest
from test_app_providers_support import (
    PROVIDERS,
    Servers,
    authorize,
    click,
    oauth_link,
    providers_page,
    saved,
    serving,
    shown,
)

from crm.oauth import new_code_verifier
from ui.providers_oauth import REFUSED

CONNECTED = {
    "hubspot": "Connected ✓ to HubSpot with OAuth: 46 fields, as portal 146872913.",
    "salesforce": "Connected ✓ to Salesforce with OAuth: 54 fields, as integration@crm-push.sandbox in org",
}
PKCE_REASON = {
    "hubspot": "code_verifier does not match the code_challenge",
    "salesforce": "invalid code verifier",
}


@pytest.fixture
def servers(crm_app: AppHarness) -> Iterator[Servers]:
    with serving(crm_app) as running:
        yield running


def come_back(at: AppTest, **params: str) -> AppTest:
    """The CRM redirects the browser to the app's URL with ``params``."""
    at.query_params.update(params)
    return at.run()


def live_grants(servers: Servers, provider: str) -> set[str]:
    """The refresh tokens the CRM still honours."""
    oauth = servers[provider].app.oauth
    if provider == "salesforce":
        return set(oauth.grants)
    return {token for token, grant in oauth.refresh.items() if not grant.revoked}


def callback_params_left(at: AppTest) -> set[str]:
    return set(at.query_params) & {"code", "state", "error", "error_description"}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_round_trip_connects(crm_app: AppHarness, servers: Servers, provider: str) -> None:
    at = providers_page(crm_app)
    code, state = authorize(oauth_link(at, provider))

    at = come_back(at, code=code, state=state)

    page = shown(at)
    assert CONNECTED[provider] in page
    assert callback_params_left(at) == set()  # the URL is clean again
    conn = saved(crm_app)[provider]
    assert (conn.auth_kind, conn.status) == ("oauth", "connected")
    assert "Method: OAuth" in page and "Token last refreshed: not yet" in page
    if provider == "salesforce":
        assert f"Instance URL: {servers['salesforce'].base_url}" in page
    at = click(at, f"providers_test_{provider}")  # the saved tokens work
    assert CONNECTED[provider].replace(" with OAuth", "") in shown(at)
    assert not at.exception


def test_the_redirect_lands_on_the_apps_url_and_survives_the_login(
    crm_app: AppHarness, servers: Servers
) -> None:
    code, state = authorize(oauth_link(providers_page(crm_app), "hubspot"))
    at = crm_app.new()  # the browser comes back in a new session, at the app's root URL
    at = come_back(at, code=code, state=state)
    assert "Providers" not in [t.value for t in at.title]  # the login form first
    assert "hubspot" not in saved(crm_app)

    at = crm_app.login(at, "admin")

    assert at.title[0].value == "Providers"  # the default page took the callback
    assert CONNECTED["hubspot"] in shown(at)
    assert callback_params_left(at) == set()
    assert not at.exception


@pytest.mark.parametrize("provider", PROVIDERS)
def test_forged_state_is_refused_and_consumes_nothing(
    crm_app: AppHarness, servers: Servers, provider: str
) -> None:
    at = providers_page(crm_app)
    code, state = authorize(oauth_link(at, provider))

    at = come_back(at, code=code, state="forged" + state[6:])

    assert REFUSED in shown(at)
    assert saved(crm_app) == {}
    assert callback_params_left(at) == set()
    at = come_back(at, code=code, state=state)  # the real state was not used up by the forgery
    assert CONNECTED[provider] in shown(at)
    assert not at.exception


def test_reused_state_is_refused(crm_app: AppHarness, servers: Servers) -> None:
    at = providers_page(crm_app)
    code, state = authorize(oauth_link(at, "salesforce"))
    at = come_back(at, code=code, state=state)
    first = saved(crm_app)["salesforce"]

    at = come_back(at, code=code, state=state)  # replayed, e.g. from the browser history

    assert REFUSED in shown(at)
    again = saved(crm_app)["salesforce"]
    assert (again.id, again.created_at) == (first.id, first.created_at)  # nothing new saved
    assert not at.exception


@pytest.mark.parametrize("provider", PROVIDERS)
def test_code_issued_for_another_pkce_challenge_is_refused(
    crm_app: AppHarness, servers: Servers, provider: str
) -> None:
    at = providers_page(crm_app)
    url = urlsplit(oauth_link(at, provider))
    query = parse_qs(url.query)
    assert query["code_challenge_method"] == ["S256"]
    query["code_challenge"] = [create_s256_code_challenge(new_code_verifier())]  # not our verifier's
    code, state = authorize(urlunsplit(url._replace(query=urlencode(query, doseq=True))))

    at = come_back(at, code=code, state=state)

    page = shown(at)
    assert "refused the sign-in; nothing was saved." in page
    assert PKCE_REASON[provider] in page  # the CRM's own reason
    assert saved(crm_app) == {}
    assert not at.exception


def test_an_analysts_session_cannot_finish_a_sign_in(crm_app: AppHarness, servers: Servers) -> None:
    admin = providers_page(crm_app)
    code, state = authorize(oauth_link(admin, "hubspot"))
    analyst = providers_page(crm_app, analyst=True)

    analyst = come_back(analyst, code=code, state=state)

    assert "Only an admin can change connections; analyst is an analyst." in shown(analyst)
    assert "nothing was saved" in shown(analyst)
    assert saved(crm_app) == {}
    assert callback_params_left(analyst) == set()
    admin = come_back(admin, code=code, state=state)  # the analyst's attempt used nothing up
    assert CONNECTED["hubspot"] in shown(admin)
    assert not analyst.exception and not admin.exception


def test_an_error_redirect_is_shown_as_text_and_saves_nothing(crm_app: AppHarness, servers: Servers) -> None:
    at = providers_page(crm_app)
    at = come_back(at, error="access_denied", error_description="end-user denied <b>authorization</b>")

    assert "The CRM did not grant access (access_denied): end-user denied <b>authorization</b>." in shown(at)
    assert r"\<b\>" in texts(at)  # escaped: the URL's text is never markup
    assert saved(crm_app) == {}
    assert callback_params_left(at) == set()
    assert not at.exception


@pytest.mark.parametrize("provider", PROVIDERS)
def test_disconnect_revokes_the_oauth_grant(crm_app: AppHarness, servers: Servers, provider: str) -> None:
    at = providers_page(crm_app)
    code, state = authorize(oauth_link(at, provider))
    at = come_back(at, code=code, state=state)
    assert len(live_grants(servers, provider)) == 1

    at = click(click(at, f"providers_disconnect_{provider}"), f"providers_disconnect_confirm_{provider}")

    assert "disconnected; credentials deleted. Tokens revoked at the CRM." in shown(at)
    assert live_grants(servers, provider) == set()
    assert saved(crm_app) == {}
    assert not at.exception


def test_salesforce_login_host_production_or_sandbox(crm_app: AppHarness, servers: Servers) -> None:
    at = providers_page(crm_app)
    configured = servers["salesforce"].base_url
    assert oauth_link(at, "salesforce").startswith(configured + "/services/oauth2/authorize?")
    choice = at.radio(key="providers_salesforce_login_host")

    at = choice.set_value("sandbox").run()
    assert oauth_link(at, "salesforce").startswith("https://test.salesforce.com/services/oauth2/authorize?")
    at = at.radio(key="providers_salesforce_login_host").set_value("production").run()
    assert oauth_link(at, "salesforce").startswith("https://login.salesforce.com/services/oauth2/authorize?")
    assert not at.exception


def test_missing_oauth_settings_are_named_instead_of_a_button(crm_app: AppHarness) -> None:
    with serving(crm_app, oauth=False):
        at = providers_page(crm_app)
    page = shown(at)
    assert "set HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET, HUBSPOT_REDIRECT_URI in" in page
    assert "set SALESFORCE_CLIENT_ID, SALESFORCE_REDIRECT_URI in" in page
    assert not at.link_button
    assert not at.exception


def test_a_grant_without_the_contact_scopes_says_which_are_missing(
    crm_app: AppHarness, servers: Servers
) -> None:
    at = providers_page(crm_app)
    url = urlsplit(oauth_link(at, "hubspot"))
    query = {name: values for name, values in parse_qs(url.query).items() if name != "optional_scope"}
    query["scope"] = ["oauth"]  # the user's portal granted none of the CRM scopes
    code, state = authorize(urlunsplit(url._replace(query=urlencode(query, doseq=True))))

    at = come_back(at, code=code, state=state)

    page = shown(at)
    assert "HubSpot is connected with OAuth, but the test failed." in page
    assert "HubSpot denied access: a missing scope or permission, or the API is disabled." in page
    assert saved(crm_app)["hubspot"].status == "error"
    assert ":red-badge[:material/error: Error]" in page
    assert not at.exception
