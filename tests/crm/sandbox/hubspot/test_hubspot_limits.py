"""Rate limits, the daily allowance, injected faults, token expiry and the inspection endpoints."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from crm.sandbox.hubspot import CLIENT_ID, CLIENT_SECRET, HubSpotSandbox

V3 = "/crm/v3/objects/contacts"
RATE_HEADERS = (
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
    "X-HubSpot-RateLimit-Daily",
    "X-HubSpot-RateLimit-Daily-Remaining",
)
Factory = Callable[..., HubSpotSandbox]
ClientFor = Callable[..., httpx.Client]


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def test_burst_limit_answers_429_with_headers_and_recovers(
    app_factory: Factory, client_for: ClientFor
) -> None:
    app = app_factory(rate_limit=3, rate_window=10.0)
    clock = Clock()
    app.clock = clock
    http = client_for(app)
    answers = [http.get(V3) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-HubSpot-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[0].headers["X-HubSpot-RateLimit-Max"] == "3"
    assert answers[0].headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    refused = answers[3].json()
    assert refused["errorType"] == "RATE_LIMIT"
    assert refused["policyName"] == "TEN_SECONDLY_ROLLING"
    assert refused["message"] == "You have reached your ten_secondly_rolling limit."
    assert refused["groupName"].startswith("publicapi:")
    assert answers[3].headers["x-hubspot-correlation-id"] == refused["correlationId"]
    assert app.stats.throttled == 1

    clock.now += 10.5
    assert http.get(V3).status_code == 200


def test_search_has_its_own_secondly_limit_and_no_rate_headers(
    app_factory: Factory, client_for: ClientFor
) -> None:
    app = app_factory(rate_limit=2)
    clock = Clock()
    app.clock = clock
    http = client_for(app)
    searches = [http.post(f"{V3}/search", json={}) for _ in range(6)]
    assert [s.status_code for s in searches] == [200] * 5 + [429]
    assert searches[5].json()["message"] == "You have reached your secondly limit."
    assert searches[5].json()["policyName"] == "SECONDLY"
    for answer in searches:
        assert not any(h in answer.headers for h in RATE_HEADERS)
        assert "x-hubspot-correlation-id" in answer.headers
    assert http.get(V3).status_code == 200  # the burst window did not count the searches
    clock.now += 1.01
    assert http.post(f"{V3}/search", json={}).status_code == 200


def test_daily_limit_and_usage_count_real_calls(app_factory: Factory, client_for: ClientFor) -> None:
    app = app_factory(daily_limit=4)
    http = client_for(app)
    assert http.get(V3).headers["X-HubSpot-RateLimit-Daily-Remaining"] == "3"
    http.post(V3, json={"properties": {}})
    usage = http.get("/account-info/v3/api-usage/daily/private-apps").json()["results"][0]
    assert usage["name"] == "private-apps-api-calls-daily"
    assert (usage["usageLimit"], usage["currentUsage"]) == (4, 3)
    assert http.get(V3).status_code == 200
    refused = http.get(V3)
    assert refused.status_code == 429
    assert refused.json()["policyName"] == "DAILY"
    assert refused.json()["message"] == "You have reached your daily limit."


def test_account_details(http: httpx.Client) -> None:
    details = http.get("/account-info/v3/details").json()
    assert details["portalId"] == 146_872_913
    assert details["uiDomain"] == "app.hubspot.com"
    assert set(details) >= {"accountType", "timeZone", "companyCurrency", "utcOffset", "dataHostingLocation"}


def _statuses(app: HubSpotSandbox, client: httpx.Client, calls: int) -> list[int | str]:
    out: list[int | str] = []
    for i in range(calls):
        try:
            out.append(client.post(V3, json={"properties": {"email": f"f{i}@example.com"}}).status_code)
        except httpx.TransportError as exc:
            out.append(type(exc).__name__)
    return out


def test_fault_injection_is_reproducible_with_a_seed(
    app_factory: Factory, client_for: ClientFor, envelope: Any
) -> None:
    runs = []
    for _ in range(2):
        app = app_factory(fail_rate=0.5, fail_kinds=("500", "503", "drop"), seed=42)
        runs.append((app, _statuses(app, client_for(app), 24)))
    (first_app, first), (_, second) = runs
    assert first == second
    assert {201, 500, 503, "RemoteProtocolError"} <= set(first)
    assert first_app.stats.failed_injected == sum(1 for s in first if s != 201)
    assert len(first_app.dump()) == first.count(201)

    failing = app_factory(fail_rate=1.0, fail_kinds=("503",))
    answer = client_for(failing).get(V3)
    assert answer.status_code == 503
    envelope(answer.json(), "INTERNAL_ERROR")


def test_a_seed_given_to_a_running_sandbox_restarts_its_fault_sequence(
    app_factory: Factory, client_for: ClientFor
) -> None:
    app = app_factory()
    sequences = []
    for _ in range(2):
        app.reset()
        app.configure(fail_rate=0.5, fail_kinds=("500",), seed=7)  # as tests and POST /__sandbox/configure do
        sequences.append(_statuses(app, client_for(app), 16))
    assert sequences[0] == sequences[1]
    assert {201, 500} <= set(sequences[0])


def _oauth_token(app: HubSpotSandbox, client_for: ClientFor) -> str:
    public = client_for(app, token=None)
    location = public.get(
        "/oauth/authorize",
        params={"client_id": CLIENT_ID, "redirect_uri": "http://cb", "scope": "crm.objects.contacts.read"},
    ).headers["location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": "http://cb"}
    tokens = public.post("/oauth/v1/token", data={"grant_type": "authorization_code", "code": code, **form})
    return str(tokens.json()["access_token"])


def test_issued_tokens_expire_after_token_ttl(
    app_factory: Factory, client_for: ClientFor, envelope: Any
) -> None:
    app = app_factory(token_ttl=0.5)
    http = client_for(app, token=_oauth_token(app, client_for))
    assert http.get(V3).status_code == 200
    time.sleep(0.6)
    expired = http.get(V3)
    assert expired.status_code == 401
    body = envelope(expired.json(), "EXPIRED_AUTHENTICATION")
    assert re.fullmatch(
        r"The OAuth token used to make this call expired \d+ second\(s\) ago\.", body["message"]
    )
    assert not any(h in expired.headers for h in RATE_HEADERS)


def test_expire_tokens_endpoint_and_unknown_tokens(
    app: HubSpotSandbox, client_for: ClientFor, envelope: Any
) -> None:
    http = client_for(app, token=_oauth_token(app, client_for))
    assert http.get(V3).status_code == 200
    assert http.post("/__sandbox/expire-tokens").json() == {"expired": 1}
    envelope(http.get(V3).json(), "EXPIRED_AUTHENTICATION")
    forged = client_for(app, token="not-a-token").get(V3)
    assert forged.status_code == 401
    assert forged.headers["x-hubspot-auth-failure"] == "401 Unauthorized"
    assert envelope(forged.json(), "INVALID_AUTHENTICATION")["message"].startswith(
        "Authentication credentials not found."
    )


def test_stats_and_reset_endpoints(http: httpx.Client) -> None:
    http.post(V3, json={"properties": {"email": "s@example.com"}})
    http.get(V3)
    http.get(f"{V3}/404")
    stats = http.get("/__sandbox/stats").json()
    assert stats["requests"] == 3
    assert stats["by_route"] == {"contacts.create": 1, "contacts.list": 1, "contacts.read": 1}
    assert stats["by_status"] == {"201": 1, "200": 1, "404": 1}
    assert [c["properties"]["email"] for c in http.get("/__sandbox/records").json()] == ["s@example.com"]

    assert http.post("/__sandbox/reset").json() == {"reset": True}
    assert http.get("/__sandbox/records").json() == []
    assert http.get("/__sandbox/stats").json()["requests"] == 0


@pytest.mark.parametrize("path", ["/crm/v3/objects/contacts", "/crm/objects/2026-03/contacts"])
def test_every_answer_carries_a_correlation_id(http: httpx.Client, path: str) -> None:
    answers = [http.get(path), http.get("/nowhere"), http.get("/oauth/authorize")]
    assert all(re.fullmatch(r"[0-9a-f-]{36}", a.headers["x-hubspot-correlation-id"]) for a in answers)
