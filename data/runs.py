"""Storage of push runs and their per-record results.

A run is written with all its records ``pending`` before anything is sent; each batch's results then
land in one transaction, so a crash leaves exactly the unsent rows pending (``resume`` picks them up) and
the counters truthful. Functions take a Session; the caller owns the transaction. Bulk work uses Core
executemany statements because a run holds up to 100,000 records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Row, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data.models import ACTIVE_RUN_STATES, PushRecord, PushRun, utcnow
from data.sync_state import IN_CHUNK, record_pushes

RESULT_ACTIONS = ("created", "updated", "skipped", "failed")
FINAL_STATES = ("completed", "partial", "failed", "interrupted", "cancelled")
INSERT_CHUNK = 5_000  # rows per executemany: bounded memory for the parameter dicts

_records = PushRecord.__table__
_runs = PushRun.__table__
_JSON_OR_NULL = JSON(none_as_null=True)  # None becomes SQL NULL, as in a freshly inserted record


@dataclass(frozen=True)
class PendingRow:
    """One input row of a new run, as it will be sent."""

    row_index: int
    email: str | None
    row: dict[str, Any]
    payload: dict[str, Any]
    payload_hash: str | None
    lead_id: int | None = None
    decided: ResultRow | None = None  # known before sending (e.g. unchanged): stored final, not pending


@dataclass(frozen=True)
class ResultRow:
    """The final outcome of one row: action is created, updated, skipped or failed."""

    row_index: int
    action: str
    crm_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    changes: list[Any] | None = None


@dataclass(frozen=True)
class CheckRow:
    """A status check of one pushed record: state is exists, deleted, merged or converted."""

    row_index: int
    state: str
    diff: list[Any] | None
    modified_at: str | None


class RunLocked(Exception):
    """Another active run already pushes the same thing; the database's unique index said so."""

    def __init__(self, run_id: int, source_label: str = "this source", provider: str = "the CRM") -> None:
        super().__init__(run_id, source_label, provider)  # all in args, so the exception pickles (RQ)
        self.run_id, self.source_label, self.provider = run_id, source_label, provider

    def __str__(self) -> str:
        return f"A push of {self.source_label} to {self.provider} is already running (run #{self.run_id})"


def _locked(session: Session, lock_key: str | None, error: IntegrityError) -> RunLocked | IntegrityError:
    holder = active_run(session, lock_key) if lock_key else None
    return RunLocked(holder.id, holder.source_label, holder.provider) if holder else error


def create_run(
    session: Session,
    *,
    rows: Sequence[PendingRow],
    created_by: str,
    provider: str,
    connection_id: int | None,
    connection_name: str,
    object_name: str,
    campaign_id: int | None,
    source_label: str,
    mode: str,
    dry_run: bool,
    filters: dict[str, Any],
    mapping: dict[str, Any],
    options: dict[str, Any],
    lock_key: str | None,
    parent_run_id: int | None = None,
    parent_kind: str | None = None,
) -> PushRun:
    """Insert a ``queued`` run and all its records: ``pending``, or final where ``decided``. Dry runs pass
    ``lock_key=None``."""
    decided = Counter(str(r.decided.action) for r in rows if r.decided is not None)
    # str(): a StrEnum would reach psycopg as its member name.
    run = PushRun(
        created_by=created_by, provider=str(provider), connection_id=connection_id,
        connection_name=connection_name, object_name=object_name, campaign_id=campaign_id,
        source_label=source_label, mode=str(mode), dry_run=dry_run, filters=dict(filters),
        mapping=dict(mapping), options=dict(options), lock_key=lock_key, parent_run_id=parent_run_id,
        parent_kind=parent_kind, total=len(rows), state="queued", started_at=utcnow(),
        **{action: decided[action] for action in RESULT_ACTIONS},
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(run)
    except IntegrityError as exc:
        raise _locked(session, lock_key, exc) from None
    for start in range(0, len(rows), INSERT_CHUNK):
        params = [
            {"run_id": run.id, "row_index": r.row_index, "lead_id": r.lead_id, "email": r.email,
             "row": r.row, "payload": r.payload, "payload_hash": r.payload_hash, **_outcome(r.decided)}
            for r in rows[start : start + INSERT_CHUNK]
        ]  # fmt: skip
        session.execute(insert(_records), params)
    return run


def _outcome(decided: ResultRow | None) -> dict[str, Any]:
    if decided is None:
        return {"action": "pending", "crm_id": None, "error_code": None, "error_message": None}
    return {
        "action": str(decided.action),
        "crm_id": decided.crm_id,
        "error_code": decided.error_code,
        "error_message": decided.error_message,
    }


def claim_run(session: Session, run_id: int, worker: str) -> bool:
    """Move a ``queued`` or ``interrupted`` run to ``running`` for ``worker``; False if someone else did.
    Raises RunLocked when resuming an interrupted run whose lock another run has taken meanwhile."""
    stmt = (
        update(_runs)
        .where(_runs.c.id == run_id, _runs.c.state.in_(("queued", "interrupted")))
        .values(state="running", worker=worker, heartbeat_at=utcnow())
    )
    try:
        with session.begin_nested():
            return session.execute(stmt).rowcount == 1
    except IntegrityError as exc:
        lock_key = session.scalar(select(_runs.c.lock_key).where(_runs.c.id == run_id))
        raise _locked(session, lock_key, exc) from None


def heartbeat(session: Session, run_id: int, worker: str) -> bool:
    """Touch the heartbeat. True means stop: cancel was requested, or this worker no longer owns the
    run (it was declared dead and marked interrupted, and may have been resumed elsewhere)."""
    mine = and_(_runs.c.id == run_id, _runs.c.worker == worker, _runs.c.state == "running")
    if session.execute(update(_runs).where(mine).values(heartbeat_at=utcnow())).rowcount != 1:
        return True
    return bool(session.scalar(select(_runs.c.cancel_requested).where(_runs.c.id == run_id)))


def record_results(
    session: Session,
    run_id: int,
    results: Sequence[ResultRow],
    *,
    api_calls: int | None = None,
    connection_id: int | None = None,
    object_name: str | None = None,
) -> dict[str, int]:
    """Give each still-pending record its final action, and count only what changed: re-recording a
    batch (a retry after a lost commit) changes nothing. Returns the counts added, per action. With
    ``connection_id`` on a real run, created/updated rows refresh SyncState (``data.sync_state``)."""
    by_index: dict[int, ResultRow] = {}
    for result in results:
        if str(result.action) not in RESULT_ACTIONS:
            raise ValueError(f"Unknown action {str(result.action)!r} for row {result.row_index}")
        by_index.setdefault(result.row_index, result)
    pending = _lock_pending(session, run_id, sorted(by_index))
    if pending:
        _write_results(session, run_id, [by_index[index] for index in pending])
    counts = Counter(str(by_index[index].action) for index in pending)
    changes: dict[str, Any] = {name: _runs.c[name] + counts[name] for name in RESULT_ACTIONS if counts[name]}
    if api_calls is not None:
        changes["api_calls"] = api_calls
    if changes:
        session.execute(update(_runs).where(_runs.c.id == run_id).values(**changes))
    if connection_id is not None and pending:
        run = session.execute(select(_runs.c.dry_run, _runs.c.object_name).where(_runs.c.id == run_id)).one()
        if not run.dry_run:
            rows = {i: (email, digest, by_index[i]) for i, (email, digest) in pending.items()}
            record_pushes(session, run_id, connection_id, object_name or run.object_name, rows)
    return {name: counts[name] for name in RESULT_ACTIONS}


def _write_results(session: Session, run_id: int, results: list[ResultRow]) -> None:
    # No "AND action = 'pending'": the rows are locked (PostgreSQL) or SQLite's single writer holds them
    # unchanged; and without it no plan, generic or not, can prefer the (run_id, action) index to the
    # unique (run_id, row_index) one and scan the whole run for every row (seen: 9 ms per row at 100k).
    stmt = (
        update(_records)
        .where(_records.c.run_id == run_id, _records.c.row_index == bindparam("b_row"))
        .values(action=bindparam("b_action"), crm_id=bindparam("b_crm_id"), error_code=bindparam("b_code"))
        .values(error_message=bindparam("b_message"), changes=bindparam("b_changes", type_=_JSON_OR_NULL))
    )
    params = [
        {"b_row": r.row_index, "b_action": str(r.action), "b_crm_id": r.crm_id, "b_code": r.error_code,
         "b_message": r.error_message, "b_changes": r.changes}
        for r in results
    ]  # fmt: skip
    session.execute(stmt, params)


def _lock_pending(
    session: Session, run_id: int, indexes: list[int]
) -> dict[int, tuple[str | None, str | None]]:
    """Row index -> (email, payload_hash) of those records still pending. On PostgreSQL they stay locked
    (in row order, so writers cannot deadlock) until commit, so two writers cannot both count a batch.
    The action is checked in Python, so the lookup can only use the unique (run_id, row_index) index."""
    found: dict[int, tuple[str | None, str | None]] = {}
    columns = (_records.c.row_index, _records.c.email, _records.c.payload_hash, _records.c.action)
    for start in range(0, len(indexes), IN_CHUNK):
        chunk = indexes[start : start + IN_CHUNK]
        stmt = select(*columns).where(_records.c.run_id == run_id, _records.c.row_index.in_(chunk))
        for row in session.execute(stmt.order_by(_records.c.row_index).with_for_update()):
            if row.action == "pending":
                found[row.row_index] = (row.email, row.payload_hash)
    return found


def final_state(created: int, updated: int, skipped: int, failed: int, total: int) -> str:
    """completed: every row done and none failed; failed: nothing succeeded; partial: anything else,
    including rows left unsent."""
    succeeded = created + updated + skipped
    if failed == 0 and succeeded >= total:
        return "completed"
    return "failed" if succeeded == 0 else "partial"


def finish_run(
    session: Session,
    run_id: int,
    *,
    state: str | None = None,
    seconds: float,
    api_calls: int,
    error_message: str | None = None,
    api_usage: dict[str, Any] | None = None,
    worker: str | None = None,
) -> str | None:
    """End the run, which frees its lock; ``state=None`` derives it from the counters. Returns it.

    With ``worker``, only while that worker still runs it (else None): a worker declared dead and
    replaced must not overwrite the state of the run another worker has resumed."""
    if state is None:
        counters = (_runs.c.created, _runs.c.updated, _runs.c.skipped, _runs.c.failed, _runs.c.total)
        state = final_state(*session.execute(select(*counters).where(_runs.c.id == run_id)).one())
    if state not in FINAL_STATES:
        raise ValueError(f"{state!r} is not a final run state")
    values: dict[str, Any] = {"state": state, "finished_at": utcnow(), "seconds": seconds,
                              "api_calls": api_calls, "error_message": error_message}  # fmt: skip
    if api_usage is not None:
        values["api_usage"] = api_usage
    stmt = update(_runs).where(_runs.c.id == run_id)
    if worker is not None:
        stmt = stmt.where(_runs.c.worker == worker, _runs.c.state == "running")
    return state if session.execute(stmt.values(**values)).rowcount == 1 else None


def request_cancel(session: Session, run_id: int) -> bool:
    """Ask a running run to stop. A queued or interrupted run (nobody executes it) is cancelled at once,
    so a run whose worker never started cannot hold its lock forever. False if it had already ended."""
    idle = and_(_runs.c.id == run_id, _runs.c.state.in_(("queued", "interrupted")))
    done = dict(state="cancelled", cancel_requested=True, finished_at=utcnow())
    if session.execute(update(_runs).where(idle).values(**done)).rowcount:
        return True
    running = and_(_runs.c.id == run_id, _runs.c.state == "running")
    return session.execute(update(_runs).where(running).values(cancel_requested=True)).rowcount == 1


def mark_interrupted(
    session: Session, *, stale_after: timedelta, host: str, pid_alive: Callable[[int], bool]
) -> list[int]:
    """Turn dead ``running`` runs into ``interrupted`` (freeing their locks); return their ids. Dead:
    a heartbeat older than ``stale_after``, or a worker ``host:pid`` on this host whose process is gone.
    Each UPDATE re-checks what was seen, so a run that moved on meanwhile is left alone."""
    stale = or_(_runs.c.heartbeat_at.is_(None), _runs.c.heartbeat_at < utcnow() - stale_after)
    marked: list[int] = []
    for run in session.execute(select(_runs.c.id, _runs.c.worker).where(_runs.c.state == "running")).all():
        worker_host, _, pid = (run.worker or "").rpartition(":")
        dead_here = worker_host == host and pid.isdigit() and not pid_alive(int(pid))
        still = and_(_runs.c.id == run.id, _runs.c.state == "running")
        condition = and_(still, _runs.c.worker == run.worker) if dead_here else and_(still, stale)
        if session.execute(update(_runs).where(condition).values(state="interrupted")).rowcount:
            marked.append(run.id)
    return marked


# Readers use populate_existing: the bulk UPDATEs above bypass the identity map (cached objects go stale).


def get_run(session: Session, run_id: int) -> PushRun | None:
    return session.get(PushRun, run_id, populate_existing=True)


def active_run(session: Session, lock_key: str) -> PushRun | None:
    stmt = select(PushRun).where(PushRun.lock_key == lock_key, PushRun.state.in_(ACTIVE_RUN_STATES))
    return session.scalars(stmt.execution_options(populate_existing=True)).first()


def child_runs(session: Session, run_id: int) -> list[PushRun]:
    """The retries and resumes started from ``run_id``, oldest first."""
    stmt = select(PushRun).where(PushRun.parent_run_id == run_id).order_by(PushRun.id)
    return list(session.scalars(stmt.execution_options(populate_existing=True)))


def pending_records(session: Session, run_id: int) -> Sequence[Row[Any]]:
    """The rows still to send, in row order, as (row_index, email, payload, payload_hash): only what a
    push needs, not whole records (a 100,000-row run's records cost hundreds of MB as objects)."""
    columns = (_records.c.row_index, _records.c.email, _records.c.payload, _records.c.payload_hash)
    stmt = select(*columns).where(_records.c.run_id == run_id, _records.c.action == "pending")
    return session.execute(stmt.order_by(_records.c.row_index)).all()


def failed_records(session: Session, run_id: int) -> list[PushRecord]:
    return run_records(session, run_id, action="failed")[0]


def run_records(
    session: Session,
    run_id: int,
    *,
    action: str | None = None,
    search: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[PushRecord], int]:
    """One page of a run's records in row order, and how many match in all. ``search`` looks in email,
    CRM id and error message, case-insensitively, taking ``%`` and ``_`` literally."""
    conditions: list[Any] = [PushRecord.run_id == run_id]
    if action:
        conditions.append(PushRecord.action == action)
    if search and search.strip():
        columns = (PushRecord.email, PushRecord.crm_id, PushRecord.error_message)
        conditions.append(or_(*(column.icontains(search.strip(), autoescape=True) for column in columns)))
    stmt = select(PushRecord).where(*conditions).order_by(PushRecord.row_index).offset(offset).limit(limit)
    records = list(session.scalars(stmt.execution_options(populate_existing=True)))
    if limit is None and offset == 0:
        return records, len(records)
    return records, int(session.scalar(select(func.count()).select_from(PushRecord).where(*conditions)) or 0)


def list_runs(
    session: Session,
    *,
    provider: str | None = None,
    campaign_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    states: Iterable[str] | None = None,
    dry_run: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[PushRun], int]:
    """Newest first, one page, and the total matching. ``since`` is inclusive, ``until`` exclusive."""
    conditions: list[Any] = []
    if provider is not None:
        conditions.append(PushRun.provider == provider)
    if campaign_id is not None:
        conditions.append(PushRun.campaign_id == campaign_id)
    if since is not None:
        conditions.append(PushRun.started_at >= since)
    if until is not None:
        conditions.append(PushRun.started_at < until)
    if states is not None:
        conditions.append(PushRun.state.in_(list(states)))
    if dry_run is not None:
        conditions.append(PushRun.dry_run.is_(dry_run))
    total = session.scalar(select(func.count()).select_from(PushRun).where(*conditions)) or 0
    newest_first = (PushRun.started_at.desc(), PushRun.id.desc())
    stmt = select(PushRun).where(*conditions).order_by(*newest_first).offset(offset).limit(limit)
    return list(session.scalars(stmt.execution_options(populate_existing=True))), int(total)


def save_checks(session: Session, run_id: int, checks: Sequence[CheckRow]) -> None:
    """Store a status check's findings per record, and when the run was last checked."""
    now = utcnow()
    if checks:
        stmt = (
            update(_records)
            .where(_records.c.run_id == run_id, _records.c.row_index == bindparam("b_row"))
            .values(check_state=bindparam("b_state"), check_diff=bindparam("b_diff", type_=_JSON_OR_NULL))
            .values(check_modified_at=bindparam("b_modified"), checked_at=now)
        )
        params = [
            {"b_row": c.row_index, "b_state": str(c.state), "b_diff": c.diff, "b_modified": c.modified_at}
            for c in checks
        ]
        session.execute(stmt, params)
    session.execute(update(_runs).where(_runs.c.id == run_id).values(last_check_at=now))
