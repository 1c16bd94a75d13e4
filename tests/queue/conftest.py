"""Fixtures for the queue tests: the real Redis and PostgreSQL, an HTTP HubSpot sandbox, worker processes.

* ``redis_url``: ``TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``). Without a server the tests
  skip, saying so, except under ``CI=true`` where that is a failure (as for PostgreSQL in the root
  conftest).
* ``queue_name`` / ``queue_url``: a queue name unique to the test (``?queue=`` on the URL); every Redis
  key holding it (RQ's queue, jobs, registries, workers; the rate governor's keys) is deleted after.
* ``pg_db``: the session's migrated PostgreSQL database, emptied after the test (worker processes
  commit to it too).
* ``hubspot_server``: a HubSpot sandbox served over HTTP on loopback from this process, so worker
  processes reach it through ``CRM_SANDBOX_HUBSPOT_URL`` and the test sees its records directly.
* ``queue_ctx``: this process's AppContext (the app's side) over all of the above, with a Sandbox
  HubSpot connection made through the real flow. ``workers``: start worker processes sharing it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from queue_support import COOKIE_KEY, SECRET_KEY, Workers, worker_env
from redis import Redis
from redis.exceptions import RedisError

from crm import sandbox
from crm.governor import forget_governors
from crm.sandbox.core import SandboxOptions
from crm.sandbox.server import SandboxHTTPServer, start_in_thread
from data.crypto import SecretBox
from data.db import Database
from service import connections
from service.auth import SYSTEM
from service.context import AppContext
from service.settings import Settings

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL") or DEFAULT_TEST_REDIS_URL
    client = Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except RedisError as exc:
        reason = f"Redis at {url} is unreachable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the queue tests must run)", pytrace=False)
        pytest.skip(reason)
    finally:
        client.close()
    return url


@pytest.fixture
def redis_conn(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def queue_name(redis_conn: Redis) -> Iterator[str]:
    name = f"crm-test-{uuid.uuid4().hex[:12]}"
    yield name
    keys = list(redis_conn.scan_iter(match=f"*{name}*", count=1000))
    if keys:
        redis_conn.delete(*keys)
    for registry in ("rq:queues", "rq:workers"):
        members = [m for m in redis_conn.smembers(registry) if name.encode() in m]
        if members:
            redis_conn.srem(registry, *members)
    forget_governors()


@pytest.fixture
def queue_url(redis_url: str, queue_name: str) -> str:
    return f"{redis_url}?queue={queue_name}"


@pytest.fixture
def pg_db(pg_url: str, _migrated: Any) -> Iterator[Database]:
    database: Database = _migrated.get(pg_url)
    yield database
    _migrated.dirty.add(pg_url)  # other processes committed: empty every table whatever this one did
    _migrated.clean(pg_url)


@pytest.fixture
def hubspot_server() -> Iterator[SandboxHTTPServer]:
    """A HubSpot sandbox of its own for the test (``server.app.configure(...)`` sets limits)."""
    server = start_in_thread(sandbox.create("hubspot", SandboxOptions()))
    yield server
    server.shutdown()
    server.server_close()


def make_ctx(database: Database, queue_url: str, sandbox_url: str) -> AppContext:
    url = database.url.render_as_string(hide_password=False)
    settings = Settings(
        database_url=url,
        secret_key=SECRET_KEY,
        cookie_key=COOKIE_KEY,
        queue_url=queue_url,
        sandbox_hubspot_url=sandbox_url,
        concurrency=1,
    )
    return AppContext(settings=settings, db=database, box=SecretBox(SECRET_KEY), cookie_key=COOKIE_KEY)


@pytest.fixture
def queue_ctx(pg_db: Database, queue_url: str, hubspot_server: SandboxHTTPServer) -> AppContext:
    ctx = make_ctx(pg_db, queue_url, hubspot_server.base_url)
    assert connections.connect_sandbox(ctx, SYSTEM, "hubspot").ok
    return ctx


@pytest.fixture
def workers(queue_ctx: AppContext, tmp_path: Path) -> Iterator[Workers]:
    settings = queue_ctx.settings
    env = worker_env(
        database_url=settings.database_url,
        queue_url=settings.queue_url or "",
        sandbox_url=settings.sandbox_hubspot_url or "",
    )
    procs = Workers(env, tmp_path)
    yield procs
    procs.close()
