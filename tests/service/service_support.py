"""Helpers shared by the service tests (imported by name: pytest puts this folder on sys.path).

Fixtures live in ``conftest.py``; these are the plain functions and classes behind them, so a test can
also call them with its own arguments.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from crm import sandbox
from crm.mapping import default_mapping
from crm.model import PushMode
from crm.sandbox.core import Request, Response, SandboxApp
from data import runs as store
from data.db import Database
from data.demo import load_demo
from data.lead_import import import_campaign, prepare, read_table
from data.leads import leads_frame, list_campaigns
from data.models import Connection, PushRecord, PushRun
from service.auth import SYSTEM, Actor
from service.context import AppContext
from service.runs import PushRequest
from service.settings import Settings

SECRET_KEY = Fernet.generate_key().decode()
COOKIE_KEY = "cookie-key-for-service-tests-0123456789"
FAKE_HUBSPOT_TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"  # what the HTTP sandbox is told to accept
OBJECTS = {"hubspot": "contacts", "salesforce": "Lead"}
NA_SAAS = "Demo: North America SaaS decision-makers"  # 102 leads; Salesforce refuses 2 (required fields)
FINTECH = "Demo: Fintech webinar attendees"  # 88 leads, one with an invalid email
DACH = "Demo: DACH manufacturing trade-fair leads"  # 85 leads, all fine for HubSpot
# Sandbox routes that change records (the rest only read).
WRITE_ROUTES = frozenset(
    {
        "contacts.batch_create",
        "contacts.batch_update",
        "contacts.batch_upsert",
        "contacts.create",
        "contacts.update",
        "collections.create",
        "collections.update",
        "collections.upsert",
        "create",
        "update",
        "upsert",
        "bulk.create",
        "bulk.upload",
    }
)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    return Settings(database_url=database_url, secret_key=SECRET_KEY, cookie_key=COOKIE_KEY, **overrides)


def make_ctx(database: Database, settings: Settings | None = None, *, demo: bool = True) -> AppContext:
    """An AppContext over a test database (so the ``database`` fixture cleans up after it)."""
    from data.crypto import SecretBox

    settings = settings or make_settings(str(database.url.render_as_string(hide_password=False)))
    ctx = AppContext(settings=settings, db=database, box=SecretBox(SECRET_KEY), cookie_key=COOKIE_KEY)
    if demo:
        with database.begin() as session:
            load_demo(session)
    return ctx


def connection_count(ctx: AppContext) -> int:
    with ctx.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Connection)) or 0)


def campaign_id(ctx: AppContext, name: str) -> int:
    with ctx.db.session() as session:
        return next(c.id for c in list_campaigns(session) if c.name == name)


def campaign_rows(ctx: AppContext, cid: int) -> list[dict[str, Any]]:
    """The campaign's leads as the Push page hands them to the service (``lead_id`` set)."""
    with ctx.db.session() as session:
        frame = leads_frame(session, cid)
    return [{**row, "lead_id": row["id"]} for row in frame.to_dict("records")]


def push_request(
    ctx: AppContext,
    provider: str,
    campaign: str | int,
    *,
    rows: list[dict[str, Any]] | None = None,
    actor: Actor = SYSTEM,
    **options: Any,
) -> PushRequest:
    cid = campaign if isinstance(campaign, int) else campaign_id(ctx, campaign)
    object_name = options.pop("object_name", OBJECTS[provider])
    return PushRequest(
        provider=provider,
        object_name=object_name,
        rows=campaign_rows(ctx, cid) if rows is None else rows,
        connection_name=options.pop("connection_name", provider),
        mapping=options.pop("mapping", default_mapping(provider, object_name)),
        source_label=options.pop("source_label", f"campaign {cid}"),
        actor=actor,
        mode=options.pop("mode", PushMode.UPSERT),
        campaign_id=cid,
        **options,
    )


def lead_csv(count: int, domain: str, *, start: int = 0) -> bytes:
    lines = ["Email,First Name,Last Name,Company,Job Title,City,Lead Score,Lead Tier"]
    for i in range(start, start + count):
        tier = ("HOT", "WARM", "COOL")[i % 3]
        lines.append(
            f"lead{i:05d}@{domain},Test{i},Person{i},Company {i % 37},Buyer,Springfield,{i % 100},{tier}"
        )
    return ("\n".join(lines) + "\n").encode()


def import_generated(ctx: AppContext, name: str, count: int, domain: str) -> int:
    """A campaign of ``count`` valid leads (unique emails at ``domain``); returns its id."""
    parsed = read_table(lead_csv(count, domain), "generated.csv")
    prepared = prepare(parsed, parsed.column_map)
    assert not prepared.problems
    with ctx.db.begin() as session:
        return import_campaign(session, name=name, prepared=prepared).campaign_id


def get_run(ctx: AppContext, run_id: int) -> PushRun:
    with ctx.db.session() as session:
        run = store.get_run(session, run_id)
    assert run is not None
    return run


def records(ctx: AppContext, run_id: int) -> list[PushRecord]:
    with ctx.db.session() as session:
        stmt = select(PushRecord).where(PushRecord.run_id == run_id).order_by(PushRecord.row_index)
        return list(session.scalars(stmt))


def actions(ctx: AppContext, run_id: int) -> Counter[str]:
    return Counter(r.action for r in records(ctx, run_id))


def writes(app: SandboxApp) -> int:
    """How many write calls the sandbox has answered since its last reset."""
    return sum(n for name, n in app.stats.by_route.items() if name in WRITE_ROUTES)


def sandbox_emails(app: SandboxApp, object_name: str = "Lead") -> list[str]:
    """Every record's email in the sandbox, lower-cased (a repeated one would be a duplicate)."""
    if app.vendor == "hubspot":
        return [str(c["properties"].get("email", "")).lower() for c in app.dump()]
    return [str(r.get("Email") or "").lower() for r in app.dump()[object_name]]


def sandbox_client(app: SandboxApp) -> httpx.Client:
    """An httpx client on the in-process sandbox with its static token (the test acting as the CRM)."""
    return httpx.Client(
        transport=sandbox.SandboxTransport(app),
        base_url=app.base_url,
        headers={"Authorization": f"Bearer {app.options.token}"},
    )


def _emails_in(item: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(item, Mapping):
        for key, value in item.items():
            if isinstance(value, str) and key in ("email", "Email", "id") and "@" in value:
                found.add(value.lower())
            elif isinstance(value, Mapping | list):
                found |= _emails_in(value)
    elif isinstance(item, list):
        for value in item:
            found |= _emails_in(value)
    return found


class SentEmails:
    """Wraps a sandbox's ``handle`` to count, per email, how often a write request carried it.

    Works for in-process and HTTP sandboxes alike (both call ``app.handle``). ``gate``: when set, a write
    request waits for it to open (the test holds a run mid-way without sleeping).
    """

    def __init__(self, app: SandboxApp, *, block_after: int | None = None) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self.write_requests = 0
        self.block_after = block_after
        self.gate = threading.Event()
        self.blocked = threading.Event()
        self._lock = threading.Lock()
        self._original: Callable[[Request], Response] = app.handle

    def install(self) -> SentEmails:
        self.app.handle = self._handle  # type: ignore[method-assign]
        return self

    def uninstall(self) -> None:
        self.gate.set()
        self.app.handle = self._original  # type: ignore[method-assign]

    def _handle(self, request: Request) -> Response:
        route = self.app.match(request) if not request.path.startswith("/__sandbox/") else None
        if route is not None and route.name in WRITE_ROUTES:
            with self._lock:
                self.write_requests += 1
                number = self.write_requests
            if self.block_after is not None and number > self.block_after:
                self.blocked.set()
                self.gate.wait(60)
            body = _json_body(request)
            items = (body.get("inputs") or body.get("records") or []) if isinstance(body, dict) else []
            with self._lock:
                for item in items:
                    self.counts.update(_emails_in(item))
        return self._original(request)

    def sent(self, emails: Iterable[str]) -> int:
        return sum(self.counts[e.lower()] for e in emails)


def _json_body(request: Request) -> Any:
    try:
        return json.loads(request.body.decode("utf-8")) if request.body else None
    except (ValueError, UnicodeDecodeError):
        return None
