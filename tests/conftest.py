"""Shared fixtures: databases on both backends.

Pick the narrowest one that tests what you need:

* ``session``: a Session inside an outer transaction rolled back after the test. The fastest way to
  test data functions; ``session.commit()`` only releases a SAVEPOINT, so nothing outlives the test.
  Parametrized over SQLite and PostgreSQL (via ``database``).
* ``database``: a migrated :class:`data.db.Database` on both backends (ids ``[sqlite]`` and
  ``[postgresql]``). Use it for code that opens its own transactions (service code, threads); every
  table is emptied after the test. The schema is migrated once per backend per test session.
* ``sqlite_database``: the same, SQLite only, for fast tests that do not need both backends.
* ``fresh_db_url``: the URL of a brand-new EMPTY database per test (both backends), for migration tests.
* ``db_url`` / ``pg_url`` / ``sqlite_url``: URLs only (session scope; the databases behind them are
  shared by the whole test session, so do not drop or downgrade them — use ``fresh_db_url``).

PostgreSQL comes from ``TEST_DATABASE_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``);
each test session creates its own uniquely named databases on that server and drops them at the end, so
parallel runs (xdist workers, two developers) never collide. Without a server, PostgreSQL tests skip —
except when ``CI=true``, where a missing server is a failure, not a silent skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from data.db import Database, normalize_url
from data.models import Base

DEFAULT_TEST_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


class PostgresServer:
    """Creates and drops throwaway databases on the test server, through its maintenance database."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.engine = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        self.created: list[str] = []

    def create(self, prefix: str = "crm_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        for name in list(self.created):
            self.drop(self.url.set(database=name).render_as_string(hide_password=False))
        self.engine.dispose()


@pytest.fixture(scope="session")
def _pg_server() -> Iterator[PostgresServer]:
    url = make_url(normalize_url(os.environ.get("TEST_DATABASE_URL") or DEFAULT_TEST_DATABASE_URL))
    server = PostgresServer(url)
    try:
        with server.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        server.engine.dispose()
        reason = f"PostgreSQL at {url.render_as_string(hide_password=True)} is unreachable: {exc.orig}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)", pytrace=False)
        pytest.skip(reason)
    yield server
    server.close()


@pytest.fixture(scope="session")
def pg_url(_pg_server: PostgresServer) -> str:
    """A PostgreSQL database created for this test session (dropped at the end)."""
    return _pg_server.create()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file for this test session."""
    return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'crm.db'}"


@pytest.fixture(scope="session", params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> str:
    """The session's database URL on each backend (``[sqlite]``, ``[postgresql]``)."""
    return str(request.getfixturevalue(f"{'sqlite' if request.param == 'sqlite' else 'pg'}_url"))


@pytest.fixture(params=BACKENDS)
def fresh_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A new, empty, unmigrated database for this test only, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('fresh') / 'crm.db'}"
        return
    server: PostgresServer = request.getfixturevalue("_pg_server")
    url = server.create("crm_fresh")
    yield url
    server.drop(url)


class MigratedDatabases:
    """One migrated Database per URL for the whole session, and whether a test committed to it."""

    def __init__(self) -> None:
        self.databases: dict[str, Database] = {}
        self.dirty: set[str] = set()

    def get(self, url: str) -> Database:
        if url not in self.databases:
            database = Database(url)
            database.upgrade()
            # Any COMMIT may have left rows behind; tests that only roll back need no cleanup.
            event.listen(database.engine, "commit", lambda _conn: self.dirty.add(url))
            self.databases[url] = database
        return self.databases[url]

    def clean(self, url: str) -> None:
        """Empty every table (schema and alembic_version stay) if anything was committed."""
        if url in self.dirty:
            empty_all_tables(self.databases[url])
            self.dirty.discard(url)

    def dispose(self) -> None:
        for database in self.databases.values():
            database.dispose()


def empty_all_tables(database: Database) -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    with database.begin() as session:
        if database.is_sqlite:
            for table in tables:
                session.execute(table.delete())
        else:  # one statement, and ids start at 1 again
            names = ", ".join(table.name for table in tables)
            session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="session")
def _migrated() -> Iterator[MigratedDatabases]:
    migrated = MigratedDatabases()
    yield migrated
    migrated.dispose()


@pytest.fixture
def database(db_url: str, _migrated: MigratedDatabases) -> Iterator[Database]:
    """A migrated Database on each backend, emptied after the test.

    Emptying is triggered by COMMITs on its engine; a test writing in AUTOCOMMIT mode cleans up itself.
    """
    yield _migrated.get(db_url)
    _migrated.clean(db_url)


@pytest.fixture
def sqlite_database(sqlite_url: str, _migrated: MigratedDatabases) -> Iterator[Database]:
    """A migrated SQLite Database, emptied after the test."""
    yield _migrated.get(sqlite_url)
    _migrated.clean(sqlite_url)


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    """A Session in an outer transaction that is rolled back after the test, on each backend."""
    with database.engine.connect() as connection:
        outer = connection.begin()
        db_session = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield db_session
        finally:
            db_session.close()
            if outer.is_active:
                outer.rollback()
