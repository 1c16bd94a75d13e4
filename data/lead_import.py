"""Import a CSV/XLSX file of leads as a new campaign: read, map columns, prepare, insert.

The three steps are separate so the Campaigns page can show the detected mapping and the row problems
before anything is saved, and so the CLI (``--csv``) can use the same normalisation without saving::

    parsed = read_table(data, "leads.csv")             # or ImportRefused: the file as a whole is unusable
    prepared = prepare(parsed, parsed.column_map)       # the analyst may correct the map first
    report = import_campaign(session, name="Q3 webinar", prepared=prepared)

Nothing is dropped silently: every data row ends up either in ``prepared.leads`` or, once, in
``prepared.problems`` (an earlier duplicate only as ``MERGED``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data.lead_columns import LEAD_FIELDS, detect_columns
from data.lead_errors import CHECK_ORDER, MERGED, VALUE_TOO_LONG, ImportRefused, RowProblem
from data.lead_files import DEFAULT_MAX_BYTES, ParsedFile, read_table
from data.lead_values import Issue, clean, normalise, quote
from data.models import Campaign, Lead, utcnow

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ImportRefused",
    "ImportReport",
    "ParsedFile",
    "PreparedImport",
    "RowProblem",
    "detect_columns",
    "import_campaign",
    "prepare",
    "read_table",
]

# A cell of an unmapped column goes to the lead's ``extra`` JSON. 65,536 characters is HubSpot's limit
# for a multi-line text property, the largest thing such a cell could be pushed into.
MAX_EXTRA_CHARS = 65_536
# Rows per INSERT batch: bounds the memory of one executemany, and is large enough to be fast.
INSERT_BATCH = 10_000
CAMPAIGN_NAME_MAX = Campaign.__table__.c.name.type.length or 255
SOURCE_DETAIL_MAX = Campaign.__table__.c.source_detail.type.length or 255


@dataclass(frozen=True, slots=True)
class PreparedImport:
    """Leads ready to insert (one dict per row: ``row_number``, every lead field, ``extra``) and the
    rows that cannot be taken, each exactly once."""

    leads: list[dict[str, Any]]
    problems: list[RowProblem]
    total_rows: int
    column_map: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImportReport:
    campaign_id: int
    imported: int
    problems: list[RowProblem]
    total_rows: int


def prepare(
    parsed: ParsedFile, column_map: Mapping[str, str | None], *, strict_emails: bool = True
) -> PreparedImport:
    """Normalise every row of ``parsed`` under ``column_map`` (header -> lead field or None).

    A repeated email (trimmed, any case) keeps the LATER importable row; earlier ones are reported as
    ``MERGED``. ``strict_emails=False`` keeps invalid addresses as typed: the demo data's path only.
    """
    by_field = _fields_of(parsed.headers, column_map)
    frame = parsed.frame
    fields = pd.DataFrame({name: frame[header] for name, header in by_field.items()}, index=frame.index)
    result = normalise(fields, strict_emails=strict_emails)
    extra_headers = [header for header in parsed.headers if column_map.get(header) is None]
    extras = {header: clean(frame[header]) for header in extra_headers}
    for header, column in extras.items():
        result.report(
            column.str.len() > MAX_EXTRA_CHARS, VALUE_TOO_LONG, header, column, _extra_too_long(header)
        )
    issues, values = result.issues, result.values
    emails = dict(zip(values.index.tolist(), values["email"].tolist(), strict=True))
    problems = [_problem(row, emails[row], found) for row, found in sorted(issues.items())]
    leads = list(_lead_dicts(values, extras, skip=issues.keys()))
    leads, merged = _merge_duplicates(leads)
    problems = sorted(problems + merged, key=lambda problem: problem.row)
    return PreparedImport(leads=leads, problems=problems, total_rows=len(frame), column_map=dict(column_map))


def import_campaign(
    session: Session,
    *,
    name: str,
    prepared: PreparedImport,
    source: str = "import",
    source_detail: str | None = None,
) -> ImportReport:
    """Insert a campaign and its leads in the caller's transaction, with batched Core inserts.

    Refusals (a taken or empty name, nothing importable) happen before anything is written; on any
    exception the caller must roll back, which leaves the database exactly as it was.
    """
    name = name.strip()
    if not name or len(name) > CAMPAIGN_NAME_MAX:
        raise ImportRefused(f"Give the campaign a name of 1 to {CAMPAIGN_NAME_MAX} characters.")
    if not prepared.leads:
        raise ImportRefused(
            f"None of the {prepared.total_rows:,} rows can be imported. "
            "Fix the problems listed and try again.",
            problems=prepared.problems,
        )
    taken = select(Campaign.id).where(func.lower(Campaign.name) == name.lower())
    if session.scalar(taken) is not None:
        raise ImportRefused(_name_taken(name))
    if source_detail is not None and len(source_detail) > SOURCE_DETAIL_MAX:
        source_detail = "…" + source_detail[-(SOURCE_DETAIL_MAX - 1) :]
    campaign = Campaign(name=name, status="active", source=source, source_detail=source_detail)
    session.add(campaign)
    try:
        session.flush()
    except IntegrityError:  # another import took the name since the check above
        raise ImportRefused(_name_taken(name)) from None
    now = utcnow()
    # Core executemany on the session's connection: 2-3x faster than the ORM's bulk path (measured).
    connection = session.connection()
    for batch in _batches(prepared.leads, INSERT_BATCH):
        connection.execute(
            insert(Lead), [{**lead, "campaign_id": campaign.id, "created_at": now} for lead in batch]
        )
    return ImportReport(
        campaign_id=campaign.id,
        imported=len(prepared.leads),
        problems=list(prepared.problems),
        total_rows=prepared.total_rows,
    )


def _fields_of(headers: Sequence[str], column_map: Mapping[str, str | None]) -> dict[str, str]:
    """Field -> header, refusing a map the analyst must correct."""
    unknown = [header for header in column_map if header not in headers]
    if unknown:
        raise ImportRefused(f"The column map names columns the file does not have: {', '.join(unknown)}.")
    by_field: dict[str, str] = {}
    for header in headers:
        target = column_map.get(header)
        if target is None:
            continue
        if target not in LEAD_FIELDS:
            raise ImportRefused(f'Column "{header}" is mapped to "{target}", which is not a lead field.')
        if target in by_field:
            raise ImportRefused(
                f'Both "{by_field[target]}" and "{header}" are mapped to {target}. Map only one of them.'
            )
        by_field[target] = header
    if "email" not in by_field:
        raise ImportRefused("No column is mapped to email. Choose the column that holds the email addresses.")
    return by_field


def _lead_dicts(
    values: pd.DataFrame, extras: Mapping[str, pd.Series], *, skip: AbstractSet[int]
) -> Iterator[dict[str, Any]]:
    """One insertable dict per row not in ``skip``; blank extra cells are left out of ``extra``."""
    keys = ("row_number", *LEAD_FIELDS)
    columns = [values.index.tolist(), *(values[name].tolist() for name in LEAD_FIELDS)]
    extra_columns = [(header, column.tolist()) for header, column in extras.items()]
    for position, cells in enumerate(zip(*columns, strict=True)):
        if cells[0] in skip:
            continue
        lead = dict(zip(keys, cells, strict=True))
        lead["extra"] = {header: column[position] for header, column in extra_columns if column[position]}
        yield lead


def _merge_duplicates(leads: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[RowProblem]]:
    """Keep the last lead per lower-cased email; report the earlier ones as merged into it."""
    last_row = {lead["email"].lower(): lead["row_number"] for lead in leads}
    kept: list[dict[str, Any]] = []
    merged: list[RowProblem] = []
    for lead in leads:
        winner = last_row[lead["email"].lower()]
        if winner == lead["row_number"]:
            kept.append(lead)
        else:
            merged.append(
                RowProblem(
                    row=lead["row_number"],
                    email=lead["email"],
                    code=MERGED,
                    message=f"{quote(lead['email'])} appears again later: merged into row {winner}.",
                )
            )
    return kept, merged


def _extra_too_long(header: str) -> Callable[[str], str]:
    return lambda cell: (
        f'Column "{header}" is {len(cell):,} characters long; the limit is {MAX_EXTRA_CHARS:,}. '
        "Shorten it, or remove the column."
    )


def _problem(row: int, email: str | None, found: list[Issue]) -> RowProblem:
    """One problem per row: the first code in check order, and every message, so one fix round is enough."""
    found = sorted(found, key=lambda issue: CHECK_ORDER.index(issue.code))
    return RowProblem(
        row=row, email=email, code=found[0].code, message=" ".join(issue.message for issue in found)
    )


def _name_taken(name: str) -> str:
    return f'A campaign named "{name}" already exists. Choose another name, or delete that campaign first.'


def _batches(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
