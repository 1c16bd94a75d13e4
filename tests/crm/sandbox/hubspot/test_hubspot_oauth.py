"""The emulated OAuth flow: authorize, code exchange with PKCE, refresh, metadata, revocation, scopes."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from crm.sandbox.hubspot import CLIENT_ID, CLIENT_SECRET, PORTAL_ID, HubSpotSandbox

REDIRECT = "http://localhost:8501/oauth/callback"
CLIENT = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
V3 = "/crm/v3/objects/contacts"
ClientFor = Callable[..., httpx.Client]


def challenge_for(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture
def public(app: HubSpotSandbox, client_for: ClientFor) -> httpx.Client:
    return client_for(app, token=None)


def authorize(public: httpx.Client, **params: str) -> dict[str, list[str]]:
    query = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "scope": "crm.objects.contacts.read", **params}
    answer = public.get("/oauth/authorize", params=query)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)


def exchange(public: httpx.Client, code: str, path: str = "/oauth/v1/token", **extra: str) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **CLIENT, **extra}
    return public.post(path, data=form)


def oauth_status(answer: httpx.Response) -> str:
    assert answer.status_code == 400
    body = answer.json()
    assert set(body) == {"status", "message", "correlationId"}
    return str(body["status"])


@pytest.mark.parametrize("token_path", ["/oauth/v1/token", "/oauth/v3/token"])
def test_pkce_round_trip_refresh_and_revoke(
    app: HubSpotSandbox, public: httpx.Client, client_for: ClientFor, token_path: str
) -> None:
    verifier = secrets.token_urlsafe(48)
    query = authorize(
        public,
        state="xyz",
        scope="crm.objects.contacts.read crm.objects.contacts.write",
        optional_scope="crm.schemas.contacts.read",
        code_challenge=challenge_for(verifier),
        code_challenge_method="S256",
    )
    assert query["state"] == ["xyz"]
    tokens = exchange(public, query["code"][0], token_path, code_verifier=verifier).json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 1800
    assert tokens["hub_id"] == PORTAL_ID
    assert set(tokens["scopes"]) == {
        "oauth",
        "crm.objects.contacts.read",
        "crm.objects.contacts.write",
        "crm.schemas.contacts.read",
    }
    assert client_for(app, token=tokens["access_token"]).post(V3, json={"properties": {}}).status_code == 201

    info = public.get(f"/oauth/v1/access-tokens/{tokens['access_token']}").json()
    assert (info["token_type"], info["hub_id"]) == ("access", PORTAL_ID)
    assert 0 < info["expires_in"] <= 1800

    refreshed = public.post(
        token_path, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], **CLIENT}
    ).json()
    assert refreshed["access_token"] != tokens["access_token"]
    assert refreshed["refresh_token"] == tokens["refresh_token"]
    introspected = public.post(
        "/oauth/v3/token/introspect", data={"token": refreshed["access_token"], **CLIENT}
    )
    assert introspected.json()["active"] is True

    assert public.delete(f"/oauth/v1/refresh-tokens/{tokens['refresh_token']}").status_code == 204
    again = public.post(
        token_path, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], **CLIENT}
    )
    assert oauth_status(again) == "BAD_REFRESH_TOKEN"
    assert again.json()["message"] == "missing or invalid refresh token"
    assert public.get(f"/oauth/v1/refresh-tokens/{tokens['refresh_token']}").status_code == 404


def test_wrong_or_missing_verifier_is_refused(public: httpx.Client) -> None:
    verifier = secrets.token_urlsafe(48)
    wrong = authorize(public, code_challenge=challenge_for(verifier))["code"][0]
    assert oauth_status(exchange(public, wrong, code_verifier=verifier + "x")) == "BAD_AUTH_CODE"
    missing = authorize(public, code_challenge=challenge_for(verifier))["code"][0]
    assert oauth_status(exchange(public, missing)) == "BAD_AUTH_CODE"


def test_codes_are_single_use_and_expire(app: HubSpotSandbox, public: httpx.Client) -> None:
    code = authorize(public)["code"][0]
    assert exchange(public, code).status_code == 200
    replay = exchange(public, code)
    assert oauth_status(replay) == "BAD_AUTH_CODE"
    assert replay.json()["message"] == "missing or unknown auth code"
    app.oauth.auth_code_ttl = 0.0
    stale = authorize(public)["code"][0]
    assert oauth_status(exchange(public, stale)) == "EXPIRED_AUTH_CODE"


def test_forged_client_and_redirect_are_refused(public: httpx.Client) -> None:
    code = authorize(public)["code"][0]
    assert oauth_status(exchange(public, code, client_secret="guessed")) == "BAD_CLIENT_SECRET"
    code = authorize(public)["code"][0]
    assert oauth_status(exchange(public, code, client_id="someone-else")) == "BAD_CLIENT_ID"
    code = authorize(public)["code"][0]
    assert oauth_status(exchange(public, code, redirect_uri="https://evil.example/cb")) == "BAD_REDIRECT_URI"
    bad_client = public.get("/oauth/authorize", params={"client_id": "nope", "redirect_uri": REDIRECT})
    assert oauth_status(bad_client) == "BAD_CLIENT_ID"
    plain = public.get(
        "/oauth/authorize",
        params={
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT,
            "code_challenge": "x",
            "code_challenge_method": "plain",
        },
    )
    assert plain.status_code == 400
    assert oauth_status(public.post("/oauth/v3/token/introspect", data={"token": "t"})) == "BAD_CLIENT_ID"


def test_scopes_limit_what_an_issued_token_may_do(
    app: HubSpotSandbox, public: httpx.Client, client_for: ClientFor, envelope: Any
) -> None:
    code = authorize(public, scope="crm.objects.contacts.read")["code"][0]
    reader = client_for(app, token=exchange(public, code).json()["access_token"])
    assert reader.get(V3).status_code == 200
    denied = reader.post(V3, json={"properties": {"email": "w@example.com"}})
    assert denied.status_code == 403
    body = envelope(denied.json(), "MISSING_SCOPES")
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.contacts.write"]
    assert body["links"] == {"scopes": "https://developers.hubspot.com/scopes"}
    assert app.dump() == []

    new_property = {"name": "tier", "label": "Tier", "type": "string", "fieldType": "text", "groupName": "x"}
    refused = reader.post("/crm/v3/properties/contacts", json=new_property)
    assert refused.json()["errors"][0]["context"]["requiredGranularScopes"] == ["crm.schemas.contacts.write"]
    assert client_for(app).post("/crm/v3/properties/contacts", json=new_property).status_code == 201


def test_v3_revoke_and_introspect(app: HubSpotSandbox, public: httpx.Client, client_for: ClientFor) -> None:
    tokens = exchange(public, authorize(public)["code"][0]).json()
    active = public.post(
        "/oauth/v3/token/introspect", data={"token": tokens["refresh_token"], **CLIENT}
    ).json()
    assert active["active"] is True and active["client_id"] == CLIENT_ID
    assert (
        public.post("/oauth/v3/token/revoke", data={"token": tokens["access_token"], **CLIENT}).status_code
        == 200
    )
    assert client_for(app, token=tokens["access_token"]).get(V3).status_code == 401
    gone = public.post("/oauth/v3/token/introspect", data={"token": tokens["access_token"], **CLIENT}).json()
    assert gone == {"active": False}
    public.post("/oauth/v3/token/revoke", data={"token": tokens["refresh_token"], **CLIENT})
    refresh = public.post(
        "/oauth/v3/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], **CLIENT},
    )
    assert oauth_status(refresh) == "BAD_REFRESH_TOKEN"
