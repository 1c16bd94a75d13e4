"""What the History page asks of past runs: a page of runs, the chart aggregates, one run's detail
and how far a status check has got. A run's records (page, CSV, links) live in
``service.history_records`` and are re-exported here, so callers need only this module.

Every query is bounded, so the page stays quick with thousands of runs: runs come a page at a time
(``data.runs.list_runs``), and the charts are ``GROUP BY`` queries (a few rows per day and provider,
never one per run).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data import connections as connections_store
from data import runs as store
from data.db import as_utc
from data.models import ACTIVE_RUN_STATES, Campaign, PushRecord, PushRun
from service.connections import PROVIDER_LABELS
from service.context import AppContext
from service.history_records import (
    CHECK_FILTERS,
    RECORD_ACTIONS,
    RecordQuery,
    RecordRow,
    changed_since_push,
    describe_diff,
    iter_records,
    record_link,
    record_link_template,
    records_csv,
    records_page,
)

__all__ = [  # the History page's whole service API
    "CHECKED_ACTIONS", "CHECK_FILTERS", "RECORD_ACTIONS", "RUN_STATES", "CheckProgress", "CheckSummary",
    "DayOutcome", "ProviderTotals", "RecordQuery", "RecordRow", "RunDetail", "RunFilters", "RunRow",
    "campaign_choices", "check_progress", "describe_diff", "get_run", "iter_records", "outcomes_by_day",
    "record_link", "record_link_template", "records_csv", "records_page", "run_detail", "run_row",
    "runs_page", "totals_by_provider",
]  # fmt: skip

RUN_STATES = ("completed", "partial", "failed", "running", "queued", "interrupted", "cancelled")
CHECKED_ACTIONS = ("created", "updated")  # the records a status check reads back (service.status)


@dataclass(frozen=True)
class RunFilters:
    """The History page's filters; days are UTC calendar days, both ends included."""

    provider: str | None = None
    campaign_id: int | None = None
    first_day: date | None = None
    last_day: date | None = None
    states: tuple[str, ...] = ()
    dry_run: bool | None = None

    @property
    def since(self) -> datetime | None:
        return datetime.combine(self.first_day, time(), UTC) if self.first_day else None

    @property
    def until(self) -> datetime | None:
        return datetime.combine(self.last_day + timedelta(days=1), time(), UTC) if self.last_day else None


@dataclass(frozen=True)
class RunRow:
    """One run as the table and the detail view show it (plain values, safe to keep in the session)."""

    id: int
    started_at: datetime | None
    finished_at: datetime | None
    source_label: str
    campaign_id: int | None
    provider: str
    object_name: str
    connection_name: str
    mode: str
    dry_run: bool
    created_by: str
    total: int
    created: int
    updated: int
    skipped: int
    failed: int
    seconds: float
    api_calls: int
    state: str
    error_message: str | None
    parent_run_id: int | None
    parent_kind: str | None
    last_check_at: datetime | None

    @property
    def done(self) -> int:
        return self.created + self.updated + self.skipped + self.failed

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_RUN_STATES

    @property
    def tone(self) -> str:
        """green: every row ok; red: nothing succeeded (or the run failed); amber: anything between."""
        if self.state == "completed" and self.failed == 0:
            return "green"
        if self.state == "failed" or (self.done and self.created + self.updated + self.skipped == 0):
            return "red"
        return "amber"

    def rate(self, now: datetime | None = None) -> float:
        """Rows done per second since the run was created."""
        if self.started_at is None:
            return 0.0
        elapsed = ((now or datetime.now(UTC)) - self.started_at).total_seconds()
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def target(self) -> str:
        """``HubSpot contacts``, ``Salesforce Lead``."""
        return f"{PROVIDER_LABELS.get(self.provider, self.provider)} {self.object_name}"

    @property
    def duration(self) -> float | None:
        """Seconds spent pushing (summed over resumes); None while nothing has finished."""
        if self.seconds:
            return self.seconds
        if self.finished_at and self.started_at:
            return max(0.0, (self.finished_at - self.started_at).total_seconds())
        return None


def run_row(run: PushRun) -> RunRow:
    return RunRow(
        id=run.id, started_at=as_utc(run.started_at), finished_at=as_utc(run.finished_at),
        source_label=run.source_label, campaign_id=run.campaign_id, provider=run.provider,
        object_name=run.object_name, connection_name=run.connection_name, mode=run.mode,
        dry_run=bool(run.dry_run), created_by=run.created_by, total=run.total, created=run.created,
        updated=run.updated, skipped=run.skipped, failed=run.failed, seconds=float(run.seconds or 0.0),
        api_calls=run.api_calls, state=run.state, error_message=run.error_message,
        parent_run_id=run.parent_run_id, parent_kind=run.parent_kind, last_check_at=as_utc(run.last_check_at),
    )  # fmt: skip


def runs_page(ctx: AppContext, filters: RunFilters, *, page: int, size: int) -> tuple[list[RunRow], int]:
    """Page ``page`` (from 1) of the runs matching ``filters``, newest first, and how many match."""
    with ctx.db.session() as session:
        found, total = store.list_runs(
            session,
            provider=filters.provider,
            campaign_id=filters.campaign_id,
            since=filters.since,
            until=filters.until,
            states=filters.states or None,
            dry_run=filters.dry_run,
            limit=size,
            offset=max(page - 1, 0) * size,
        )
        return [run_row(run) for run in found], total


def campaign_choices(ctx: AppContext) -> list[tuple[int, str]]:
    """(id, name) of the campaigns that have runs, by name: the campaign filter's options."""
    pushed = select(PushRun.campaign_id).where(PushRun.campaign_id.is_not(None)).distinct()
    stmt = select(Campaign.id, Campaign.name).where(Campaign.id.in_(pushed)).order_by(Campaign.name)
    with ctx.db.session() as session:
        return [(int(cid), str(name)) for cid, name in session.execute(stmt)]


# The charts -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayOutcome:
    day: date
    state: str
    runs: int


@dataclass(frozen=True)
class ProviderTotals:
    provider: str
    object_name: str
    runs: int
    created: int
    updated: int
    skipped: int
    failed: int


def _run_conditions(filters: RunFilters) -> list[Any]:
    """The WHERE of ``data.runs.list_runs`` for the same filters, so charts and table agree."""
    conditions: list[Any] = []
    if filters.provider is not None:
        conditions.append(PushRun.provider == filters.provider)
    if filters.campaign_id is not None:
        conditions.append(PushRun.campaign_id == filters.campaign_id)
    if filters.since is not None:
        conditions.append(PushRun.started_at >= filters.since)
    if filters.until is not None:
        conditions.append(PushRun.started_at < filters.until)
    if filters.states:
        conditions.append(PushRun.state.in_(filters.states))
    if filters.dry_run is not None:
        conditions.append(PushRun.dry_run.is_(filters.dry_run))
    return conditions


def _utc_day(session: Session) -> Any:
    """The UTC calendar day of ``started_at`` as SQL: SQLite stores UTC text, PostgreSQL a timestamptz."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", PushRun.started_at))
    return func.date(PushRun.started_at)


def outcomes_by_day(ctx: AppContext, filters: RunFilters) -> list[DayOutcome]:
    """Real pushes (never dry runs) per UTC day and final state, oldest day first."""
    conditions = _run_conditions(replace(filters, dry_run=False))
    with ctx.db.session() as session:
        day = _utc_day(session).label("day")
        stmt = (
            select(day, PushRun.state, func.count())
            .where(*conditions)
            .group_by(day, PushRun.state)
            .order_by(day, PushRun.state)
        )
        return [
            DayOutcome(date.fromisoformat(str(value)[:10]), str(state), int(runs))
            for value, state, runs in session.execute(stmt)
            if value is not None
        ]


def totals_by_provider(ctx: AppContext, filters: RunFilters) -> list[ProviderTotals]:
    """Records created, updated, skipped and failed by real pushes, per provider and object."""
    conditions = _run_conditions(replace(filters, dry_run=False))
    sums = [func.coalesce(func.sum(column), 0) for column in
            (PushRun.created, PushRun.updated, PushRun.skipped, PushRun.failed)]  # fmt: skip
    stmt = (
        select(PushRun.provider, PushRun.object_name, func.count(), *sums)
        .where(*conditions)
        .group_by(PushRun.provider, PushRun.object_name)
        .order_by(PushRun.provider, PushRun.object_name)
    )
    with ctx.db.session() as session:
        return [
            ProviderTotals(str(p), str(o), int(n), int(c), int(u), int(s), int(f))
            for p, o, n, c, u, s, f in session.execute(stmt)
        ]


# One run --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckSummary:
    """What the last status check found, over the records it read back."""

    checked: int
    by_state: dict[str, int]
    changed: int  # still there, but a mapped field no longer holds what we pushed


@dataclass(frozen=True)
class RunDetail:
    run: RunRow
    filters: dict[str, Any]
    mapping: dict[str, Any]
    options: dict[str, Any]
    parent: RunRow | None
    children: list[RunRow]
    checkable: int  # records a status check would read back
    connection_id: int | None  # the connection now named as the run's (None: not connected any more)
    check: CheckSummary | None = None
    api_usage: dict[str, Any] = field(default_factory=dict)


def _checkable(run_id: int) -> list[Any]:
    return [
        PushRecord.run_id == run_id,
        PushRecord.action.in_(CHECKED_ACTIONS),
        PushRecord.crm_id.is_not(None),
    ]


def get_run(ctx: AppContext, run_id: int) -> RunRow | None:
    """The run alone: what a progress bar polls."""
    with ctx.db.session() as session:
        run = store.get_run(session, run_id)
        return run_row(run) if run else None


def run_detail(ctx: AppContext, run_id: int) -> RunDetail | None:
    """The run with its settings as they were, its parent and children, and its last check's findings."""
    with ctx.db.session() as session:
        run = store.get_run(session, run_id)
        if run is None:
            return None
        parent = store.get_run(session, run.parent_run_id) if run.parent_run_id else None
        children = store.child_runs(session, run_id)
        checkable = session.scalar(select(func.count()).select_from(PushRecord).where(*_checkable(run_id)))
        check = _check_summary(session, run_id) if run.last_check_at else None
        # By name, as service.runs and service.status find it: a reconnect replaces the row (new id).
        connection = connections_store.get_connection_by_name(session, run.connection_name)
        return RunDetail(
            run=run_row(run),
            filters=dict(run.filters or {}),
            mapping=dict(run.mapping or {}),
            options=dict(run.options or {}),
            parent=run_row(parent) if parent else None,
            children=[run_row(child) for child in children],
            checkable=int(checkable or 0),
            connection_id=connection.id if connection else None,
            check=check,
            api_usage=dict(run.api_usage or {}),
        )


def _check_summary(session: Session, run_id: int) -> CheckSummary:
    checked = [PushRecord.run_id == run_id, PushRecord.check_state.is_not(None)]
    stmt = select(PushRecord.check_state, func.count()).where(*checked).group_by(PushRecord.check_state)
    by_state = {str(state): int(n) for state, n in session.execute(stmt)}
    changed = session.scalar(
        select(func.count()).select_from(PushRecord).where(*checked, changed_since_push())
    )
    return CheckSummary(sum(by_state.values()), by_state, int(changed or 0))


# Status checks --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckProgress:
    checkable: int
    done: int  # records read back since the check started
    finished: bool


def check_progress(ctx: AppContext, run_id: int, after: datetime | None) -> CheckProgress:
    """How far the status check started when the run's ``last_check_at`` was ``after`` has got.

    The check stamps each chunk's records and the run with the same time, so progress is measured
    against the database's own earlier stamp, not this process's clock.
    """
    checkable = _checkable(run_id)
    newer = PushRecord.checked_at > after if after is not None else PushRecord.checked_at.is_not(None)
    with ctx.db.session() as session:
        total = session.scalar(select(func.count()).select_from(PushRecord).where(*checkable)) or 0
        done = session.scalar(select(func.count()).select_from(PushRecord).where(*checkable, newer)) or 0
        last = session.scalar(select(PushRun.last_check_at).where(PushRun.id == run_id))
    stamped = last is not None and (after is None or as_utc(last) > as_utc(after))  # type: ignore[operator]
    return CheckProgress(int(total), int(done), bool(stamped and done >= total))
