"""Helpers for the History page tests (no tests here): runs made through the service layer, and the page.

Runs are created and executed with ``service.runs`` on the harness's database, against the in-process
sandboxes (``crm.sandbox.shared``), which Sandbox connections use in this process: the app under AppTest
and its embedded job runner (threads of this process) see the same emulators. Jobs the page submits run
on those threads; tests wait for them by polling the database (:func:`wait_for`), never by sleeping a
fixed time.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from app_harness import AppHarness
from sqlalchemy import insert, select, update
from streamlit.testing.v1 import AppTest

from crm import sandbox
from crm.mapping import default_mapping
from crm.sandbox.core import Request, Response, SandboxApp
from data import runs as store
from data.leads import leads_frame, list_campaigns
from data.models import PushRecord, PushRun, utcnow
from service import connections, runs
from service.auth import Actor
from service.context import AppContext
from service.settings import Settings

ADMIN = Actor("admin", "admin")
OBJECTS = {"hubspot": "contacts", "salesforce": "Lead"}
NA_SAAS = "Demo: North America SaaS decision-makers"  # 102 leads; Salesforce refuses 2
DACH = "Demo: DACH manufacturing trade-fair leads"  # 85 leads
FINTECH = "Demo: Fintech webinar attendees"  # 88 leads, one with an invalid email
WAIT_SECONDS = 60  # an upper bound for a background job on a loaded machine, not a measurement
T = TypeVar("T")


@contextmanager
def fresh_sandboxes() -> Iterator[None]:
    """The process-wide sandboxes emptied before and after a test, their options restored after it."""
    apps = [sandbox.shared(vendor) for vendor in sandbox.VENDORS]
    options = [app.options for app in apps]
    for app in apps:
        app.reset()
    try:
        yield
    finally:
        for app, original in zip(apps, options, strict=True):
            app.options = original
            app.reset()


class HeldCalls:
    """Wraps a sandbox's ``handle``: calls to ``routes`` wait until :meth:`release`, so a test sees a job
    mid-way without sleeping; the emails of HubSpot write calls are counted on the way."""

    WRITES = ("contacts.batch_create", "contacts.batch_update", "contacts.batch_upsert")

    def __init__(self, app: SandboxApp, routes: tuple[str, ...]) -> None:
        self.app, self.routes, self.original = app, routes, app.handle
        self.gate, self.held = threading.Event(), threading.Event()
        self.emails: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __enter__(self) -> HeldCalls:
        self.app.handle = self._handle  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.app.handle = self.original  # type: ignore[method-assign]

    def release(self) -> None:
        self.gate.set()

    def _handle(self, request: Request) -> Response:
        route = self.app.match(request) if not request.path.startswith("/__sandbox/") else None
        name = route.name if route is not None else ""
        if name in self.WRITES:
            with self._lock:
                for item in json.loads(request.body or b"{}").get("inputs", []):
                    email = item.get("properties", {}).get("email") or item.get("id")
                    self.emails[str(email).lower()] += 1
        if name in self.routes:
            self.held.set()
            self.gate.wait(WAIT_SECONDS)
        return self.original(request)


def context() -> AppContext:
    """An AppContext on the test's database and keys (the harness's environment), outside any page."""
    return AppContext.build(Settings.load())


def campaign_id(ctx: AppContext, name: str) -> int:
    with ctx.db.session() as session:
        return next(c.id for c in list_campaigns(session) if c.name == name)


def push(
    ctx: AppContext,
    provider: str,
    campaign: str = NA_SAAS,
    *,
    rows: list[dict[str, Any]] | None = None,
    execute: bool = True,
    **options: Any,
) -> int:
    """A push of ``campaign`` (or of ``rows``) through the service, as the Push page makes one."""
    if connections.get(ctx, provider) is None:
        assert connections.connect_sandbox(ctx, ADMIN, provider).ok
    cid = campaign_id(ctx, campaign)
    if rows is None:
        with ctx.db.session() as session:
            frame = leads_frame(session, cid)
        rows = [{**row, "lead_id": row["id"]} for row in frame.to_dict("records")]
    object_name = OBJECTS[provider]
    request = runs.PushRequest(
        provider=provider,
        object_name=object_name,
        rows=rows,
        connection_name=provider,
        mapping=options.pop("mapping", default_mapping(provider, object_name)),
        source_label=campaign,
        actor=options.pop("actor", ADMIN),
        campaign_id=cid,
        **options,
    )
    run_id = runs.create(ctx, request)
    if execute:
        runs.execute(ctx, run_id)
    return run_id


def run(ctx: AppContext, run_id: int) -> PushRun:
    with ctx.db.session() as session:
        found = session.get(PushRun, run_id, populate_existing=True)
    assert found is not None
    return found


def records(ctx: AppContext, run_id: int) -> list[PushRecord]:
    with ctx.db.session() as session:
        stmt = select(PushRecord).where(PushRecord.run_id == run_id).order_by(PushRecord.row_index)
        return list(session.scalars(stmt))


def set_run(ctx: AppContext, run_id: int, **values: Any) -> None:
    """Change a stored run directly (its start date, its state), as time or a crash would."""
    with ctx.db.begin() as session:
        session.execute(update(PushRun).where(PushRun.id == run_id).values(**values))


def insert_runs(ctx: AppContext, count: int, *, started: datetime | None = None, **values: Any) -> None:
    """``count`` finished runs (no records) in one statement: a long history, cheaply."""
    start = started or utcnow()
    base = {"created_by": "admin", "provider": "hubspot", "connection_name": "hubspot",
            "object_name": "contacts", "source_label": "Bulk history", "mode": "upsert", "dry_run": False,
            "filters": {}, "mapping": {}, "options": {}, "api_usage": {}, "total": 10, "created": 10,
            "state": "completed", "started_at": start, "finished_at": start, "seconds": 1.0}  # fmt: skip
    with ctx.db.begin() as session:
        session.execute(insert(PushRun), [{**base, **values} for _ in range(count)])


def wait_for(condition: Callable[[], T | None], what: str) -> T:
    """Poll ``condition`` until it returns something truthy (a background job's outcome in the DB)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def history_page(crm_app: AppHarness, *, analyst: bool = False) -> AppTest:
    at = crm_app.as_analyst() if analyst else crm_app.as_admin()
    return crm_app.open(at, "history")


def open_run(at: AppTest, run_id: int) -> AppTest:
    """Type ``run_id`` into "Open run #", as a person following a link would."""
    return at.number_input(key="history_run").set_value(run_id).run()


def runs_table(at: AppTest) -> Any:
    """The runs table of the last run of ``at`` (a pandas DataFrame)."""
    return next(frame for frame in at.dataframe if frame.key and frame.key.startswith("history_runs_")).value


def records_table(at: AppTest) -> Any:
    """The open run's records table (found by its columns: a table without selection has no key)."""
    tables = [frame.value for frame in at.dataframe]
    return next(table for table in tables if {"Email", "Action", "CRM id"} <= set(table.columns))


def child_runs(ctx: AppContext, run_id: int) -> list[PushRun]:
    with ctx.db.session() as session:
        return store.child_runs(session, run_id)


def buttons(at: AppTest) -> dict[str, Any]:
    """Every button of the last run by label (labels are unique on this page)."""
    return {button.label: button for button in at.button}
