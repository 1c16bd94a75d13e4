"""In the browser: History after real pushes — the charts and the table, a run opened, a status check
that finds what changed in the CRM since, the CSV download, and the page's screenshot.

The app server and this test process must see the same CRM, so both talk to sandboxes served over HTTP
from this process (``CRM_SANDBOX_HUBSPOT_URL`` / ``CRM_SANDBOX_SALESFORCE_URL`` in the server's
environment, the same URLs in this process's settings). The pushes run here, through the service layer,
on the server's database; the status check runs in the server, on its job runner, as a person starts it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import e2e_harness
import httpx
import pytest
from e2e_harness import (
    UI_TIMEOUT_MS,
    VIEWPORT,
    AppServer,
    login,
    open_page,
    running_app,
    screenshot,
    settle,
    warm_up,
)
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select, update

from crm import sandbox
from crm.mapping import default_mapping
from crm.sandbox.server import SandboxHTTPServer, start_in_thread
from data.leads import leads_frame, list_campaigns
from data.models import PushRecord, PushRun, utcnow
from service import connections, runs
from service.auth import Actor
from service.context import AppContext
from service.settings import Settings

ADMIN = Actor(e2e_harness.ADMIN, "admin")
OBJECTS = {"hubspot": "contacts", "salesforce": "Lead"}
NA_SAAS = "Demo: North America SaaS decision-makers"
DACH = "Demo: DACH manufacturing trade-fair leads"
FINTECH = "Demo: Fintech webinar attendees"
MAX_SCREENSHOT_HEIGHT = 2600


@dataclass(frozen=True)
class HistoryApp:
    server: AppServer
    ctx: AppContext
    crms: dict[str, SandboxHTTPServer]


@pytest.fixture(scope="module")
def history_app(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[HistoryApp]:
    crms = {vendor: start_in_thread(sandbox.create(vendor)) for vendor in sandbox.VENDORS}
    urls = {
        "CRM_SANDBOX_HUBSPOT_URL": crms["hubspot"].base_url,
        "CRM_SANDBOX_SALESFORCE_URL": crms["salesforce"].base_url,
    }
    plain_env = e2e_harness.app_env
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(e2e_harness, "app_env", lambda directory: {**plain_env(directory), **urls})
        with running_app(tmp_path_factory.mktemp("e2e_history"), with_admin=True) as server:
            warm_up(browser, server)  # its first run also loads the demo campaigns
            ctx = AppContext.build(Settings.load(env=server.env), load_demo=False)
            try:
                yield HistoryApp(server, ctx, crms)
            finally:
                ctx.close()
    for crm in crms.values():
        crm.shutdown()
        crm.server_close()


def push(app: HistoryApp, provider: str, campaign: str, *, days_ago: int = 0, dry_run: bool = False) -> int:
    """A push through the service in this process, into the server's database and the HTTP sandbox."""
    ctx = app.ctx
    if connections.get(ctx, provider) is None:
        assert connections.connect_sandbox(ctx, ADMIN, provider).ok
    with ctx.db.session() as session:
        cid = next(c.id for c in list_campaigns(session) if c.name == campaign)
        rows = [{**row, "lead_id": row["id"]} for row in leads_frame(session, cid).to_dict("records")]
    request = runs.PushRequest(
        provider=provider,
        object_name=OBJECTS[provider],
        rows=rows,
        connection_name=provider,
        mapping=default_mapping(provider, OBJECTS[provider]),
        source_label=campaign,
        actor=ADMIN,
        campaign_id=cid,
        dry_run=dry_run,
        filters={"min_score": 0},
    )
    run_id = runs.create(ctx, request)
    runs.execute(ctx, run_id)
    if days_ago:
        with ctx.db.begin() as session:
            when = utcnow() - timedelta(days=days_ago)
            values = {"started_at": when, "finished_at": when + timedelta(seconds=3)}
            session.execute(update(PushRun).where(PushRun.id == run_id).values(**values))
    return run_id


def pushed_records(app: HistoryApp, run_id: int) -> list[PushRecord]:
    stmt = select(PushRecord).where(PushRecord.run_id == run_id, PushRecord.action == "created")
    with app.ctx.db.session() as session:
        return list(session.scalars(stmt.order_by(PushRecord.row_index)))


@pytest.mark.e2e
def test_history_after_a_push_checks_status_and_downloads_the_records(
    browser: Browser, history_app: HistoryApp, tmp_path: Path
) -> None:
    push(history_app, "salesforce", DACH, days_ago=6)
    push(history_app, "hubspot", FINTECH, days_ago=4)
    push(history_app, "salesforce", NA_SAAS, days_ago=2)  # partial: two leads lack a required field
    push(history_app, "hubspot", DACH, dry_run=True, days_ago=1)
    run_id = push(history_app, "hubspot", NA_SAAS)
    pushed = pushed_records(history_app, run_id)
    gone, edited = pushed[5], pushed[9]
    hubspot = history_app.crms["hubspot"]
    with httpx.Client(base_url=hubspot.base_url, headers={"Authorization": "Bearer sandbox-token"}) as crm:
        crm.delete(f"/crm/v3/objects/contacts/{gone.crm_id}").raise_for_status()
        body = {"properties": {"jobtitle": "Head of Everything"}}
        crm.patch(f"/crm/v3/objects/contacts/{edited.crm_id}", json=body).raise_for_status()

    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)  # type: ignore[arg-type]
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(history_app.server.url("/"))
        login(page)
        open_page(page, "History")
        expect(page.get_by_text("Pushes per day, by outcome").first).to_be_attached()
        expect(page.get_by_text("Runs 1–5 of 5, newest first", exact=False)).to_be_visible()
        expect(page.get_by_text(NA_SAAS).first).to_be_attached()  # the grid's accessible copy

        select_first_row(page)  # the newest run: the push above
        expect(page.get_by_role("spinbutton", name="Open run #")).to_have_value(str(run_id))
        detail = page.locator(".st-key-history_detail")  # the open run's box (its key)
        expect(detail.get_by_text("Never checked.", exact=False)).to_be_visible()
        detail.get_by_role("button", name="Check status").click()
        expect(page.get_by_text("Status check done: 102 records read back.")).to_be_visible()
        settle(page)
        summary = page.get_by_text("Last checked", exact=False)
        expect(summary).to_contain_text("1 changed since the push")
        expect(summary).to_contain_text("1 deleted")

        records = detail.get_by_test_id("stDataFrame").last
        records.hover()  # the grid's toolbar shows, without its raw (formula-unsafe) CSV export
        expect(records.get_by_role("button", name="Search")).to_be_visible()
        expect(page.get_by_role("button", name="Download as CSV")).to_have_count(0)
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download CSV (102 records)").click()
        saved = tmp_path / "records.csv"
        download_info.value.save_as(saved)
        exported = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
        by_id = {row["crm_id"]: row for row in exported}
        assert len(exported) == 102 and by_id[gone.crm_id]["status_now"] == "deleted"
        assert by_id[edited.crm_id]["changed_fields"].endswith("→ Head of Everything")

        show_whole_page(page)
        path = screenshot(page, "history")
        assert path.stat().st_size > 10_000
    finally:
        context.close()


def select_first_row(page: Page) -> None:
    """Tick the first row of the runs table (its cells are drawn on a canvas: click by position)."""
    grid = page.get_by_test_id("stDataFrame").first
    box = grid.bounding_box()
    assert box is not None
    header = row = 35  # Streamlit's default row height, the header's too
    page.mouse.click(box["x"] + 16, box["y"] + header + row / 2)
    expect(page.get_by_role("heading", name=re.compile(r"^Run #\d+:"))).to_be_visible()
    settle(page)


def show_whole_page(page: Page) -> None:
    """Make the window as tall as the page: Streamlit scrolls inside its main element, so a full-page
    screenshot alone would show one window's worth."""
    height = page.evaluate(
        "() => Math.max(...Array.from(document.querySelectorAll('[data-testid=stMain], "
        "[data-testid=stAppViewContainer]'), (e) => e.scrollHeight))"
    )
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(int(height), MAX_SCREENSHOT_HEIGHT)})
    settle(page)
