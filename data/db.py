"""The database: an engine from ``DATABASE_URL`` (SQLite file by default, PostgreSQL for teams), sessions
and Alembic migrations run from code.

SQLite needs care because a background push thread writes while pages read: every connection gets WAL
(readers never block the writer), a busy timeout (writers queue instead of failing) and foreign keys.
SQLAlchemy, not the ``sqlite3`` driver, emits BEGIN, so SAVEPOINTs and transactional DDL behave as on
PostgreSQL; ``Database.begin()`` uses ``BEGIN IMMEDIATE`` there, so a write transaction takes the write
lock up front and cannot fail halfway with "database is locked" after reading a stale snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, Table, create_engine, event, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.dml import Insert

DATA_DIR = Path(__file__).resolve().parent
MIGRATIONS_DIR = DATA_DIR / "migrations"
DEFAULT_SQLITE_PATH = DATA_DIR / "crm.db"  # git-ignored
DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_SQLITE_PATH}"
SQLITE_BUSY_TIMEOUT_MS = 30_000  # a push batch commits in well under a second; pages wait, not fail
# Any constant works: it only has to be the same in every process that migrates this database.
MIGRATION_LOCK_ID = 0x43524D50  # "CRMP"


def normalize_url(url: str) -> str:
    """Heroku-style ``postgres://`` and plain ``postgresql://`` URLs select psycopg 3, the driver we ship."""
    url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def resolve_database_url(env: Mapping[str, str], secrets: Mapping[str, Any] | None = None) -> str:
    """``DATABASE_URL`` from the environment, else from the UI's ``st.secrets``, else the embedded default.

    The environment wins so that the CLI and a deployment can override a checked-in secrets file.
    """
    url = env.get("DATABASE_URL") or ""
    if not url.strip() and secrets is not None:
        try:
            url = str(secrets.get("DATABASE_URL") or "")
        except (FileNotFoundError, KeyError):  # st.secrets raises when no secrets.toml exists
            url = ""
    return normalize_url(url) if url.strip() else DEFAULT_DATABASE_URL


def redacted_url(url: str | URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes (we only ever store UTC); make them comparable with aware ones."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class Database:
    """One engine and its session factories. Create one per process (the UI caches it)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(normalize_url(url))
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.is_embedded_default = str(self.url) == DEFAULT_DATABASE_URL
        self.engine = self._build_engine(echo)
        # Writes on SQLite take the write lock at BEGIN; elsewhere this is the same engine.
        self._write_engine = (
            self.engine.execution_options(sqlite_begin="IMMEDIATE") if self.is_sqlite else self.engine
        )
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessionmaker = sessionmaker(self._write_engine, expire_on_commit=False)

    def _build_engine(self, echo: bool) -> Engine:
        if not self.is_sqlite:
            return create_engine(self.url, echo=echo, pool_pre_ping=True)
        database = self.url.database or ""
        in_memory = database in ("", ":memory:") or "mode=memory" in database
        if not in_memory:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"poolclass": StaticPool} if in_memory else {}
        engine = create_engine(self.url, echo=echo, connect_args={"check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
        return engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for reading; commit yourself if you write (prefer :meth:`begin` for writes)."""
        with self.sessionmaker() as session:
            yield session

    @contextmanager
    def begin(self) -> Iterator[Session]:
        """A write transaction: committed on success, rolled back on an exception."""
        with self._write_sessionmaker.begin() as session:
            yield session

    def alembic_config(self) -> Config:
        """Alembic's configuration built in code: no alembic.ini, any working directory."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        return config

    def upgrade(self, revision: str = "head") -> None:
        """Migrate to ``revision``. Concurrent callers (app + CLI starting together) take turns."""
        self._run_migration(command.upgrade, revision)

    def downgrade(self, revision: str) -> None:
        """Migrate down to ``revision`` (``"base"`` drops everything): for tests and manual repair."""
        self._run_migration(command.downgrade, revision)

    def current_revision(self) -> str | None:
        """The revision the database is at (None when it was never migrated)."""
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    @contextmanager
    def migration_connection(self) -> Iterator[Connection]:
        """A write transaction that only one migrating process holds at a time (used by env.py too).

        On SQLite, foreign keys are off meanwhile: a batch migration rebuilds a table by copying it and
        dropping the old one, and with foreign keys on that DROP would cascade-delete the child rows
        (runs' records, say). Any violation left behind is checked before the commit.
        """
        with self._write_engine.connect() as conn:
            raw = conn.connection.driver_connection if self.is_sqlite else None
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=OFF")  # only outside a transaction does this take effect
            try:
                with conn.begin():
                    if not self.is_sqlite:
                        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
                    yield conn
                    if self.is_sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                        raise RuntimeError("The migration left rows that violate a foreign key")
            finally:
                if raw is not None:
                    raw.execute("PRAGMA foreign_keys=ON")

    def _run_migration(self, func: Callable[[Config, str], None], revision: str) -> None:
        config = self.alembic_config()
        with self.migration_connection() as conn:
            config.attributes["connection"] = conn
            func(config, revision)

    def dispose(self) -> None:
        """Close pooled connections (at shutdown, or in tests before dropping the database)."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({redacted_url(self.url)!r})"


def _configure_sqlite(engine: Engine) -> None:
    """Per-connection pragmas, and SQLAlchemy-controlled BEGIN (see the module docstring)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver must not emit its own BEGIN
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; a power cut loses at most a commit
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


def upsert(
    session: Session,
    table: Table,
    keys: Sequence[str],
    update_columns: Iterable[str],
) -> Insert:
    """``INSERT … ON CONFLICT (keys) DO UPDATE`` for the session's dialect (SQLite and PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table)
    else:  # pragma: no cover - only the two supported backends
        raise NotImplementedError(f"upsert is not supported on {dialect}")
    return stmt.on_conflict_do_update(
        index_elements=list(keys), set_={name: stmt.excluded[name] for name in update_columns}
    )
