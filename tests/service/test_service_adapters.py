"""Adapters for saved connections (``service.adapters``): built from the stored secret, or from the
environment for CLI runs; a secret the configured key cannot open is a configuration error that says
how to recover, not a crash."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from service_support import FAKE_HUBSPOT_TOKEN, connection_count
from sqlalchemy import text

from crm.errors import NotConfigured
from crm.hubspot import HubSpotAdapter
from crm.salesforce import SalesforceAdapter
from crm.sandbox.server import SandboxHTTPServer
from data.crypto import CryptoError, SecretBox, generate_key
from service import adapters, connections
from service.auth import Actor
from service.context import AppContext

ADMIN = Actor("ada", "admin")
UNREADABLE = (
    "The stored credentials for {label} cannot be decrypted: the secret key changed. "
    "Restore CRM_SECRET_KEY (or data/secret.key) or reconnect the provider."
)


def with_new_key(ctx: AppContext) -> AppContext:
    """The same database opened with a different secret key, as after CRM_SECRET_KEY was replaced."""
    return AppContext(
        settings=ctx.settings, db=ctx.db, box=SecretBox(generate_key()), cookie_key=ctx.cookie_key
    )


def test_a_saved_connection_builds_the_providers_adapter_for_the_object(sqlite_ctx: AppContext) -> None:
    assert connections.connect_sandbox(sqlite_ctx, ADMIN, "hubspot").ok
    assert connections.connect_sandbox(sqlite_ctx, ADMIN, "salesforce").ok

    hubspot = adapters.adapter_for(sqlite_ctx, "hubspot")
    contacts = adapters.adapter_for(sqlite_ctx, "salesforce", "Contact")
    leads = adapters.adapter_for(sqlite_ctx, "salesforce")
    try:
        assert isinstance(hubspot, HubSpotAdapter) and hubspot.account().account_id == "146872913"
        assert isinstance(contacts, SalesforceAdapter) and contacts.object_name == "Contact"
        assert isinstance(leads, SalesforceAdapter) and leads.object_name == "Lead"
        assert contacts.account().user == "integration@crm-push.sandbox"
    finally:
        for adapter in (hubspot, contacts, leads):
            adapter.close()


def test_adapter_for_a_provider_never_connected_says_an_admin_can_add_it(sqlite_ctx: AppContext) -> None:
    with pytest.raises(
        NotConfigured, match="No Salesforce connection yet: an admin can add one on Providers"
    ):
        adapters.adapter_for(sqlite_ctx, "salesforce")


@pytest.mark.parametrize(("provider", "label"), [("hubspot", "HubSpot"), ("salesforce", "Salesforce")])
def test_credentials_saved_under_another_key_say_how_to_recover(
    app_ctx: AppContext, provider: str, label: str
) -> None:
    assert connections.connect_sandbox(app_ctx, ADMIN, provider).ok
    conn = connections.get(app_ctx, provider)
    assert conn is not None
    rekeyed = with_new_key(app_ctx)

    with pytest.raises(NotConfigured) as refused:
        adapters.build_adapter(rekeyed, conn)

    assert refused.value.message == UNREADABLE.format(label=label)
    assert isinstance(refused.value.__cause__, CryptoError)
    with pytest.raises(NotConfigured, match="cannot be decrypted: the secret key changed"):
        adapters.adapter_for(rekeyed, provider)
    # "Test connection" shows the same advice and marks the connection broken.
    result = connections.test_connection(rekeyed, provider)
    assert not result.ok and result.message == UNREADABLE.format(label=label)
    marked = connections.get(rekeyed, provider)
    assert marked is not None and marked.status == "error" and marked.status_message == result.message
    # The old key still opens the secret: restoring it is enough.
    assert connections.test_connection(app_ctx, provider).ok


def test_env_connection_needs_credentials_and_stores_none(sqlite_ctx: AppContext) -> None:
    with pytest.raises(NotConfigured, match="HUBSPOT_ACCESS_TOKEN"):
        adapters.env_connection(sqlite_ctx, "hubspot", env={})
    with pytest.raises(NotConfigured, match="SALESFORCE_INSTANCE_URL"):
        adapters.env_connection(sqlite_ctx, "salesforce", env={"SALESFORCE_CLIENT_ID": "only-id"})
    assert connection_count(sqlite_ctx) == 0

    env = {"HUBSPOT_ACCESS_TOKEN": "pat-from-env", "HUBSPOT_BASE_URL": "http://127.0.0.1:9"}
    conn = adapters.env_connection(sqlite_ctx, "hubspot", env=env)
    again = adapters.env_connection(sqlite_ctx, "hubspot", env=env)

    assert conn.name == again.name == "env-hubspot" and conn.id == again.id
    assert conn.auth_kind == "env" and conn.settings["base_url"] == "http://127.0.0.1:9"
    with sqlite_ctx.db.session() as session:
        secret = session.execute(text("SELECT secret FROM connections WHERE id = :i"), {"i": conn.id})
        assert secret.scalar() is None


def test_env_connection_made_by_two_runs_at_once_is_one(app_ctx: AppContext) -> None:
    env = {"HUBSPOT_ACCESS_TOKEN": "pat-from-env"}
    barrier = threading.Barrier(4)
    ids: list[int] = []
    errors: list[Exception] = []

    def start_run() -> None:
        barrier.wait()
        try:
            ids.append(adapters.env_connection(app_ctx, "hubspot", env=env).id)
        except Exception as exc:  # collected: the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=start_run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == [] and len(ids) == 4 and len(set(ids)) == 1
    assert connection_count(app_ctx) == 1


def test_env_connection_adapter_uses_the_environment_token(
    sqlite_ctx: AppContext, http_sandbox: Callable[..., SandboxHTTPServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = http_sandbox("hubspot", token=FAKE_HUBSPOT_TOKEN)
    env = {"HUBSPOT_ACCESS_TOKEN": FAKE_HUBSPOT_TOKEN, "HUBSPOT_BASE_URL": server.base_url}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    conn = adapters.env_connection(sqlite_ctx, "hubspot")

    adapter = adapters.build_adapter(sqlite_ctx, conn)
    try:
        account = adapter.account()
    finally:
        adapter.close()

    assert account.account_id == "146872913" and set(server.app.stats.by_status) == {200}
