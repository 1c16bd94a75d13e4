"""AppTest harness: an isolated app per test, users, logging in through the real form, opening pages.

Use the ``crm_app`` fixture; the helpers live in ``app_harness.py``::

    def test_push_page(crm_app: AppHarness) -> None:
        at = crm_app.as_admin()                 # new AppTest, logged in through the real login form
        crm_app.open(at, "push")                # at.switch_page("views/push.py").run()
        assert at.title[0].value == "Push"
        assert not at.exception

    def test_as_analyst(crm_app: AppHarness) -> None:
        at = crm_app.as_analyst()               # an analyst named "analyst" (created on first use)
        ...

    crm_app.add_user("bob", "admin", display_name="Bob")  # any user; every one has PASSWORD
    crm_app.login(at, "bob")                               # fills and submits the login form of ``at``
    crm_app.logout(at)                                     # clicks the sidebar's Log out
    crm_app.db                                             # the same database, to arrange or inspect rows

What each test gets:

* a new SQLite database in ``tmp_path`` (``DATABASE_URL``), migrated with the demo campaigns loaded, as
  the app builds it; fixed ``CRM_SECRET_KEY`` / ``CRM_COOKIE_KEY``; the key files pointed into
  ``tmp_path`` too, so nothing is ever written to the repository's ``data/``;
* no other setting from the developer's shell or ``.streamlit/secrets.toml`` (``at.secrets`` is set, so
  the real file is not read);
* cheap bcrypt (4 rounds), so a login costs milliseconds;
* full exception messages in ``at.exception`` (``.streamlit/config.toml`` hides them from users);
* the app's cached context dropped afterwards (``ui.services.clear``).

Login under AppTest drives the real form: streamlit-authenticator 0.4.2 checks the password and sets its
session keys, exactly as in the browser. Only its cookie (a custom component) does nothing here; the
browser tests in ``tests/e2e`` cover it.

Pages are reached with ``AppTest.switch_page`` (a page must be registered by the previous run, so a
logged-out or analyst session raises ValueError for pages it does not have).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from app_harness import AppHarness, isolated_app


@pytest.fixture
def crm_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppHarness]:
    """An isolated CRM Push for AppTest (see the module docstring)."""
    with isolated_app(tmp_path, monkeypatch) as harness:
        yield harness
