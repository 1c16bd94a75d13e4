"""Alembic migrations on both backends: they build exactly the models' schema and keep data on upgrade."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from data.db import Database
from data.models import Base

REPO = Path(__file__).resolve().parents[2]
NOW = "2025-01-01 00:00:00"


def _differences(database: Database) -> list[object]:
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def _tables(database: Database) -> set[str]:
    return set(inspect(database.engine).get_table_names()) - {"alembic_version"}


def _insert_run(database: Database, state: str, lock_key: str | None = "hubspot:contacts:campaign:1") -> None:
    with database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO push_runs (created_by, started_at, provider, connection_name, object_name,"
                " source_label, mode, dry_run, filters, mapping, options, total, created, updated, skipped,"
                " failed, api_calls, seconds, state, lock_key, cancel_requested, api_usage) VALUES"
                " ('t', :now, 'hubspot', 'c', 'contacts', 'Spring', 'upsert', false, '{}', '{}', '{}',"
                " 0, 0, 0, 0, 0, 0, 0, :state, :lock, false, '{}')"
            ),
            {"now": NOW, "state": state, "lock": lock_key},
        )


@pytest.fixture
def fresh_database(fresh_db_url: str) -> Database:
    database = Database(fresh_db_url)
    yield database
    database.dispose()


def test_single_head() -> None:
    script = ScriptDirectory.from_config(Database("sqlite://").alembic_config())
    assert len(script.get_heads()) == 1


def test_upgrade_builds_exactly_the_models(
    fresh_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no alembic.ini here: the migrations must not need one
    assert fresh_database.current_revision() is None
    fresh_database.upgrade()
    assert fresh_database.current_revision() == "0001"
    assert _tables(fresh_database) == set(Base.metadata.tables)
    assert _differences(fresh_database) == []


def test_partial_lock_index_and_checks_are_enforced(fresh_database: Database) -> None:
    fresh_database.upgrade()
    _insert_run(fresh_database, "completed")
    _insert_run(fresh_database, "queued")  # a finished run does not hold the lock
    _insert_run(fresh_database, "queued", lock_key=None)  # dry runs have no lock key
    _insert_run(fresh_database, "queued", lock_key=None)
    with pytest.raises(IntegrityError):
        _insert_run(fresh_database, "running")
    with pytest.raises(IntegrityError):
        _insert_run(fresh_database, "exploded", lock_key="other")
    with pytest.raises(IntegrityError), fresh_database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (username, display_name, password_hash, role, created_at)"
                " VALUES ('x', 'x', 'x', 'root', :now)"
            ),
            {"now": NOW},
        )


def test_upgrading_again_keeps_the_data(fresh_database: Database, fresh_db_url: str) -> None:
    """A later release starts on an existing database: upgrade() must be a no-op for the data."""
    fresh_database.upgrade()
    _insert_run(fresh_database, "completed")
    fresh_database.dispose()
    later = Database(fresh_db_url)
    later.upgrade()
    later.upgrade()
    with later.engine.connect() as conn:
        assert conn.execute(text("SELECT source_label, state FROM push_runs")).all() == [
            ("Spring", "completed")
        ]
    later.dispose()


def test_downgrade_to_base_then_upgrade(fresh_database: Database) -> None:
    fresh_database.upgrade()
    fresh_database.downgrade("base")
    assert _tables(fresh_database) == set()
    assert fresh_database.current_revision() is None
    fresh_database.upgrade()
    assert _differences(fresh_database) == []


def test_alembic_command_line_uses_database_url(tmp_path: Path) -> None:
    """``alembic upgrade head`` by hand, from the repo root, migrates the database named by DATABASE_URL."""
    target = tmp_path / "by-hand.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{target}"}
    alembic = Path(sys.executable).with_name("alembic")
    subprocess.run([str(alembic), "upgrade", "head"], cwd=REPO, env=env, check=True, capture_output=True)
    database = Database(f"sqlite:///{target}")
    assert database.current_revision() == "0001"
    assert _differences(database) == []
    database.dispose()


def test_sqlite_table_rebuild_keeps_child_rows(tmp_path: Path) -> None:
    """A later batch migration rebuilds push_runs (copy, drop, rename): its records must survive."""
    database = Database(f"sqlite:///{tmp_path / 'rebuild.db'}")
    database.upgrade()
    _insert_run(database, "completed")
    with database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO push_records (run_id, row_index, action, row, payload)"
                " VALUES (1, 0, 'created', '{}', '{}')"
            )
        )
    with database.migration_connection() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
        with Operations(MigrationContext.configure(conn)).batch_alter_table("push_runs", recreate="always"):
            pass
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM push_records")).scalar() == 1
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    database.dispose()
