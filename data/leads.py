"""Campaigns and their leads: the queries the Campaigns and Push pages and the CLI make.

Reads of whole campaigns go through Core into pandas, since a campaign can hold 100,000 leads and the
pages show them as a table. Edits an analyst saves from that table are checked by the same normalisation
as an import (``data.lead_values``), so an edit cannot store what an import would refuse.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Text, delete, func, select, type_coerce, update
from sqlalchemy.orm import Session

from data.db import as_utc
from data.lead_columns import LEAD_FIELDS
from data.lead_errors import DUPLICATE_EMAIL, UNKNOWN_FIELD, UNKNOWN_LEAD, VALUE_TOO_LONG, RowProblem
from data.lead_import import MAX_EXTRA_CHARS
from data.lead_values import Issue, normalise, quote
from data.models import Campaign, Lead, utcnow

# Columns of leads_frame, in order: the id the edits refer to, the file's row, every field, extra.
FRAME_COLUMNS = ("id", "row_number", *LEAD_FIELDS, "extra")
# Columns an edit may carry but never changes (leads_frame rows passed back whole).
READ_ONLY = frozenset({"id", "campaign_id", "row_number", "created_at", "updated_at"})
# Ids per IN (...) list: well under SQLite's and PostgreSQL's bound-parameter limits.
ID_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    id: int
    name: str
    status: str
    source: str
    created_at: datetime
    lead_count: int


def list_campaigns(session: Session) -> list[CampaignSummary]:
    """Every campaign with its number of leads, newest first, in one query."""
    count = func.count(Lead.id)
    stmt = (
        select(Campaign.id, Campaign.name, Campaign.status, Campaign.source, Campaign.created_at, count)
        .outerjoin(Lead, Lead.campaign_id == Campaign.id)
        .group_by(Campaign.id, Campaign.name, Campaign.status, Campaign.source, Campaign.created_at)
        .order_by(Campaign.created_at.desc(), Campaign.id.desc())
    )
    return [
        CampaignSummary(id, name, status, source, as_utc(created_at) or created_at, lead_count)
        for id, name, status, source, created_at, lead_count in session.execute(stmt)
    ]


def get_campaign_by_name_or_id(session: Session, value: str | int) -> Campaign | None:
    """The campaign the analyst means (CLI ``--campaign``): an exact name first, so a campaign named
    "2024" is found by its name, then an id, then a name in any case."""
    if isinstance(value, int):
        return session.get(Campaign, value)
    text = value.strip()
    found = session.scalar(select(Campaign).where(Campaign.name == text))
    if found is None and text.isdigit():
        found = session.get(Campaign, int(text))
    if found is None and text:
        matches = session.scalars(select(Campaign).where(func.lower(Campaign.name) == text.lower())).all()
        found = matches[0] if len(matches) == 1 else None
    return found


def leads_frame(session: Session, campaign_id: int) -> pd.DataFrame:
    """One row per lead of the campaign, in file order: ``FRAME_COLUMNS``, ``score`` as nullable
    ``Int64`` and ``extra`` as dicts. Empty (with those columns) for an unknown campaign."""
    # ``extra`` comes back as the driver gives it (text on SQLite): most rows hold "{}", which needs no
    # JSON parse, and skipping 100,000 parses (and Row attribute probing by pandas) saves seconds.
    columns = [getattr(Lead, name) for name in FRAME_COLUMNS[:-1]]
    stmt = (
        select(*columns, type_coerce(Lead.extra, Text))
        .where(Lead.campaign_id == campaign_id)
        .order_by(Lead.row_number, Lead.id)
    )
    rows = session.connection().execute(stmt).fetchall()
    values = list(zip(*rows, strict=True)) if rows else [() for _ in FRAME_COLUMNS]
    frame = pd.DataFrame(
        {name: pd.Series(column, dtype=object) for name, column in zip(FRAME_COLUMNS, values, strict=True)}
    )
    for name in LEAD_FIELDS:
        if name != "score":
            frame[name] = frame[name].astype("str")
    frame["id"] = frame["id"].astype("int64")
    frame["row_number"] = frame["row_number"].astype("int64")
    frame["score"] = frame["score"].astype("Int64")
    frame["extra"] = [_as_dict(value) for value in values[-1]]
    return frame


def save_lead_edits(
    session: Session, campaign_id: int, edits: Sequence[Mapping[str, Any]]
) -> list[RowProblem]:
    """Apply the analyst's edits (each ``{"id": lead id, field: value, ...}``) to leads of one campaign.

    Each lead's edit is checked as an import checks a row, judging only the fields it changes; a lead
    with any problem keeps all its old values and is returned as one problem (several edits of one lead
    are merged, later values winning). Ids of other campaigns are refused, so a stale table cannot write
    into the wrong campaign. Returns the problems, in row order; an empty list means all was saved.
    """
    ids = [int(edit["id"]) for edit in edits if _is_id(edit.get("id"))]
    current = _current_leads(session, campaign_id, ids)
    problems: list[RowProblem] = []
    merged: dict[int, dict[str, Any]] = {}
    for edit in edits:
        lead_id = int(edit["id"]) if _is_id(edit.get("id")) else None
        if lead_id is None or lead_id not in current:
            message = f"Lead {edit.get('id')!r} is not in this campaign. Reload the table and try again."
            problems.append(RowProblem(0, None, UNKNOWN_LEAD, message))
            continue
        merged.setdefault(lead_id, {}).update(
            {key: value for key, value in edit.items() if key not in READ_ONLY}
        )
    checked, found = _checked(current, merged)
    problems += found
    problems += _refuse_duplicate_emails(session, campaign_id, current, checked)
    if checked:
        now = utcnow()
        for batch in _groups_by_keys(checked):
            session.execute(
                update(Lead), [{"id": lead_id, **values, "updated_at": now} for lead_id, values in batch]
            )
    return sorted(problems, key=lambda problem: problem.row)


def delete_campaign(session: Session, campaign_id: int) -> bool:
    """Delete a campaign and its leads; runs keep their history (their campaign id becomes NULL).
    Returns whether the campaign existed."""
    session.execute(delete(Lead).where(Lead.campaign_id == campaign_id))
    result = session.execute(delete(Campaign).where(Campaign.id == campaign_id))
    session.expire_all()  # objects loaded before must not resurrect deleted rows
    return bool(result.rowcount)


def _as_dict(value: object) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if not value or value == "{}":
        return {}
    parsed = json.loads(str(value))
    return parsed if isinstance(parsed, dict) else {}


def _is_id(value: object) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())


def _current_leads(session: Session, campaign_id: int, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The edited leads as they are now, keyed by id; ids of other campaigns are simply absent."""
    columns = [getattr(Lead, name) for name in FRAME_COLUMNS]
    found: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(sorted(set(ids)), ID_CHUNK):
        stmt = select(*columns).where(Lead.campaign_id == campaign_id, Lead.id.in_(chunk))
        for row in session.execute(stmt).mappings():
            found[row["id"]] = dict(row)
    return found


def _checked(
    current: Mapping[int, Mapping[str, Any]], accepted: Mapping[int, Mapping[str, Any]]
) -> tuple[dict[int, dict[str, Any]], list[RowProblem]]:
    """Normalise each edited lead as a whole row (current values overlaid by the edit); keep the edit's
    normalised fields, or report the issues of the fields it touches."""
    if not accepted:
        return {}, []
    ids = list(accepted)
    rows = [{name: _as_text(accepted[i].get(name, current[i][name])) for name in LEAD_FIELDS} for i in ids]
    # Issues come out in check order (email, length, score, tier), so the first is the code to report.
    result = normalise(pd.DataFrame(rows, index=pd.Index(ids), dtype="str"))
    checked: dict[int, dict[str, Any]] = {}
    problems: list[RowProblem] = []
    for lead_id in ids:
        edit = accepted[lead_id]
        issues = [issue for issue in result.issues.get(lead_id, []) if issue.field in edit]
        issues += _extra_issues(edit.get("extra"))
        unknown = sorted(str(key) for key in edit if key not in (*LEAD_FIELDS, "extra"))
        if unknown:
            message = f"{', '.join(unknown)} cannot be edited: only lead fields can. Undo those changes."
            issues.append(Issue(UNKNOWN_FIELD, unknown[0], message))
        if issues:
            lead = current[lead_id]
            message = " ".join(issue.message for issue in issues)
            problems.append(RowProblem(lead["row_number"], lead["email"], issues[0].code, message))
            continue
        values = {name: result.values.at[lead_id, name] for name in LEAD_FIELDS if name in edit}
        if "extra" in edit:
            values["extra"] = dict(edit["extra"] or {})
        checked[lead_id] = values
    return checked, problems


def _extra_issues(extra: object) -> list[Issue]:
    if extra is None:
        return []
    if not isinstance(extra, Mapping):
        return [Issue(UNKNOWN_FIELD, "extra", "Extra must be a set of named values. Undo that change.")]
    return [
        Issue(
            VALUE_TOO_LONG,
            str(key),
            f'Column "{key}" is longer than {MAX_EXTRA_CHARS:,} characters. Shorten it.',
        )
        for key, value in extra.items()
        if len(str(value)) > MAX_EXTRA_CHARS
    ]


def _refuse_duplicate_emails(
    session: Session,
    campaign_id: int,
    current: Mapping[int, Mapping[str, Any]],
    checked: dict[int, dict[str, Any]],
) -> list[RowProblem]:
    """An email may appear once per campaign (any case), as an import leaves it; refuse edits that would
    give one lead another's address, unless that other lead's own edit moves it away."""
    changing = {
        lead_id: values["email"].lower()
        for lead_id, values in checked.items()
        if "email" in values and values["email"].lower() != (current[lead_id]["email"] or "").lower()
    }
    if not changing:
        return []
    keys = sorted(set(changing.values()))
    owner: dict[str, int] = {}
    for chunk in _chunks(keys, ID_CHUNK):
        stmt = select(Lead.id, func.lower(Lead.email)).where(
            Lead.campaign_id == campaign_id, func.lower(Lead.email).in_(chunk)
        )
        for lead_id, key in session.execute(stmt):
            if lead_id not in changing:
                owner[key] = lead_id
    problems: list[RowProblem] = []
    for lead_id, key in changing.items():
        if key in owner:
            lead = current[lead_id]
            message = (
                f"Another lead of this campaign already has {quote(checked[lead_id]['email'])}. Use another."
            )
            problems.append(RowProblem(lead["row_number"], lead["email"], DUPLICATE_EMAIL, message))
            del checked[lead_id]
        else:
            owner[key] = lead_id
    return problems


def _as_text(value: object) -> str:
    """A table cell (None, NaN, pd.NA, 87.0, text) as the string a file would have held."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _groups_by_keys(
    checked: Mapping[int, Mapping[str, Any]],
) -> Iterator[list[tuple[int, Mapping[str, Any]]]]:
    """Edits grouped by the fields they set: one executemany UPDATE per group."""
    groups: dict[tuple[str, ...], list[tuple[int, Mapping[str, Any]]]] = {}
    for lead_id, values in checked.items():
        groups.setdefault(tuple(sorted(values)), []).append((lead_id, values))
    yield from groups.values()


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
