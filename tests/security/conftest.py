"""Fixtures of the security tests.

* ``canary_servers``: a HubSpot and a Salesforce sandbox served over HTTP on loopback for the session,
  each accepting only its recognisable fake token (``security_support.CANARIES``); emptied per test.
* ``secure_app``: an isolated CRM Push for AppTest (the harness of ``tests/app/app_harness.py``: its own
  SQLite file and keys, cheap bcrypt, no developer settings), with ``HUBSPOT_BASE_URL`` pointing at the
  HubSpot canary server; ``secure_ctx(app)``: an AppContext on the same database and keys, for arranging
  data through the service layer as the pages do.
* The process-wide in-process sandboxes (Sandbox connections) are reset around every test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from security_support import HUBSPOT_CANARY, SALESFORCE_CANARY

from crm import sandbox
from crm.sandbox.core import SandboxOptions
from crm.sandbox.server import SandboxHTTPServer, start_in_thread
from data.crypto import SecretBox
from service.context import AppContext
from service.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))  # the AppTest harness's helpers
from app_harness import AppHarness, isolated_app

TOKENS = {"hubspot": HUBSPOT_CANARY, "salesforce": SALESFORCE_CANARY}


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


@pytest.fixture(scope="session")
def _canary_servers() -> Iterator[dict[str, SandboxHTTPServer]]:
    servers = {
        vendor: start_in_thread(sandbox.create(vendor, SandboxOptions(token=token)))
        for vendor, token in TOKENS.items()
    }
    yield servers
    for server in servers.values():
        server.shutdown()
        server.server_close()


@pytest.fixture
def canary_servers(_canary_servers: dict[str, SandboxHTTPServer]) -> Iterator[dict[str, SandboxHTTPServer]]:
    for vendor, server in _canary_servers.items():
        server.app.options = SandboxOptions(token=TOKENS[vendor])
        server.app.reset()
    yield _canary_servers
    for vendor, server in _canary_servers.items():
        server.app.options = SandboxOptions(token=TOKENS[vendor])
        server.app.reset()


@pytest.fixture
def secure_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, canary_servers: dict[str, SandboxHTTPServer]
) -> Iterator[AppHarness]:
    with isolated_app(tmp_path, monkeypatch, HUBSPOT_BASE_URL=canary_servers["hubspot"].base_url) as harness:
        yield harness


@pytest.fixture
def secure_ctx() -> Callable[[AppHarness], AppContext]:
    def build(app: AppHarness) -> AppContext:
        """The app's own context (settings from its environment), demo campaigns loaded once."""
        ctx = AppContext.build(Settings.load(), key_dir=Path(str(app.db.url.database)).parent)
        assert isinstance(ctx.box, SecretBox)
        return ctx

    return build
