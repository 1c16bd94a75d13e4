"""One run in detail: outcome, lineage (retries), actions, its settings as they were, and its records.

Records come a page at a time from the database, searched and filtered there (``service.history``);
the CSV is written only when "Download CSV" is clicked, from every matching record, formula-safe. Names
and messages from users or CRMs go into tables (plain text) or through :func:`ui.widgets.plain`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from crm.errors import CRMError
from data.runs import RunLocked
from service import history, runs
from service.auth import Actor
from service.context import AppContext
from service.history import CHECK_FILTERS, RECORD_ACTIONS, RecordQuery, RecordRow, RunDetail, RunRow
from ui import history_status, services
from ui.history_runs import MODES, badge, duration, open_run
from ui.widgets import count, plain, when

RECORD_PAGE_SIZES = (50, 100, 250, 1000)
ANY = "any"  # the "no filter" option of the record filters (None would read as "nothing chosen")
LINK_TTL_SECONDS = 3600  # a record link depends only on the connection's account: cheap to keep
CHECK_LABELS = {"changed": "Changed since the push", "unchanged": "Unchanged", "deleted": "Deleted",
                "merged": "Merged", "converted": "Converted", "unchecked": "Not checked"}  # fmt: skip
LINEAGE = {"retry": ("Retry", ":material/replay:"), "resume": ("Resume", ":material/play_arrow:")}


def detail(ctx: AppContext, actor: Actor, run_id: int) -> None:
    """Everything about run ``run_id``, in a bordered box below the table."""
    found = history.run_detail(ctx, run_id)
    if found is None:
        st.info(f"There is no run #{run_id}.")
        return
    with st.container(border=True, key="history_detail"):
        _header(found.run)
        _lineage(found)
        history_status.show_flash()  # what Retry, Resume or Check status just did, next to them
        history_status.run_progress(ctx, found.run)
        _actions(ctx, actor, found)
        history_status.check_section(ctx, found)
        _settings(found)
        _records(ctx, found)


def _header(run: RunRow) -> None:
    title_col, close_col = st.columns([6, 1], vertical_alignment="center")
    title_col.subheader(f"Run #{run.id}: {plain(run.source_label)} → {run.target}", anchor=False)
    close_col.button("Close", key="history_close", icon=":material/close:", on_click=open_run, args=(None,))
    with st.container(horizontal=True, vertical_alignment="center"):
        badge(run.state)
        if run.dry_run:
            st.badge("Dry run", color="gray", icon=":material/science:")
        st.caption(
            f"Started {when(run.started_at)} by {plain(run.created_by)} · {MODES.get(run.mode, run.mode)}"
            f" · took {duration(run.duration)} · {count(run.api_calls, 'API call')}"
        )
    for column, (label, value) in zip(
        st.columns(5),
        [("Total", run.total), ("Created", run.created), ("Updated", run.updated),
         ("Skipped", run.skipped), ("Failed", run.failed)],
        strict=True,
    ):  # fmt: skip
        column.metric(label, f"{value:,}")
    if run.error_message:
        st.warning(plain(run.error_message, max_chars=600), icon=":material/warning:")


def _lineage(found: RunDetail) -> None:
    """Links to the run this one retried, and to the runs that retried this one."""
    links: list[tuple[str, str, int]] = []
    if found.parent is not None:
        kind, icon = LINEAGE.get(found.run.parent_kind or "", ("Follow-up", ":material/link:"))
        links.append((f"{kind} of run #{found.parent.id} ({found.parent.state})", icon, found.parent.id))
    for child in found.children:
        kind, icon = LINEAGE.get(child.parent_kind or "", ("Follow-up", ":material/link:"))
        links.append((f"{kind}: run #{child.id} ({child.state})", icon, child.id))
    if not links:
        return
    with st.container(horizontal=True, vertical_alignment="center"):
        st.caption("Linked runs:")
        for label, icon, other in links:
            st.button(
                label,
                key=f"history_link_{other}",
                icon=icon,
                type="tertiary",
                on_click=open_run,
                args=(other,),
            )


def _actions(ctx: AppContext, actor: Actor, found: RunDetail) -> None:
    """Retry failed, Resume and Check status: each a background job; analysts may use them all."""
    run = found.run
    retry_reason = _why_no_retry(found)
    check_reason = history_status.can_check(found)
    with st.container(horizontal=True):
        if run.state == "interrupted" and not history_status.resuming(run.id):  # no second click
            st.button(
                "Resume",
                key=f"history_resume_{run.id}",
                type="primary",
                icon=":material/play_arrow:",
                on_click=history_status.start_resume,
                args=(run.id,),
                help="Send the rows this run had not sent when it stopped; nothing it sent goes again.",
            )
        if retry_reason is None:
            st.button(
                f"Retry {count(run.failed, 'failed row')}",
                key=f"history_retry_{run.id}",
                icon=":material/replay:",
                on_click=_retry,
                args=(ctx, actor, run.id),
                help="A new run of only the failed rows, with the same mapping, linked to this one. "
                "Leads fixed on the Campaigns page since are sent as they are now.",
            )
        st.button(
            "Check status",
            key=f"history_check_{run.id}",
            icon=":material/fact_check:",
            disabled=check_reason is not None or history_status.checking(run.id),
            on_click=history_status.start_check,
            args=(run,),
            help=check_reason
            or "Read the pushed records back from the CRM: still there? deleted, merged or converted? "
            "still holding what we pushed?",
        )


def _why_no_retry(found: RunDetail) -> str | None:
    run = found.run
    if run.failed == 0:
        return "No row failed."
    if run.dry_run:
        return "A dry run's failures are fixed on the Push page, then pushed."
    if run.active or run.state == "interrupted":
        return "The run has not finished."
    if found.connection_id is None:
        return history_status.NOT_CONNECTED
    return None


def _retry(ctx: AppContext, actor: Actor, run_id: int) -> None:
    """Button callback: create the retry run, submit it and open it."""
    try:
        new_id = runs.retry_failed(ctx, run_id, actor)
    except (ValueError, RunLocked, CRMError) as exc:
        history_status.flash("error", plain(str(exc), max_chars=400))
        return
    services.job_runner().submit("push", new_id)
    open_run(new_id)
    history_status.flash("success", f"Started run #{new_id}: a retry of the failed rows of run #{run_id}.")


def _settings(found: RunDetail) -> None:
    """The filters, mapping and custom fields exactly as the run used them (text tables, never HTML)."""
    mapping = found.mapping
    with st.expander("Filters, mapping and custom fields as they were", icon=":material/tune:"):
        filters_col, mapping_col = st.columns(2, gap="large")
        with filters_col:
            st.markdown("**Filters**")
            _pairs(found.filters, ("Filter", "Value"), "No filter: every lead of the source was pushed.")
            st.markdown("**Custom fields** (the same value on every record)")
            _pairs(mapping.get("constants") or {}, ("CRM field", "Value"), "No custom field.")
            if found.options:
                st.markdown("**Options**")
                _pairs(found.options, ("Option", "Value"), "")
        with mapping_col:
            st.markdown("**Mapping**")
            _pairs(mapping.get("fields") or {}, ("Lead field", "CRM field"), "No mapping was stored.")
            value_maps = mapping.get("value_maps") or {}
            if value_maps:
                st.markdown("**Value maps**")
                rows = [(field, ours, theirs) for field, values in value_maps.items()
                        for ours, theirs in dict(values).items()]  # fmt: skip
                st.dataframe(
                    pd.DataFrame(rows, columns=["Lead field", "Our value", "Sent as"]), hide_index=True
                )


def _pairs(values: Mapping[str, Any], columns: tuple[str, str], empty: str) -> None:
    if not values:
        if empty:
            st.caption(empty)
        return
    shown = [
        (str(k), v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)) for k, v in values.items()
    ]
    st.dataframe(pd.DataFrame(shown, columns=list(columns)), hide_index=True)


def _records(ctx: AppContext, found: RunDetail) -> None:
    """Searchable, filterable, paged records with links to the CRM, and the CSV of all that match."""
    run = found.run
    st.markdown("**Records**")
    search_col, action_col, check_col, size_col, page_col = st.columns(
        [4, 2, 2, 1, 1], vertical_alignment="bottom"
    )
    search = search_col.text_input(
        "Search records", key=f"history_search_{run.id}", placeholder="Part of an email, CRM id or error"
    )
    action = action_col.selectbox(
        "Action",
        [ANY, *RECORD_ACTIONS],
        format_func=lambda a: "Any action" if a == ANY else a.capitalize(),
        key=f"history_action_{run.id}",
    )
    check = check_col.selectbox(
        "Now in the CRM",
        [ANY, *CHECK_FILTERS],
        format_func=lambda c: "Anything" if c == ANY else CHECK_LABELS[c],
        key=f"history_check_filter_{run.id}",
        disabled=found.check is None,
        help=None if found.check else "Filled in by Check status.",
    )
    query = RecordQuery(
        action=None if action in (ANY, None) else action,
        search=search.strip() or None,
        check=None if check in (ANY, None) else check,
    )
    size = int(size_col.selectbox("Per page", RECORD_PAGE_SIZES, key=f"history_record_size_{run.id}") or 50)
    page_key = f"history_record_page_{run.id}"
    if st.session_state.get(f"{page_key}_query") != (query, size):  # a new search starts at page 1
        st.session_state[f"{page_key}_query"] = (query, size)
        st.session_state[page_key] = 1
    current = st.session_state.get(page_key)
    current = int(current) if isinstance(current, int | float) and current >= 1 else 1
    rows, total = history.records_page(ctx, run.id, query, page=current, size=size)
    pages = max(1, math.ceil(total / size))
    if current > pages:  # the run has fewer records than the page asked for (a retry reran nothing)
        current = st.session_state[page_key] = pages
        rows, total = history.records_page(ctx, run.id, query, page=current, size=size)
    page = int(page_col.number_input(f"Page of {pages:,}", min_value=1, max_value=pages, key=page_key))
    template = _link_template(ctx, found)
    st.dataframe(
        records_frame(rows, template, dry_run=run.dry_run, checked=found.check is not None),
        key=f"history_records_{run.id}",
        hide_index=True,
        column_config={
            "Row": st.column_config.NumberColumn(format="%d", width="small"),
            "Record": st.column_config.LinkColumn(display_text="Open ↗", width="small"),
        },
    )
    start = (page - 1) * size
    if total:
        st.caption(f"Records {start + 1:,}–{start + len(rows):,} of {total:,}")
    else:
        st.caption("No record matches.")
    st.download_button(
        f"Download CSV ({count(total, 'record')})",
        data=lambda: history.records_csv(ctx, run.id, query, template),
        file_name=f"crm-push-run-{run.id}.csv",
        mime="text/csv",
        key=f"history_csv_{run.id}",
        on_click="ignore",
        icon=":material/download:",
        disabled=total == 0,
        help="Every record matching the search and filters, on all pages. A cell a spreadsheet would run "
        "as a formula (=, +, -, @) is quoted so it shows as text.",
    )


def _link_template(ctx: AppContext, found: RunDetail) -> str | None:
    """No links without a connection; a reconnect (a new connection id) makes new ones."""
    if found.connection_id is None:
        return None
    run = found.run
    return _cached_link_template(
        str(ctx.db.url), found.connection_id, run.connection_name, run.object_name, ctx
    )


@st.cache_data(ttl=LINK_TTL_SECONDS, max_entries=32, show_spinner=False)
def _cached_link_template(
    database_url: str, connection_id: int, connection_name: str, object_name: str, _ctx: AppContext
) -> str | None:
    # ``database_url`` and ``connection_id`` only key the cache: a new connection gets new links.
    return history.record_link_template(_ctx, connection_name, object_name)


def records_frame(
    rows: Sequence[RecordRow], template: str | None, *, dry_run: bool, checked: bool
) -> pd.DataFrame:
    """The records table: values stay text in the grid; the link is built from our own template."""
    columns: dict[str, list[Any]] = {
        "Row": [r.row_index for r in rows],
        "Email": [r.email or "" for r in rows],
        "Action": [r.action for r in rows],
        "CRM id": [r.crm_id or "" for r in rows],
        "Record": [history.record_link(template, r.crm_id) for r in rows],
        "Error": [" ".join(filter(None, (r.error_code, r.error_message))) for r in rows],
    }
    if dry_run:
        columns["Would change"] = [history.describe_diff(r.changes) for r in rows]
    if checked:
        columns["Now in the CRM"] = [r.check_state or "" for r in rows]
        columns["Changed (pushed → now)"] = [history.describe_diff(r.check_diff) for r in rows]
        columns["Modified in CRM"] = [r.check_modified_at or "" for r in rows]
    return pd.DataFrame(columns)
