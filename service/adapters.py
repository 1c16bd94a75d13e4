"""Adapters for saved connections: the one place stored credentials are decrypted for use.

``build_adapter`` turns a saved connection into a HubSpot or Salesforce adapter (tokens refreshed and
persisted as they change); ``adapter_for`` finds the connection by name first. Sandbox connections talk to
the in-process emulator, or to a sandbox server when its URL is set. CLI runs take their credentials from
the environment instead (``env_token_source``) and record against an ``env-<provider>`` connection row
that holds no secret (``env_connection``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from crm import sandbox
from crm.adapter import CRMAdapter
from crm.errors import AuthError, NotConfigured
from crm.http import StaticToken, TokenSource
from crm.hubspot import HubSpotAdapter
from crm.oauth import OAuthTokens, TokenSet, client_credentials, refresh_tokens
from crm.salesforce import SalesforceAdapter
from data import connections as store
from data.crypto import CryptoError
from data.models import Connection
from service.connections import PROVIDER_LABELS, get
from service.context import AppContext
from service.oauth_flow import endpoints_for


def _sandbox_endpoint(ctx: AppContext, provider: str) -> tuple[str, httpx.BaseTransport | None]:
    url = ctx.settings.sandbox_hubspot_url if provider == "hubspot" else ctx.settings.sandbox_salesforce_url
    if url:
        return url.rstrip("/"), None
    app = sandbox.shared(provider)
    return app.base_url, sandbox.SandboxTransport(app)


def _token_source(
    ctx: AppContext, conn: Connection, secret: Mapping[str, Any], transport: httpx.BaseTransport | None
) -> TokenSource:
    if conn.auth_kind not in ("oauth", "client_credentials"):
        return StaticToken(str(secret.get("access_token", "")))
    settings = conn.settings or {}
    endpoints = endpoints_for(
        ctx, conn.provider, settings.get("login_host"), sandbox=bool(settings.get("sandbox"))
    )
    client_id = (
        settings.get("client_id")
        or (
            ctx.settings.hubspot_client_id
            if conn.provider == "hubspot"
            else ctx.settings.salesforce_client_id
        )
        or ""
    )
    client_secret = secret.get("client_secret") or (
        ctx.settings.hubspot_client_secret
        if conn.provider == "hubspot"
        else ctx.settings.salesforce_client_secret
    )

    def refresh(current: TokenSet) -> TokenSet:
        if conn.auth_kind == "client_credentials":
            return client_credentials(
                endpoints, client_id=client_id, client_secret=client_secret or "", transport=transport
            )
        if not current.refresh_token:
            raise AuthError("The token expired and there is no refresh token; reconnect the provider.")
        return refresh_tokens(
            endpoints,
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=current.refresh_token,
            transport=transport,
        )

    def persist(fresh: TokenSet) -> None:
        kept = {k: v for k, v in secret.items() if k not in ("access_token", "refresh_token", "expires_at")}
        expires = datetime.fromtimestamp(fresh.expires_at, UTC) if fresh.expires_at else None
        with ctx.db.begin() as session:
            store.set_secret(
                session,
                ctx.box,
                conn.id,
                {**kept, **fresh.secret_json()},
                refreshed_at=datetime.now(UTC),
                token_expires_at=expires,
            )

    tokens = TokenSet(secret.get("access_token", ""), secret.get("refresh_token"), secret.get("expires_at"))
    return OAuthTokens(tokens, refresh, persist)


ENV_CREDENTIALS = {
    "hubspot": "HUBSPOT_ACCESS_TOKEN (and HUBSPOT_BASE_URL for a sandbox)",
    "salesforce": "SALESFORCE_INSTANCE_URL and SALESFORCE_ACCESS_TOKEN, or SALESFORCE_CLIENT_ID and "
    "SALESFORCE_CLIENT_SECRET with SALESFORCE_LOGIN_HOST set to the My Domain URL",
}


def env_token_source(ctx: AppContext, provider: str, env: Mapping[str, str] | None = None) -> TokenSource:
    """Credentials from the environment (the CLI's way: never from argv, never stored)."""
    env = os.environ if env is None else env
    if provider == "hubspot" and env.get("HUBSPOT_ACCESS_TOKEN"):
        return StaticToken(env["HUBSPOT_ACCESS_TOKEN"])
    if provider == "salesforce":
        if env.get("SALESFORCE_ACCESS_TOKEN"):
            return StaticToken(env["SALESFORCE_ACCESS_TOKEN"])
        if env.get("SALESFORCE_CLIENT_ID") and env.get("SALESFORCE_CLIENT_SECRET"):
            endpoints = endpoints_for(ctx, "salesforce", env.get("SALESFORCE_LOGIN_HOST"))
            fetch = lambda _current=None: client_credentials(  # noqa: E731
                endpoints,
                client_id=env["SALESFORCE_CLIENT_ID"],
                client_secret=env["SALESFORCE_CLIENT_SECRET"],
            )
            return OAuthTokens(fetch(), fetch)
    raise NotConfigured(f"Set {ENV_CREDENTIALS[provider]} in the environment, or pass --connection NAME.")


def env_connection(ctx: AppContext, provider: str, env: Mapping[str, str] | None = None) -> Connection:
    """The connection row that runs with environment credentials are recorded against (no secret in it),
    so change detection and resume work for them too."""
    env = os.environ if env is None else env
    env_token_source(ctx, provider, env)  # fail early, with the message, when nothing is set
    name = f"env-{provider}"
    settings = (
        {"base_url": env.get("HUBSPOT_BASE_URL") or ctx.settings.hubspot_base_url}
        if provider == "hubspot"
        else {"instance_url": env.get("SALESFORCE_INSTANCE_URL") or env.get("SALESFORCE_LOGIN_HOST")}
    )
    with ctx.db.begin() as session:
        conn = store.get_connection_by_name(session, name)
        if conn is None:
            try:
                return store.create_connection(
                    session,
                    ctx.box,
                    name=name,
                    provider=provider,
                    auth_kind="env",
                    secret=None,
                    settings=settings,
                    created_by="cli",
                )
            except store.ConnectionStoreError:  # two CLI runs starting at once: the other one made it
                conn = store.get_connection_by_name(session, name)
                if conn is None:
                    raise
        return store.update_settings(session, conn.id, **settings)


def build_adapter(ctx: AppContext, conn: Connection, object_name: str | None = None) -> CRMAdapter:
    """An adapter for a saved connection; the only place credentials are decrypted for use."""
    try:
        with ctx.db.session() as session:
            secret = store.get_secret(session, ctx.box, conn.id) if conn.auth_kind != "env" else {}
    except CryptoError as exc:  # the key changed since the secret was saved: say what to do about it
        label = PROVIDER_LABELS.get(conn.provider, conn.provider)
        raise NotConfigured(
            f"The stored credentials for {label} cannot be decrypted: the secret key changed. "
            "Restore CRM_SECRET_KEY (or data/secret.key) or reconnect the provider."
        ) from exc
    settings = conn.settings or {}
    is_sandbox = conn.auth_kind == "sandbox" or bool(settings.get("sandbox"))
    transport: httpx.BaseTransport | None = None
    if is_sandbox:
        base_url, transport = _sandbox_endpoint(ctx, conn.provider)
    elif conn.provider == "hubspot":
        base_url = settings.get("base_url") or ctx.settings.hubspot_base_url
    else:
        base_url = settings.get("instance_url") or ""
        if not base_url:
            raise NotConfigured("This Salesforce connection has no instance URL; connect it again.")
    from_env = conn.auth_kind == "env"  # a CLI run: the row holds no secret, the environment does
    tokens = env_token_source(ctx, conn.provider) if from_env else _token_source(ctx, conn, secret, transport)
    concurrency = ctx.settings.concurrency
    if conn.provider == "hubspot":
        identity = settings.get("identity") or {}
        tier = settings.get("tier") or ctx.settings.hubspot_tier
        account_key = str(identity.get("account_id") or conn.name)
        governor = None
        if ctx.settings.queue_url:  # queue workers in several processes share the account's limit
            from service.queue import hubspot_governor

            governor = hubspot_governor(ctx.settings.queue_url, account_key, tier)
        return HubSpotAdapter(
            tokens,
            base_url=base_url,
            transport=transport,
            tier=tier,
            account_key=account_key,
            concurrency=concurrency or 4,
            governor=governor,
        )
    return SalesforceAdapter(
        tokens,
        base_url,
        object_name=object_name or settings.get("object") or "Lead",
        transport=transport,
        bulk_threshold=ctx.settings.bulk_threshold,
        concurrency=concurrency or 8,
        allow_duplicates=bool(settings.get("allow_duplicates")),
    )


def adapter_for(ctx: AppContext, name: str, object_name: str | None = None) -> CRMAdapter:
    conn = get(ctx, name)
    if conn is None:
        raise NotConfigured(
            f"No {PROVIDER_LABELS.get(name, name)} connection yet: an admin can add one on Providers."
        )
    return build_adapter(ctx, conn, object_name)
