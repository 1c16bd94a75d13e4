"""HTML and script in lead values are shown as text, never rendered, on every page that shows lead values:
the Campaigns browser, the Push table and the History detail of a run.

Checked on what each page sends to the browser (AppTest): no ``st.html`` element and no markdown element
with ``unsafe_allow_html`` carries a raw tag from the data, and each value is there as plain text in a
table cell (``st.dataframe`` / ``st.data_editor`` render text, never HTML).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from app_harness import AppHarness
from security_support import nodes
from streamlit.testing.v1 import AppTest

from crm.mapping import default_mapping
from data.lead_import import import_campaign, prepare, read_table
from data.leads import leads_frame
from service import connections, runs
from service.auth import Actor
from service.context import AppContext

ADMIN = Actor("admin", "admin")
CAMPAIGN = "Hostile values"
SCRIPT = "<script>alert(1)</script>"
IMAGE = "<img src=x onerror=alert(2)>"
LINK = '<a href="javascript:alert(3)">click</a>'
SCRIPT_EMAIL = "<script>alert('e')</script>"  # not an address: its row fails, and History shows why
DANGEROUS = ("<script", "<img", "onerror", "javascript:")


def hostile_csv() -> bytes:
    rows = [
        ["Email", "First Name", "Last Name", "Company", "Job Title"],
        ["ok.one@hostile.example", SCRIPT, "Normal", IMAGE, LINK],
        ["ok.two@hostile.example", "Anna", IMAGE, "Acme", SCRIPT],
        [SCRIPT_EMAIL, "Evil", "Email", "Acme", "x"],
    ]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def arrange(ctx: AppContext) -> tuple[int, int]:
    """The campaign (the bad email kept as typed, as the demo data path allows) and a push of it."""
    parsed = read_table(hostile_csv(), "hostile.csv")
    prepared = prepare(parsed, parsed.column_map, strict_emails=False)
    with ctx.db.begin() as session:
        campaign_id = import_campaign(session, name=CAMPAIGN, prepared=prepared).campaign_id
    assert connections.connect_sandbox(ctx, ADMIN, "hubspot").ok
    with ctx.db.session() as session:
        rows = [{**r, "lead_id": r["id"]} for r in leads_frame(session, campaign_id).to_dict("records")]
    request = runs.PushRequest(
        provider="hubspot", object_name="contacts", rows=rows, connection_name="hubspot",
        mapping=default_mapping("hubspot", "contacts"), source_label=CAMPAIGN, actor=ADMIN,
        campaign_id=campaign_id,
    )  # fmt: skip
    run_id = runs.create(ctx, request)
    runs.execute(ctx, run_id)
    return campaign_id, run_id


def rendered_as_html(at: AppTest) -> list[str]:
    """Bodies of ``st.html`` elements and ``unsafe_allow_html`` markdown that carry a dangerous tag."""
    found = []
    for node in nodes(at):
        proto = getattr(node, "proto", None)
        is_html = getattr(node, "type", "") == "html" or bool(getattr(proto, "allow_html", False))
        body = str(getattr(proto, "body", "")) if proto is not None else ""
        if is_html and any(tag in body.lower() for tag in DANGEROUS):
            found.append(body)
    return found


def cells(at: AppTest) -> set[str]:
    """Every cell of every table (dataframes and data editors) the page shows."""
    shown: set[str] = set()
    for table in at.dataframe:
        frame: Any = table.value
        shown.update(str(value) for value in frame.astype(str).to_numpy().ravel())
    return shown


def test_lead_values_are_text_on_every_page_that_shows_them(
    secure_app: AppHarness, secure_ctx: Callable[[AppHarness], AppContext]
) -> None:
    ctx = secure_ctx(secure_app)
    campaign_id, run_id = arrange(ctx)
    at = secure_app.as_admin()

    secure_app.open(at, "campaigns")
    at.selectbox(key="campaigns_browse").set_value(campaign_id).run()
    campaigns_page = (cells(at), rendered_as_html(at), list(at.exception))

    secure_app.open(at, "push")
    at.selectbox(key="push_campaign").select(CAMPAIGN).run()
    at.selectbox(key="push_provider").select("hubspot").run()
    push_page = (cells(at), rendered_as_html(at), list(at.exception))

    secure_app.open(at, "history")
    at.number_input(key="history_run").set_value(run_id).run()
    history_page = (cells(at), rendered_as_html(at), list(at.exception))

    for name, (_, as_html, errors) in {
        "campaigns": campaigns_page,
        "push": push_page,
        "history": history_page,
    }.items():
        assert errors == [], (name, errors)
        assert as_html == [], (name, as_html)
    for value in (SCRIPT, IMAGE, LINK, SCRIPT_EMAIL):
        assert value in campaigns_page[0], ("campaigns", value)
        assert value in push_page[0], ("push", value)
    # History's records table shows each row's email; the refused one's error message quotes it too.
    assert SCRIPT_EMAIL in history_page[0]
    assert any(SCRIPT_EMAIL in cell and "not a valid email" in cell for cell in history_page[0])
