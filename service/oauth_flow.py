"""The OAuth round trip: start (state + PKCE stored server-side), finish (state checked once), revoke.

``state`` is single use and expires (``data.connections``); the PKCE verifier never leaves the server.
A forged, reused or expired state, a replayed code or a wrong verifier all end in a refusal.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from crm import sandbox
from crm.errors import AuthError, CRMError, NotConfigured
from crm.oauth import (
    OAuthEndpoints,
    authorize_url,
    exchange_code,
    hubspot_endpoints,
    new_code_verifier,
    revoke,
)
from crm.oauth import salesforce_endpoints as sf_endpoints
from data import connections as store
from data.crypto import CryptoError
from data.models import Connection
from service.auth import Actor, require_admin
from service.context import AppContext


def endpoints_for(
    ctx: AppContext, provider: str, login_host: str | None = None, *, sandbox: bool = False
) -> OAuthEndpoints:
    if sandbox:
        base = _sandbox_base(ctx, provider)
        return hubspot_endpoints(base, base) if provider == "hubspot" else sf_endpoints(base)
    if provider == "hubspot":
        return hubspot_endpoints(ctx.settings.hubspot_base_url, ctx.settings.hubspot_app_url)
    return sf_endpoints(login_host or ctx.settings.salesforce_login_host)


def _sandbox_base(ctx: AppContext, provider: str) -> str:
    url = ctx.settings.sandbox_hubspot_url if provider == "hubspot" else ctx.settings.sandbox_salesforce_url
    return (url or sandbox.shared(provider).base_url).rstrip("/")


def _client(ctx: AppContext, provider: str) -> tuple[str, str | None, str]:
    missing = ctx.settings.missing_oauth(provider)
    if missing:
        raise NotConfigured(
            f"To connect with OAuth, set {', '.join(missing)} in .streamlit/secrets.toml or the environment."
        )
    s = ctx.settings
    if provider == "hubspot":
        return s.hubspot_client_id or "", s.hubspot_client_secret, s.hubspot_redirect_uri or ""
    return s.salesforce_client_id or "", s.salesforce_client_secret, s.salesforce_redirect_uri or ""


def start(ctx: AppContext, actor: Actor, provider: str, login_host: str | None = None) -> str:
    """The authorize URL to open; its state and PKCE verifier are stored, encrypted, for 10 minutes."""
    require_admin(actor, "change connections")
    client_id, _, redirect_uri = _client(ctx, provider)
    endpoints = endpoints_for(ctx, provider, login_host)
    verifier = new_code_verifier()
    with ctx.db.begin() as session:
        state = store.create_oauth_state(
            session,
            ctx.box,
            provider=provider,
            connection_name=provider,
            redirect_uri=redirect_uri,
            code_verifier=verifier,
            settings={"login_host": login_host} if login_host else {},
            created_by=actor.username,
        )
    return authorize_url(endpoints, client_id, redirect_uri, state, verifier)


def finish(
    ctx: AppContext,
    actor: Actor,
    provider: str,
    code: str,
    state: str,
    transport: httpx.BaseTransport | None = None,
) -> Connection:
    """Check ``state`` (once), exchange the code with the stored verifier, test and save the tokens."""
    require_admin(actor, "change connections")
    with ctx.db.begin() as session:
        grant = store.consume_oauth_state(session, ctx.box, state, provider)
    if grant is None:
        raise AuthError(
            "The sign-in could not be verified (unknown, reused or expired state). Start again.",
            code="INVALID_STATE",
        )
    if grant.created_by and grant.created_by != actor.username:
        # A code and state started by someone else must not connect under this admin's name.
        raise AuthError(
            "This sign-in was started by another user. Start again yourself.", code="INVALID_STATE"
        )
    client_id, client_secret, _ = _client(ctx, provider)
    login_host = grant.settings.get("login_host")
    endpoints = endpoints_for(ctx, provider, login_host)
    tokens = exchange_code(
        endpoints,
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=grant.redirect_uri,
        code=code,
        code_verifier=grant.code_verifier,
        transport=transport,
    )
    settings: dict[str, object] = {"scope": tokens.extra.get("scope") or tokens.extra.get("scopes")}
    if provider == "hubspot":
        settings["base_url"] = ctx.settings.hubspot_base_url
    else:
        settings.update(
            instance_url=tokens.instance_url, login_host=login_host or ctx.settings.salesforce_login_host
        )
    from service.connections import save, test_connection

    expires = datetime.fromtimestamp(tokens.expires_at, UTC) if tokens.expires_at else None
    conn = save(
        ctx,
        actor,
        provider,
        "oauth",
        tokens.secret_json(),
        {k: v for k, v in settings.items() if v},
        token_expires_at=expires,
    )
    test_connection(ctx, provider)
    return conn


def revoke_connection(ctx: AppContext, conn: Connection) -> str:
    """Revoke at the CRM where it can be done; say so where it cannot."""
    if conn.auth_kind == "sandbox":
        return ""
    if conn.auth_kind == "private_app":
        return (
            "HubSpot private app tokens cannot be revoked through the API: rotate it in HubSpot's settings."
        )
    try:
        with ctx.db.session() as session:
            secret = store.get_secret(session, ctx.box, conn.id)
    except CryptoError:
        return "The saved tokens could not be read (the secret key changed), so they were not revoked."
    settings = conn.settings or {}
    endpoints = endpoints_for(
        ctx, conn.provider, settings.get("login_host"), sandbox=bool(settings.get("sandbox"))
    )
    transport = sandbox.SandboxTransport(sandbox.shared(conn.provider)) if settings.get("sandbox") else None
    token = secret.get("refresh_token") or secret.get("access_token") or ""
    try:
        done = revoke(endpoints, token, transport=transport)
    except CRMError:
        done = False
    return "Tokens revoked at the CRM." if done else "The CRM did not confirm the revocation."
