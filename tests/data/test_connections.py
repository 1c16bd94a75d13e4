"""Saved connections (secrets always encrypted) and single-use OAuth states."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from data.connections import (
    ConnectionStoreError,
    OAuthGrant,
    consume_oauth_state,
    create_connection,
    create_oauth_state,
    delete_connection,
    get_connection_by_name,
    get_secret,
    list_connections,
    purge_oauth_states,
    set_secret,
    update_settings,
    update_status,
)
from data.crypto import DecryptionError, SecretBox
from data.db import Database
from data.models import OAuthState, utcnow

SECRET = {"access_token": "pat-na1-aaaaaaaa-bbbb-cccc", "client_secret": "cs-very-secret"}
VERIFIER = "pkce-verifier-0123456789-abcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(Fernet.generate_key().decode())


def _oauth_state(session: Session, box: SecretBox, **overrides: object) -> str:
    fields: dict[str, object] = {
        "provider": "salesforce",
        "connection_name": "Prod org",
        "redirect_uri": "http://localhost:8501/providers",
        "code_verifier": VERIFIER,
        "settings": {"login_host": "login.salesforce.com"},
        "created_by": "admin",
    }
    return create_oauth_state(session, box, **{**fields, **overrides})  # type: ignore[arg-type]


def test_secret_is_stored_encrypted_and_read_back(session: Session, box: SecretBox) -> None:
    connection = create_connection(
        session, box, name="HubSpot prod", provider="hubspot", auth_kind="private_app", secret=SECRET
    )
    raw = session.execute(
        text("SELECT secret FROM connections WHERE id = :id"), {"id": connection.id}
    ).scalar()
    assert all(value not in raw for value in SECRET.values())
    assert get_secret(session, box, connection.id) == SECRET
    with pytest.raises(DecryptionError):
        get_secret(session, SecretBox(Fernet.generate_key().decode()), connection.id)


def test_connection_without_secret(session: Session, box: SecretBox) -> None:
    connection = create_connection(
        session, box, name="Sandbox", provider="hubspot", auth_kind="sandbox", secret=None
    )
    assert connection.secret is None
    assert get_secret(session, box, connection.id) == {}


def test_refused_connections(session: Session, box: SecretBox) -> None:
    with pytest.raises(ConnectionStoreError, match="provider"):
        create_connection(session, box, name="X", provider="pipedrive", auth_kind="oauth", secret=None)
    with pytest.raises(ConnectionStoreError, match="name"):
        create_connection(session, box, name="  ", provider="hubspot", auth_kind="oauth", secret=None)
    create_connection(session, box, name="Dup", provider="hubspot", auth_kind="oauth", secret=None)
    with pytest.raises(ConnectionStoreError, match="already exists"):
        create_connection(session, box, name="Dup", provider="salesforce", auth_kind="oauth", secret=None)
    assert [c.name for c in list_connections(session)] == ["Dup"]  # the session is still usable


def test_update_status_identity_settings_and_secret(session: Session, box: SecretBox) -> None:
    connection = create_connection(
        session,
        box,
        name="SF",
        provider="salesforce",
        auth_kind="oauth",
        secret=SECRET,
        settings={"instance_url": "https://x.my.salesforce.com"},
    )
    update_status(session, connection.id, status="error", message="401 from the API")
    assert (connection.status, connection.status_message) == ("error", "401 from the API")
    assert connection.last_checked_at is not None
    update_status(session, connection.id, status="connected", identity={"user": "ann@x.com", "org": "00D"})
    assert connection.settings == {
        "instance_url": "https://x.my.salesforce.com",
        "identity": {"user": "ann@x.com", "org": "00D"},
    }
    with pytest.raises(ConnectionStoreError):
        update_status(session, connection.id, status="broken")
    update_settings(session, connection.id, instance_url=None, login_host="test.salesforce.com")
    assert connection.settings == {
        "identity": {"user": "ann@x.com", "org": "00D"},
        "login_host": "test.salesforce.com",
    }
    expires = utcnow() + timedelta(hours=2)
    set_secret(
        session,
        box,
        connection.id,
        {"access_token": "new-token"},
        refreshed_at=utcnow(),
        token_expires_at=expires,
    )
    assert get_secret(session, box, connection.id) == {"access_token": "new-token"}
    assert connection.last_refreshed_at is not None and connection.token_expires_at is not None


def test_list_and_delete(session: Session, box: SecretBox) -> None:
    hub = create_connection(session, box, name="B hub", provider="hubspot", auth_kind="oauth", secret=None)
    create_connection(session, box, name="A sf", provider="salesforce", auth_kind="oauth", secret=None)
    assert [c.name for c in list_connections(session)] == ["B hub", "A sf"]
    assert [c.name for c in list_connections(session, provider="salesforce")] == ["A sf"]
    assert delete_connection(session, hub.id) is True
    assert delete_connection(session, hub.id) is False
    assert get_connection_by_name(session, "B hub") is None
    with pytest.raises(ConnectionStoreError):
        get_secret(session, box, hub.id)


def test_oauth_state_round_trip_once(session: Session, box: SecretBox) -> None:
    state = _oauth_state(session, box)
    assert len(state) >= 40
    stored = session.scalar(select(OAuthState.code_verifier).where(OAuthState.state == state))
    assert stored and VERIFIER not in stored
    grant = consume_oauth_state(session, box, state, "salesforce")
    assert grant == OAuthGrant(
        provider="salesforce",
        connection_name="Prod org",
        redirect_uri="http://localhost:8501/providers",
        code_verifier=VERIFIER,
        settings={"login_host": "login.salesforce.com"},
        created_by="admin",
    )
    assert consume_oauth_state(session, box, state, "salesforce") is None  # reused


def test_forged_expired_and_wrong_provider_states(session: Session, box: SecretBox) -> None:
    assert consume_oauth_state(session, box, "forged-state", "salesforce") is None
    assert consume_oauth_state(session, box, "", "salesforce") is None
    assert consume_oauth_state(session, box, "x" * 500, "salesforce") is None
    expired = _oauth_state(session, box, ttl=timedelta(seconds=-1))
    assert consume_oauth_state(session, box, expired, "salesforce") is None
    state = _oauth_state(session, box)
    assert consume_oauth_state(session, box, state, "hubspot") is None
    assert consume_oauth_state(session, box, state, "salesforce") is not None  # not burnt by the wrong one


def test_purge_forgets_long_expired_states(session: Session, box: SecretBox) -> None:
    _oauth_state(session, box, ttl=timedelta(days=-2))
    live = _oauth_state(session, box)
    assert purge_oauth_states(session) == 1
    assert session.scalars(select(OAuthState.state)).all() == [live]


def test_racing_callbacks_get_one_grant(database: Database, box: SecretBox) -> None:
    with database.begin() as session:
        state = _oauth_state(session, box)
    grants: list[OAuthGrant | None] = []
    barrier = threading.Barrier(4)

    def callback() -> None:
        barrier.wait()
        with database.begin() as session:
            grants.append(consume_oauth_state(session, box, state, "salesforce"))

    threads = [threading.Thread(target=callback) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(grants) == 4
    assert [g.code_verifier for g in grants if g is not None] == [VERIFIER]
