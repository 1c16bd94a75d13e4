"""A CRM token appears nowhere: not in any log record (every logger, DEBUG, httpx and httpcore included),
not in the database in plain text (every column of every table, JSON included), not in the exported
CSVs, not in any page the app renders, not in the CLI's output with ``CRM_LOG_LEVEL=DEBUG``.

The tokens are recognisable fakes (``security_support.CANARIES``) that HTTP sandboxes on loopback accept,
so the whole path runs as in production: the token pasted on the Providers page (``service.connections``),
encrypted, decrypted for the adapter, sent over HTTP, refused by the CRM once (its error stored and
shown), and masked on the Providers card.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from app_harness import AppHarness
from cryptography.fernet import Fernet
from security_support import (
    HUBSPOT_CANARY,
    SALESFORCE_CANARY,
    LogCapture,
    database_text,
    leaks,
    rendered,
)
from streamlit.testing.v1 import AppTest

from crm.mapping import default_mapping
from crm.redact import mask
from crm.sandbox.server import SandboxHTTPServer
from data.leads import leads_frame, list_campaigns
from service import connections, history, push_results, runs, status
from service.auth import Actor
from service.context import AppContext

REPO = Path(__file__).resolve().parents[2]
ADMIN = Actor("admin", "admin")
NA_SAAS = "Demo: North America SaaS decision-makers"
DACH = "Demo: DACH manufacturing trade-fair leads"
FINTECH = "Demo: Fintech webinar attendees"
OBJECTS = {"hubspot": "contacts", "salesforce": "Lead"}
PAGES = ("providers", "push", "history", "campaigns", "users")
CLI_TIMEOUT = 120  # seconds: only a hung process gets near it


def push(ctx: AppContext, provider: str, campaign: str) -> int:
    with ctx.db.session() as session:
        cid = next(c.id for c in list_campaigns(session) if c.name == campaign)
        rows = [{**r, "lead_id": r["id"]} for r in leads_frame(session, cid).to_dict("records")]
    request = runs.PushRequest(
        provider=provider, object_name=OBJECTS[provider], rows=rows, connection_name=provider,
        mapping=default_mapping(provider, OBJECTS[provider]), source_label=campaign, actor=ADMIN,
        campaign_id=cid,
    )  # fmt: skip
    run_id = runs.create(ctx, request)
    runs.execute(ctx, run_id)
    return run_id


def visit_every_page(app: AppHarness, run_id: int) -> dict[str, bytes]:
    """Every page of the navigation as an admin sees it, the run's detail and a push set-up included."""
    at: AppTest = app.as_admin()
    shown: dict[str, bytes] = {}
    for page in PAGES:
        app.open(at, page)
        if page == "push":
            at.selectbox(key="push_campaign").select(NA_SAAS).run()
            at.selectbox(key="push_provider").select("hubspot").run()
        if page == "history":
            at.number_input(key="history_run").set_value(run_id).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        shown[page] = rendered(at)
    return shown


def test_the_tokens_appear_nowhere(
    secure_app: AppHarness,
    secure_ctx: Callable[[AppHarness], AppContext],
    canary_servers: dict[str, SandboxHTTPServer],
) -> None:
    capture = LogCapture().open()
    try:
        ctx = secure_ctx(secure_app)
        sf_url = canary_servers["salesforce"].base_url
        assert connections.connect_hubspot_token(ctx, ADMIN, HUBSPOT_CANARY).ok
        assert connections.connect_salesforce_token(ctx, ADMIN, sf_url, SALESFORCE_CANARY).ok
        hubspot_run = push(ctx, "hubspot", NA_SAAS)
        salesforce_run = push(ctx, "salesforce", DACH)
        status.check(ctx, hubspot_run)
        canary_servers["salesforce"].app.configure(token="rotated-at-salesforce")  # our token stops working
        refused_run = push(ctx, "salesforce", FINTECH)
        assert not connections.test_connection(ctx, "salesforce").ok
        canary_servers["salesforce"].app.configure(token=SALESFORCE_CANARY)

        exports = {
            (name, run_id): csv
            for run_id in (hubspot_run, salesforce_run, refused_run)
            for name, csv in (
                ("history", history.records_csv(ctx, run_id, history.RecordQuery(), None)),
                ("push", push_results.results_csv(push_results.results_frame(ctx, run_id))),
            )
        }
        stored = list(database_text(ctx.db))
        first_email = next(history.iter_records(ctx, hubspot_run, history.RecordQuery())).email or ""
        pages = visit_every_page(secure_app, hubspot_run)
    finally:
        capture.close()

    assert any(" httpcore" in line for line in capture.lines), "DEBUG records of httpcore were captured"
    assert any(" httpx:" in line for line in capture.lines), "and httpx's request lines"
    assert leaks(capture.text()) == [], [line for line in capture.lines if leaks(line)][:5]
    assert {name: leaks(csv) for name, csv in exports.items()} == {name: [] for name in exports}
    assert [where for where, value in stored if leaks(value)] == []
    assert any(where == "connections.secret" for where, _ in stored)  # the secrets are there, encrypted
    assert {page: leaks(shown) for page, shown in pages.items()} == {page: [] for page in PAGES}
    for page in ("push", "history"):  # the search does reach the tables' cells
        assert first_email.encode() in pages[page], page
    assert all(first_email.encode() in csv for (_, run), csv in exports.items() if run == hubspot_run)
    masked = mask(HUBSPOT_CANARY)
    assert masked.encode() in pages["providers"], "the Providers card shows the token masked"
    errors = [value for where, value in stored if where == "push_runs.error_message"]
    assert any("refused the credentials" in error for error in errors), "the refusal path ran too"


def test_the_cli_prints_no_token_with_debug_logging(
    canary_servers: dict[str, SandboxHTTPServer], tmp_path: Path
) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}",
        "CRM_SECRET_KEY": Fernet.generate_key().decode(),
        "CRM_COOKIE_KEY": "cookie-key-for-security-cli-0123456789",
        "CRM_LOG_LEVEL": "DEBUG",
        "HUBSPOT_BASE_URL": canary_servers["hubspot"].base_url,
        "HUBSPOT_ACCESS_TOKEN": HUBSPOT_CANARY,
        "SALESFORCE_INSTANCE_URL": canary_servers["salesforce"].base_url,
        "SALESFORCE_ACCESS_TOKEN": SALESFORCE_CANARY,
    }

    def start(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "crm", *args], cwd=REPO, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
        try:
            out, err = process.communicate(timeout=CLI_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        return process.returncode, out + err

    first = finish(start("history", "--json"))  # migrates and loads the demo once, before the pushes
    pushes = [
        start("push", "hubspot", "--campaign", NA_SAAS),
        start("push", "salesforce", "--campaign", DACH, "--json"),
    ]
    outputs = [first, *map(finish, pushes)]
    canary_servers["salesforce"].app.configure(token="rotated-at-salesforce")
    outputs.append(finish(start("push", "salesforce", "--campaign", FINTECH, "--force-full")))

    codes = [code for code, _ in outputs]
    assert codes == [0, 0, 0, 1], [text[-400:] for _, text in outputs]  # the refused push exits 1
    assert "DEBUG" in outputs[1][1] and "refused the credentials" in outputs[3][1]
    assert [leaks(text) for _, text in outputs] == [[], [], [], []]
