"""Helpers of the reliability tests (imported by name: pytest puts this folder on ``sys.path``).

* :class:`FastRetry`: the production :class:`crm.http.RetryPolicy` (same attempts, same rules) minus
  the waiting; the fixtures install it as ``crm.http.RetryPolicy`` so the adapters the service builds
  use it.
* :func:`lead_csv` / :func:`import_leads`: a generated campaign, imported the way the app imports one.
* :class:`SandboxTap`: wraps a sandbox's ``handle`` to count requests by route and to act after chosen
  answers (expire tokens, reach the daily limit, serve stale field definitions).
* :func:`crm_view` / :func:`check_outcome`: what the CRM holds against what the database recorded; the
  "exactly once, nothing lost, nothing duplicated" verdict of every fault case.
* :func:`table_counts`: the row count of every table, for "the database is unchanged" checks.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from crm import sandbox
from crm.http import RetryPolicy
from crm.sandbox.core import Request, Response, SandboxApp, Stats
from data.db import Database
from data.lead_import import import_campaign, prepare, read_table
from data.models import Base, PushRecord, PushRun
from service.context import AppContext

ROWS = 3000  # leads per fault case
SEEDED_EVERY = 10  # every tenth lead is already in the CRM before the push (so it is updated)
SEEDED_TITLE = "Seeded before the push"
REPORT_ENV = "CRM_RELIABILITY_REPORT"  # a file each case appends its figures to (JSON lines)
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
TITLE_FIELD = {"hubspot": "jobtitle", "salesforce": "Title"}
SUCCESS = ("created", "updated")


@dataclass(frozen=True)
class FastRetry(RetryPolicy):
    """Production attempts and rules; delays of milliseconds (tests assert outcomes, never time)."""

    base_delay: float = 0.001
    max_delay: float = 0.01


# ----- leads ------------------------------------------------------------------------------------------
def email_of(index: int, domain: str) -> str:
    return f"lead{index:05d}@{domain}"


def lead_csv(
    count: int,
    domain: str,
    *,
    refused: Iterable[int] = (),
    refuse_by: str = "title",
) -> bytes:
    """``count`` valid leads; the rows in ``refused`` carry a value the CRM refuses: a 200-character title
    (Salesforce Title takes 128) or an industry that is not one of the options (``refuse_by``)."""
    bad = set(refused)
    lines = ["Email,First Name,Last Name,Company,Job Title,Industry,City,Lead Score,Lead Tier"]
    for i in range(count):
        title = f"Buyer {i}"
        industry = "Technology"
        if i in bad and refuse_by == "title":
            title = f"Head of {i} " + "x" * 190
        elif i in bad:
            industry = "Basket Weaving"
        tier = ("HOT", "WARM", "COOL")[i % 3]
        lines.append(
            f"{email_of(i, domain)},First{i},Last{i},Company {i % 37},{title},{industry},"
            f"Springfield,{i % 100},{tier}"
        )
    return ("\n".join(lines) + "\n").encode()


def import_leads(ctx: AppContext, name: str, data: bytes) -> int:
    """Import ``data`` as a new campaign (every row must be importable); returns its id."""
    parsed = read_table(data, f"{name}.csv")
    prepared = prepare(parsed, parsed.column_map)
    assert not prepared.problems, prepared.problems[:3]
    with ctx.db.begin() as session:
        return import_campaign(session, name=name, prepared=prepared).campaign_id


# ----- the sandbox side -------------------------------------------------------------------------------
def api_client(app: SandboxApp) -> httpx.Client:
    """The sandbox's own API with its static token: the test acting on the CRM directly."""
    return httpx.Client(
        transport=sandbox.SandboxTransport(app),
        base_url=app.base_url,
        headers={"Authorization": f"Bearer {app.options.token}"},
    )


def seed_existing(app: SandboxApp, emails: Sequence[str], title: str = SEEDED_TITLE) -> dict[str, str]:
    """Create records through the CRM's own API (not through our adapters): {email: id}.

    The sandbox's counters are reset afterwards, so ``app.stats`` counts only what follows.
    """
    ids: dict[str, str] = {}
    with api_client(app) as client:
        if app.vendor == "hubspot":
            for start in range(0, len(emails), 100):
                chunk = emails[start : start + 100]
                inputs = [{"properties": {"email": e, "jobtitle": title, "lastname": "Seed"}} for e in chunk]
                answer = client.post("/crm/v3/objects/contacts/batch/create", json={"inputs": inputs})
                assert answer.status_code == 201, answer.text
                ids.update({c["properties"]["email"]: c["id"] for c in answer.json()["results"]})
            with app.lock:  # made yesterday, as existing contacts are: outside the adapter's 2 s slack for
                for contact in app.store.contacts.values():  # type: ignore[attr-defined]
                    contact.created_at = YESTERDAY  # "created since this batch started" after a retry
        else:
            for start in range(0, len(emails), 200):
                chunk = emails[start : start + 200]
                records = [
                    {"attributes": {"type": "Lead"}, "Email": e, "LastName": "Seed", "Company": "Seed Co",
                     "Title": title}
                    for e in chunk
                ]  # fmt: skip
                answer = client.post(
                    "/services/data/v62.0/composite/sobjects", json={"allOrNone": True, "records": records}
                )
                assert answer.status_code == 200, answer.text
                ids.update({e: r["id"] for e, r in zip(chunk, answer.json(), strict=True)})
    with app.lock:
        app.stats = Stats()
    return ids


@dataclass(frozen=True)
class CrmRecord:
    crm_id: str
    email: str
    title: str | None


def crm_view(app: SandboxApp) -> dict[str, list[CrmRecord]]:
    """Every live record the CRM holds, by lower-cased email (a list longer than one is a duplicate)."""
    found: dict[str, list[CrmRecord]] = {}
    if app.vendor == "hubspot":
        for contact in app.dump():
            props = contact["properties"]
            email = str(props.get("email") or "").lower()
            found.setdefault(email, []).append(CrmRecord(str(contact["id"]), email, props.get("jobtitle")))
    else:
        for lead in app.dump()["Lead"]:
            if lead.get("IsDeleted"):
                continue
            email = str(lead.get("Email") or "").lower()
            found.setdefault(email, []).append(CrmRecord(str(lead["Id"]), email, lead.get("Title")))
    return found


After = Callable[[Request, str, Response], Response | None]


class SandboxTap:
    """Wraps ``app.handle``: counts requests by route name (OAuth ones included) and lets a test act
    after an answer (``after(request, route_name, response)`` may return a replacement answer).

    Works for in-process and HTTP sandboxes alike, since both call ``app.handle``.
    """

    def __init__(self, app: SandboxApp) -> None:
        self.app = app
        self.routes: Counter[str] = Counter()
        self.afters: list[After] = []
        self._lock = threading.Lock()
        self._original: Callable[[Request], Response] = app.handle

    def install(self) -> SandboxTap:
        self.app.handle = self._handle  # type: ignore[method-assign]
        return self

    def uninstall(self) -> None:
        self.app.handle = self._original  # type: ignore[method-assign]

    def _handle(self, request: Request) -> Response:
        route = None if request.path.startswith("/__sandbox/") else self.app.match(request)
        name = route.name if route else ""
        with self._lock:
            self.routes[name] += 1
        response = self._original(request)
        for after in self.afters:
            response = after(request, name, response) or response
        return response


def rewrite_json(response: Response, change: Callable[[Any], None]) -> Response:
    body = json.loads(response.body)
    change(body)
    return Response(response.status, json.dumps(body).encode(), dict(response.headers))


# ----- the database side ------------------------------------------------------------------------------
def table_counts(db: Database) -> dict[str, int]:
    """Rows in every table of the schema."""
    with db.session() as session:
        return {
            table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }


def run_and_records(ctx: AppContext, run_id: int) -> tuple[PushRun, list[PushRecord]]:
    with ctx.db.session() as session:
        run = session.get(PushRun, run_id)
        assert run is not None
        stmt = select(PushRecord).where(PushRecord.run_id == run_id).order_by(PushRecord.row_index)
        return run, list(session.scalars(stmt))


@dataclass
class Outcome:
    """One fault case's verdict and figures (what docs/reliability.md tabulates)."""

    case: str
    rows: int
    created: int
    updated: int
    failed: int
    not_sent: int
    faults: dict[str, int]
    api_calls: int
    retries: int
    duplicates: int
    lost: int
    state: str
    failure_codes: dict[str, int] = field(default_factory=dict)

    def report(self) -> None:
        """Print one line (visible with ``-s``) and append to the file named by CRM_RELIABILITY_REPORT."""
        print(f"\n[reliability] {json.dumps(asdict(self))}")
        path = os.environ.get(REPORT_ENV)
        if path:
            with Path(path).open("a", encoding="utf-8") as out:
                out.write(json.dumps(asdict(self)) + "\n")


def check_outcome(
    ctx: AppContext,
    run_id: int,
    app: SandboxApp,
    *,
    provider: str,
    seeded: Mapping[str, str],
) -> tuple[PushRun, list[PushRecord], int, int]:
    """Every row has one final result, and the CRM holds exactly what the results say.

    Returns (run, records, duplicates, lost), asserting that both counts are zero: a duplicate is an
    email the CRM holds twice; a lost row is one whose result and the CRM disagree (recorded as sent but
    absent or holding other values, recorded as failed but landed, or landed without any result).
    """
    run, records = run_and_records(ctx, run_id)
    assert len(records) == run.total, "one record per input row"
    actions = Counter(r.action for r in records)
    assert actions["pending"] == 0, "no row is left pending"
    assert (run.created, run.updated, run.skipped, run.failed) == (
        actions["created"], actions["updated"], actions["skipped"], actions["failed"],
    ), "the run's counters add up to its records"  # fmt: skip
    assert run.created + run.updated + run.skipped + run.failed == run.total

    held = crm_view(app)
    duplicates = sum(len(found) - 1 for found in held.values() if len(found) > 1)
    title = TITLE_FIELD[provider]
    lost: list[str] = []
    succeeded: set[str] = set()
    for record in records:
        email = (record.email or "").strip().lower()
        there = held.get(email, [])
        sent_title = record.payload.get(title)
        if record.action in SUCCESS:
            succeeded.add(email)
            expected = "updated" if email in seeded else "created"
            ok = (
                record.action == expected
                and len(there) == 1
                and there[0].crm_id == record.crm_id
                and there[0].title == sent_title
            )
        elif email in seeded:  # failed or not sent: the existing record is as it was
            ok = len(there) == 1 and there[0].crm_id == seeded[email] and there[0].title == SEEDED_TITLE
        else:  # failed or not sent: nothing landed
            ok = not there
        if not ok:
            lost.append(f"row {record.row_index} {email} {record.action} {record.error_code}: {there}")
    unexplained = set(held) - succeeded - set(seeded)  # landed, but no row says so
    lost += [f"{email} is in the CRM but recorded as not sent" for email in sorted(unexplained)]
    assert duplicates == 0, f"{duplicates} duplicate records in the CRM"
    assert not lost, f"{len(lost)} rows where the CRM and the records disagree, e.g. {lost[:3]}"
    return run, records, duplicates, len(lost)
