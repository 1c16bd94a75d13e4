"""Browser tests: the real app (``streamlit run app.py``) driven by Debian's chromium through Playwright.

Fixtures (helpers are in ``e2e_harness.py``)::

    @pytest.mark.e2e
    def test_push_page(page: Page, app_server: AppServer) -> None:
        open_page(page, "Push")                 # page: logged in as the admin, on the app's first page
        screenshot(page, "push")                # -> docs/screenshots/push.png
        ...

* ``app_server`` (one per test session): the app on a free port of 127.0.0.1, with its own SQLite
  database (demo campaigns, one admin ``ADMIN``/``PASSWORD`` named ``ADMIN_NAME``) and keys in a temp
  directory, loaded once so its first run is over; ``.base_url``, ``.url(path)``, ``.env``,
  ``.database_url``, ``.log`` (the server's output). Tests share it: use new names for what you create.
* ``page``: a fresh browser context (no cookies) on ``app_server``, logged in through the login form.
* ``browser``: the session's chromium; ``browser.new_context(...)`` for a second user or a clean slate.
* ``fresh_app_server``: a new server on an EMPTY database (first-admin form), for this test only; its
  first request is also the server's first run, which ``app_server`` cannot offer.

Without ``/usr/bin/chromium`` these tests skip with the reason, except under ``CI=true``, where they fail.
Never ``playwright install``: ``apt-get install -y chromium`` provides the browser.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    UI_TIMEOUT_MS,
    VIEWPORT,
    AppServer,
    login,
    running_app,
    warm_up,
)
from playwright.sync_api import Browser, Page, expect, sync_playwright

expect.set_options(timeout=UI_TIMEOUT_MS)  # Streamlit reruns take a moment on a loaded machine


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: apt-get install -y chromium (never `playwright install`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI=true: browser tests must run", pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[AppServer]:
    with running_app(tmp_path_factory.mktemp("e2e_app"), with_admin=True) as server:
        warm_up(browser, server)
        yield server


@pytest.fixture
def fresh_app_server(tmp_path: Path) -> Iterator[AppServer]:
    with running_app(tmp_path, with_admin=False) as server:
        yield server


@pytest.fixture
def page(browser: Browser, app_server: AppServer) -> Iterator[Page]:
    context = browser.new_context(base_url=app_server.base_url, viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(UI_TIMEOUT_MS)
    tab = context.new_page()
    tab.goto(app_server.url("/"))
    login(tab)
    yield tab
    context.close()
