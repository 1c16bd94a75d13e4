"""The History page's list of runs: its filters, one page of the table, the pager and opening a run.

The database does the filtering and paging (``service.history.runs_page``), so a history of thousands
of runs costs one page of rows per rerun. The open run is the ``history_run`` widget, bound to the URL
(``/history?history_run=12``), so a run can be linked to; selecting a row of the table, and the links
between a run and its retries, set it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from functools import partial

import pandas as pd
import streamlit as st

from service import history
from service.connections import PROVIDER_LABELS, PROVIDERS
from service.context import AppContext
from service.history import RUN_STATES, RunFilters, RunRow
from ui.widgets import when

RUN_KEY = "history_run"  # the open run's id (bound to the URL's query string)
PAGE_KEY = "history_page"
PAGE_SIZE_KEY = "history_page_size"
SHOWN_FILTERS_KEY = "history_shown_filters"  # the filters the current page number belongs to
PAGE_SIZES = (25, 50, 100, 250)
ALL = "all"  # the provider filter's "no filter" option (None would read as "nothing chosen")
ALL_CAMPAIGNS = 0  # campaign ids start at 1
KINDS = {"all": "All runs", "push": "Pushes", "dry": "Dry runs"}
MODES = {"upsert": "Upsert", "create-only": "Create only", "update-only": "Update only"}
# One colour per outcome, shared by the table's badges and the charts (Streamlit's palette).
STATE_COLORS = {
    "completed": "#21c354",
    "partial": "#ffa421",
    "failed": "#ff4b4b",
    "running": "#1c83e1",
    "queued": "#83c9ff",
    "interrupted": "#803df5",
    "cancelled": "#a3a8b8",
}
BADGE_COLORS = {"completed": "green", "partial": "orange", "failed": "red", "running": "blue",
                "queued": "blue", "interrupted": "violet", "cancelled": "gray"}  # fmt: skip
BADGE_ICONS = {"completed": ":material/check_circle:", "partial": ":material/rule:",
               "failed": ":material/error:", "running": ":material/progress_activity:",
               "queued": ":material/schedule:", "interrupted": ":material/pause_circle:",
               "cancelled": ":material/cancel:"}  # fmt: skip


# The grid's own "Download as CSV" writes cells raw, so a campaign name, email or CRM error starting with
# "=" would run as a formula in a spreadsheet; this page's exports go through service.exports instead.
# Style only (no user data), and gone with the page's other elements when another page opens.
_NO_RAW_GRID_EXPORT = """<style>
  [data-testid="stMain"] [data-testid="stElementToolbarButton"]:has(button[aria-label="Download as CSV"]) {
    display: none;
  }
</style>"""


def no_raw_grid_export() -> None:
    """Hide the tables' built-in CSV export on this page (see ``_NO_RAW_GRID_EXPORT``)."""
    st.html(_NO_RAW_GRID_EXPORT)


def open_run(run_id: int | None) -> None:
    """Button callback: show ``run_id``'s detail (None closes it)."""
    st.session_state[RUN_KEY] = run_id


def filters(ctx: AppContext) -> RunFilters:
    """Provider, campaign, date range, outcome and kind, in one row."""
    provider_col, campaign_col, from_col, to_col, outcome_col, kind_col = st.columns([2, 3, 2, 2, 3, 2])
    provider = provider_col.selectbox(
        "Provider",
        [ALL, *PROVIDERS],
        format_func=lambda p: "All providers" if p == ALL else PROVIDER_LABELS[p],
        key="history_provider",
    )
    campaigns = dict(history.campaign_choices(ctx))
    campaign = campaign_col.selectbox(
        "Campaign",
        [ALL_CAMPAIGNS, *campaigns],
        format_func=lambda c: "All campaigns" if c == ALL_CAMPAIGNS else campaigns.get(c, f"Campaign {c}"),
        key="history_campaign",
    )
    first = from_col.date_input("From", value=None, format="YYYY-MM-DD", key="history_from")
    last = to_col.date_input("To", value=None, format="YYYY-MM-DD", key="history_to")
    states = outcome_col.multiselect("Outcome", RUN_STATES, key="history_outcome", placeholder="Any outcome")
    kind = kind_col.selectbox(
        "Kind", list(KINDS), format_func=KINDS.__getitem__, key="history_kind", help="Dry runs write nothing"
    )
    first_day, last_day = _day(first), _day(last)
    if first_day and last_day and first_day > last_day:
        st.caption("“From” is after “To”: showing the days between them.")
        first_day, last_day = last_day, first_day
    return RunFilters(
        provider=None if provider in (ALL, None) else str(provider),
        campaign_id=None if campaign in (ALL_CAMPAIGNS, None) else int(campaign),
        first_day=first_day,
        last_day=last_day,
        states=tuple(states),
        dry_run={"all": None, "push": False, "dry": True}[kind],
    )


def _day(value: object) -> date | None:
    return value if isinstance(value, date) else None


def runs_list(ctx: AppContext, chosen: RunFilters) -> list[RunRow]:
    """The pager, one page of the table and its caption; returns the runs shown."""
    if st.session_state.get(SHOWN_FILTERS_KEY) != chosen:  # new filters start again at page 1
        st.session_state[SHOWN_FILTERS_KEY] = chosen
        st.session_state[PAGE_KEY] = 1
    size_col, page_col, run_col, refresh_col = st.columns([2, 2, 2, 6], vertical_alignment="bottom")
    size = int(size_col.selectbox("Runs per page", PAGE_SIZES, index=1, key=PAGE_SIZE_KEY) or 50)
    rows, total = history.runs_page(ctx, chosen, page=_page(), size=size)
    pages = max(1, math.ceil(total / size))
    if _page() > pages:  # fewer pages than before: a smaller filter, a larger page size
        st.session_state[PAGE_KEY] = pages
        rows, total = history.runs_page(ctx, chosen, page=pages, size=size)
    page = int(page_col.number_input(f"Page of {pages:,}", min_value=1, max_value=pages, key=PAGE_KEY))
    run_col.number_input(
        "Open run #",
        min_value=1,
        value=None,
        step=1,
        key=RUN_KEY,
        bind="query-params",
        placeholder="Run number",
        help="Select a row of the table, or type a run's number.",
    )
    refresh_col.button("Refresh", key="history_refresh", icon=":material/refresh:")
    if not rows:
        if chosen == RunFilters():
            st.info("No push yet. Push a campaign on the Push page: every push and dry run shows here.")
        else:
            st.info("No run matches these filters.")
        return rows
    _table(rows, key=f"history_runs_{page}_{size}_{hash(chosen)}")
    start = (page - 1) * size
    st.caption(f"Runs {start + 1:,}–{start + len(rows):,} of {total:,}, newest first · times in UTC")
    return rows


def _page() -> int:
    value = st.session_state.get(PAGE_KEY)
    return int(value) if isinstance(value, int | float) and value >= 1 else 1


def runs_frame(rows: Sequence[RunRow]) -> pd.DataFrame:
    """The table's columns; user data (campaign names, usernames) stays plain text in the grid."""
    return pd.DataFrame(
        {
            "Run": [row.id for row in rows],
            "Date": [when(row.started_at) for row in rows],
            "Campaign": [row.source_label for row in rows],
            "Provider": [row.target for row in rows],
            "Mode": [MODES.get(row.mode, row.mode) for row in rows],
            "Dry run": [row.dry_run for row in rows],
            "By": [row.created_by for row in rows],
            "Total": [row.total for row in rows],
            "Created": [row.created for row in rows],
            "Updated": [row.updated for row in rows],
            "Skipped": [row.skipped for row in rows],
            "Failed": [row.failed for row in rows],
            "Duration": [duration(row.duration) for row in rows],
            "Status": [[row.state] for row in rows],
        }
    )


def _table(rows: Sequence[RunRow], *, key: str) -> None:
    number = st.column_config.NumberColumn(format="localized", width="small")
    st.dataframe(
        runs_frame(rows),
        key=key,
        hide_index=True,
        on_select=partial(_on_select, key, [row.id for row in rows]),
        selection_mode="single-row",
        column_config={
            "Run": st.column_config.NumberColumn(format="#%d", width="small", pinned=True),
            "Dry run": st.column_config.CheckboxColumn(width="small", help="A test: nothing was written"),
            **{name: number for name in ("Total", "Created", "Updated", "Skipped", "Failed")},
            "Status": st.column_config.MultiselectColumn(
                options=list(STATE_COLORS), color=list(STATE_COLORS.values()), width="small"
            ),
        },
    )


def _on_select(key: str, ids: list[int]) -> None:
    """Selecting a row opens that run (the callback runs before the page, so the detail follows)."""
    state = st.session_state.get(key)
    chosen = list(state["selection"]["rows"]) if state else []
    if chosen and 0 <= chosen[0] < len(ids):
        open_run(ids[chosen[0]])


def duration(seconds: float | None) -> str:
    """``0.4 s``, ``42 s``, ``3 min 05 s``, ``1 h 02 min``; ``—`` while a run has not finished."""
    if seconds is None:
        return "—"
    if seconds < 0.1:
        return "< 0.1 s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def badge(state: str) -> None:
    """The run's outcome as a coloured badge (a fixed word: never user data)."""
    st.badge(state.capitalize(), color=BADGE_COLORS.get(state, "gray"), icon=BADGE_ICONS.get(state))  # type: ignore[arg-type]
