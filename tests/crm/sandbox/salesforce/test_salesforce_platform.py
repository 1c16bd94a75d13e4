"""Org-wide behaviour: versions, API allocation and its header, sessions, faults, request size."""

from __future__ import annotations

import time

import httpx
import pytest
from salesforce_helpers import API, TOKEN, collection, lead

from crm.sandbox import SandboxTransport, create
from crm.sandbox.core import SandboxOptions
from crm.sandbox.salesforce import CLIENT_ID, CLIENT_SECRET, SalesforceSandbox


def sandbox(**options: object) -> tuple[SalesforceSandbox, httpx.Client]:
    app = create("salesforce", SandboxOptions(**options))  # type: ignore[arg-type]
    assert isinstance(app, SalesforceSandbox)
    client = httpx.Client(
        transport=SandboxTransport(app), base_url=app.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    return app, client


def usage(response: httpx.Response) -> tuple[int, int]:
    used, _, total = response.headers["Sforce-Limit-Info"].removeprefix("api-usage=").partition("/")
    return int(used), int(total)


def anonymous(app: SalesforceSandbox) -> httpx.Client:
    return httpx.Client(transport=SandboxTransport(app), base_url=app.base_url)


def test_version_list_is_public_and_any_listed_version_works(
    client: httpx.Client, app: SalesforceSandbox
) -> None:
    versions = anonymous(app).get("/services/data/")
    assert versions.status_code == 200
    listed = versions.json()
    assert listed[-1] == {"label": "Winter '27", "url": "/services/data/v68.0", "version": "68.0"}
    assert {"label": "Winter '15", "url": "/services/data/v32.0", "version": "32.0"} in listed
    assert {"label": "Spring '26", "url": "/services/data/v66.0", "version": "66.0"} in listed
    for version in ("59.0", "66.0", "68.0"):
        assert client.get(f"/services/data/v{version}/limits").status_code == 200
    for version in ("99.0", "20.0"):
        missing = client.get(f"/services/data/v{version}/limits")
        assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
    unknown = client.get(f"{API}/no/such/resource")
    assert unknown.json() == [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]


def test_every_data_call_counts_and_reports_usage(client: httpx.Client, app: SalesforceSandbox) -> None:
    first = client.post(f"{API}/sobjects/Lead", json=lead())
    assert usage(first) == (1, 100_000)
    client.post(f"{API}/composite/sobjects", json=collection([lead()]))
    job = client.post(f"{API}/jobs/ingest", json={"object": "Lead", "operation": "insert"})
    assert usage(job) == (3, 100_000)
    client.get("/services/data/")  # public: not counted
    assert anonymous(app).get(f"{API}/limits").status_code == 401  # not counted
    limits = client.get(f"{API}/limits")
    assert usage(limits) == (4, 100_000)
    assert limits.json()["DailyApiRequests"] == {"Max": 100_000, "Remaining": 100_000 - 4}


def test_daily_limit_refuses_with_request_limit_exceeded() -> None:
    app, client = sandbox(daily_limit=2)
    assert [client.get(f"{API}/limits").status_code for _ in range(3)] == [200, 200, 403]
    refused = client.get(f"{API}/query", params={"q": "SELECT Id FROM Lead"})
    assert refused.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert usage(refused) == (2, 2)
    assert app.stats.throttled == 2
    app.configure(daily_limit=5)
    assert client.get(f"{API}/limits").json()["DailyApiRequests"] == {"Max": 5, "Remaining": 2}


def test_injected_faults_repeat_with_a_seed_and_look_like_salesforce() -> None:
    def run() -> list[tuple[int, str]]:
        app, client = sandbox(seed=42, fail_rate=0.5, fail_kinds=("500", "503"))
        out = []
        for _ in range(30):
            response = client.get(f"{API}/limits")
            out.append(
                (response.status_code, response.json()[0]["errorCode"] if response.status_code >= 500 else "")
            )
        assert app.stats.failed_injected == sum(1 for status, _ in out if status >= 500)
        return out

    first, second = run(), run()
    assert first == second
    assert {code for status, code in first if status == 500} == {"UNKNOWN_EXCEPTION"}
    assert {code for status, code in first if status == 503} == {"SERVER_UNAVAILABLE"}
    assert any(status == 200 for status, _ in first)


def client_credentials_token(client: httpx.Client) -> str:
    grant = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    return client.post("/services/oauth2/token", data=grant).json()["access_token"]


def test_issued_tokens_expire_after_their_ttl() -> None:
    _, client = sandbox(token_ttl=0.2)
    token = client_credentials_token(client)
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get(f"{API}/limits", headers=auth).status_code == 200
    time.sleep(0.3)
    expired = client.get(f"{API}/limits", headers=auth)
    assert expired.status_code == 401
    assert expired.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    fresh = {"Authorization": f"Bearer {client_credentials_token(client)}"}
    assert client.get(f"{API}/limits", headers=fresh).status_code == 200
    assert client.post("/__sandbox/expire-tokens").json() == {"expired": 2}
    assert client.get(f"{API}/limits", headers=fresh).status_code == 401


@pytest.mark.parametrize(("ids", "status"), [(400, 200), (1200, 414)])
def test_long_uris_are_refused_past_16_kb(client: httpx.Client, ids: int, status: int) -> None:
    in_list = ",".join(f"'00Q8d0000{i:06d}'" for i in range(ids))
    soql = f"SELECT Id FROM Lead WHERE Id IN ({in_list})"  # noqa: S608 - test-made SOQL for the sandbox
    response = client.get(f"{API}/query", params={"q": soql})
    assert response.status_code == status


def test_uri_plus_headers_past_16_kb_is_431(client: httpx.Client) -> None:
    response = client.get(f"{API}/limits", headers={"X-Padding": "p" * 16_500})
    assert response.status_code == 431
