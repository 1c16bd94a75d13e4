"""The emulated OAuth 2.0 server: authorization code + PKCE, refresh, client credentials, revoke."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from salesforce_helpers import API

from crm.sandbox import SandboxTransport
from crm.sandbox.salesforce import CLIENT_ID, CLIENT_SECRET, ORG_ID, USER_ID, SalesforceSandbox
from crm.sandbox.salesforce import oauth as oauth_module

REDIRECT = "http://localhost:8501/oauth/callback"


@pytest.fixture
def anon(app: SalesforceSandbox) -> httpx.Client:
    """A client with no bearer token, as a browser or token exchange would be."""
    return httpx.Client(transport=SandboxTransport(app), base_url=app.base_url)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(anon: httpx.Client, challenge: str | None = None, state: str = "xyz") -> str:
    params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT, "state": state}
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    response = anon.get("/services/oauth2/authorize", params=params)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == [state]
    return query["code"][0]


def exchange(anon: httpx.Client, code: str, **extra: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
    }
    return anon.post("/services/oauth2/token", data={**form, **extra})


def calls_api(anon: httpx.Client, token: str) -> int:
    return anon.get(f"{API}/limits", headers={"Authorization": f"Bearer {token}"}).status_code


def test_authorization_code_with_pkce_round_trip(anon: httpx.Client, app: SalesforceSandbox) -> None:
    verifier, challenge = pkce_pair()
    before = int(time.time() * 1000)
    response = exchange(anon, authorize(anon, challenge), code_verifier=verifier)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "access_token", "refresh_token", "signature", "scope",
        "instance_url", "id", "token_type", "issued_at",
    }  # fmt: skip
    assert body["access_token"].startswith(ORG_ID[:15] + "!")
    assert body["instance_url"] == app.base_url and body["token_type"] == "Bearer"
    assert body["id"] == f"{app.base_url}/id/{ORG_ID}/{USER_ID}"
    assert body["issued_at"].isdigit() and int(body["issued_at"]) >= before
    expected = hmac.new(
        CLIENT_SECRET.encode(), (body["id"] + body["issued_at"]).encode(), hashlib.sha256
    ).digest()
    assert base64.b64decode(body["signature"]) == expected
    assert calls_api(anon, body["access_token"]) == 200
    me = anon.get("/services/oauth2/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["user_id"] == USER_ID and me.json()["organization_id"] == ORG_ID


def test_codes_are_single_use_and_pkce_is_enforced(anon: httpx.Client) -> None:
    verifier, challenge = pkce_pair()
    code = authorize(anon, challenge)
    wrong = exchange(anon, code, code_verifier="not-the-verifier")
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "invalid_grant", "error_description": "invalid code verifier"}
    replay = exchange(anon, code, code_verifier=verifier)
    assert replay.json() == {"error": "invalid_grant", "error_description": "expired authorization code"}

    missing = exchange(anon, authorize(anon, challenge))
    assert missing.json()["error_description"] == "invalid code verifier"

    good_code = authorize(anon, challenge)
    assert exchange(anon, good_code, code_verifier=verifier).status_code == 200
    again = exchange(anon, good_code, code_verifier=verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    unknown = exchange(anon, "made-up-code", code_verifier=verifier)
    assert unknown.json() == {"error": "invalid_grant", "error_description": "invalid authorization code"}


def test_codes_expire(anon: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oauth_module, "CODE_TTL_SECONDS", -1)
    verifier, challenge = pkce_pair()
    expired = exchange(anon, authorize(anon, challenge), code_verifier=verifier)
    assert expired.json()["error_description"] == "expired authorization code"


def test_without_pkce_the_secret_is_required(anon: httpx.Client) -> None:
    assert exchange(anon, authorize(anon)).json()["error"] == "invalid_client"
    assert exchange(anon, authorize(anon), client_secret=CLIENT_SECRET).status_code == 200


def test_refresh_keeps_the_old_refresh_token_working(anon: httpx.Client) -> None:
    verifier, challenge = pkce_pair()
    first = exchange(anon, authorize(anon, challenge), code_verifier=verifier).json()
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": CLIENT_ID}
    second = anon.post("/services/oauth2/token", data=form).json()
    third = anon.post("/services/oauth2/token", data={**form, "client_secret": CLIENT_SECRET}).json()
    assert "refresh_token" not in second and "refresh_token" not in third and "expires_in" not in second
    assert len({first["access_token"], second["access_token"], third["access_token"]}) == 3
    assert all(calls_api(anon, t["access_token"]) == 200 for t in (first, second, third))
    bad = anon.post("/services/oauth2/token", data={**form, "refresh_token": "nope"})
    assert bad.json() == {"error": "invalid_grant", "error_description": "expired access/refresh token"}


def test_client_errors(anon: httpx.Client) -> None:
    grant = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    ok = anon.post("/services/oauth2/token", data=grant)
    assert ok.status_code == 200 and "refresh_token" not in ok.json()
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    via_basic = anon.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert via_basic.status_code == 200
    cases = [
        ({**grant, "client_id": "someone-else"}, "invalid_client_id", "client identifier invalid"),
        ({**grant, "client_secret": "wrong"}, "invalid_client", "invalid client credentials"),
        (
            {"grant_type": "client_credentials", "client_id": CLIENT_ID},
            "invalid_client",
            "invalid client credentials",
        ),
        ({**grant, "grant_type": "password"}, "unsupported_grant_type", "grant type not supported"),
    ]
    for form, error, description in cases:
        response = anon.post("/services/oauth2/token", data=form)
        assert response.status_code == 400
        assert response.json() == {"error": error, "error_description": description}


def test_revoke_stops_tokens_and_their_grant(anon: httpx.Client) -> None:
    verifier, challenge = pkce_pair()
    tokens = exchange(anon, authorize(anon, challenge), code_verifier=verifier).json()
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": CLIENT_ID}
    refreshed = anon.post("/services/oauth2/token", data=form).json()["access_token"]

    assert anon.post("/services/oauth2/revoke", data={"token": refreshed}).status_code == 200
    assert calls_api(anon, refreshed) == 401 and calls_api(anon, tokens["access_token"]) == 200

    assert anon.post("/services/oauth2/revoke", data={"token": tokens["refresh_token"]}).status_code == 200
    assert calls_api(anon, tokens["access_token"]) == 401
    assert anon.post("/services/oauth2/token", data=form).json()["error"] == "invalid_grant"
    me = anon.get("/services/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 401 and me.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    unknown = anon.post("/services/oauth2/revoke", data={"token": "never-issued"})
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_token"


def test_authorize_refuses_unknown_clients(anon: httpx.Client) -> None:
    params = {"response_type": "code", "client_id": "stranger", "redirect_uri": REDIRECT}
    response = anon.get("/services/oauth2/authorize", params=params)
    assert response.status_code == 400 and response.json()["error"] == "invalid_client_id"
    wrong_type = anon.get(
        "/services/oauth2/authorize", params={**params, "client_id": CLIENT_ID, "response_type": "token"}
    )
    assert "error=unsupported_response_type" in wrong_type.headers["Location"]
