"""Helpers for the Providers page tests (no tests here): the sandboxes behind the page, and what a page shows.

How the page's non-sandbox connections reach a sandbox: both emulators are served over real HTTP on
loopback (``crm.sandbox.server.start_in_thread``), and the app's settings point at them exactly as they
would at the vendors (only the host differs): ``HUBSPOT_BASE_URL`` and ``HUBSPOT_APP_URL`` (API and consent
page), ``SALESFORCE_LOGIN_HOST`` (authorize, token, revoke), and the instance or My Domain URL typed into
the Salesforce forms. The OAuth client is the emulators' demo app (``sandbox-client-id``/``-secret``).
"Use the sandbox" connections go to the in-process shared emulators, reset around each test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from app_harness import AppHarness, texts
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from crm import sandbox
from crm.sandbox.core import SandboxOptions
from crm.sandbox.server import SandboxHTTPServer, start_in_thread
from data.models import Connection
from service.auth import Actor
from service.context import AppContext
from service.settings import Settings

PROVIDERS = ("hubspot", "salesforce")
CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"
SANDBOX_TOKEN = "sandbox-token"
REDIRECT_URI = "http://localhost:8501/"  # the app's own URL: the default page, Providers
Servers = dict[str, SandboxHTTPServer]


@contextmanager
def serving(crm_app: AppHarness, *, oauth: bool = True, **options: Any) -> Iterator[Servers]:
    """Both emulators over HTTP, the app's settings pointed at them; the shared in-process ones reset."""
    shared = [sandbox.shared(vendor) for vendor in PROVIDERS]
    for app in shared:
        app.reset()
    settings = SandboxOptions(**options)
    servers = {vendor: start_in_thread(sandbox.create(vendor, settings)) for vendor in PROVIDERS}
    env = {
        "HUBSPOT_BASE_URL": servers["hubspot"].base_url,
        "HUBSPOT_APP_URL": servers["hubspot"].base_url,
        "SALESFORCE_LOGIN_HOST": servers["salesforce"].base_url,
    }
    if oauth:
        for prefix in ("HUBSPOT", "SALESFORCE"):
            env |= {
                f"{prefix}_CLIENT_ID": CLIENT_ID,
                f"{prefix}_CLIENT_SECRET": CLIENT_SECRET,
                f"{prefix}_REDIRECT_URI": REDIRECT_URI,
            }
    for name, value in env.items():
        crm_app.monkeypatch.setenv(name, value)
    try:
        yield servers
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()
        for app in shared:
            app.reset()


def context() -> AppContext:
    """An AppContext on the test's database and keys (the environment the harness set), outside any page."""
    return AppContext.build(Settings.load(), load_demo=False)


def providers_page(crm_app: AppHarness, *, analyst: bool = False) -> AppTest:
    at = crm_app.as_analyst() if analyst else crm_app.as_admin()
    return crm_app.open(at, "providers")


def shown(at: AppTest) -> str:
    """Every text of the page as a reader sees it (bold markers, code fences and escapes removed)."""
    return re.sub(r"\\(.)", r"\1", re.sub(r"(?<!\\)(\*\*|`)", "", texts(at)))


def page_source(at: AppTest) -> str:
    """Everything the last run sent to the browser: every element's and block's message, widget values
    and defaults, labels, markdown, HTML and link URLs included."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        value = getattr(node, "value", None)
        if value is not None and not callable(value):
            parts.append(str(value))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.main)
    walk(at.sidebar)
    return "\n".join(parts)


def session_values(at: AppTest) -> str:
    return "\n".join(f"{name}={value!r}" for name, value in at.session_state.items())


def saved(crm_app: AppHarness) -> dict[str, Connection]:
    """The saved connections by name, read from the database."""
    with crm_app.db.session() as session:
        return {c.name: c for c in session.scalars(select(Connection))}


def authorize(url: str) -> tuple[str, str]:
    """Follow an authorize URL as the browser would, up to the redirect back to the app: (code, state)."""
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    query = parse_qs(urlsplit(location).query)
    assert "error" not in query, query
    return query["code"][0], query["state"][0]


def oauth_link(at: AppTest, provider: str) -> str:
    return str(at.link_button(key=f"providers_oauth_{provider}").proto.url)


def click(at: AppTest, key: str) -> AppTest:
    return at.button(key=key).click().run()


ADMIN = Actor("admin", "admin")
ANALYST = Actor("analyst", "analyst")
