"""Push-run storage on both backends: locking, claiming, recording, recovery, queries and volume."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from data import sync_state
from data.db import Database
from data.models import Campaign, Connection, PushRun, SyncState, utcnow
from data.runs import (
    CheckRow,
    PendingRow,
    ResultRow,
    RunLocked,
    active_run,
    child_runs,
    claim_run,
    create_run,
    failed_records,
    final_state,
    finish_run,
    get_run,
    heartbeat,
    list_runs,
    mark_interrupted,
    pending_records,
    record_results,
    request_cancel,
    run_records,
    save_checks,
)

LOCK = "hubspot:contacts:campaign:1"


def _rows(count: int, start: int = 0) -> list[PendingRow]:
    return [
        PendingRow(
            i,
            f"Lead{i}@Example.com",
            {"email": f"lead{i}@example.com"},
            {"email": f"lead{i}@example.com"},
            f"h{i}",
        )
        for i in range(start, start + count)
    ]


def _connection(session: Session) -> int:
    connection = Connection(
        name=f"c{time.monotonic_ns()}", provider="hubspot", auth_kind="sandbox", settings={}
    )
    session.add(connection)
    session.flush()
    return connection.id


def _base(connection_id: int | None = None) -> dict[str, Any]:
    """Every create_run argument but rows: an unlocked run."""
    return {
        "created_by": "ann", "provider": "hubspot", "connection_id": connection_id,
        "connection_name": "HubSpot sandbox", "object_name": "contacts", "campaign_id": None,
        "source_label": "Spring campaign", "mode": "upsert", "dry_run": False, "filters": {"tier": ["HOT"]},
        "mapping": {"email": "email"}, "options": {}, "lock_key": None,
    }  # fmt: skip


def _run(session: Session, rows: int = 3, **overrides: Any) -> PushRun:
    return create_run(session, **{**_base(), "rows": _rows(rows), "lock_key": LOCK, **overrides})


def test_create_run_writes_every_record_pending(session: Session) -> None:
    run = _run(session, rows=5)
    assert (run.state, run.total, run.created + run.failed) == ("queued", 5, 0)
    records = pending_records(session, run.id)
    assert [r.row_index for r in records] == [0, 1, 2, 3, 4]
    assert records[2].payload == {"email": "lead2@example.com"} and records[2].payload_hash == "h2"


def test_second_active_run_with_the_same_lock_is_refused(session: Session) -> None:
    first = _run(session)
    with pytest.raises(RunLocked) as raised:
        _run(session)
    assert raised.value.run_id == first.id
    assert str(raised.value) == f"A push of Spring campaign to hubspot is already running (run #{first.id})"
    _run(session, dry_run=True, lock_key=None)  # dry runs do not lock
    _run(session, dry_run=True, lock_key=None)
    _run(session, lock_key="hubspot:contacts:campaign:2")
    finish_run(session, first.id, seconds=1.0, api_calls=0)
    assert active_run(session, LOCK) is None
    assert _run(session).id != first.id  # the lock is free again


def test_claim_exactly_once_when_workers_race(database: Database) -> None:
    with database.begin() as session:
        run_id = _run(session).id
    wins: list[str] = []
    barrier = threading.Barrier(4)

    def worker(name: str) -> None:
        barrier.wait()
        with database.begin() as session:
            if claim_run(session, run_id, name):
                wins.append(name)

    threads = [threading.Thread(target=worker, args=(f"host:{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    with database.session() as session:
        run = get_run(session, run_id)
        assert (run.state, run.worker) == ("running", wins[0])
        assert run.heartbeat_at is not None


def test_resume_refused_while_another_run_holds_the_lock(session: Session) -> None:
    first = _run(session)
    assert claim_run(session, first.id, "h:1")
    assert mark_interrupted(session, stale_after=timedelta(0), host="h", pid_alive=lambda pid: True) == [
        first.id
    ]
    second = _run(session)  # the interrupted run's lock was free
    with pytest.raises(RunLocked) as raised:
        claim_run(session, first.id, "h:2")
    assert raised.value.run_id == second.id
    assert get_run(session, first.id).state == "interrupted"


def test_heartbeat_reports_cancel_and_lost_ownership(session: Session) -> None:
    run = _run(session)
    assert claim_run(session, run.id, "h:1")
    assert heartbeat(session, run.id, "h:1") is False
    assert heartbeat(session, run.id, "h:2") is True  # not this worker's run
    assert request_cancel(session, run.id) is True
    assert heartbeat(session, run.id, "h:1") is True
    assert get_run(session, run.id).state == "running"  # the worker stops it


def test_request_cancel_ends_an_unclaimed_run(session: Session) -> None:
    run = _run(session)
    assert request_cancel(session, run.id) is True
    assert (get_run(session, run.id).state, active_run(session, LOCK)) == ("cancelled", None)
    assert request_cancel(session, run.id) is False


def test_record_results_is_idempotent_and_counts_changes(session: Session) -> None:
    run = _run(session, rows=5)
    batch = [
        ResultRow(0, "created", "101"),
        ResultRow(1, "updated", "102"),
        ResultRow(2, "failed", None, "E", "bad"),
    ]
    assert record_results(session, run.id, batch, api_calls=2) == {
        "created": 1,
        "updated": 1,
        "skipped": 0,
        "failed": 1,
    }
    assert record_results(session, run.id, [*batch, ResultRow(3, "skipped")], api_calls=3)["skipped"] == 1
    run = get_run(session, run.id)
    assert (run.created, run.updated, run.skipped, run.failed, run.api_calls) == (1, 1, 1, 1, 3)
    assert [r.row_index for r in pending_records(session, run.id)] == [4]
    failed = failed_records(session, run.id)
    assert [(r.row_index, r.error_code, r.error_message) for r in failed] == [(2, "E", "bad")]
    with pytest.raises(ValueError, match="Unknown action"):
        record_results(session, run.id, [ResultRow(4, "exploded")])


def test_the_same_batch_recorded_twice_at_once_counts_once(database: Database) -> None:
    with database.begin() as session:
        run_id = _run(session, rows=50).id
    batch = [ResultRow(i, "created", str(i)) for i in range(50)]
    barrier = threading.Barrier(3)

    def writer() -> None:
        barrier.wait()
        with database.begin() as session:
            record_results(session, run_id, batch)

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with database.session() as session:
        assert get_run(session, run_id).created == 50


def test_sync_state_upsert_and_last_pushed(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    connection_id = _connection(session)
    run = _run(session, rows=4, connection_id=connection_id)
    results = [
        ResultRow(0, "created", "101"),
        ResultRow(1, "updated", "102"),
        ResultRow(2, "skipped"),
        ResultRow(3, "failed"),
    ]
    record_results(session, run.id, results, connection_id=connection_id)
    keys = ["lead0@example.com", "lead1@example.com", "lead2@example.com", "nobody@example.com"]
    assert sync_state.last_pushed_hashes(session, connection_id, "contacts", keys) == {
        "lead0@example.com": "h0",
        "lead1@example.com": "h1",
    }
    finish_run(session, run.id, seconds=1, api_calls=1)
    rows = [PendingRow(0, "LEAD0@example.com ", {}, {}, "new-hash")]
    second = create_run(session, **{**_base(connection_id), "rows": rows})
    record_results(session, second.id, [ResultRow(0, "updated", "101")], connection_id=connection_id)
    state = session.get(SyncState, (connection_id, "contacts", "lead0@example.com"), populate_existing=True)
    assert (state.payload_hash, state.run_id, state.crm_id) == ("new-hash", second.id, "101")
    assert sync_state.last_pushed(session, connection_id, "contacts", ["Lead1@Example.com "]) == {
        "lead1@example.com": ("h1", "102")
    }
    monkeypatch.setattr(sync_state, "WHOLE_SCAN_THRESHOLD", 1)  # the large-set path must agree
    assert sync_state.last_pushed_hashes(session, connection_id, "contacts", keys) == {
        "lead0@example.com": "new-hash",
        "lead1@example.com": "h1",
    }
    assert sync_state.last_pushed_hashes(session, connection_id, "Lead", keys) == {}


def test_dry_runs_never_touch_sync_state(session: Session) -> None:
    connection_id = _connection(session)
    run = _run(session, connection_id=connection_id, dry_run=True, lock_key=None)
    changes = [["firstname", None, "Ann"]]
    record_results(session, run.id, [ResultRow(0, "created", changes=changes)], connection_id=connection_id)
    assert session.scalars(select(SyncState)).all() == []
    assert run_records(session, run.id, action="created")[0][0].changes == changes


@pytest.mark.parametrize(
    ("counts", "expected"),
    [((3, 2, 1, 0, 6), "completed"), ((0, 0, 0, 0, 0), "completed"), ((1, 0, 0, 1, 2), "partial"),
     ((0, 0, 0, 2, 2), "failed"), ((2, 0, 0, 0, 5), "partial"), ((0, 0, 0, 0, 5), "failed")],
)  # fmt: skip
def test_final_state(counts: tuple[int, int, int, int, int], expected: str) -> None:
    assert final_state(*counts) == expected


def test_finish_run(session: Session) -> None:
    run = _run(session, rows=2)
    record_results(session, run.id, [ResultRow(0, "created"), ResultRow(1, "failed")])
    usage = {"used": 18, "limit": 15000}
    assert finish_run(session, run.id, seconds=2.5, api_calls=4, api_usage=usage) == "partial"
    run = get_run(session, run.id)
    assert (run.state, run.seconds, run.api_calls, run.api_usage, run.created) == (
        "partial",
        2.5,
        4,
        usage,
        1,
    )
    assert run.finished_at is not None
    with pytest.raises(ValueError, match="final"):
        finish_run(session, run.id, state="running", seconds=0, api_calls=0)
    finish_run(session, run.id, state="failed", seconds=3, api_calls=4, error_message="Token revoked")
    assert (get_run(session, run.id).state, get_run(session, run.id).error_message) == (
        "failed",
        "Token revoked",
    )


def test_a_replaced_worker_cannot_finish_the_run(session: Session) -> None:
    run = _run(session)
    assert claim_run(session, run.id, "h:1")
    mark_interrupted(session, stale_after=timedelta(0), host="h", pid_alive=lambda pid: True)
    assert claim_run(session, run.id, "h:2")  # resumed elsewhere
    assert finish_run(session, run.id, state="cancelled", seconds=1, api_calls=0, worker="h:1") is None
    assert get_run(session, run.id).state == "running"
    assert finish_run(session, run.id, seconds=1, api_calls=0, worker="h:2") == "failed"  # nothing done


def test_mark_interrupted_dead_pid_and_stale_heartbeat(session: Session) -> None:
    dead, stale, alive, elsewhere = (_run(session, lock_key=f"k{n}") for n in range(4))
    claim_run(session, dead.id, "here:111")
    claim_run(session, stale.id, "other:5")
    claim_run(session, alive.id, "here:222")
    claim_run(session, elsewhere.id, "other:111")  # the same pid on another host says nothing
    old = utcnow() - timedelta(minutes=10)
    session.execute(update(PushRun).where(PushRun.id == stale.id).values(heartbeat_at=old))
    marked = mark_interrupted(
        session, stale_after=timedelta(minutes=2), host="here", pid_alive=lambda pid: pid != 111
    )
    assert sorted(marked) == sorted([dead.id, stale.id])
    states = {r.id: r.state for r in list_runs(session)[0]}
    assert states == {
        dead.id: "interrupted",
        stale.id: "interrupted",
        alive.id: "running",
        elsewhere.id: "running",
    }
    assert active_run(session, "k0") is None
    assert claim_run(session, dead.id, "here:333")  # resumable
    assert (
        mark_interrupted(session, stale_after=timedelta(minutes=2), host="here", pid_alive=lambda pid: True)
        == []
    )


def test_list_runs_filters_and_pages(session: Session) -> None:
    campaign = Campaign(name="Spring", source="cli")
    session.add(campaign)
    session.flush()
    start = utcnow()
    made = []
    for n in range(5):
        run = _run(session, lock_key=None, campaign_id=campaign.id if n % 2 else None, dry_run=n == 4,
                   provider="salesforce" if n == 3 else "hubspot")  # fmt: skip
        session.execute(
            update(PushRun).where(PushRun.id == run.id).values(started_at=start + timedelta(minutes=n))
        )
        made.append(run.id)
    page, total = list_runs(session, limit=2, offset=1)
    assert total == 5 and [r.id for r in page] == [made[3], made[2]]
    assert [r.id for r in list_runs(session, campaign_id=campaign.id)[0]] == [made[3], made[1]]
    assert [r.id for r in list_runs(session, provider="salesforce")[0]] == [made[3]]
    assert list_runs(session, dry_run=True)[1] == 1 and list_runs(session, dry_run=False)[1] == 4
    window = list_runs(session, since=start + timedelta(minutes=1), until=start + timedelta(minutes=3))[0]
    assert [r.id for r in window] == [made[2], made[1]]
    finish_run(session, made[0], state="failed", seconds=0, api_calls=0)
    assert [r.id for r in list_runs(session, states=["failed"])[0]] == [made[0]]


def test_run_records_search_and_paging(session: Session) -> None:
    run = _run(session, rows=30)
    record_results(session, run.id, [ResultRow(5, "failed", None, "INVALID_EMAIL", "Bad 50% value"),
                                     ResultRow(7, "created", "CRM-777")])  # fmt: skip
    page, total = run_records(session, run.id, limit=10, offset=10)
    assert total == 30 and [r.row_index for r in page] == list(range(10, 20))
    assert [r.row_index for r in run_records(session, run.id, search="LEAD2")[0]][:2] == [2, 20]
    assert [r.row_index for r in run_records(session, run.id, search="crm-777")[0]] == [7]
    assert [r.row_index for r in run_records(session, run.id, search="50%")[0]] == [5]
    assert run_records(session, run.id, search="5_%")[1] == 0  # wildcards are taken literally
    assert run_records(session, run.id, action="pending")[1] == 28


def test_save_checks(session: Session) -> None:
    run = _run(session, rows=3)
    save_checks(session, run.id, [CheckRow(0, "exists", [["phone", "1", "2"]], "2025-03-01T10:00:00Z"),
                                  CheckRow(1, "deleted", None, None)])  # fmt: skip
    records = run_records(session, run.id)[0]
    assert (records[0].check_state, records[0].check_diff, records[0].check_modified_at) == (
        "exists", [["phone", "1", "2"]], "2025-03-01T10:00:00Z")  # fmt: skip
    assert records[1].check_state == "deleted" and records[1].checked_at is not None
    assert records[2].check_state is None and records[2].checked_at is None
    assert get_run(session, run.id).last_check_at is not None


def test_child_runs(session: Session) -> None:
    parent = _run(session)
    finish_run(session, parent.id, state="partial", seconds=1, api_calls=1)
    retry = _run(session, rows=1, parent_run_id=parent.id, parent_kind="retry")
    assert [(r.id, r.parent_kind) for r in child_runs(session, parent.id)] == [(retry.id, "retry")]
    assert child_runs(session, retry.id) == []


def test_deleting_a_connection_keeps_its_runs(session: Session) -> None:
    connection_id = _connection(session)
    run = _run(session, rows=1, connection_id=connection_id)
    record_results(session, run.id, [ResultRow(0, "created", "1")], connection_id=connection_id)
    session.execute(Connection.__table__.delete().where(Connection.id == connection_id))
    assert session.scalars(select(SyncState)).all() == []
    run = get_run(session, run.id)
    assert (run.connection_id, run.connection_name) == (None, "HubSpot sandbox")


@pytest.mark.slow
def test_100k_record_run(database: Database, request: pytest.FixtureRequest) -> None:
    rows = _rows(100_000)
    began = time.perf_counter()
    with database.begin() as session:
        run_id = create_run(session, **{**_base(None), "rows": rows}).id
    inserted = time.perf_counter()
    with database.begin() as session:
        record_results(session, run_id, [ResultRow(i, "created", str(i)) for i in range(10_000)])
    recorded = time.perf_counter()
    with database.session() as session:
        pending = pending_records(session, run_id)
        assert len(pending) == 90_000 and pending[-1].payload == {"email": "lead99999@example.com"}
        assert get_run(session, run_id).created == 10_000
    read = time.perf_counter()
    backend = request.node.callspec.id
    print(f"\n[{backend}] 100,000 records: insert {inserted - began:.2f}s, record 10,000 results "
          f"{recorded - inserted:.2f}s, read 90,000 pending {read - recorded:.2f}s")  # fmt: skip
