"""The engine and sessions: URL resolution, SQLite's per-connection setup, transactions on both backends."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, make_url, select, text
from sqlalchemy.exc import IntegrityError

from data.db import DEFAULT_DATABASE_URL, DEFAULT_SQLITE_PATH, Database, as_utc, resolve_database_url
from data.models import AppFlag, Campaign, Lead


class _NoSecretsFile(Mapping[str, Any]):
    """Behaves like ``st.secrets`` when no secrets.toml exists: any access raises."""

    def __getitem__(self, key: str) -> Any:
        raise FileNotFoundError("No secrets found")

    def __iter__(self) -> Any:
        raise FileNotFoundError("No secrets found")

    def __len__(self) -> int:
        raise FileNotFoundError("No secrets found")


@pytest.mark.parametrize(
    ("env", "secrets", "expected"),
    [
        ({}, None, DEFAULT_DATABASE_URL),
        ({"DATABASE_URL": "  "}, None, DEFAULT_DATABASE_URL),
        ({}, {"DATABASE_URL": "sqlite:////tmp/x.db"}, "sqlite:////tmp/x.db"),
        (
            {"DATABASE_URL": "sqlite:////tmp/env.db"},
            {"DATABASE_URL": "sqlite:////tmp/s.db"},
            "sqlite:////tmp/env.db",
        ),
        ({"DATABASE_URL": "postgres://u:p@h:5432/d"}, None, "postgresql+psycopg://u:p@h:5432/d"),
        ({}, {"DATABASE_URL": "postgresql://u@h/d"}, "postgresql+psycopg://u@h/d"),
        ({"DATABASE_URL": "postgresql+psycopg://u@h/d"}, None, "postgresql+psycopg://u@h/d"),
        ({}, _NoSecretsFile(), DEFAULT_DATABASE_URL),
    ],
)
def test_resolve_database_url(env: dict[str, str], secrets: Mapping[str, Any] | None, expected: str) -> None:
    assert resolve_database_url(env, secrets) == expected


def test_embedded_default_is_a_git_ignored_file_in_data() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert repo / "data" / "crm.db" == DEFAULT_SQLITE_PATH
    assert make_url(DEFAULT_DATABASE_URL).database == str(DEFAULT_SQLITE_PATH)
    for name in ("data/crm.db", "data/crm.db-wal", "data/secret.key", "data/cookie.key"):
        ignored = subprocess.run(["git", "check-ignore", "-q", name], cwd=repo, check=False)
        assert ignored.returncode == 0, f"{name} is not git-ignored"


def test_repr_hides_the_password() -> None:
    database = Database("postgresql://crm:hunter2secret@db.example/crm")
    assert "hunter2secret" not in repr(database)
    assert database.url.drivername == "postgresql+psycopg"
    assert database.engine.pool._pre_ping is True


def test_sqlite_pragmas_on_every_connection(sqlite_database: Database) -> None:
    with sqlite_database.engine.connect() as first, sqlite_database.engine.connect() as second:
        for conn in (first, second):
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


def test_foreign_keys_enforced(database: Database) -> None:
    with pytest.raises(IntegrityError), database.begin() as session:
        session.add(Lead(campaign_id=999_999, email="a@example.com"))


def test_begin_commits_and_rolls_back_on_error(database: Database) -> None:
    with database.begin() as session:
        session.add(AppFlag(name="kept", value="1"))
    with pytest.raises(RuntimeError), database.begin() as session:
        session.add(AppFlag(name="dropped", value="1"))
        session.flush()
        raise RuntimeError("boom")
    with database.session() as session:
        assert session.scalars(select(AppFlag.name)).all() == ["kept"]


def test_objects_stay_readable_after_commit(database: Database) -> None:
    with database.begin() as session:
        campaign = Campaign(name="Spring", source="cli")
        session.add(campaign)
    assert campaign.name == "Spring" and campaign.id is not None  # expire_on_commit=False


def test_released_savepoint_is_rolled_back_with_its_transaction(database: Database) -> None:
    """The driver's own BEGIN handling would let a SAVEPOINT escape the outer transaction on SQLite."""
    with database.engine.connect() as conn:
        outer = conn.begin()
        nested = conn.begin_nested()
        conn.execute(text("INSERT INTO app_flags (name, value, updated_at) VALUES ('x', '1', '2025-01-01')"))
        nested.commit()
        outer.rollback()
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(AppFlag)) == 0


def test_session_fixture_keeps_commits_inside_the_test(session: Any, database: Database) -> None:
    session.add(AppFlag(name="only-in-this-test", value="1"))
    session.commit()  # releases the fixture's SAVEPOINT only
    assert session.get(AppFlag, "only-in-this-test") is not None
    with database.session() as other:  # another connection: the outer transaction is not committed
        assert other.get(AppFlag, "only-in-this-test") is None


def test_sqlite_readers_do_not_wait_for_a_writer(sqlite_database: Database) -> None:
    with sqlite_database.begin() as session:
        session.add(AppFlag(name="before", value="1"))
    with sqlite_database.begin() as writer:
        writer.add(AppFlag(name="uncommitted", value="1"))
        writer.flush()  # the write lock is held from here to the end of the block
        with sqlite_database.session() as reader:  # WAL: reads the last commit, no "database is locked"
            assert reader.scalars(select(AppFlag.name)).all() == ["before"]


def test_sqlite_second_writer_waits_instead_of_failing(sqlite_database: Database) -> None:
    started, errors = threading.Event(), []

    def second_writer() -> None:
        started.set()
        try:
            with sqlite_database.begin() as session:
                session.add(AppFlag(name="second", value="2"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with sqlite_database.begin() as session:
        session.add(AppFlag(name="first", value="1"))
        session.flush()
        thread = threading.Thread(target=second_writer)
        thread.start()
        started.wait()
        thread.join(0.3)  # give it time to hit the lock; it must wait, not fail
    thread.join()
    assert errors == []
    with sqlite_database.session() as session:
        assert sorted(session.scalars(select(AppFlag.name))) == ["first", "second"]


def test_in_memory_sqlite_is_one_shared_database() -> None:
    database = Database("sqlite://")
    database.upgrade()
    with database.begin() as session:
        session.add(AppFlag(name="mem", value="1"))
    with database.session() as session:
        assert session.get(AppFlag, "mem") is not None
    database.dispose()


def test_as_utc() -> None:
    naive = datetime(2025, 1, 2, 3, 4, 5)
    assert as_utc(naive) == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert as_utc(None) is None
    aware = datetime(2025, 1, 2, tzinfo=UTC)
    assert as_utc(aware) is aware
