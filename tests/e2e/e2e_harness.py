"""The browser-test harness behind ``tests/e2e/conftest.py``: a real app server and Debian's chromium.

A module of its own (not ``conftest``) so test files can import its helpers by a name no other test
directory uses: ``from e2e_harness import ADMIN, PASSWORD, login, screenshot, settle``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from data import users
from data.db import Database
from service.settings import KEYS
from ui.auth import COOKIE_NAME

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; never `playwright install`
# The machine's network is closed: these keep chromium from waiting on services it cannot reach.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 900}
ADMIN = "admin"
ADMIN_NAME = "Ada Admin"
PASSWORD = "correct horse battery"
STARTUP_SECONDS = 60  # an upper bound to give up after, not a measurement
UI_TIMEOUT_MS = 15_000  # how long an expectation waits for the app to get there


@dataclass(frozen=True)
class AppServer:
    """A running ``streamlit run app.py``: its URL, its environment and where its output goes."""

    base_url: str
    env: dict[str, str]
    log: Path

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    def url(self, path: str = "/") -> str:
        return self.base_url + path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app_env(directory: Path) -> dict[str, str]:
    """This process's environment without any CRM Push setting, plus an app living in ``directory``."""
    env = {name: value for name, value in os.environ.items() if name not in KEYS}
    env.update(
        DATABASE_URL=f"sqlite:///{directory / 'crm.db'}",
        CRM_SECRET_KEY=Fernet.generate_key().decode("ascii"),
        CRM_COOKIE_KEY=secrets.token_urlsafe(32),
        HOME=str(directory),  # no ~/.streamlit of the developer's
    )
    return env


def seed_admin(database_url: str, username: str = ADMIN, display_name: str = ADMIN_NAME) -> None:
    """Migrate the database and add an admin (4 bcrypt rounds: the login stays fast)."""
    database = Database(database_url)
    rounds = users.BCRYPT_ROUNDS
    users.BCRYPT_ROUNDS = 4
    try:
        database.upgrade()
        with database.begin() as session:
            users.create_user(
                session, username=username, password=PASSWORD, role="admin", display_name=display_name
            )
    finally:
        users.BCRYPT_ROUNDS = rounds
        database.dispose()


@contextlib.contextmanager
def running_app(directory: Path, *, with_admin: bool) -> Iterator[AppServer]:
    """Start the app on a free port with its own database in ``directory``; stop it afterwards.

    ``with_admin=False`` leaves the database empty, so the browser meets the first-admin form.
    """
    env = app_env(directory)
    if with_admin:
        seed_admin(env["DATABASE_URL"])
    port = free_port()
    log = directory / "streamlit.log"
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
    server = AppServer(base_url=f"http://127.0.0.1:{port}", env=env, log=log)
    try:
        _wait_until_healthy(server, process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(server: AppServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n{server.log.read_text()}")
        try:
            with urllib.request.urlopen(server.url("/_stcore/health"), timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"streamlit did not answer /_stcore/health:\n{server.log.read_text()}")


def warm_up(browser: Browser, server: AppServer) -> None:
    """Load the app once, so its first (slower) run is over before a test starts."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(server.url("/"))
        expect(page.get_by_label("Username")).to_be_visible(timeout=UI_TIMEOUT_MS * 2)
        settle(page)
    finally:
        context.close()


def settle(page: Page) -> None:
    """Wait until the app's script run is over (Streamlit marks the root element while it runs)."""
    expect(page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')).to_be_attached(
        timeout=UI_TIMEOUT_MS
    )


def login(page: Page, username: str = ADMIN, password: str = PASSWORD) -> None:
    """Fill and submit the login form on ``page``; returns once the sidebar shows the Log out button."""
    expect(page.get_by_label("Username")).to_be_visible(timeout=UI_TIMEOUT_MS)
    settle(page)  # a rerun under way could replace the form while it is being filled in
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(logout_button(page)).to_be_visible(timeout=UI_TIMEOUT_MS)
    settle(page)


def logout_button(page: Page) -> Locator:
    return page.get_by_test_id("stSidebar").get_by_role("button", name="Log out")


def open_page(page: Page, title: str) -> None:
    """Click ``title`` in the sidebar navigation and wait for the page's heading."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    # While a run is under way the previous page's elements linger: wait for the run, then the heading.
    expect(page.get_by_role("heading", name=title, level=1).first).to_be_visible(timeout=UI_TIMEOUT_MS)
    settle(page)
    expect(page.get_by_role("heading", name=title, level=1)).to_have_count(1)


def auth_cookie(context: BrowserContext) -> str | None:
    """The login cookie's value in ``context``, if the app has set it."""
    return next((c["value"] for c in context.cookies() if c["name"] == COOKIE_NAME), None)


def wait_for_auth_cookie(context: BrowserContext, *, present: bool) -> None:
    """The cookie is written and deleted by an iframe after the run that renders it: wait for that."""
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    while (auth_cookie(context) is not None) != present:
        if time.monotonic() > deadline:
            raise AssertionError(f"the {COOKIE_NAME} cookie was never {'set' if present else 'deleted'}")
        time.sleep(0.1)


def screenshot(page: Page, name: str) -> Path:
    """Save ``docs/screenshots/<name>.png`` (the README's pictures) and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
