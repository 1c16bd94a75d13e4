"""CRM connections: save credentials (tested first, encrypted always), test, disconnect.

One connection per provider, named after it. Every change needs an admin (:mod:`service.auth`).
Adapters for saved connections are built in :mod:`service.adapters`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from crm import sandbox
from crm.adapter import CRMAdapter
from crm.errors import (
    AuthError,
    CRMError,
    ForbiddenError,
    LimitExceeded,
    NetworkError,
    NotConfigured,
    NotFound,
)
from crm.http import StaticToken
from crm.hubspot import HubSpotAdapter
from crm.model import AccountInfo
from crm.oauth import client_credentials
from crm.salesforce import SalesforceAdapter
from data import connections as store
from data.models import Connection
from service.auth import Actor, require_admin
from service.context import AppContext
from service.oauth_flow import endpoints_for

PROVIDERS = ("hubspot", "salesforce")
PROVIDER_LABELS = {"hubspot": "HubSpot", "salesforce": "Salesforce"}
OBJECTS = {"hubspot": ("contacts",), "salesforce": ("Lead", "Contact")}


@dataclass(frozen=True)
class TestResult:
    ok: bool
    message: str
    field_count: int = 0
    account: AccountInfo | None = None


def explain(exc: Exception, provider: str) -> str:
    """The CRM's reason in plain words, for a person deciding what to fix (never a traceback)."""
    name = PROVIDER_LABELS.get(provider, provider)
    detail = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, AuthError):
        return f"{name} refused the credentials (a bad, revoked or expired token). {detail}"
    if isinstance(exc, ForbiddenError):
        return f"{name} denied access: a missing scope or permission, or the API is disabled. {detail}"
    if isinstance(exc, LimitExceeded):
        return f"{name}'s API limit is used up for today. {detail}"
    if isinstance(exc, NotFound):
        return f"{name} has no API at that address: check the instance URL. {detail}"
    if isinstance(exc, NetworkError | httpx.HTTPError):
        return f"Could not reach {name}: check the URL and the network. {detail}"
    if isinstance(exc, NotConfigured):
        return detail
    return f"{name} answered with an error: {detail}"


def get(ctx: AppContext, provider: str) -> Connection | None:
    with ctx.db.session() as session:
        return store.get_connection_by_name(session, provider)


def all_connections(ctx: AppContext) -> dict[str, Connection]:
    with ctx.db.session() as session:
        return {c.name: c for c in store.list_connections(session)}


def _identity(account: AccountInfo, field_count: int) -> dict[str, Any]:
    return {
        "account_id": account.account_id,
        "user": account.user,
        "instance_url": account.instance_url,
        "api_used": account.api_used,
        "api_limit": account.api_limit,
        "scopes": list(account.scopes),
        "field_count": field_count,
        **{k: v for k, v in account.details.items() if v is not None},
    }


def probe(adapter: CRMAdapter) -> tuple[AccountInfo, int]:
    """Who we are and how many fields we see: what "Test connection" shows."""
    try:
        account = adapter.account()
        return account, len(adapter.fields(refresh=True))
    finally:
        adapter.close()


def test_connection(ctx: AppContext, provider: str, object_name: str | None = None) -> TestResult:
    """Fetch identity and field definitions through the adapter; record the outcome on the connection."""
    from service.adapters import build_adapter  # it imports this module: imported here, not at the top

    conn = get(ctx, provider)
    if conn is None:
        return TestResult(False, f"{PROVIDER_LABELS[provider]} is not connected.")
    try:
        account, count = probe(build_adapter(ctx, conn, object_name))
    except (CRMError, httpx.HTTPError) as exc:
        message = explain(exc, provider)
        with ctx.db.begin() as session:
            store.update_status(session, conn.id, status="error", message=message)
        return TestResult(False, message)
    with ctx.db.begin() as session:
        store.update_status(
            session, conn.id, status="connected", message=None, identity=_identity(account, count)
        )
    who = account.user or account.account_id
    return TestResult(True, f"Connected ✓ — {count} fields, as {who}", count, account)


def save(
    ctx: AppContext,
    actor: Actor,
    provider: str,
    auth_kind: str,
    secret: dict[str, Any],
    settings: dict[str, Any],
    token_expires_at: datetime | None = None,
) -> Connection:
    """Replace the provider's connection (tested by the caller first) in one transaction."""
    require_admin(actor, "change connections")
    with ctx.db.begin() as session:
        old = store.get_connection_by_name(session, provider)
        if old is not None:
            store.delete_connection(session, old.id)
        return store.create_connection(
            session,
            ctx.box,
            name=provider,
            provider=provider,
            auth_kind=auth_kind,
            secret=secret,
            settings=settings,
            created_by=actor.username,
            token_expires_at=token_expires_at,
        )


def connect_sandbox(ctx: AppContext, actor: Actor, provider: str) -> TestResult:
    """The sales-demo path: one click, no credentials."""
    require_admin(actor, "change connections")
    token = sandbox.SandboxOptions().token
    save(ctx, actor, provider, "sandbox", {"access_token": token}, {"sandbox": True})
    return test_connection(ctx, provider)


def _save_tested(
    ctx: AppContext,
    actor: Actor,
    provider: str,
    auth_kind: str,
    secret: dict[str, Any],
    settings: dict[str, Any],
    adapter: CRMAdapter,
) -> TestResult:
    """Test credentials before they are saved: nothing is stored when the CRM refuses them."""
    require_admin(actor, "change connections")
    try:
        account, count = probe(adapter)
    except (CRMError, httpx.HTTPError) as exc:
        return TestResult(False, explain(exc, provider))
    conn = save(ctx, actor, provider, auth_kind, secret, settings)
    with ctx.db.begin() as session:
        store.update_status(session, conn.id, status="connected", identity=_identity(account, count))
    return TestResult(
        True, f"Connected ✓ — {count} fields, as {account.user or account.account_id}", count, account
    )


def connect_hubspot_token(ctx: AppContext, actor: Actor, token: str) -> TestResult:
    token = token.strip()
    if not token:
        return TestResult(False, "Paste the private app's access token first.")
    adapter = HubSpotAdapter(
        StaticToken(token), base_url=ctx.settings.hubspot_base_url, tier=ctx.settings.hubspot_tier
    )
    return _save_tested(
        ctx,
        actor,
        "hubspot",
        "private_app",
        {"access_token": token},
        {"base_url": ctx.settings.hubspot_base_url},
        adapter,
    )


def connect_salesforce_token(ctx: AppContext, actor: Actor, instance_url: str, token: str) -> TestResult:
    instance_url, token = instance_url.strip().rstrip("/"), token.strip()
    if not instance_url.startswith(("https://", "http://")) or not token:
        return TestResult(False, "Give the instance URL (https://…my.salesforce.com) and an access token.")
    adapter = SalesforceAdapter(StaticToken(token), instance_url)
    return _save_tested(
        ctx,
        actor,
        "salesforce",
        "access_token",
        {"access_token": token},
        {"instance_url": instance_url},
        adapter,
    )


def connect_salesforce_client_credentials(
    ctx: AppContext, actor: Actor, domain_url: str, client_id: str, client_secret: str
) -> TestResult:
    require_admin(actor, "change connections")
    domain_url = domain_url.strip().rstrip("/")
    if (
        not domain_url.startswith(("https://", "http://"))
        or not client_id.strip()
        or not client_secret.strip()
    ):
        return TestResult(False, "Give the My Domain URL, the consumer key and the consumer secret.")
    endpoints = endpoints_for(ctx, "salesforce", domain_url)
    try:
        tokens = client_credentials(
            endpoints, client_id=client_id.strip(), client_secret=client_secret.strip()
        )
    except (CRMError, httpx.HTTPError) as exc:
        return TestResult(False, explain(exc, "salesforce"))
    instance_url = tokens.instance_url or domain_url
    adapter = SalesforceAdapter(StaticToken(tokens.access_token), instance_url)
    secret = {"client_secret": client_secret.strip(), **tokens.secret_json()}
    settings = {"instance_url": instance_url, "login_host": domain_url, "client_id": client_id.strip()}
    return _save_tested(ctx, actor, "salesforce", "client_credentials", secret, settings, adapter)


def disconnect(ctx: AppContext, actor: Actor, provider: str) -> str:
    """Revoke the tokens at the CRM where it supports that, then delete them from our database."""
    require_admin(actor, "change connections")
    conn = get(ctx, provider)
    if conn is None:
        return f"{PROVIDER_LABELS[provider]} was not connected."
    from service.oauth_flow import revoke_connection

    note = revoke_connection(ctx, conn)
    with ctx.db.begin() as session:
        store.delete_connection(session, conn.id)
    return f"{PROVIDER_LABELS[provider]} disconnected; credentials deleted. {note}".strip()
