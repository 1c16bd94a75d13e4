"""Alembic environment for CRM Push.

Two ways in: ``Database.upgrade()`` hands over an open connection (``config.attributes["connection"]``),
and ``alembic upgrade head`` by hand (repo-root ``alembic.ini``) builds an engine from ``DATABASE_URL``
or the embedded default, exactly as the app would. SQLite gets ``render_as_batch`` because it cannot
ALTER most things in place; later revisions then work unchanged on both backends.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from data.db import Database, resolve_database_url
from data.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or resolve_database_url(os.environ)
    database = Database(url)
    try:
        with database.migration_connection() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        database.dispose()


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or resolve_database_url(os.environ)
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
