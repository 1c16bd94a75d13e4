"""Connections: sandbox, private-app and access-token connections are tested before they are saved,
stored encrypted, refused to analysts, and disconnected (tokens revoked at the CRM first)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from service_support import FAKE_HUBSPOT_TOKEN, connection_count, make_settings
from sqlalchemy import func, select, text

from crm.sandbox.server import SandboxHTTPServer
from data.crypto import SECRET_KEY_FILE, SecretKeyError
from data.db import Database
from data.models import Campaign
from service import connections
from service.auth import Actor, PermissionDenied
from service.context import AppContext
from service.settings import Settings

ADMIN = Actor("ada", "admin")
ANALYST = Actor("ann", "analyst")


def raw_secret(ctx: AppContext, name: str) -> str:
    with ctx.db.session() as session:
        value = session.execute(text("SELECT secret FROM connections WHERE name = :n"), {"n": name}).scalar()
    assert isinstance(value, str)
    return value


def with_hubspot_url(ctx: AppContext, url: str) -> AppContext:
    settings = make_settings(ctx.settings.database_url, hubspot_base_url=url)
    return AppContext(settings=settings, db=ctx.db, box=ctx.box, cookie_key=ctx.cookie_key)


@pytest.mark.parametrize(
    ("provider", "who"), [("hubspot", "146872913"), ("salesforce", "integration@crm-push.sandbox")]
)
def test_sandbox_connection_tests_ok_with_field_count_and_identity(
    app_ctx: AppContext, provider: str, who: str
) -> None:
    result = connections.connect_sandbox(app_ctx, ADMIN, provider)

    assert result.ok, result.message
    assert result.message.startswith("Connected ✓")
    assert f"{result.field_count} fields" in result.message and result.field_count > 10
    assert who in result.message
    again = connections.test_connection(app_ctx, provider)
    assert again.ok and again.field_count == result.field_count
    conn = connections.get(app_ctx, provider)
    assert conn is not None and conn.status == "connected" and conn.auth_kind == "sandbox"
    assert conn.settings["identity"]["field_count"] == result.field_count
    assert conn.last_checked_at is not None


def test_test_connection_without_a_connection_says_so(sqlite_ctx: AppContext) -> None:
    result = connections.test_connection(sqlite_ctx, "salesforce")
    assert not result.ok and result.message == "Salesforce is not connected."


def test_hubspot_private_app_token_is_saved_only_after_it_tested_ok(
    app_ctx: AppContext, http_sandbox: Callable[..., SandboxHTTPServer]
) -> None:
    server = http_sandbox("hubspot", token=FAKE_HUBSPOT_TOKEN)
    ctx = with_hubspot_url(app_ctx, server.base_url)

    bad = connections.connect_hubspot_token(ctx, ADMIN, "pat-na1-wrong-token")
    assert not bad.ok
    assert bad.message.startswith("HubSpot refused the credentials")
    assert "Authentication credentials not found" in bad.message  # HubSpot's own reason
    assert "Traceback" not in bad.message and "{" not in bad.message
    assert connection_count(ctx) == 0

    empty = connections.connect_hubspot_token(ctx, ADMIN, "   ")
    assert not empty.ok and connection_count(ctx) == 0

    good = connections.connect_hubspot_token(ctx, ADMIN, f"  {FAKE_HUBSPOT_TOKEN}\n")
    assert good.ok, good.message
    assert good.message.startswith("Connected ✓") and "146872913" in good.message
    conn = connections.get(ctx, "hubspot")
    assert conn is not None and conn.auth_kind == "private_app" and conn.status == "connected"
    assert conn.settings["base_url"] == server.base_url
    secret = raw_secret(ctx, "hubspot")
    assert FAKE_HUBSPOT_TOKEN not in secret and "pat-na1" not in secret
    with ctx.db.session() as session:
        assert connections.store.get_secret(session, ctx.box, conn.id)["access_token"] == FAKE_HUBSPOT_TOKEN
    # the saved connection works: an adapter built from it reads the account
    assert connections.test_connection(ctx, "hubspot").ok


def test_salesforce_access_token_and_instance_url(
    sqlite_ctx: AppContext, http_sandbox: Callable[..., SandboxHTTPServer]
) -> None:
    token = "00D8d000000SbXp!AQ4AQFakeSalesforceSessionToken"
    server = http_sandbox("salesforce", token=token)

    refused = connections.connect_salesforce_token(sqlite_ctx, ADMIN, server.base_url, "00Dwrong!token")
    assert not refused.ok and refused.message.startswith("Salesforce refused the credentials")
    assert "Session expired or invalid" in refused.message
    unusable = connections.connect_salesforce_token(sqlite_ctx, ADMIN, "my.salesforce.com", token)
    assert not unusable.ok and "instance URL" in unusable.message
    assert connection_count(sqlite_ctx) == 0

    result = connections.connect_salesforce_token(sqlite_ctx, ADMIN, server.base_url + "/", token)
    assert result.ok, result.message
    assert "integration@crm-push.sandbox" in result.message
    conn = connections.get(sqlite_ctx, "salesforce")
    assert conn is not None and conn.settings["instance_url"] == server.base_url
    assert token not in raw_secret(sqlite_ctx, "salesforce")
    assert connections.test_connection(sqlite_ctx, "salesforce", "Contact").ok


def test_a_failing_saved_connection_is_marked_with_the_reason(
    sqlite_ctx: AppContext, http_sandbox: Callable[..., SandboxHTTPServer]
) -> None:
    server = http_sandbox("hubspot", token=FAKE_HUBSPOT_TOKEN)
    ctx = with_hubspot_url(sqlite_ctx, server.base_url)
    assert connections.connect_hubspot_token(ctx, ADMIN, FAKE_HUBSPOT_TOKEN).ok
    server.app.configure(token="rotated-elsewhere")

    result = connections.test_connection(ctx, "hubspot")

    assert not result.ok and "refused the credentials" in result.message
    conn = connections.get(ctx, "hubspot")
    assert conn is not None and conn.status == "error" and conn.status_message == result.message


def test_analysts_are_refused_every_change(
    sqlite_ctx: AppContext, http_sandbox: Callable[..., SandboxHTTPServer]
) -> None:
    server = http_sandbox("hubspot", token=FAKE_HUBSPOT_TOKEN)
    ctx = with_hubspot_url(sqlite_ctx, server.base_url)
    assert connections.connect_sandbox(ctx, ADMIN, "salesforce").ok
    changes: list[Callable[[], object]] = [
        lambda: connections.connect_sandbox(ctx, ANALYST, "hubspot"),
        lambda: connections.connect_hubspot_token(ctx, ANALYST, FAKE_HUBSPOT_TOKEN),
        lambda: connections.connect_salesforce_token(ctx, ANALYST, server.base_url, "x"),
        lambda: connections.connect_salesforce_client_credentials(ctx, ANALYST, server.base_url, "a", "b"),
        lambda: connections.save(ctx, ANALYST, "hubspot", "private_app", {"access_token": "x"}, {}),
        lambda: connections.disconnect(ctx, ANALYST, "salesforce"),
    ]
    for change in changes:
        with pytest.raises(PermissionDenied, match="Only an admin can change connections; ann is an analyst"):
            change()
    assert set(connections.all_connections(ctx)) == {"salesforce"}
    assert server.app.stats.requests == 0  # refused before any call to the CRM
    # reading and testing are open to analysts
    assert connections.test_connection(ctx, "salesforce").ok


def test_disconnect_deletes_the_connection(sqlite_ctx: AppContext) -> None:
    assert connections.connect_sandbox(sqlite_ctx, ADMIN, "hubspot").ok

    message = connections.disconnect(sqlite_ctx, ADMIN, "hubspot")

    assert message.startswith("HubSpot disconnected; credentials deleted.")
    assert connections.get(sqlite_ctx, "hubspot") is None and connection_count(sqlite_ctx) == 0
    assert connections.disconnect(sqlite_ctx, ADMIN, "hubspot") == "HubSpot was not connected."


def test_private_app_disconnect_says_the_token_must_be_rotated(
    sqlite_ctx: AppContext, http_sandbox: Callable[..., SandboxHTTPServer]
) -> None:
    server = http_sandbox("hubspot", token=FAKE_HUBSPOT_TOKEN)
    ctx = with_hubspot_url(sqlite_ctx, server.base_url)
    assert connections.connect_hubspot_token(ctx, ADMIN, FAKE_HUBSPOT_TOKEN).ok

    message = connections.disconnect(ctx, ADMIN, "hubspot")

    assert "cannot be revoked through the API" in message and connection_count(ctx) == 0


def test_build_uses_key_dir_and_loads_the_demo_once(tmp_path: Path) -> None:
    settings = Settings.load(env={"DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}"})
    first = AppContext.build(settings, key_dir=tmp_path)
    second = AppContext.build(settings, key_dir=tmp_path)
    try:
        for name in (SECRET_KEY_FILE.name, "cookie.key"):
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
        assert first.cookie_key == second.cookie_key
        assert second.box.decrypt_text(first.box.encrypt_text("same key")) == "same key"
        with second.db.session() as session:
            assert session.scalar(select(func.count()).select_from(Campaign)) == 3
    finally:
        first.close()
        second.close()


@pytest.mark.postgres
def test_build_on_postgresql_refuses_to_start_without_keys(_pg_server: Any, tmp_path: Path) -> None:
    url = _pg_server.create("crm_nokey")
    try:
        with pytest.raises(SecretKeyError, match="CRM_SECRET_KEY is not set"):
            AppContext.build(Settings.load(env={"DATABASE_URL": url}), key_dir=tmp_path)
        assert list(tmp_path.iterdir()) == []  # no key generated into a local file for a shared database
        untouched = Database(url)
        assert untouched.current_revision() is None  # refused before migrating anything
        untouched.dispose()
    finally:
        _pg_server.drop(url)


def test_settings_read_environment_before_secrets() -> None:
    secrets = {"HUBSPOT_CLIENT_ID": "from-secrets", "HUBSPOT_TIER": "starter", "CRM_CONCURRENCY": "2"}
    settings = Settings.load(env={"HUBSPOT_CLIENT_ID": " from-env "}, secrets=secrets)
    assert settings.hubspot_client_id == "from-env"
    assert settings.hubspot_tier == "starter" and settings.concurrency == 2
    assert settings.missing_oauth("hubspot") == ["HUBSPOT_CLIENT_SECRET", "HUBSPOT_REDIRECT_URI"]
    assert settings.missing_oauth("salesforce") == ["SALESFORCE_CLIENT_ID", "SALESFORCE_REDIRECT_URI"]
