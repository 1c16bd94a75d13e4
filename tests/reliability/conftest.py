"""Fixtures of the reliability tests: the service layer over a real database, with the process-wide
in-process sandboxes (which Sandbox connections use) reset around every test.

* ``fast_retries``: installs :class:`reliability_support.FastRetry` as ``crm.http.RetryPolicy`` for the
  test, so the adapters ``service.adapters.build_adapter`` makes retry exactly as in production, with
  millisecond back-offs. (The service takes no retry policy: see docs/reliability.md.)
* ``logical_calls``: counts ``ApiClient.request`` calls (one per logical API call, however many HTTP
  attempts it took), so a case can report its retries as ``api_calls - logical calls``.
* ``make_ctx(database, **settings)``: an AppContext over ``sqlite_database`` or ``pg_database``.
* ``pg_database``: the PostgreSQL database of the session (skips without a server, fails on CI).
* ``tap(app)``: a :class:`reliability_support.SandboxTap` on ``app``, removed after the test.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from reliability_support import FastRetry, SandboxTap

import crm.http
from crm import sandbox
from crm.governor import forget_governors
from crm.sandbox.core import SandboxApp
from data.crypto import SecretBox
from data.db import Database
from service.context import AppContext
from service.settings import Settings

SECRET_KEY = Fernet.generate_key().decode()
COOKIE_KEY = "cookie-key-for-reliability-tests-0123456789"


@pytest.fixture(autouse=True)
def _fresh_shared_sandboxes() -> Iterator[None]:
    apps = [sandbox.shared(vendor) for vendor in sandbox.VENDORS]
    options = [app.options for app in apps]
    forget_governors()  # no rate window carried over from another test
    for app in apps:
        app.reset()
    yield
    for app, original in zip(apps, options, strict=True):
        app.options = original
        app.reset()
    forget_governors()


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crm.http, "RetryPolicy", FastRetry)


class CallCounter:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()


@pytest.fixture
def logical_calls(monkeypatch: pytest.MonkeyPatch) -> CallCounter:
    counter = CallCounter()
    original = crm.http.ApiClient.request

    def counted(self: crm.http.ApiClient, *args: Any, **kwargs: Any) -> Any:
        with counter.lock:
            counter.count += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(crm.http.ApiClient, "request", counted)
    return counter


@pytest.fixture
def make_ctx() -> Callable[..., AppContext]:
    def build(database: Database, **settings: Any) -> AppContext:
        url = database.url.render_as_string(hide_password=False)
        config = Settings(database_url=url, secret_key=SECRET_KEY, cookie_key=COOKIE_KEY, **settings)
        return AppContext(settings=config, db=database, box=SecretBox(SECRET_KEY), cookie_key=COOKIE_KEY)

    return build


@pytest.fixture
def pg_database(pg_url: str, _migrated: Any) -> Iterator[Database]:
    """The session's migrated PostgreSQL database, emptied after the test."""
    yield _migrated.get(pg_url)
    _migrated.clean(pg_url)


@pytest.fixture
def tap() -> Iterator[Callable[[SandboxApp], SandboxTap]]:
    installed: list[SandboxTap] = []

    def install(app: SandboxApp) -> SandboxTap:
        installed.append(SandboxTap(app).install())
        return installed[-1]

    yield install
    for one in reversed(installed):
        one.uninstall()
