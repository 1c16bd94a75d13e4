"""SyncState: what was last pushed successfully, per connection, object and email.

Change detection (as Hightouch and Census do it) compares a row's payload hash with the last successful
push of the same email to the same connection and object, and skips it when they match.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.db import upsert
from data.models import SyncState, utcnow

IN_CHUNK = 900  # values per IN (...): under SQLite's old 999-variable limit, with room for the rest
# Above this many keys last_pushed reads all the connection+object's SyncState in one query. With
# 200,000 stored keys: 2,000 keys by IN 0.02 s (SQLite) / 0.1 s (PostgreSQL), the whole read 0.2-0.3 s;
# but with stale PostgreSQL statistics an IN chunk may scan all of them (seen: 1.9 s a chunk), so IN is
# kept to a few chunks and anything larger takes the one predictable scan.
WHOLE_SCAN_THRESHOLD = 2_000


def email_key(email: str | None) -> str | None:
    """The SyncState key of an email: trimmed and lower-cased (None for a blank one)."""
    return (email or "").strip().lower() or None


def last_pushed(
    session: Session, connection_id: int, object_name: str, email_keys: Collection[str]
) -> dict[str, tuple[str, str | None]]:
    """email key -> (payload hash, CRM id) of its last successful push to this connection and object."""
    wanted = {key for key in map(email_key, email_keys) if key}
    base = select(SyncState.email_key, SyncState.payload_hash, SyncState.crm_id).where(
        SyncState.connection_id == connection_id, SyncState.object_name == object_name
    )
    if len(wanted) > WHOLE_SCAN_THRESHOLD:
        return {key: (digest, crm_id) for key, digest, crm_id in session.execute(base) if key in wanted}
    keys, found = sorted(wanted), {}
    for start in range(0, len(keys), IN_CHUNK):
        chunk = keys[start : start + IN_CHUNK]
        rows = session.execute(base.where(SyncState.email_key.in_(chunk)))
        found.update({key: (digest, crm_id) for key, digest, crm_id in rows})
    return found


def last_pushed_hashes(
    session: Session, connection_id: int, object_name: str, email_keys: Collection[str]
) -> dict[str, str]:
    """email key -> payload hash of its last successful push to this connection and object."""
    return {
        key: digest
        for key, (digest, _) in last_pushed(session, connection_id, object_name, email_keys).items()
    }


def record_pushes(
    session: Session,
    run_id: int,
    connection_id: int,
    object_name: str,
    rows: Mapping[int, tuple[str | None, str | None, Any]],
) -> None:
    """Remember the created and updated rows of a run's batch: row index -> (email, payload hash, its
    result with ``action`` and ``crm_id``)."""
    now, found = utcnow(), {}  # by key: the same key twice in one statement breaks ON CONFLICT
    for _index, (email, payload_hash, result) in sorted(rows.items()):
        key = email_key(email)
        if str(result.action) in ("created", "updated") and key and payload_hash:
            found[key] = {"connection_id": connection_id, "object_name": object_name, "email_key": key,
                          "payload_hash": payload_hash, "crm_id": result.crm_id, "run_id": run_id,
                          "pushed_at": now}  # fmt: skip
    if found:
        keys, updated = (
            ("connection_id", "object_name", "email_key"),
            ("payload_hash", "crm_id", "run_id", "pushed_at"),
        )
        session.execute(upsert(session, SyncState.__table__, keys, updated), list(found.values()))
