"""A push killed with SIGKILL mid-run shows as interrupted, and ``resume`` finishes it without sending any
success again and without creating a duplicate."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from cli_support import Cli
from sqlalchemy import func, select

from crm.sandbox.core import Request, Response
from crm.sandbox.server import SandboxHTTPServer
from data.lead_import import import_campaign, prepare, read_table
from data.models import PushRecord, PushRun
from service.context import AppContext

ROWS = 1500  # 15 HubSpot batches of 100
LATENCY_MS = 250  # per request, one batch at a time: the push takes several seconds
CAMPAIGN = "Trade fair scans (big)"


class UpsertLog:
    """Counts, per email, the upsert inputs the HTTP sandbox receives (its server runs in this process)."""

    def __init__(self, server: SandboxHTTPServer) -> None:
        self.app = server.app
        self.sent: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._original = self.app.handle

    def __enter__(self) -> UpsertLog:
        self.app.handle = self._handle  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.app.handle = self._original  # type: ignore[method-assign]

    def _handle(self, request: Request) -> Response:
        if request.method == "POST" and request.path.endswith("/batch/upsert"):
            inputs = json.loads(request.body or b"{}").get("inputs", [])
            with self._lock:
                self.sent.update(str(item["id"]).lower() for item in inputs)
        return self._original(request)


@pytest.fixture
def big_campaign(cli: Cli) -> int:
    lines = ["Email,First Name,Last Name,Company,Lead Score"]
    lines += [f"scan{i:05d}@fair.example,Scan{i},Person{i},Booth {i % 40},{i % 100}" for i in range(ROWS)]
    parsed = read_table(("\n".join(lines) + "\n").encode(), "scans.csv")
    prepared = prepare(parsed, parsed.column_map)
    ctx = cli.context()
    try:
        with ctx.db.begin() as session:
            return import_campaign(session, name=CAMPAIGN, prepared=prepared).campaign_id
    finally:
        ctx.close()


def final_records(ctx: AppContext) -> tuple[int | None, int]:
    """(the newest run's id, how many of its records are final) as the database shows them now."""
    with ctx.db.session() as session:
        run_id = session.scalar(select(PushRun.id).order_by(PushRun.id.desc()).limit(1))
        if run_id is None:
            return None, 0
        done = session.scalar(
            select(func.count())
            .select_from(PushRecord)
            .where(PushRecord.run_id == run_id, PushRecord.action != "pending")
        )
        return run_id, int(done or 0)


def successes(ctx: AppContext, run_id: int) -> set[str]:
    with ctx.db.session() as session:
        stmt = select(PushRecord.email).where(
            PushRecord.run_id == run_id, PushRecord.action.in_(("created", "updated"))
        )
        return {str(email).lower() for email in session.scalars(stmt)}


@pytest.fixture
def ctx(cli: Cli) -> Iterator[AppContext]:
    """The installation's database, read from this process."""
    context = cli.context()
    yield context
    context.close()


def test_a_killed_push_is_interrupted_and_resume_completes_it(
    cli: Cli, ctx: AppContext, big_campaign: int, cli_servers: dict[str, SandboxHTTPServer]
) -> None:
    hubspot = cli_servers["hubspot"]
    hubspot.app.configure(latency_ms=LATENCY_MS)
    push = cli.start("push", "hubspot", "--campaign", CAMPAIGN, "--json", env={"CRM_CONCURRENCY": "1"})
    try:
        run_id, done = None, 0
        deadline = time.monotonic() + 90  # a hung process, not a timing threshold
        while done == 0 and push.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            run_id, done = final_records(ctx)
        assert push.poll() is None, f"the push ended before it could be killed: {push.communicate()}"
        assert run_id is not None and 0 < done < ROWS
        push.send_signal(signal.SIGKILL)
    finally:
        if push.poll() is None:
            push.kill()
        push.communicate()  # reaped: a zombie would still look alive to the pid check
    assert push.returncode == -signal.SIGKILL
    hubspot.app.configure(latency_ms=0)
    sent_before_kill = successes(ctx, run_id)
    assert 0 < len(sent_before_kill) < ROWS

    history = cli.run("history", "--json")
    assert history.code == 0, history.show()
    [entry] = [item for item in history.json() if item["id"] == run_id]
    assert entry["state"] == "interrupted" and entry["campaign"] == CAMPAIGN

    with UpsertLog(hubspot) as log:
        resumed = cli.run("resume", str(run_id), "--json")

    assert resumed.code == 0, resumed.show()
    summary = resumed.json()
    assert summary["run_id"] == run_id and summary["state"] == "completed"
    assert summary["total"] == ROWS and summary["failed"] == 0
    assert summary["created"] + summary["updated"] == ROWS
    assert not set(log.sent) & sent_before_kill  # no success was sent again
    assert set(log.sent) == successes(ctx, run_id) - sent_before_kill  # exactly the rest, once each
    assert max(log.sent.values()) == 1
    emails = [c["properties"]["email"].lower() for c in hubspot.app.dump()]
    assert len(emails) == len(set(emails)) == ROWS  # each email exactly once in the CRM
