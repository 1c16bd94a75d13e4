"""A run's records for the History page: a page of them, searched and filtered in the database, their
CSV, and links to them in the CRM.

A run holds up to 100,000 records: the table reads one page (only the columns it shows, never the rows'
JSON payloads), and the CSV, made only when someone asks for it, reads the selection in row order,
``CSV_CHUNK`` at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import Text, and_, cast, func, not_, or_, select

from crm.errors import CRMError
from data.db import as_utc
from data.models import PushRecord
from service.adapters import adapter_for
from service.context import AppContext
from service.exports import to_csv

log = logging.getLogger("service.history_records")

RECORD_ACTIONS = ("created", "updated", "skipped", "failed", "pending")
# What the last status check found, as a filter of a run's records.
CHECK_FILTERS = ("changed", "unchanged", "deleted", "merged", "converted", "unchecked")
CSV_CHUNK = 5_000  # records read per query while writing a CSV: bounded memory for 100,000-record runs
LINK_PLACEHOLDER = "CRMPUSHRECORDID"  # stands for the id in a record-link template
CSV_COLUMNS = (
    "row", "email", "action", "crm_id", "record_url", "error_code", "error_message",
    "status_now", "changed_fields", "modified_in_crm", "checked_at",
)  # fmt: skip

_EMPTY_DIFFS = ("[]", "null")  # a check_diff as JSON text that names no changed field


def changed_since_push() -> Any:
    """Still there, but a mapped field no longer holds what we pushed (per the last check)."""
    return and_(
        PushRecord.check_state == "exists",
        PushRecord.check_diff.is_not(None),
        cast(PushRecord.check_diff, Text).not_in(_EMPTY_DIFFS),
    )


@dataclass(frozen=True)
class RecordRow:
    row_index: int
    email: str | None
    action: str
    crm_id: str | None
    error_code: str | None
    error_message: str | None
    changes: list[Any] | None  # a dry run's [[field, now in the CRM, would be]]
    check_state: str | None
    check_diff: list[Any] | None  # [[field, pushed, now]]
    check_modified_at: str | None
    checked_at: datetime | None


@dataclass(frozen=True)
class RecordQuery:
    """Which of a run's records to show: by action, by a text in email / CRM id / error, by check."""

    action: str | None = None
    search: str | None = None
    check: str | None = None


def _record_conditions(run_id: int, query: RecordQuery) -> list[Any]:
    conditions: list[Any] = [PushRecord.run_id == run_id]
    if query.action:
        conditions.append(PushRecord.action == query.action)
    text = (query.search or "").strip()
    if text:  # as data.runs.run_records: any case, % and _ taken literally
        columns = (PushRecord.email, PushRecord.crm_id, PushRecord.error_message)
        conditions.append(or_(*(column.icontains(text, autoescape=True) for column in columns)))
    if query.check == "changed":
        conditions.append(changed_since_push())
    elif query.check == "unchanged":
        conditions.append(and_(PushRecord.check_state == "exists", not_(changed_since_push())))
    elif query.check == "unchecked":
        conditions.append(PushRecord.check_state.is_(None))
    elif query.check:
        conditions.append(PushRecord.check_state == query.check)
    return conditions


# Only what the table and the CSV show: a record's row and payload JSON stay in the database.
_RECORD_COLUMNS = (
    PushRecord.row_index, PushRecord.email, PushRecord.action, PushRecord.crm_id, PushRecord.error_code,
    PushRecord.error_message, PushRecord.changes, PushRecord.check_state, PushRecord.check_diff,
    PushRecord.check_modified_at, PushRecord.checked_at,
)  # fmt: skip


def _record_row(values: Any) -> RecordRow:
    *head, checked_at = values
    return RecordRow(*head, as_utc(checked_at))


def records_page(
    ctx: AppContext, run_id: int, query: RecordQuery, *, page: int, size: int
) -> tuple[list[RecordRow], int]:
    """Page ``page`` (from 1) of the run's records matching ``query``, in row order, and the match count."""
    conditions = _record_conditions(run_id, query)
    stmt = (
        select(*_RECORD_COLUMNS)
        .where(*conditions)
        .order_by(PushRecord.row_index)
        .offset(max(page - 1, 0) * size)
        .limit(size)
    )
    with ctx.db.session() as session:
        total = session.scalar(select(func.count()).select_from(PushRecord).where(*conditions)) or 0
        return [_record_row(values) for values in session.execute(stmt)], int(total)


def iter_records(ctx: AppContext, run_id: int, query: RecordQuery) -> Iterator[RecordRow]:
    """Every matching record in row order, read ``CSV_CHUNK`` at a time (keyset, not OFFSET)."""
    conditions, after = _record_conditions(run_id, query), None
    while True:
        stmt = select(*_RECORD_COLUMNS).where(*conditions).order_by(PushRecord.row_index).limit(CSV_CHUNK)
        if after is not None:
            stmt = stmt.where(PushRecord.row_index > after)
        with ctx.db.session() as session:  # Core rows: no ORM bookkeeping for 100,000 of them
            chunk = [_record_row(values) for values in session.connection().execute(stmt)]
        yield from chunk
        if len(chunk) < CSV_CHUNK:
            return
        after = chunk[-1].row_index


def describe_diff(diff: list[Any] | None) -> str:
    """``jobtitle: Buyer → CTO; city: Bonn → (empty)`` from ``[[field, pushed, now], …]``."""
    parts = []
    for item in diff or []:
        name, pushed, now = [*list(item), None, None, None][:3]
        parts.append(f"{name}: {_shown(pushed)} → {_shown(now)}")
    return "; ".join(parts)


def _shown(value: Any) -> str:
    return "(empty)" if value is None or value == "" else str(value)


def record_link(template: str | None, crm_id: str | None) -> str | None:
    """The record's page in the CRM, from a template made by :func:`record_link_template`."""
    if not template or not crm_id:
        return None
    return template.replace(LINK_PLACEHOLDER, quote(crm_id, safe=""))


def record_link_template(ctx: AppContext, connection_name: str, object_name: str) -> str | None:
    """The adapter's record URL with a placeholder for the id: one adapter (and for HubSpot one account
    call) for a whole table of links. None when the connection is gone or the CRM does not answer."""
    try:
        adapter = adapter_for(ctx, connection_name, object_name)
    except (CRMError, ValueError) as exc:
        log.info("no record links for %s: %s", connection_name, type(exc).__name__)
        return None
    try:
        url = adapter.record_url(LINK_PLACEHOLDER)
    except (CRMError, httpx.HTTPError) as exc:
        log.warning("no record links for %s: %s", connection_name, type(exc).__name__)
        return None
    finally:
        adapter.close()
    if not url or LINK_PLACEHOLDER not in url or not url.startswith(("https://", "http://")):
        return None
    return url


def records_csv(ctx: AppContext, run_id: int, query: RecordQuery, link_template: str | None) -> bytes:
    """The matching records as a spreadsheet-safe CSV (``service.exports``: no cell runs as a formula)."""
    rows = (
        {
            "row": r.row_index, "email": r.email, "action": r.action, "crm_id": r.crm_id,
            "record_url": record_link(link_template, r.crm_id), "error_code": r.error_code,
            "error_message": r.error_message, "status_now": r.check_state,
            "changed_fields": describe_diff(r.check_diff), "modified_in_crm": r.check_modified_at,
            "checked_at": r.checked_at.isoformat() if r.checked_at else None,
        }
        for r in iter_records(ctx, run_id, query)
    )  # fmt: skip
    return to_csv(CSV_COLUMNS, rows)
