"""Helpers for the Push page's AppTests (a module of helpers and fixtures, no tests of its own).

Import what a test needs: ``from test_app_push_support import push_page, …``; each module wraps
:func:`fresh_sandboxes` in its own autouse ``sandboxes`` fixture. The page's
Sandbox connections use the process-wide in-process emulators (``crm.sandbox.shared``), which AppTest's
script thread shares with the test, so a test arranges and inspects CRM records directly.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from app_harness import AppHarness, texts
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from crm import sandbox
from crm.http import StaticToken
from crm.hubspot import HubSpotAdapter
from crm.model import FieldDef
from crm.salesforce import SalesforceAdapter
from crm.sandbox.core import Request, Response
from data import runs as store
from data.crypto import SecretBox
from data.leads import list_campaigns
from data.models import ACTIVE_RUN_STATES, PushRecord, PushRun
from service.auth import SYSTEM
from service.connections import connect_sandbox
from service.context import AppContext
from service.settings import Settings

NA_SAAS = "Demo: North America SaaS decision-makers"  # 102 leads; Salesforce Lead refuses 2 (required)
FINTECH = "Demo: Fintech webinar attendees"  # 88 leads, one with an invalid email
DACH = "Demo: DACH manufacturing trade-fair leads"  # 85 leads
RUN_WAIT_SECONDS = 60  # an upper bound to give up after, not a measurement


def fresh_sandboxes() -> Iterator[dict[str, sandbox.SandboxApp]]:
    """The shared emulators, emptied (options too) before and after the test: the body of each test
    module's autouse ``sandboxes`` fixture."""
    apps = {vendor: sandbox.shared(vendor) for vendor in sandbox.VENDORS}
    originals = {vendor: app.options for vendor, app in apps.items()}
    for app in apps.values():
        app.reset()
    yield apps
    for vendor, app in apps.items():
        app.options = originals[vendor]
        app.reset()


def crm(vendor: str) -> sandbox.SandboxApp:
    """The emulator behind the app's Sandbox connection to ``vendor``."""
    return sandbox.shared(vendor)


def crm_fields(app: sandbox.SandboxApp, object_name: str = "Lead") -> list[FieldDef]:
    """The fields the emulator describes now (as the CRM's admin would see them)."""
    tokens = StaticToken(app.options.token)
    transport = sandbox.SandboxTransport(app)
    adapter: HubSpotAdapter | SalesforceAdapter = (
        HubSpotAdapter(tokens, base_url=app.base_url, transport=transport)
        if app.vendor == "hubspot"
        else SalesforceAdapter(tokens, app.base_url, object_name=object_name, transport=transport)
    )
    try:
        return adapter.fields()
    finally:
        adapter.close()


def app_ctx(crm_app: AppHarness) -> AppContext:
    """A context on the harness's database with the app's keys (to arrange connections and read runs)."""
    settings = Settings.load()
    return AppContext(
        settings=settings,
        db=crm_app.db,
        box=SecretBox(crm_app.env["CRM_SECRET_KEY"]),
        cookie_key=crm_app.env["CRM_COOKIE_KEY"],
    )


def connect(crm_app: AppHarness, *providers: str) -> None:
    for provider in providers:
        result = connect_sandbox(app_ctx(crm_app), SYSTEM, provider)
        assert result.ok, result.message


def campaign_id(crm_app: AppHarness, name: str) -> int:
    with crm_app.db.session() as session:
        return next(c.id for c in list_campaigns(session) if c.name == name)


def push_page(
    crm_app: AppHarness,
    *,
    campaign: str = NA_SAAS,
    provider: str = "hubspot",
    analyst: bool = False,
    at: AppTest | None = None,
) -> AppTest:
    """A logged-in session on the Push page with ``campaign`` and ``provider`` picked."""
    at = at or (crm_app.as_analyst() if analyst else crm_app.as_admin())
    crm_app.open(at, "push")
    if at.selectbox(key="push_campaign").value != campaign:
        at.selectbox(key="push_campaign").select(campaign).run()
    if at.selectbox(key="push_provider").value != provider:
        at.selectbox(key="push_provider").select(provider).run()
    return at


def editor(at: AppTest) -> Any:
    """The lead table (a keyed ``st.data_editor``)."""
    found = [df for df in at.dataframe if df.key and df.key.startswith("push_editor_")]
    assert len(found) == 1, [df.key for df in at.dataframe]
    return found[0]


def table(at: AppTest) -> Any:
    """The lead table's current rows as a DataFrame (what the browser shows)."""
    return editor(at).value


def edit(at: AppTest, edited_rows: dict[int, dict[str, Any]]) -> AppTest:
    """Edit cells of the lead table by row position on the current page, as the browser reports it."""
    key = editor(at).key
    at.session_state[key] = {"edited_rows": edited_rows, "added_rows": [], "deleted_rows": []}
    return at.run()


def position(at: AppTest, email: str) -> int:
    """The row position (on the current page) of the lead with ``email``."""
    matches = (table(at)["email"] == email).to_numpy().nonzero()[0]
    assert len(matches) == 1, f"{email} is shown {len(matches)} times"
    return int(matches[0])


def shown(at: AppTest) -> str:
    """Every text of the last run as a reader sees it: the markdown escapes of user data removed."""
    return re.sub(r"\\(.)", r"\1", texts(at))


def summary(at: AppTest) -> tuple[str, str]:
    """The run's summary card: its colour (green, amber or red) and headline."""
    colours = {"success": "green", "warning": "amber", "error": "red"}
    cards = [
        (colours[kind], str(alert.value))
        for kind in colours
        for alert in getattr(at, kind)
        if str(alert.value).startswith(("Push #", "Test run #"))
    ]
    assert len(cards) == 1, cards
    return cards[0]


def metric(at: AppTest, label: str) -> str:
    return next(str(m.value) for m in at.metric if m.label == label)


def click(at: AppTest, key: str) -> AppTest:
    return at.button(key=key).click().run()


def runs(crm_app: AppHarness) -> list[PushRun]:
    with crm_app.db.session() as session:
        return list(session.scalars(select(PushRun).order_by(PushRun.id)))


def wait_for_run(crm_app: AppHarness, run_id: int) -> PushRun:
    """Poll the database until the run has ended (the page does the same, every second)."""
    deadline = time.monotonic() + RUN_WAIT_SECONDS
    while True:
        with crm_app.db.session() as session:
            run = store.get_run(session, run_id)
        assert run is not None
        if run.state not in ACTIVE_RUN_STATES:
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run.state}"
        time.sleep(0.05)


def last_run(crm_app: AppHarness) -> PushRun:
    found = runs(crm_app)
    assert found, "no run was started"
    return wait_for_run(crm_app, found[-1].id)


def records(crm_app: AppHarness, run_id: int) -> list[PushRecord]:
    with crm_app.db.session() as session:
        stmt = select(PushRecord).where(PushRecord.run_id == run_id).order_by(PushRecord.row_index)
        return list(session.scalars(stmt))


# Sandbox routes that change records (the rest only read), as named by the emulators.
WRITE_ROUTES = frozenset(
    {
        "contacts.batch_create", "contacts.batch_update", "contacts.batch_upsert", "contacts.create",
        "contacts.update", "collections.create", "collections.update", "collections.upsert", "create",
        "update", "upsert",
    }
)  # fmt: skip


class HeldWrites:
    """Holds every write request to a sandbox until :meth:`release`, so a push stays mid-way while a
    test looks at the page (no sleeping: the test decides when it may go on)."""

    def __init__(self, app: sandbox.SandboxApp) -> None:
        self.app = app
        self.gate = threading.Event()
        self.waiting = threading.Event()
        self._original: Callable[[Request], Response] = app.handle

    def __enter__(self) -> HeldWrites:
        self.app.handle = self._handle  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.app.handle = self._original  # type: ignore[method-assign]

    def release(self) -> None:
        self.gate.set()

    def _handle(self, request: Request) -> Response:
        route = self.app.match(request) if not request.path.startswith("/__sandbox/") else None
        if route is not None and route.name in WRITE_ROUTES:
            self.waiting.set()
            self.gate.wait(RUN_WAIT_SECONDS)
        return self._original(request)
