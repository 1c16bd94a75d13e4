"""The AppTest harness behind the ``crm_app`` fixture (see ``conftest.py`` for how to use it).

A module of its own, with a name no other test directory uses, so test files can import its helpers
(``from app_harness import AppHarness, button, texts``) whatever else pytest has loaded as ``conftest``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.util import patch_config_options

import service.context
from data import users
from data.db import Database
from service.settings import KEYS
from ui import auth, services

APP = Path(__file__).resolve().parents[2] / "app.py"
PASSWORD = "correct horse battery"  # every user the harness creates has it
RUN_TIMEOUT = 30  # seconds per script run: generous for a loaded CI machine; tests do not time anything


def isolated_env(directory: Path) -> dict[str, str]:
    """The settings of an app that keeps everything in ``directory``."""
    return {
        "DATABASE_URL": f"sqlite:///{directory / 'crm.db'}",
        "CRM_SECRET_KEY": Fernet.generate_key().decode("ascii"),
        "CRM_COOKIE_KEY": secrets.token_urlsafe(32),
    }


@contextmanager
def isolated_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **extra_env: str) -> Iterator[AppHarness]:
    """The body of every AppTest fixture: no setting from the shell, everything kept in ``tmp_path``,
    a migrated database, cheap bcrypt, full exception details; the app's cache dropped afterwards."""
    for name in (*KEYS, "CRM_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    env = {**isolated_env(tmp_path), **extra_env}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(service.context, "SECRET_KEY_FILE", tmp_path / "secret.key")
    monkeypatch.setattr(service.context, "COOKIE_KEY_FILE", tmp_path / "cookie.key")
    monkeypatch.setattr(users, "BCRYPT_ROUNDS", 4)
    database = Database(env["DATABASE_URL"])
    database.upgrade()
    try:
        # config.toml shows users the exception type only; a failing test should show everything.
        with patch_config_options({"client.showErrorDetails": "full"}):
            yield AppHarness(env=env, db=database, monkeypatch=monkeypatch)
    finally:
        services.clear()
        database.dispose()


@dataclass
class AppHarness:
    env: dict[str, str]
    db: Database
    monkeypatch: pytest.MonkeyPatch

    def new(self) -> AppTest:
        """An AppTest of app.py that has not run yet."""
        at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
        at.secrets = {"crm_test_harness": "isolated"}  # non-empty: keeps the real secrets.toml out
        return at

    def add_user(
        self,
        username: str,
        role: str = "analyst",
        *,
        password: str = PASSWORD,
        display_name: str | None = None,
    ) -> str:
        with self.db.begin() as session:
            if users.get_user(session, username) is None:
                users.create_user(
                    session, username=username, password=password, role=role, display_name=display_name
                )
        return username

    def login(self, at: AppTest, username: str, password: str = PASSWORD) -> AppTest:
        """Fill and submit the login form of ``at`` (which must be showing it)."""
        fields = {field.label: field for field in at.text_input if field.form_id == auth.LOGIN_FORM_KEY}
        fields["Username"].input(username)
        fields["Password"].input(password)
        return button(at, auth.LOGIN_FIELDS["Login"]).click().run()

    def logged_in(self, username: str, role: str, display_name: str | None = None) -> AppTest:
        """A new AppTest logged in as ``username`` (created with ``role`` unless it exists)."""
        self.add_user(username, role, display_name=display_name)
        return self.login(self.new().run(), username)

    def as_admin(self, username: str = "admin") -> AppTest:
        return self.logged_in(username, "admin", display_name="Ada Admin")

    def as_analyst(self, username: str = "analyst") -> AppTest:
        return self.logged_in(username, "analyst", display_name="Andy Analyst")

    def open(self, at: AppTest, page: str) -> AppTest:
        """Switch ``at`` to ``views/<page>.py`` and run it."""
        return at.switch_page(f"views/{page}.py").run()

    def logout(self, at: AppTest) -> AppTest:
        return at.sidebar.button(key="app_logout").click().run()


def button(at: AppTest, label: str) -> Any:
    """The one button (form submit buttons included) labelled ``label``."""
    found = [candidate for candidate in at.button if candidate.label == label]
    assert len(found) == 1, f"expected one {label!r} button, found {[b.label for b in at.button]}"
    return found[0]


def texts(at: AppTest) -> str:
    """Every markdown, title, header, caption, alert and exception text of the last run, for asserts."""
    groups: list[Any] = [
        at.title, at.header, at.subheader, at.markdown, at.caption, at.success, at.info, at.warning, at.error,
        at.exception,
    ]  # fmt: skip
    return "\n".join(str(element.value) for group in groups for element in group)
