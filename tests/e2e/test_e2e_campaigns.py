"""In the browser: the first admin, the login cookie, logout, the Campaigns page and its screenshot."""

from __future__ import annotations

import re

import pytest
from e2e_harness import (
    VIEWPORT,
    AppServer,
    login,
    logout_button,
    open_page,
    screenshot,
    settle,
    wait_for_auth_cookie,
)
from playwright.sync_api import Browser, Page, expect

GRACE = {"Username": "grace", "Display name": "Grace Hopper", "Password": "cobol rules 1959"}


@pytest.mark.e2e
def test_first_admin_login_and_campaigns(browser: Browser, fresh_app_server: AppServer) -> None:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()
    try:
        # The server's very first request names a page: it must still meet the gate, not the page.
        page.goto(fresh_app_server.url("/campaigns"))
        expect(page.get_by_role("heading", name="Welcome to CRM Push")).to_be_visible()
        settle(page)
        expect(page.get_by_role("heading", name="Campaigns")).to_have_count(0)
        expect(page.get_by_role("link", name="Campaigns")).to_have_count(0)

        for label, value in GRACE.items():
            page.get_by_label(label, exact=True).fill(value)
        page.get_by_label("Repeat the password").fill(GRACE["Password"])
        page.get_by_role("button", name="Create the admin and log in").click()
        expect(logout_button(page)).to_be_visible()
        settle(page)
        expect(page.get_by_test_id("stSidebar").get_by_text("Grace Hopper")).to_be_visible()
        expect(page.get_by_role("heading", name="Campaigns", level=1)).to_be_visible()  # the link survived
        wait_for_auth_cookie(context, present=True)

        page.reload()  # a new session: the login cookie brings her back
        expect(logout_button(page)).to_be_visible()
        settle(page)
        logout_button(page).click()
        expect(page.get_by_label("Username")).to_be_visible()
        wait_for_auth_cookie(context, present=False)
        page.reload()  # the cookie is gone with the logout
        expect(page.get_by_label("Username")).to_be_visible()
        expect(logout_button(page)).to_have_count(0)

        login(page, GRACE["Username"], GRACE["Password"])
        open_page(page, "Campaigns")
        # Table cells are painted on a canvas; the grid keeps an accessible copy of each.
        expect(page.get_by_text("Demo: North America SaaS decision-makers").first).to_be_attached()
        expect(page.get_by_text(re.compile(r"^Leads 1–\d+ of \d+$"))).to_be_visible()
        path = screenshot(page, "campaigns")
        assert path.stat().st_size > 10_000
    finally:
        context.close()


@pytest.mark.e2e
def test_import_a_file_in_the_browser(page: Page, tmp_path: pytest.TempPathFactory) -> None:
    open_page(page, "Campaigns")
    page.get_by_role("tab", name="Import a file").click()
    csv = tmp_path / "webinar leads.csv"  # type: ignore[operator]
    csv.write_text("Email,First Name,Company\nada@example.com,<b>Ada</b>,Engines\nbroken,Bob,Co\n")

    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(csv))

    expect(page.get_by_text("Ready to import")).to_be_visible()
    page.get_by_role("button", name="Import 1 lead").click()
    expect(page.get_by_text("Imported 1 lead into webinar leads")).to_be_visible()
    expect(page.get_by_text("1 of 2 rows were not imported")).to_be_visible()


@pytest.mark.e2e
def test_a_deep_link_survives_the_login(browser: Browser, app_server: AppServer) -> None:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()
    try:
        page.goto(app_server.url("/campaigns"))
        expect(page.get_by_label("Username")).to_be_visible()
        settle(page)
        expect(page.get_by_role("heading", name="Campaigns")).to_have_count(0)

        login(page)

        expect(page.get_by_role("heading", name="Campaigns", level=1)).to_be_visible()
        expect(page).to_have_url(app_server.url("/campaigns"))
    finally:
        context.close()
