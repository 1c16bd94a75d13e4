"""History page: the runs table (columns, newest first, dead runs shown interrupted), its filters,
paging through thousands of runs, and the two charts above it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from app_harness import AppHarness, texts
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest
from test_app_history_support import (
    DACH,
    FINTECH,
    NA_SAAS,
    campaign_id,
    context,
    fresh_sandboxes,
    history_page,
    insert_runs,
    push,
    run,
    runs_table,
    set_run,
)

from data.models import utcnow
from service import runs


@pytest.fixture(autouse=True)
def _sandboxes() -> Iterator[None]:
    with fresh_sandboxes():
        yield


def shown_ids(at: AppTest) -> list[int]:
    return [int(value) for value in runs_table(at)["Run"]]


def caption_of_table(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Runs "))


def test_every_run_newest_first_with_its_numbers_and_a_dead_run_shown_interrupted(
    crm_app: AppHarness,
) -> None:
    ctx = context()
    hubspot = push(ctx, "hubspot", NA_SAAS)
    salesforce = push(ctx, "salesforce", NA_SAAS)  # Salesforce refuses 2 leads: partial
    dry = push(ctx, "hubspot", DACH, dry_run=True)
    dead = push(ctx, "hubspot", FINTECH, execute=False)
    # Its worker (on another machine) went silent mid-run:
    set_run(ctx, dead, state="running", worker="elsewhere:4242", heartbeat_at=utcnow() - timedelta(minutes=5))

    at = history_page(crm_app, analyst=True)

    table = runs_table(at).set_index("Run")
    assert shown_ids(at) == [dead, dry, salesforce, hubspot]
    assert run(ctx, dead).state == "interrupted"  # the page reaped it on load
    assert list(table.columns) == [
        "Date", "Campaign", "Provider", "Mode", "Dry run", "By", "Total", "Created", "Updated", "Skipped",
        "Failed", "Duration", "Status",
    ]  # fmt: skip
    first = table.loc[hubspot]
    assert (first["Campaign"], first["Provider"], first["Mode"], first["By"]) == (
        NA_SAAS, "HubSpot contacts", "Upsert", "admin"
    )  # fmt: skip
    assert not first["Dry run"] and first["Date"].endswith(" UTC") and first["Duration"].endswith("s")
    assert [first[c] for c in ("Total", "Created", "Updated", "Skipped", "Failed")] == [102, 102, 0, 0, 0]
    assert list(first["Status"]) == ["completed"]
    second = table.loc[salesforce]
    assert (second["Provider"], second["Created"], second["Failed"]) == ("Salesforce Lead", 100, 2)
    assert list(second["Status"]) == ["partial"]
    assert table.loc[dry]["Dry run"] and list(table.loc[dry]["Status"]) == ["completed"]
    assert list(table.loc[dead]["Status"]) == ["interrupted"] and table.loc[dead]["Duration"] == "—"
    assert caption_of_table(at).startswith("Runs 1–4 of 4, newest first")
    assert not at.exception


def test_runs_in_progress_are_followed_until_they_end(crm_app: AppHarness) -> None:
    ctx = context()
    queued = push(ctx, "hubspot", DACH, execute=False)  # waiting for a worker
    at = history_page(crm_app)
    assert list(runs_table(at).set_index("Run").loc[queued, "Status"]) == ["queued"]
    assert "1 run in progress: this list follows them." in texts(at)

    runs.execute(ctx, queued)  # a worker takes it and finishes
    at.run()

    assert list(runs_table(at).set_index("Run").loc[queued, "Status"]) == ["completed"]
    assert "in progress" not in texts(at)
    assert not at.exception


def test_an_empty_history_says_where_pushes_come_from(crm_app: AppHarness) -> None:
    at = history_page(crm_app)

    assert "No push yet" in texts(at)
    assert not at.get("vega_lite_chart")
    assert not at.exception


def test_filters_by_provider_campaign_dates_outcome_and_kind(crm_app: AppHarness) -> None:
    ctx = context()
    na_saas, dach = campaign_id(ctx, NA_SAAS), campaign_id(ctx, DACH)
    march = datetime(2025, 3, 1, 12, tzinfo=UTC)
    insert_runs(ctx, 1, started=march, campaign_id=na_saas, source_label=NA_SAAS)  # 1
    insert_runs(ctx, 1, started=march + timedelta(days=9), provider="salesforce", object_name="Lead",
                connection_name="salesforce", campaign_id=dach, source_label=DACH, state="failed",
                created=0, failed=10)  # 2  # fmt: skip
    insert_runs(ctx, 1, started=march + timedelta(days=20), campaign_id=dach, source_label=DACH,
                state="partial", failed=3)  # 3  # fmt: skip
    insert_runs(ctx, 1, started=march + timedelta(days=21), campaign_id=na_saas, source_label=NA_SAAS,
                dry_run=True)  # 4  # fmt: skip
    at = history_page(crm_app)
    assert shown_ids(at) == [4, 3, 2, 1]

    at.selectbox(key="history_provider").set_value("salesforce").run()
    assert shown_ids(at) == [2]
    at.selectbox(key="history_provider").set_value("all").run()

    campaigns = at.selectbox(key="history_campaign")
    assert campaigns.options == ["All campaigns", DACH, NA_SAAS]  # only campaigns with runs, by name
    campaigns.set_value(dach).run()
    assert shown_ids(at) == [3, 2]
    at.selectbox(key="history_campaign").set_value(0).run()

    at.date_input(key="history_from").set_value(date(2025, 3, 10)).run()
    assert shown_ids(at) == [4, 3, 2]
    at.date_input(key="history_to").set_value(date(2025, 3, 21)).run()  # both days included
    assert shown_ids(at) == [3, 2]
    at.date_input(key="history_from").set_value(date(2025, 3, 22)).run()  # reversed: the days between
    assert shown_ids(at) == [4, 3]
    assert "“From” is after “To”" in texts(at)
    at.date_input(key="history_from").set_value(None).run()
    at.date_input(key="history_to").set_value(None).run()

    at.multiselect(key="history_outcome").set_value(["failed", "partial"]).run()
    assert shown_ids(at) == [3, 2]
    at.multiselect(key="history_outcome").set_value([]).run()

    at.selectbox(key="history_kind").set_value("dry").run()
    assert shown_ids(at) == [4]
    assert "The charts count real pushes" in texts(at)
    at.selectbox(key="history_kind").set_value("push").run()
    assert shown_ids(at) == [3, 2, 1]

    at.selectbox(key="history_provider").set_value("salesforce").run()
    at.multiselect(key="history_outcome").set_value(["completed"]).run()
    assert "No run matches these filters." in texts(at)
    assert not at.exception


def test_pages_through_thousands_of_runs_a_page_at_a_time(crm_app: AppHarness) -> None:
    ctx = context()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    insert_runs(ctx, 2_600, started=start)  # ids 1..2600, newest (same time, larger id) first
    insert_runs(ctx, 1, started=start + timedelta(days=1), state="failed", created=0, failed=10)  # 2601

    at = history_page(crm_app)
    assert len(runs_table(at)) == 50
    assert shown_ids(at)[:2] == [2601, 2600] and caption_of_table(at).startswith("Runs 1–50 of 2,601")
    page = at.number_input(key="history_page")
    assert page.label == "Page of 53"

    page.set_value(53).run()
    assert shown_ids(at) == [1] and caption_of_table(at).startswith("Runs 2,601–2,601 of 2,601")
    at.number_input(key="history_page").set_value(27).run()
    assert shown_ids(at) == list(range(1301, 1251, -1))

    at.selectbox(key="history_page_size").set_value(250).run()  # page 27 no longer exists: the last one
    assert at.number_input(key="history_page").value == 11
    assert shown_ids(at) == list(range(101, 0, -1))
    assert caption_of_table(at).startswith("Runs 2,501–2,601 of 2,601")

    at.multiselect(key="history_outcome").set_value(["failed"]).run()  # a new filter starts at page 1
    assert at.number_input(key="history_page").value == 1 and shown_ids(at) == [2601]
    assert not at.exception


def chart_data(at: AppTest, index: int) -> pd.DataFrame:
    """The data behind chart ``index`` of the page, as Vega-Lite receives it."""
    proto: Any = at.get("vega_lite_chart")[index].proto
    if proto.datasets:
        return dataframe_util.convert_arrow_bytes_to_pandas_df(proto.datasets[0].data.data)
    return dataframe_util.convert_arrow_bytes_to_pandas_df(proto.data.data)


def test_charts_count_real_pushes_per_day_by_outcome_and_records_per_provider(crm_app: AppHarness) -> None:
    ctx = context()
    hubspot = push(ctx, "hubspot", NA_SAAS)  # completed: 102 created
    salesforce = push(ctx, "salesforce", NA_SAAS)  # partial: 100 created, 2 failed
    again = push(ctx, "hubspot", NA_SAAS, force_full=True)  # completed: 102 updated
    push(ctx, "hubspot", DACH, dry_run=True)  # a dry run: left out of both charts
    set_run(ctx, hubspot, started_at=datetime(2025, 3, 1, 9, tzinfo=UTC))
    set_run(ctx, salesforce, started_at=datetime(2025, 3, 1, 23, 59, tzinfo=UTC))
    set_run(ctx, again, started_at=datetime(2025, 3, 2, 0, 1, tzinfo=UTC))

    at = history_page(crm_app)

    outcomes, providers = chart_data(at, 0), chart_data(at, 1)
    per_day = {(str(row.day)[:10], row.outcome): row.pushes for row in outcomes.itertuples()}
    assert per_day == {("2025-03-01", "completed"): 1, ("2025-03-01", "partial"): 1,
                       ("2025-03-02", "completed"): 1}  # fmt: skip
    totals = {(row.target, row.measure): row.records for row in providers.itertuples()}
    assert totals == {
        ("HubSpot contacts", "created"): 102, ("HubSpot contacts", "updated"): 102,
        ("HubSpot contacts", "failed"): 0, ("Salesforce Lead", "created"): 100,
        ("Salesforce Lead", "updated"): 0, ("Salesforce Lead", "failed"): 2,
    }  # fmt: skip
    titles = [json.loads(chart.proto.spec)["title"] for chart in at.get("vega_lite_chart")]
    assert titles == ["Pushes per day, by outcome", "Records created, updated and failed, per provider"]

    at.selectbox(key="history_provider").set_value("salesforce").run()  # the charts follow the filters
    assert {row.target for row in chart_data(at, 1).itertuples()} == {"Salesforce Lead"}
    assert not at.exception
