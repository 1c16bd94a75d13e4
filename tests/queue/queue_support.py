"""Helpers of the queue tests (imported by name: pytest puts this folder on sys.path).

Fixtures live in ``conftest.py``; these are the plain functions and classes behind them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import select

from crm.mapping import default_mapping
from crm.sandbox.core import Request, Response, SandboxApp
from data import runs as store
from data.leads import leads_frame
from data.models import PushRecord, PushRun
from service.auth import SYSTEM
from service.context import AppContext
from service.runs import PushRequest
from tests.service.service_support import import_generated  # the same generated campaigns

REPO = Path(__file__).resolve().parents[2]
SECRET_KEY = Fernet.generate_key().decode()
COOKIE_KEY = "cookie-key-for-queue-tests-0123456789"
HOST = socket.gethostname()
# The HubSpot sandbox routes that write contacts (the rest only read).
WRITE_ROUTES = frozenset(
    {
        "contacts.batch_create",
        "contacts.batch_update",
        "contacts.batch_upsert",
        "contacts.create",
        "contacts.update",
    }
)
WAIT_SECONDS = 60.0  # how long a wait may take before the test gives up (a hang, not a slow machine)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    """Poll ``condition`` until it is truthy and return it; fail saying ``what`` never happened."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# ----- campaigns and runs ----------------------------------------------------------------------------


def push_request(ctx: AppContext, campaign_id: int) -> PushRequest:
    """A HubSpot push of the whole campaign, as the Push page builds it."""
    with ctx.db.session() as session:
        frame = leads_frame(session, campaign_id)
    rows = [{**row, "lead_id": row["id"]} for row in frame.to_dict("records")]
    return PushRequest(
        provider="hubspot",
        object_name="contacts",
        rows=rows,
        connection_name="hubspot",
        mapping=default_mapping("hubspot", "contacts"),
        source_label=f"campaign {campaign_id}",
        actor=SYSTEM,
        campaign_id=campaign_id,
    )


def new_run(ctx: AppContext, count: int, domain: str) -> int:
    """A queued HubSpot push run of a new campaign of ``count`` leads at ``domain``."""
    from service import runs

    return runs.create(ctx, push_request(ctx, import_generated(ctx, domain, count, domain)))


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


def sandbox_emails(app: SandboxApp) -> list[str]:
    """Every contact's email in the sandbox, lower-cased (a repeated one would be a duplicate)."""
    return [str(c["properties"].get("email", "")).lower() for c in app.dump()]


# ----- the sandbox's view of the pushes --------------------------------------------------------------


class WriteTap:
    """Wraps a sandbox's ``handle`` to count, per email, how often a write request carried it.

    ``hold_after``: write requests after that many wait until ``release()`` (the test holds a run
    mid-way). ``meet``: every write waits until writes for that many email domains (one per campaign)
    have arrived, so the runs must be in flight at the same time, on different workers.
    """

    def __init__(self, app: SandboxApp, *, hold_after: int | None = None, meet: int | None = None) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self.write_requests = 0
        self.hold_after = hold_after
        self.meet = meet
        self.held = threading.Event()
        self.met_in_time = True
        self._release = threading.Event()
        self._domains: set[str] = set()
        self._cond = threading.Condition()
        self._original: Callable[[Request], Response] = app.handle
        app.handle = self._handle  # type: ignore[method-assign]

    def release(self) -> None:
        self._release.set()

    def uninstall(self) -> None:
        self._release.set()
        self.app.handle = self._original  # type: ignore[method-assign]

    def _handle(self, request: Request) -> Response:
        route = self.app.match(request) if not request.path.startswith("/__sandbox/") else None
        if route is None or route.name not in WRITE_ROUTES:
            return self._original(request)
        emails = _emails(request)
        with self._cond:
            self.write_requests += 1
            number = self.write_requests
            self.counts.update(emails)
            self._domains |= {email.rpartition("@")[2] for email in emails}
            self._cond.notify_all()
            if self.meet is not None and not self._cond.wait_for(
                lambda: len(self._domains) >= (self.meet or 0), timeout=WAIT_SECONDS
            ):
                self.met_in_time = False
        if self.hold_after is not None and number > self.hold_after:
            self.held.set()
            self._release.wait(WAIT_SECONDS)
        return self._original(request)


def _emails(request: Request) -> list[str]:
    try:
        body = json.loads(request.body.decode("utf-8")) if request.body else {}
    except (ValueError, UnicodeDecodeError):
        return []
    inputs = body.get("inputs", []) if isinstance(body, dict) else []
    found = []
    for item in inputs:
        email = item.get("id") or (item.get("properties") or {}).get("email")
        if isinstance(email, str) and "@" in email:
            found.append(email.lower())
    return found


# ----- worker processes ------------------------------------------------------------------------------


class Workers:
    """``python -m crm worker`` subprocesses (or the given command), each logging to its own file."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, *args: str, command: Sequence[str] = ("-m", "crm"), **env: str
    ) -> subprocess.Popen[bytes]:
        argv = [sys.executable, *command, "worker", *args]
        log = (self.log_dir / f"worker-{len(self.procs)}.log").open("wb")
        environ = {**self.env, **env}
        proc = subprocess.Popen(argv, cwd=REPO, env=environ, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(proc)
        return proc

    def run_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "crm", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=WAIT_SECONDS,
            check=False,
        )

    def wait(self, procs: Iterable[subprocess.Popen[bytes]] | None = None) -> list[int]:
        """Wait for (burst) workers to exit; their exit codes."""
        return [proc.wait(timeout=WAIT_SECONDS) for proc in (procs or self.procs)]

    def stop(self, proc: subprocess.Popen[bytes]) -> int:
        """A warm shutdown, as systemd or docker would ask for it."""
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=WAIT_SECONDS)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.log_dir.glob("worker-*.log"))
        )

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def worker_id(proc: subprocess.Popen[bytes]) -> str:
    """What ``service.runs.WORKER`` is in that process (a SimpleWorker runs jobs in its own pid)."""
    return f"{HOST}:{proc.pid}"


def worker_env(
    *, database_url: str, queue_url: str, sandbox_url: str, concurrency: int = 1
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "HUBSPOT_", "SALESFORCE_"))}
    env.update(
        {
            "DATABASE_URL": database_url,
            "CRM_SECRET_KEY": SECRET_KEY,
            "CRM_COOKIE_KEY": COOKIE_KEY,
            "CRM_QUEUE_URL": queue_url,
            "CRM_SANDBOX_HUBSPOT_URL": sandbox_url,
            "CRM_CONCURRENCY": str(concurrency),
            "CRM_LOG_LEVEL": "INFO",
            "PYTHONPATH": str(REPO),
        }
    )
    return env
