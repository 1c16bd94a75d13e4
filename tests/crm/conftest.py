"""Fixtures for the CRM adapters, each over its in-process sandbox (no network, no sleeping server).

Grouped by vendor; fixture names carry the vendor so they never shadow the sandboxes' own fixtures
(``tests/crm/sandbox/*/conftest.py`` define ``app``, ``http`` …).

HubSpot:

* ``hubspot_app``: a fresh, seeded HubSpot sandbox; ``make_hubspot_app(**options)`` for other options.
* ``hubspot``: a ``HubSpotAdapter`` over ``hubspot_app`` (static private-app token, no rate governor,
  fast retries); ``make_hubspot_adapter(app, **overrides)`` for other tokens, governors or retries.
* ``hubspot_leads(n, ...)``: ``LeadRecord`` rows; ``hubspot_seed(app, emails)``: contacts created
  through the sandbox's own API (not through the adapter under test); ``hubspot_api``: an httpx client
  on that API.
* ``hubspot_oauth(app, scopes=...)``: the OAuth app flow of ``crm.oauth`` against the sandbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from crm.governor import Governor, Unlimited
from crm.http import RetryPolicy, StaticToken, TokenSource
from crm.hubspot import HubSpotAdapter
from crm.model import LeadRecord, Value
from crm.oauth import (
    OAuthEndpoints,
    OAuthTokens,
    TokenSet,
    authorize_url,
    exchange_code,
    hubspot_endpoints,
    new_code_verifier,
    refresh_tokens,
)
from crm.sandbox import SandboxOptions, SandboxTransport, create
from crm.sandbox.core import Stats
from crm.sandbox.hubspot import CLIENT_ID, CLIENT_SECRET, HubSpotSandbox

# ----- HubSpot ---------------------------------------------------------------------------------------

HUBSPOT_TOKEN = "sandbox-token"  # the sandbox's static private-app token: every scope
HUBSPOT_CONTACTS = "/crm/v3/objects/contacts"
HUBSPOT_REDIRECT = "http://localhost:8501/oauth/callback"
# Retries as in production, minus the waiting: tests assert on outcomes and counts, never on time.
HUBSPOT_FAST_RETRY = RetryPolicy(attempts=6, base_delay=0.001, max_delay=0.01, timeout=5.0)


def make_hubspot_app(**options: Any) -> HubSpotSandbox:
    app = create("hubspot", SandboxOptions(**{"seed": 5, **options}))
    assert isinstance(app, HubSpotSandbox)
    return app


@pytest.fixture(name="make_hubspot_app")
def make_hubspot_app_fixture() -> Callable[..., HubSpotSandbox]:
    """``make_hubspot_app(rate_limit=20, rate_window=1.0, ...)``: a fresh sandbox with those options."""
    return make_hubspot_app


@pytest.fixture
def hubspot_app() -> HubSpotSandbox:
    return make_hubspot_app()


AdapterFactory = Callable[..., HubSpotAdapter]


@pytest.fixture
def make_hubspot_adapter() -> Iterator[AdapterFactory]:
    """``make_hubspot_adapter(app, tokens=..., governor=..., retry=..., concurrency=...)``.

    Each adapter gets its own ``account_key`` (so no two tests share a process-wide governor) and no
    governor unless one is given; all are closed after the test.
    """
    made: list[HubSpotAdapter] = []

    def build(
        app: HubSpotSandbox,
        tokens: TokenSource | None = None,
        *,
        governor: Governor | None = None,
        retry: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> HubSpotAdapter:
        adapter = HubSpotAdapter(
            tokens or StaticToken(HUBSPOT_TOKEN),
            base_url=app.base_url,
            transport=SandboxTransport(app),
            governor=governor or Unlimited(),
            account_key=f"test-{uuid.uuid4().hex}",
            retry=retry or HUBSPOT_FAST_RETRY,
            **kwargs,
        )
        made.append(adapter)
        return adapter

    yield build
    for adapter in made:
        adapter.close()


@pytest.fixture
def hubspot(hubspot_app: HubSpotSandbox, make_hubspot_adapter: AdapterFactory) -> HubSpotAdapter:
    return make_hubspot_adapter(hubspot_app)


def lead_rows(n: int, prefix: str = "lead", start: int = 0, **properties: Value) -> list[LeadRecord]:
    """``n`` rows keyed ``{prefix}-{i}`` with emails ``{Prefix}.{i}@Example.com`` (mixed case on purpose:
    HubSpot compares emails case-insensitively and stores them lower-case)."""
    return [
        LeadRecord(
            key=f"{prefix}-{i}",
            email=f"{prefix.capitalize()}.{i}@Example.com",
            properties={"firstname": f"First {i}", "lastname": prefix, **properties},
        )
        for i in range(start, start + n)
    ]


@pytest.fixture
def hubspot_leads() -> Callable[..., list[LeadRecord]]:
    return lead_rows


def sandbox_client(app: HubSpotSandbox, token: str | None = HUBSPOT_TOKEN) -> httpx.Client:
    """An httpx client on the sandbox, for arranging state through its own API."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(transport=SandboxTransport(app), base_url=app.base_url, headers=headers)


def seed_contacts(
    app: HubSpotSandbox, emails: Sequence[str], properties: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Create contacts through the sandbox's batch/create API; returns {lower-case email: id}.

    The sandbox's counters are reset afterwards, so a test's ``app.stats`` counts only its own calls.
    """
    ids: dict[str, str] = {}
    with sandbox_client(app) as client:
        for start in range(0, len(emails), 100):
            inputs = [{"properties": {"email": e, **(properties or {})}} for e in emails[start : start + 100]]
            answer = client.post(f"{HUBSPOT_CONTACTS}/batch/create", json={"inputs": inputs})
            assert answer.status_code == 201, answer.text
            for item in answer.json()["results"]:
                ids[item["properties"]["email"]] = item["id"]
    with app.lock:
        app.stats = Stats()
    return ids


@pytest.fixture
def hubspot_seed() -> Callable[..., dict[str, str]]:
    return seed_contacts


@pytest.fixture
def hubspot_api(hubspot_app: HubSpotSandbox) -> Iterator[httpx.Client]:
    """The sandbox's own API (private-app token), to archive or merge records behind the adapter's back."""
    with sandbox_client(hubspot_app) as client:
        yield client


@dataclass
class HubSpotOAuthFlow:
    """``crm.oauth`` against the sandbox's OAuth endpoints: the demo app, auto-approved by its user."""

    app: HubSpotSandbox
    endpoints: OAuthEndpoints

    @property
    def transport(self) -> SandboxTransport:
        return SandboxTransport(self.app)

    def authorize(self, verifier: str | None, state: str = "state-1") -> dict[str, str]:
        """Open the authorize URL as the user's browser would; returns the redirect's query."""
        url = authorize_url(self.endpoints, CLIENT_ID, HUBSPOT_REDIRECT, state, verifier)
        with httpx.Client(transport=self.transport) as browser:
            answer = browser.get(url)
        assert answer.status_code == 302, answer.text
        location = answer.headers["location"]
        assert location.startswith(HUBSPOT_REDIRECT + "?")
        return {k: v[-1] for k, v in parse_qs(urlsplit(location).query).items()}

    def exchange(self, code: str, verifier: str | None) -> TokenSet:
        return exchange_code(
            self.endpoints,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uri=HUBSPOT_REDIRECT,
            code=code,
            code_verifier=verifier,
            transport=self.transport,
        )

    def refresh(self, tokens: TokenSet) -> TokenSet:
        assert tokens.refresh_token
        return refresh_tokens(
            self.endpoints,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            refresh_token=tokens.refresh_token,
            transport=self.transport,
        )

    def tokens(self) -> TokenSet:
        """The whole flow: authorize with PKCE, exchange the code."""
        verifier = new_code_verifier()
        return self.exchange(self.authorize(verifier)["code"], verifier)

    def token_source(
        self, on_refresh: Callable[[TokenSet], None] | None = None, **kwargs: Any
    ) -> OAuthTokens:
        return OAuthTokens(self.tokens(), self.refresh, on_refresh, **kwargs)


@pytest.fixture
def hubspot_oauth() -> Callable[..., HubSpotOAuthFlow]:
    """``hubspot_oauth(app, scopes=(...))``: the flow for the demo app, asking for ``scopes``
    (default: the scopes the adapter needs, as ``crm.oauth.hubspot_endpoints`` lists them)."""

    def flow(app: HubSpotSandbox, scopes: Sequence[str] | None = None) -> HubSpotOAuthFlow:
        endpoints = hubspot_endpoints(api_base=app.base_url, app_base=app.base_url)
        if scopes is not None:
            endpoints = replace(endpoints, scopes=tuple(scopes), optional_scopes=())
        return HubSpotOAuthFlow(app, endpoints)

    return flow
