"""Fixtures for the service layer: an AppContext on both databases and the sandboxes behind it.

* ``app_ctx``: an :class:`AppContext` over the shared ``database`` fixture (``[sqlite]`` and
  ``[postgresql]``); every table is emptied after the test. ``demo_ctx``: the same with the demo
  campaigns loaded. ``sqlite_ctx`` / ``sqlite_demo_ctx``: SQLite only, where the backend does not matter.
* The process-wide in-process sandboxes (``crm.sandbox.shared``), which Sandbox connections use, are
  reset before and after every test here (options included), so no test sees another's records.
* ``http_sandbox(vendor, **options)``: a sandbox served over real HTTP on loopback (one server per vendor
  for the session, reset per test), for code paths that build their own httpx clients (tokens, OAuth).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from service_support import SentEmails, make_ctx

from crm import sandbox
from crm.sandbox.core import SandboxApp, SandboxOptions
from crm.sandbox.server import SandboxHTTPServer, start_in_thread
from data.db import Database
from service.context import AppContext


@pytest.fixture(autouse=True)
def _fresh_shared_sandboxes() -> Iterator[None]:
    apps = [sandbox.shared(vendor) for vendor in sandbox.VENDORS]
    options = [app.options for app in apps]
    for app in apps:
        app.reset()
    yield
    for app, original in zip(apps, options, strict=True):
        app.options = original
        app.reset()


@pytest.fixture
def app_ctx(database: Database) -> AppContext:
    return make_ctx(database, demo=False)


@pytest.fixture
def demo_ctx(database: Database) -> AppContext:
    return make_ctx(database)


@pytest.fixture
def sqlite_ctx(sqlite_database: Database) -> AppContext:
    return make_ctx(sqlite_database, demo=False)


@pytest.fixture
def sqlite_demo_ctx(sqlite_database: Database) -> AppContext:
    return make_ctx(sqlite_database)


@pytest.fixture
def hubspot_app() -> SandboxApp:
    return sandbox.shared("hubspot")


@pytest.fixture
def salesforce_app() -> SandboxApp:
    return sandbox.shared("salesforce")


@pytest.fixture(scope="session")
def _http_servers() -> Iterator[dict[str, SandboxHTTPServer]]:
    servers = {vendor: start_in_thread(sandbox.create(vendor)) for vendor in sandbox.VENDORS}
    yield servers
    for server in servers.values():
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_sandbox(_http_servers: dict[str, SandboxHTTPServer]) -> Iterator[Callable[..., SandboxHTTPServer]]:
    """``http_sandbox(vendor, **options)``: the session's HTTP server of ``vendor``, emptied and set to
    ``options`` (defaults otherwise) for this test."""
    used: list[SandboxHTTPServer] = []

    def start(vendor: str, **options: Any) -> SandboxHTTPServer:
        server = _http_servers[vendor]
        server.app.options = SandboxOptions(**options)
        server.app.reset()
        used.append(server)
        return server

    yield start
    for server in used:
        server.app.options = SandboxOptions()
        server.app.reset()


@pytest.fixture
def sent_emails() -> Iterator[Callable[..., SentEmails]]:
    """``sent_emails(app, block_after=None)``: count (and optionally hold) the app's write requests."""
    installed: list[SentEmails] = []

    def install(app: SandboxApp, **kwargs: Any) -> SentEmails:
        counter = SentEmails(app, **kwargs).install()
        installed.append(counter)
        return counter

    yield install
    for counter in reversed(installed):
        counter.uninstall()
