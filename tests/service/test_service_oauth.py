"""The OAuth round trip of ``service.oauth_flow`` against the sandboxes' authorize and token endpoints,
served over HTTP: start → authorize (auto-approved) → finish → connection saved and tested; and every
way a callback can be forged or replayed is refused with nothing saved."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from service_support import make_settings
from sqlalchemy import func, select, text, update

from crm.errors import AuthError, NotConfigured
from crm.oauth import new_code_verifier, refresh_tokens
from crm.sandbox.server import SandboxHTTPServer
from data import connections as store
from data.models import Connection, OAuthState, utcnow
from service import connections, oauth_flow
from service.auth import Actor, PermissionDenied
from service.context import AppContext

ADMIN = Actor("ada", "admin")
ANALYST = Actor("ann", "analyst")
CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"
REDIRECT = "http://localhost:8501/oauth/callback"
PROVIDERS = ["hubspot", "salesforce"]
Servers = dict[str, SandboxHTTPServer]


@pytest.fixture
def servers(http_sandbox: Callable[..., SandboxHTTPServer]) -> Servers:
    return {vendor: http_sandbox(vendor) for vendor in PROVIDERS}


def oauth_ctx(ctx: AppContext, servers: Servers, **overrides: str | None) -> AppContext:
    hubspot, salesforce = servers["hubspot"].base_url, servers["salesforce"].base_url
    values: dict[str, str | None] = {
        "hubspot_base_url": hubspot,
        "hubspot_app_url": hubspot,
        "hubspot_client_id": CLIENT_ID,
        "hubspot_client_secret": CLIENT_SECRET,
        "hubspot_redirect_uri": REDIRECT,
        "salesforce_login_host": salesforce,
        "salesforce_client_id": CLIENT_ID,
        "salesforce_client_secret": CLIENT_SECRET,
        "salesforce_redirect_uri": REDIRECT,
        **overrides,
    }
    settings = make_settings(ctx.settings.database_url, **values)
    return AppContext(settings=settings, db=ctx.db, box=ctx.box, cookie_key=ctx.cookie_key)


def authorize(url: str) -> tuple[str, str]:
    """Follow the authorize URL as the browser would, up to the redirect back to us: (code, state)."""
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert "error" not in query, query
    return query["code"][0], query["state"][0]


def connect(ctx: AppContext, provider: str) -> tuple[Connection, str, str]:
    code, state = authorize(oauth_flow.start(ctx, ADMIN, provider))
    return oauth_flow.finish(ctx, ADMIN, provider, code, state), code, state


def saved(ctx: AppContext) -> list[tuple[str, str | None]]:
    with ctx.db.session() as session:
        return [(c.name, c.secret) for c in session.scalars(select(Connection).order_by(Connection.name))]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_round_trip_saves_a_tested_connection(app_ctx: AppContext, servers: Servers, provider: str) -> None:
    ctx = oauth_ctx(app_ctx, servers)
    url = oauth_flow.start(ctx, ADMIN, provider)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(servers[provider].base_url)
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == [CLIENT_ID]
    with ctx.db.session() as session:  # the verifier stays server-side, encrypted
        stored = session.scalar(select(OAuthState.code_verifier))
    assert stored and stored not in url

    code, state = authorize(url)
    conn = oauth_flow.finish(ctx, ADMIN, provider, code, state)

    assert conn.auth_kind == "oauth" and conn.created_by == "ada"
    current = connections.get(ctx, provider)
    assert current is not None and current.status == "connected"
    assert current.settings["identity"]["field_count"] > 10
    with ctx.db.session() as session:
        secret = store.get_secret(session, ctx.box, conn.id)
    assert secret["access_token"] and secret["refresh_token"]
    raw = saved(ctx)[0][1] or ""
    assert secret["access_token"] not in raw and secret["refresh_token"] not in raw
    if provider == "salesforce":
        assert current.settings["instance_url"] == servers["salesforce"].base_url
    else:
        assert current.settings["base_url"] == servers["hubspot"].base_url
    result = connections.test_connection(ctx, provider)
    assert result.ok and result.message.startswith("Connected ✓")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_forged_expired_and_cross_provider_states_are_refused(
    sqlite_ctx: AppContext, servers: Servers, provider: str
) -> None:
    ctx = oauth_ctx(sqlite_ctx, servers)
    code, state = authorize(oauth_flow.start(ctx, ADMIN, provider))
    other = "salesforce" if provider == "hubspot" else "hubspot"

    for forged in ("forged-" + state[7:], "", "x" * 500):
        with pytest.raises(AuthError, match="could not be verified") as refused:
            oauth_flow.finish(ctx, ADMIN, provider, code, forged)
        assert refused.value.code == "INVALID_STATE"
    with pytest.raises(AuthError, match="could not be verified"):
        oauth_flow.finish(ctx, ADMIN, other, code, state)  # a state is bound to its provider
    with ctx.db.begin() as session:
        session.execute(update(OAuthState).values(expires_at=utcnow() - timedelta(seconds=1)))
    with pytest.raises(AuthError, match="could not be verified"):
        oauth_flow.finish(ctx, ADMIN, provider, code, state)

    assert saved(ctx) == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_reused_state_and_replayed_code_are_refused(
    sqlite_ctx: AppContext, servers: Servers, provider: str
) -> None:
    ctx = oauth_ctx(sqlite_ctx, servers)
    url = oauth_flow.start(ctx, ADMIN, provider)
    code, state = authorize(url)
    oauth_flow.finish(ctx, ADMIN, provider, code, state)
    before = saved(ctx)

    fresh_code, same_state = authorize(url)  # the same authorize URL again: a new code, the same state
    assert same_state == state
    with pytest.raises(AuthError, match="unknown, reused or expired state"):
        oauth_flow.finish(ctx, ADMIN, provider, fresh_code, state)

    _, new_state = authorize(oauth_flow.start(ctx, ADMIN, provider))
    with pytest.raises(AuthError, match="refused the token request"):
        oauth_flow.finish(ctx, ADMIN, provider, code, new_state)  # the first, already exchanged code

    assert saved(ctx) == before  # the connection made first is untouched


@pytest.mark.parametrize("provider", PROVIDERS)
def test_wrong_pkce_verifier_is_refused(sqlite_ctx: AppContext, servers: Servers, provider: str) -> None:
    ctx = oauth_ctx(sqlite_ctx, servers)
    code, state = authorize(oauth_flow.start(ctx, ADMIN, provider))
    with ctx.db.begin() as session:  # someone swapped the stored verifier
        session.execute(
            update(OAuthState)
            .where(OAuthState.state == state)
            .values(code_verifier=ctx.box.encrypt_text(new_code_verifier()))
        )

    with pytest.raises(AuthError, match="refused the token request") as refused:
        oauth_flow.finish(ctx, ADMIN, provider, code, state)

    assert "verifier" in str(refused.value)
    assert saved(ctx) == []


@pytest.mark.parametrize(
    ("provider", "names"),
    [
        ("hubspot", "HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET, HUBSPOT_REDIRECT_URI"),
        ("salesforce", "SALESFORCE_CLIENT_ID, SALESFORCE_REDIRECT_URI"),
    ],
)
def test_missing_client_settings_are_named(
    sqlite_ctx: AppContext, servers: Servers, provider: str, names: str
) -> None:
    unset = {f"{provider}_{name}": None for name in ("client_id", "client_secret", "redirect_uri")}
    ctx = oauth_ctx(sqlite_ctx, servers, **unset)
    with pytest.raises(NotConfigured, match=f"set {names} in .streamlit/secrets.toml or the environment"):
        oauth_flow.start(ctx, ADMIN, provider)
    with ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(OAuthState)) == 0


def test_analysts_cannot_start_or_finish(sqlite_ctx: AppContext, servers: Servers) -> None:
    ctx = oauth_ctx(sqlite_ctx, servers)
    code, state = authorize(oauth_flow.start(ctx, ADMIN, "hubspot"))
    with pytest.raises(PermissionDenied):
        oauth_flow.start(ctx, ANALYST, "hubspot")
    with pytest.raises(PermissionDenied):
        oauth_flow.finish(ctx, ANALYST, "hubspot", code, state)
    assert saved(ctx) == []
    oauth_flow.finish(ctx, ADMIN, "hubspot", code, state)  # the analyst's attempt did not use the state
    assert [name for name, _ in saved(ctx)] == ["hubspot"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_disconnect_revokes_the_refresh_token(
    sqlite_ctx: AppContext, servers: Servers, provider: str
) -> None:
    ctx = sqlite_ctx
    ctx = oauth_ctx(ctx, servers)
    conn, _, _ = connect(ctx, provider)
    with ctx.db.session() as session:
        refresh_token = store.get_secret(session, ctx.box, conn.id)["refresh_token"]
    endpoints = oauth_flow.endpoints_for(ctx, provider)

    def refresh() -> str:
        fresh = refresh_tokens(
            endpoints, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=refresh_token
        )
        return fresh.access_token

    assert refresh()  # works while connected

    message = connections.disconnect(ctx, ADMIN, provider)

    assert "Tokens revoked at the CRM." in message
    assert saved(ctx) == []
    with pytest.raises(AuthError):
        refresh()


def test_tokens_near_expiry_are_refreshed_and_persisted(
    sqlite_ctx: AppContext, http_sandbox: Callable[..., SandboxHTTPServer]
) -> None:
    servers = {"hubspot": http_sandbox("hubspot", token_ttl=60.0), "salesforce": http_sandbox("salesforce")}
    ctx = oauth_ctx(sqlite_ctx, servers)
    conn, _, _ = connect(ctx, "hubspot")  # finish() tests the connection: the token is due (60 s < 120 s)

    with ctx.db.session() as session:
        current = session.get(Connection, conn.id)
        assert current is not None and current.last_refreshed_at is not None
        secret = store.get_secret(session, ctx.box, conn.id)
        raw = session.execute(text("SELECT secret FROM connections")).scalar()
    assert secret["access_token"] in servers["hubspot"].app.issued_tokens
    assert secret["access_token"] not in str(raw)
    assert connections.test_connection(ctx, "hubspot").ok


def test_a_sign_in_started_by_another_admin_is_refused(sqlite_ctx: AppContext, servers: Servers) -> None:
    ctx = oauth_ctx(sqlite_ctx, servers)
    code, state = authorize(oauth_flow.start(ctx, ADMIN, "hubspot"))

    with pytest.raises(AuthError, match="started by another user"):
        oauth_flow.finish(ctx, Actor("bob", "admin"), "hubspot", code, state)
    assert saved(ctx) == []


def test_disconnect_still_deletes_tokens_it_cannot_decrypt(sqlite_ctx: AppContext, servers: Servers) -> None:
    ctx = oauth_ctx(sqlite_ctx, servers)
    connect(ctx, "hubspot")
    with ctx.db.begin() as session:  # as after CRM_SECRET_KEY was replaced: the ciphertext is unreadable
        session.execute(update(Connection).values(secret="gAAAAA-not-a-token"))

    message = connections.disconnect(ctx, ADMIN, "hubspot")

    assert "could not be read" in message
    assert saved(ctx) == []
