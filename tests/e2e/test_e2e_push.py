"""In the browser: the Push page from campaign to summary against the sandboxes, and its screenshot.

Logs in, picks a demo campaign and the HubSpot sandbox (then, in a second test, the Salesforce sandbox
with Lead), filters to HOT, runs the test (dry run), pushes after the confirmation, waits for the
summary the background job's progress leads to, and saves ``docs/screenshots/push.png``.
"""

from __future__ import annotations

import re

import pytest
from e2e_harness import AppServer, open_page, screenshot, settle
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import func, select

from crm.sandbox import SandboxOptions
from data.connections import create_connection, get_connection_by_name
from data.crypto import SecretBox
from data.db import Database
from data.models import Campaign, Lead

CAMPAIGN = "Demo: North America SaaS decision-makers"
SCREENSHOT_HEIGHT = 2100  # px: Streamlit scrolls inside its own container, so make it all fit
RUN_TIMEOUT_MS = 60_000  # an upper bound for the background job to finish, not a measurement


def connect_sandbox(server: AppServer, provider: str) -> None:
    """What "Use the sandbox" on the Providers page stores: a Sandbox connection to ``provider``."""
    database = Database(server.database_url)
    try:
        with database.begin() as session:
            if get_connection_by_name(session, provider) is None:
                create_connection(
                    session, SecretBox(server.env["CRM_SECRET_KEY"]), name=provider, provider=provider,
                    auth_kind="sandbox", secret={"access_token": SandboxOptions().token},
                    settings={"sandbox": True}, created_by="e2e",
                )  # fmt: skip
    finally:
        database.dispose()


def hot_leads(server: AppServer) -> int:
    database = Database(server.database_url)
    try:
        with database.session() as session:
            stmt = select(func.count()).select_from(Lead).join(Campaign)
            return int(session.scalar(stmt.where(Campaign.name == CAMPAIGN, Lead.tier == "HOT")) or 0)
    finally:
        database.dispose()


def choose(page: Page, label: str, option: str | re.Pattern[str]) -> None:
    """Pick ``option`` in the selectbox labelled ``label``."""
    page.get_by_test_id("stSelectbox").filter(has_text=label).click()
    page.get_by_role("option", name=option).first.click()
    settle(page)


def metric(page: Page, label: str) -> Locator:
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def dry_run_then_push_hot_leads(page: Page, server: AppServer, send_to: str, target: str) -> int:
    """Campaign → HOT only → test run → push → confirm; returns the number of HOT leads."""
    open_page(page, "Push")
    choose(page, "Campaign", re.compile(re.escape(CAMPAIGN)))
    choose(page, "Send to", send_to)
    expect(metric(page, "Rows to push")).to_have_text("102")
    hot = hot_leads(server)
    assert 0 < hot < 102
    page.get_by_test_id("stCheckbox").filter(has_text=re.compile("^Warm$")).click()
    expect(metric(page, "Rows to push")).not_to_have_text("102")
    page.get_by_test_id("stCheckbox").filter(has_text=re.compile("^Cool$")).click()
    expect(metric(page, "Rows to push")).to_have_text(str(hot))
    settle(page)

    page.get_by_test_id("stCheckbox").filter(has_text="Test mode (dry run)").click()
    settle(page)
    expect(page.get_by_text("test mode: nothing is written")).to_be_visible()
    page.get_by_role("button", name=f"Run the test on {hot} rows").click()
    expect(page.get_by_text(re.compile(r"^Test run #\d+: a push would create"))).to_be_visible(
        timeout=RUN_TIMEOUT_MS
    )
    settle(page)

    page.get_by_test_id("stCheckbox").filter(has_text="Test mode (dry run)").click()
    settle(page)
    page.get_by_role("button", name=f"Push {hot} rows…").click()
    expect(page.get_by_text(re.compile(rf"Push {hot} rows of .* to {target}\?"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"Estimated API calls:"))).to_be_visible()
    page.get_by_role("button", name="Confirm push").click()
    return hot


@pytest.mark.e2e
def test_push_hot_leads_to_the_hubspot_sandbox(page: Page, app_server: AppServer) -> None:
    connect_sandbox(app_server, "hubspot")
    hot = dry_run_then_push_hot_leads(page, app_server, "HubSpot (sandbox)", "HubSpot contacts")

    summary = page.get_by_text(re.compile(rf"^Push #\d+ done: {hot} created, 0 updated, 0 skipped, 0 failed"))
    expect(summary).to_be_visible(timeout=RUN_TIMEOUT_MS)
    settle(page)
    expect(page.get_by_role("button", name="Download results")).to_be_visible()
    page.set_viewport_size({"width": 1440, "height": SCREENSHOT_HEIGHT})  # the whole page, top to summary
    settle(page)
    page.get_by_role("heading", name="Push", level=1).scroll_into_view_if_needed()
    path = screenshot(page, "push")
    assert path.stat().st_size > 10_000


@pytest.mark.e2e
def test_push_hot_leads_to_the_salesforce_sandbox_as_leads(page: Page, app_server: AppServer) -> None:
    connect_sandbox(app_server, "salesforce")
    hot = dry_run_then_push_hot_leads(page, app_server, "Salesforce (sandbox)", "Salesforce Lead")

    summary = page.get_by_text(
        re.compile(rf"^Push #\d+ done: \d+ created, 0 updated, 0 skipped, \d+ failed of {hot}")
    )
    expect(summary).to_be_visible(timeout=RUN_TIMEOUT_MS)
    created, failed = map(int, re.findall(r"(\d+) (?:created|failed)", summary.inner_text()))
    assert created > 0 and created + failed == hot
    expect(page.get_by_role("button", name="Download results")).to_be_visible()
