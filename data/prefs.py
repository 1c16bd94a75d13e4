"""Small remembered choices: the last mapping per provider and object, and installation flags.

Both are upserts on the primary key, so two sessions saving at once never fail on a duplicate key.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from data.db import upsert
from data.models import AppFlag, MappingPreset, utcnow


def save_mapping_preset(
    session: Session,
    provider: str,
    object_name: str,
    mapping: dict[str, Any],
    *,
    updated_by: str | None = None,
) -> None:
    """Remember ``mapping`` as the one offered next time for this provider and object."""
    stmt = upsert(
        session, MappingPreset.__table__, ("provider", "object_name"), ("mapping", "updated_by", "updated_at")
    )
    session.execute(
        stmt,
        {
            "provider": str(provider),
            "object_name": object_name,
            "mapping": dict(mapping),
            "updated_by": updated_by,
            "updated_at": utcnow(),
        },
    )


def load_mapping_preset(session: Session, provider: str, object_name: str) -> dict[str, Any] | None:
    """The last saved mapping, or None when there is none yet."""
    stmt = select(MappingPreset.mapping).where(
        MappingPreset.provider == str(provider), MappingPreset.object_name == object_name
    )
    mapping = session.scalar(stmt)
    return dict(mapping) if mapping is not None else None


def get_flag(session: Session, name: str, default: str | None = None) -> str | None:
    """The flag's value; ``default`` when it was never set (a flag set to None reads as None)."""
    row = session.execute(select(AppFlag.value).where(AppFlag.name == name)).first()
    return default if row is None else row.value


def set_flag(session: Session, name: str, value: str | None) -> None:
    stmt = upsert(session, AppFlag.__table__, ("name",), ("value", "updated_at"))
    session.execute(stmt, {"name": name, "value": value, "updated_at": utcnow()})


def clear_flag(session: Session, name: str) -> bool:
    """Forget a flag (so e.g. the demo data may be loaded again); True if it existed."""
    result = session.execute(delete(AppFlag).where(AppFlag.name == name))
    return bool(result.rowcount)
