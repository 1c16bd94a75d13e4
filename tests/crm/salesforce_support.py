"""Shared helpers and fixtures for the Salesforce adapter tests, over the in-process Salesforce sandbox.

Test modules register the fixtures with ``pytest_plugins = ("tests.crm.salesforce_support",)`` and import
the plain helpers they call. Nothing here goes near the network: every adapter talks to a
:class:`~crm.sandbox.SandboxTransport`.

* ``sf_app`` / ``make_sf_app(**options)``: a fresh, seeded Salesforce sandbox.
* ``make_sf_adapter(app, **overrides)``: a ``SalesforceAdapter`` on it (static token, fast retries,
  ``poll_interval=0.01``, collections only unless ``bulk_threshold`` is given); closed after the test.
* ``lead_rows(n, ...)``: ``LeadRecord`` rows as the Lead mapping makes them (Email, LastName, Company).
* ``seed_records(app, emails)``: records created through the sandbox's own Collections API, not through
  the adapter under test, with the sandbox's counters reset afterwards.
* ``oauth_tokens(app)``: a refreshable token source from the sandbox's OAuth flow (PKCE), as the app
  connects a real org.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from crm.http import RetryPolicy, StaticToken, TokenSource
from crm.model import LeadRecord, PushSummary, RecordResult, Value, WriteKind, WriteOp
from crm.oauth import (
    OAuthTokens,
    TokenSet,
    authorize_url,
    exchange_code,
    new_code_verifier,
    refresh_tokens,
    salesforce_endpoints,
)
from crm.push import MemoryRecorder, PushOptions, run_push
from crm.salesforce import SalesforceAdapter
from crm.sandbox import SandboxOptions, SandboxTransport, create
from crm.sandbox.core import Stats
from crm.sandbox.salesforce import CLIENT_ID, CLIENT_SECRET, DEFAULT_API_VERSION, SalesforceSandbox

TOKEN = "sandbox-token"  # the sandbox's static bearer token
DATA = f"/services/data/v{DEFAULT_API_VERSION}"
REDIRECT_URI = "http://localhost:8501/oauth/callback"
# Retries as in production, minus the waiting: tests assert on outcomes and counts, never on time.
FAST_RETRY = RetryPolicy(attempts=10, base_delay=0.001, max_delay=0.01, timeout=5.0)
POLL_ROUTES = frozenset({"bulk.get", "bulkQuery.get"})  # job status polls


def make_sf_app(**options: Any) -> SalesforceSandbox:
    app = create("salesforce", SandboxOptions(**{"seed": 21, **options}))
    assert isinstance(app, SalesforceSandbox)
    return app


def make_adapter(
    app: SalesforceSandbox, tokens: TokenSource | None = None, **kwargs: Any
) -> SalesforceAdapter:
    settings: dict[str, Any] = {
        "bulk_threshold": None,
        "poll_interval": 0.01,
        "retry": FAST_RETRY,
        "transport": SandboxTransport(app),
        **kwargs,
    }
    return SalesforceAdapter(tokens or StaticToken(TOKEN), app.base_url, **settings)


@pytest.fixture(name="make_sf_app")
def make_sf_app_fixture() -> Callable[..., SalesforceSandbox]:
    """``make_sf_app(daily_limit=..., fail_rate=..., ...)``: a fresh sandbox with those options."""
    return make_sf_app


@pytest.fixture
def sf_app() -> SalesforceSandbox:
    return make_sf_app()


SfAdapterFactory = Callable[..., SalesforceAdapter]


@pytest.fixture
def make_sf_adapter() -> Iterator[SfAdapterFactory]:
    """``make_sf_adapter(app, tokens=None, object_name=..., bulk_threshold=..., ...)``; closed afterwards."""
    made: list[SalesforceAdapter] = []

    def build(app: SalesforceSandbox, tokens: TokenSource | None = None, **kwargs: Any) -> SalesforceAdapter:
        adapter = make_adapter(app, tokens, **kwargs)
        made.append(adapter)
        return adapter

    yield build
    for adapter in made:
        adapter.close()


@pytest.fixture
def sf_adapter(sf_app: SalesforceSandbox, make_sf_adapter: SfAdapterFactory) -> SalesforceAdapter:
    return make_sf_adapter(sf_app)


# ----- rows and records ------------------------------------------------------------------------------
def email_of(prefix: str, i: int) -> str:
    """Mixed case on purpose: Salesforce compares emails case-insensitively but stores them as given."""
    return f"{prefix.capitalize()}.{i}@Example.com"


def lead_rows(
    n: int, prefix: str = "lead", start: int = 0, object_name: str = "Lead", **properties: Value
) -> list[LeadRecord]:
    """``n`` rows keyed ``{prefix}-{i}``, with the fields the default mapping sends."""
    rows = []
    for i in range(start, start + n):
        email = email_of(prefix, i)
        payload: dict[str, Value] = {"Email": email, "FirstName": f"First {i}", "LastName": f"Last {i}"}
        if object_name == "Lead":
            payload["Company"] = f"Company {i}"
        rows.append(LeadRecord(f"{prefix}-{i}", email, {**payload, **properties}))
    return rows


def sandbox_client(app: SalesforceSandbox, token: str | None = TOKEN) -> httpx.Client:
    """An httpx client on the sandbox's own API, to arrange state behind the adapter's back."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(transport=SandboxTransport(app), base_url=app.base_url, headers=headers)


def reset_stats(app: SalesforceSandbox) -> None:
    with app.lock:
        app.stats = Stats()


def seed_records(
    app: SalesforceSandbox,
    emails: Sequence[str],
    object_name: str = "Lead",
    properties: Mapping[str, Value] | None = None,
) -> dict[str, str]:
    """Create records through the sandbox's Collections API; returns {lower-case email: id}.

    The counters are reset afterwards, so ``app.stats`` counts only what the test itself sends.
    """
    base = {"LastName": "Seeded", **({"Company": "Seeded Inc"} if object_name == "Lead" else {})}
    ids: dict[str, str] = {}
    with sandbox_client(app) as client:
        for start in range(0, len(emails), 200):
            chunk = emails[start : start + 200]
            records = [
                {"attributes": {"type": object_name}, **base, **(properties or {}), "Email": e} for e in chunk
            ]
            answer = client.post(f"{DATA}/composite/sobjects", json={"allOrNone": True, "records": records})
            assert answer.status_code == 200, answer.text
            for email, item in zip(chunk, answer.json(), strict=True):
                assert item["success"], item
                ids[email.lower()] = item["id"]
    reset_stats(app)
    return ids


def live_records(app: SalesforceSandbox, object_name: str = "Lead") -> list[dict[str, Any]]:
    return [r for r in app.dump()[object_name] if not r["IsDeleted"]]


def live_by_email(app: SalesforceSandbox, object_name: str = "Lead") -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for record in live_records(app, object_name):
        out.setdefault(str(record["Email"]).lower(), []).append(record)
    return out


def assert_org_holds_exactly(
    app: SalesforceSandbox, emails: Sequence[str], object_name: str = "Lead"
) -> dict[str, dict[str, Any]]:
    """The org holds one live record per email in ``emails`` and nothing else; returns them by email."""
    held = Counter(str(r["Email"]).lower() for r in live_records(app, object_name))
    duplicates = {e: n for e, n in held.items() if n > 1}
    assert not duplicates, f"duplicate records: {sorted(duplicates)[:5]}"
    assert set(held) == {e.lower() for e in emails}
    return {email: records[0] for email, records in live_by_email(app, object_name).items()}


def push(
    adapter: SalesforceAdapter,
    rows: Sequence[LeadRecord],
    options: PushOptions | None = None,
    recorder: MemoryRecorder | None = None,
) -> tuple[dict[str, RecordResult], PushSummary]:
    """``run_push`` as the app drives it; checks that every row got exactly one result."""
    recorder = recorder or MemoryRecorder()
    summary = run_push(adapter, rows, options=options, recorder=recorder)
    assert len(recorder.results) == len(rows), "every row gets exactly one result"
    assert {r.key for r in recorder.results} == {row.key for row in rows}
    return recorder.by_key(), summary


def data_calls(app: SalesforceSandbox, *prefixes: str) -> int:
    """Data calls the sandbox received on routes whose name starts with one of ``prefixes``."""
    return sum(n for name, n in app.stats.by_route.items() if name.startswith(prefixes))


class RecordingTransport(SandboxTransport):
    """The sandbox transport, keeping every request it passed on, in order.

    ``failed`` holds the requests that got no usable answer (a 5xx, a dropped connection or a timeout the
    sandbox injected, or an answer lost here):
    ``lose_answer(predicate)`` drops the answer to the first request matching it *after* the sandbox
    handled it, so the CRM committed and the client sees a dropped connection.
    """

    def __init__(self, app: SalesforceSandbox) -> None:
        super().__init__(app)
        self.sent: list[httpx.Request] = []
        self.failed: list[httpx.Request] = []
        self._lose: Callable[[httpx.Request], bool] | None = None
        self._lock = threading.Lock()

    def lose_answer(self, predicate: Callable[[httpx.Request], bool]) -> None:
        self._lose = predicate

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.sent.append(request)
        try:
            response = super().handle_request(request)
        except httpx.TransportError:
            with self._lock:
                self.failed.append(request)
            raise
        with self._lock:
            lose = self._lose is not None and self._lose(request)
            if lose or response.status_code >= 500:
                self._lose = None
                self.failed.append(request)
        if lose:
            message = "Server disconnected without sending a response."
            raise httpx.RemoteProtocolError(message, request=request)
        return response

    def bodies(self, method: str, path_suffix: str) -> list[Any]:
        """JSON bodies of the requests sent with ``method`` to a path ending in ``path_suffix``."""
        return [
            json.loads(r.content)
            for r in list(self.sent)
            if r.method == method and r.url.path.endswith(path_suffix)
        ]


def is_collection_create(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith("/composite/sobjects")


# ----- OAuth ---------------------------------------------------------------------------------------------
def oauth_tokens(app: SalesforceSandbox, on_refresh: Callable[[TokenSet], None] | None = None) -> OAuthTokens:
    """Connect as the app does: authorize with PKCE (auto-approved), exchange the code, refresh on 401."""
    endpoints = salesforce_endpoints(app.base_url)
    transport = SandboxTransport(app)
    verifier = new_code_verifier()
    with httpx.Client(transport=transport) as browser:
        answer = browser.get(authorize_url(endpoints, CLIENT_ID, REDIRECT_URI, "state-1", verifier))
    assert answer.status_code == 302, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    tokens = exchange_code(
        endpoints,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        code=query["code"][0],
        code_verifier=verifier,
        transport=transport,
    )

    def refresh(current: TokenSet) -> TokenSet:
        assert current.refresh_token
        return refresh_tokens(
            endpoints,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            refresh_token=current.refresh_token,
            transport=transport,
        )

    return OAuthTokens(tokens, refresh, on_refresh)


def write_all(adapter: SalesforceAdapter, ops: Sequence[WriteOp]) -> dict[str, RecordResult]:
    """``adapter.write`` bypassing the engine (and so our own validator); results by key."""
    results = [r for batch in adapter.write(ops) for r in batch]
    assert sorted(r.key for r in results) == sorted(op.key for op in ops), "one result per op"
    return {r.key: r for r in results}


def create_op(key: str, email: str, **properties: Any) -> WriteOp:
    payload = {"Email": email, "LastName": f"Last {key}", "Company": f"Company {key}", **properties}
    return WriteOp(key, email, WriteKind.CREATE, {k: v for k, v in payload.items() if v is not None})
