"""crm.oauth against the HubSpot sandbox's OAuth endpoints (in-process): authorize URL with PKCE, code
exchange, refresh, OAuthTokens' early refresh, revoke."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from crm.errors import AuthError, NotConfigured
from crm.http import StaticToken
from crm.hubspot import HubSpotAdapter
from crm.oauth import (
    REFRESH_EARLY,
    OAuthTokens,
    TokenSet,
    authorize_url,
    exchange_code,
    hubspot_endpoints,
    new_code_verifier,
    refresh_tokens,
    revoke,
)
from crm.sandbox import SandboxTransport
from crm.sandbox.hubspot import CLIENT_ID, CLIENT_SECRET, PORTAL_ID, HubSpotSandbox

REDIRECT = "http://localhost:8501/oauth/callback"
Flow = Callable[..., Any]  # the conftest's hubspot_oauth(app, scopes=...) -> HubSpotOAuthFlow
Adapters = Callable[..., HubSpotAdapter]


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_authorize_url_carries_client_scopes_state_and_s256_challenge() -> None:
    endpoints = hubspot_endpoints()
    verifier = new_code_verifier()

    url = authorize_url(endpoints, CLIENT_ID, REDIRECT, "state-42", verifier)

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://app.hubspot.com/oauth/authorize"
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": "crm.objects.contacts.read crm.objects.contacts.write crm.schemas.contacts.read",
        "optional_scope": "crm.schemas.contacts.write",
        "state": "state-42",
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
    }
    assert 43 <= len(verifier) <= 128 and verifier not in url


def test_authorize_url_without_pkce_sends_no_challenge() -> None:
    url = authorize_url(hubspot_endpoints(), CLIENT_ID, REDIRECT, "s", None)

    assert "code_challenge" not in parse_qs(urlsplit(url).query)


def test_exchange_with_the_right_verifier_gives_working_tokens(
    hubspot_app: HubSpotSandbox, hubspot_oauth: Flow, make_hubspot_adapter: Adapters
) -> None:
    flow = hubspot_oauth(hubspot_app)
    verifier = new_code_verifier()
    redirect = flow.authorize(verifier, state="abc")
    assert redirect["state"] == "abc"

    tokens = flow.exchange(redirect["code"], verifier)

    assert tokens.access_token and tokens.refresh_token
    assert tokens.expires_at is not None
    assert tokens.extra["hub_id"] == PORTAL_ID and tokens.extra["expires_in"] == 1800
    assert "crm.objects.contacts.write" in tokens.extra["scopes"]
    assert "access_token" not in tokens.extra and "refresh_token" not in tokens.extra
    assert make_hubspot_adapter(hubspot_app, StaticToken(tokens.access_token)).account().account_id == str(
        PORTAL_ID
    )


def test_a_wrong_verifier_and_a_replayed_code_are_refused(
    hubspot_app: HubSpotSandbox, hubspot_oauth: Flow
) -> None:
    flow = hubspot_oauth(hubspot_app)
    verifier = new_code_verifier()
    code = flow.authorize(verifier)["code"]

    with pytest.raises(AuthError) as wrong:
        flow.exchange(code, new_code_verifier())
    assert (wrong.value.code, wrong.value.status) == ("BAD_AUTH_CODE", 400)
    assert "code_verifier" in wrong.value.message

    good_code = flow.authorize(verifier)["code"]
    assert flow.exchange(good_code, verifier).access_token
    with pytest.raises(AuthError) as replayed:
        flow.exchange(good_code, verifier)
    assert replayed.value.code == "BAD_AUTH_CODE"

    with pytest.raises(AuthError) as missing:
        flow.exchange(flow.authorize(verifier)["code"], None)  # a challenged code needs its verifier
    assert missing.value.code == "BAD_AUTH_CODE"


def test_a_wrong_client_secret_is_refused(hubspot_app: HubSpotSandbox, hubspot_oauth: Flow) -> None:
    flow = hubspot_oauth(hubspot_app)
    verifier = new_code_verifier()
    code = flow.authorize(verifier)["code"]

    with pytest.raises(AuthError) as refused:
        exchange_code(
            flow.endpoints,
            client_id=CLIENT_ID,
            client_secret="not-the-secret",
            redirect_uri=REDIRECT,
            code=code,
            code_verifier=verifier,
            transport=SandboxTransport(hubspot_app),
        )
    assert refused.value.code == "BAD_CLIENT_SECRET"
    assert "not-the-secret" not in str(refused.value)


def test_refresh_gives_a_new_access_token_and_keeps_the_refresh_token(
    hubspot_app: HubSpotSandbox, hubspot_oauth: Flow, make_hubspot_adapter: Adapters
) -> None:
    flow = hubspot_oauth(hubspot_app)
    first = flow.tokens()
    hubspot_app.expire_tokens()

    fresh = flow.refresh(first)

    assert fresh.access_token != first.access_token
    assert fresh.refresh_token == first.refresh_token
    assert make_hubspot_adapter(hubspot_app, StaticToken(fresh.access_token)).fields()


def test_refresh_keeps_the_old_refresh_token_when_none_comes_back() -> None:
    def token_endpoint(request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["keep-me"]
        return httpx.Response(200, json={"access_token": "new-access", "expires_in": 1800})

    fresh = refresh_tokens(
        hubspot_endpoints(),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token="keep-me",
        transport=httpx.MockTransport(token_endpoint),
    )

    assert (fresh.access_token, fresh.refresh_token) == ("new-access", "keep-me")


def test_oauth_tokens_refresh_before_expiry_and_report_it(
    hubspot_app: HubSpotSandbox, hubspot_oauth: Flow
) -> None:
    flow = hubspot_oauth(hubspot_app)
    issued = flow.tokens()
    assert issued.expires_at is not None
    clock = Clock(issued.expires_at - REFRESH_EARLY - 60)  # a minute before the early-refresh point
    seen: list[TokenSet] = []
    tokens = OAuthTokens(issued, flow.refresh, on_refresh=seen.append, clock=clock)

    assert tokens.token() == issued.access_token and seen == []

    clock.now = issued.expires_at - REFRESH_EARLY + 1  # inside the early-refresh margin, not yet expired
    fresh = tokens.token()

    assert fresh != issued.access_token
    assert [s.access_token for s in seen] == [fresh]
    assert tokens.current is seen[0] and tokens.refreshed_at == clock.now
    assert hubspot_app.token_state(fresh) == "ok"


def test_oauth_tokens_need_an_access_token() -> None:
    with pytest.raises(NotConfigured):
        OAuthTokens(TokenSet(access_token=""), lambda t: t)


def test_revoke_stops_the_refresh_token_working(hubspot_app: HubSpotSandbox, hubspot_oauth: Flow) -> None:
    flow = hubspot_oauth(hubspot_app)
    tokens = flow.tokens()
    assert tokens.refresh_token

    assert revoke(flow.endpoints, tokens.refresh_token, transport=SandboxTransport(hubspot_app)) is True

    with pytest.raises(AuthError) as refused:
        flow.refresh(tokens)
    assert refused.value.code == "BAD_REFRESH_TOKEN"
    # A second revoke finds nothing to revoke, and says so.
    assert revoke(flow.endpoints, tokens.refresh_token, transport=SandboxTransport(hubspot_app)) is False


def test_revoke_without_an_endpoint_or_token_is_a_no(hubspot_app: HubSpotSandbox) -> None:
    endpoints = hubspot_endpoints(api_base=hubspot_app.base_url)
    assert revoke(replace(endpoints, revoke_url=None), "anything") is False
    assert revoke(endpoints, "", transport=SandboxTransport(hubspot_app)) is False
