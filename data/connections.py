"""Saved CRM connections and pending OAuth authorizations.

Every secret passes through a :class:`~data.crypto.SecretBox` here and nowhere else: callers hand in and
get back plain dicts, the database only ever sees Fernet ciphertext. An OAuth ``state`` is single use:
consuming it is one conditional UPDATE, so two callbacks racing with the same state cannot both win.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data.crypto import SecretBox
from data.models import Connection, OAuthState, utcnow

PROVIDERS = ("hubspot", "salesforce")
STATUSES = ("connected", "error", "disconnected")
OAUTH_STATE_TTL = timedelta(minutes=10)  # long enough to log in at the CRM, short enough to be useless later


class _Unset:
    pass


UNSET: Final = _Unset()  # "leave as it is", where None is a meaningful new value


class ConnectionStoreError(ValueError):
    """A refused connection operation; the message is fit to show as is."""


@dataclass(frozen=True)
class OAuthGrant:
    """What the OAuth callback needs to finish: the decrypted PKCE verifier and where it started."""

    provider: str
    connection_name: str
    redirect_uri: str
    code_verifier: str | None
    settings: dict[str, Any]
    created_by: str | None


def _validate(provider: str, status: str) -> None:
    if provider not in PROVIDERS:
        raise ConnectionStoreError(f"Unknown provider {provider!r}: choose one of {', '.join(PROVIDERS)}")
    if status not in STATUSES:
        raise ConnectionStoreError(f"Unknown status {status!r}")


def create_connection(
    session: Session,
    box: SecretBox,
    *,
    name: str,
    provider: str,
    auth_kind: str,
    secret: dict[str, Any] | None,
    settings: dict[str, Any] | None = None,
    created_by: str | None = None,
    status: str = "connected",
    status_message: str | None = None,
    token_expires_at: datetime | None = None,
) -> Connection:
    _validate(provider, status)
    name = name.strip()
    if not name:
        raise ConnectionStoreError("A connection needs a name")
    connection = Connection(
        name=name,
        provider=provider,
        auth_kind=auth_kind,
        secret=box.encrypt_json(secret) if secret is not None else None,
        settings=dict(settings or {}),
        created_by=created_by,
        status=status,
        status_message=status_message,
        token_expires_at=token_expires_at,
    )
    try:
        with session.begin_nested():
            session.add(connection)
    except IntegrityError:
        raise ConnectionStoreError(f"A connection named {name!r} already exists") from None
    return connection


def get_connection(session: Session, connection_id: int) -> Connection | None:
    return session.get(Connection, connection_id)


def get_connection_by_name(session: Session, name: str) -> Connection | None:
    return session.scalar(select(Connection).where(Connection.name == name.strip()))


def list_connections(session: Session, *, provider: str | None = None) -> list[Connection]:
    stmt = select(Connection).order_by(Connection.provider, Connection.name)
    if provider is not None:
        stmt = stmt.where(Connection.provider == provider)
    return list(session.scalars(stmt))


def get_secret(session: Session, box: SecretBox, connection_id: int) -> dict[str, Any]:
    """The connection's decrypted secret ({} when it has none). Raises DecryptionError on a wrong key."""
    connection = _require(session, connection_id)
    return box.decrypt_json(connection.secret) if connection.secret else {}


def set_secret(
    session: Session,
    box: SecretBox,
    connection_id: int,
    secret: dict[str, Any] | None,
    *,
    refreshed_at: datetime | _Unset | None = UNSET,
    token_expires_at: datetime | _Unset | None = UNSET,
) -> None:
    """Replace the secret, e.g. after a token refresh (pass ``refreshed_at``/``token_expires_at`` then)."""
    connection = _require(session, connection_id)
    connection.secret = box.encrypt_json(secret) if secret is not None else None
    if not isinstance(refreshed_at, _Unset):
        connection.last_refreshed_at = refreshed_at
    if not isinstance(token_expires_at, _Unset):
        connection.token_expires_at = token_expires_at
    session.flush()


def update_status(
    session: Session,
    connection_id: int,
    *,
    status: str,
    message: str | None = None,
    identity: dict[str, Any] | None = None,
    checked_at: datetime | None = None,
) -> Connection:
    """Record the outcome of a connection test; ``identity`` (who we are at the CRM) goes in settings."""
    connection = _require(session, connection_id)
    _validate(connection.provider, status)
    connection.status = status
    connection.status_message = message
    connection.last_checked_at = checked_at or utcnow()
    if identity is not None:
        connection.settings = {**(connection.settings or {}), "identity": dict(identity)}
    session.flush()
    return connection


def update_settings(session: Session, connection_id: int, **changes: Any) -> Connection:
    """Merge non-secret settings (instance URL, portal id …); a value of None removes the key."""
    connection = _require(session, connection_id)
    merged = {**(connection.settings or {}), **changes}
    connection.settings = {key: value for key, value in merged.items() if value is not None}
    session.flush()
    return connection


def delete_connection(session: Session, connection_id: int) -> bool:
    """Delete it (its change-detection state goes too; past runs keep their connection name)."""
    connection = session.get(Connection, connection_id)
    if connection is None:
        return False
    session.delete(connection)
    session.flush()
    return True


def _require(session: Session, connection_id: int) -> Connection:
    connection = session.get(Connection, connection_id)
    if connection is None:
        raise ConnectionStoreError(f"No connection with id {connection_id}")
    return connection


def create_oauth_state(
    session: Session,
    box: SecretBox,
    *,
    provider: str,
    connection_name: str,
    redirect_uri: str,
    code_verifier: str | None,
    settings: dict[str, Any] | None = None,
    created_by: str | None = None,
    ttl: timedelta = OAUTH_STATE_TTL,
) -> str:
    """A new unguessable ``state`` for the authorization URL; the verifier stays server-side, encrypted."""
    _validate(provider, "connected")
    state = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        OAuthState(
            state=state,
            provider=provider,
            connection_name=connection_name,
            code_verifier=box.encrypt_text(code_verifier) if code_verifier is not None else None,
            redirect_uri=redirect_uri,
            settings=dict(settings or {}),
            created_by=created_by,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    session.flush()
    return state


def consume_oauth_state(session: Session, box: SecretBox, state: str, provider: str) -> OAuthGrant | None:
    """The grant for ``state``, at most once. Forged, reused, expired or wrong-provider: None.

    The UPDATE claims the row only while it is unused and unexpired; on PostgreSQL a racing second
    caller waits for the first to commit, then finds ``used_at`` set and gets None. Commit promptly.
    """
    if not state or len(state) > 128:
        return None
    now = utcnow()
    claimed = session.execute(
        update(OAuthState)
        .where(
            OAuthState.state == state,
            OAuthState.provider == provider,
            OAuthState.used_at.is_(None),
            OAuthState.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return None
    row = session.execute(
        select(
            OAuthState.connection_name,
            OAuthState.redirect_uri,
            OAuthState.code_verifier,
            OAuthState.settings,
            OAuthState.created_by,
        ).where(OAuthState.state == state)
    ).one()
    return OAuthGrant(
        provider=provider,
        connection_name=row.connection_name,
        redirect_uri=row.redirect_uri,
        code_verifier=box.decrypt_text(row.code_verifier) if row.code_verifier else None,
        settings=dict(row.settings or {}),
        created_by=row.created_by,
    )


def purge_oauth_states(session: Session, *, older_than: timedelta = timedelta(days=1)) -> int:
    """Housekeeping: forget states that expired more than ``older_than`` ago."""
    result = session.execute(
        delete(OAuthState)
        .where(OAuthState.expires_at < utcnow() - older_than)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)
