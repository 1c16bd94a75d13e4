"""The Push page's results: a green, amber or red summary card, every row's outcome with its CRM link,
a formula-safe CSV of them all, and "Retry failed" for the rows the analyst has fixed.

A finished run's results never change, so they are read once per run and cached; the CSV is built only
when the download is clicked (a deferred download), since a 100,000-row run makes a large file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from crm.errors import CRMError
from data.models import Connection
from data.runs import RunLocked
from service import push_launch, push_results
from service.auth import Actor
from service.connections import explain
from service.context import AppContext
from service.history import RunRow
from ui import push_leads, services
from ui import push_state as keys
from ui.push_source import Source
from ui.widgets import count, plain

SHOWN_ROWS = 1000
SHOW = {
    "failed": "Failed",
    "all": "All rows",
    "created": "Created",
    "updated": "Updated",
    "skipped": "Skipped",
}
LINK_TTL_SECONDS = 600


@st.cache_data(ttl=LINK_TTL_SECONDS, max_entries=8, show_spinner=False)
def _template(
    database_url: str, connection_name: str, updated_at: datetime | None, object_name: str, _conn: Connection,
    _ctx: AppContext,
) -> str | None:  # fmt: skip
    return push_results.link_template(_ctx, _conn, object_name)


@st.cache_resource(max_entries=6, show_spinner="Reading the results…")
def _results(
    database_url: str,
    run_id: int,
    state: str,
    done: int,
    template: str | None,
    dry_run: bool,
    _ctx: AppContext,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = push_results.results_frame(_ctx, run_id, template)
    return frame, push_results.by_lead(frame, dry_run)


def results(ctx: AppContext, source: Source, view: RunRow) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(every row, per lead) of a finished run; None while it runs."""
    if view.active:
        return None
    conn = source.connection
    template = _template(str(ctx.db.url), conn.name, conn.updated_at, view.object_name, conn, ctx)
    return _results(str(ctx.db.url), view.id, view.state, view.done, template, view.dry_run, ctx)


def summary_card(view: RunRow, stale: bool) -> None:
    """Green: all ok; amber: partly; red: failed. Test runs say what a push would do."""
    kind = {"green": st.success, "amber": st.warning, "red": st.error}[view.tone]
    icon = {"green": ":material/check_circle:", "amber": ":material/warning:", "red": ":material/error:"}
    if view.dry_run:
        headline = (
            f"Test run #{view.id}: a push would create {view.created:,}, update {view.updated:,}, "
            f"skip {view.skipped:,} and fail {view.failed:,} of {count(view.total, 'row')}. "
            "Nothing was written."
        )
    else:
        verb = {"completed": "done", "partial": "partly done", "failed": "failed", "cancelled": "stopped"}
        headline = (
            f"Push #{view.id} {verb.get(view.state, view.state)}: {view.created:,} created, "
            f"{view.updated:,} updated, {view.skipped:,} skipped, {view.failed:,} failed "
            f"of {count(view.total, 'row')}."
        )
    if view.error_message:
        headline += f" {plain(view.error_message, max_chars=300)}"
    with st.container(border=True, key=f"push_summary_{view.tone}"):
        kind(headline, icon=icon[view.tone])
        created, updated, skipped, failed, calls = st.columns(5)
        created.metric("Created" if not view.dry_run else "Would create", f"{view.created:,}")
        updated.metric("Updated" if not view.dry_run else "Would update", f"{view.updated:,}")
        skipped.metric("Skipped", f"{view.skipped:,}")
        failed.metric("Failed", f"{view.failed:,}")
        calls.metric("API calls", f"{view.api_calls:,}")
        if stale:
            st.caption("The table, filters or mapping changed since this run started: its results are of the "
                       "rows as they were then.")  # fmt: skip


def _table(frame: pd.DataFrame, dry_run: bool) -> None:
    default = "failed" if (frame["action"] == "failed").any() else "all"
    show = (
        st.segmented_control(
            "Show", list(SHOW), format_func=SHOW.__getitem__, default=default, key=keys.RESULTS_SHOW
        )
        or default
    )
    rows = frame if show == "all" else frame[frame["action"] == show]
    table = pd.DataFrame(
        {
            "Row": rows["row"],
            "Email": rows["email"],
            "Outcome": push_results.outcome_labels(rows, dry_run),
            "CRM id": rows["crm_id"],
            "Record": rows["crm_url"].where(rows["crm_url"] != "", None),
        }
    ).head(SHOWN_ROWS)
    has_links = bool(table["Record"].notna().any())
    st.dataframe(
        table if has_links else table.drop(columns=["Record"]),
        key="push_results_table",
        hide_index=True,
        column_config={
            "Row": st.column_config.NumberColumn(format="%d", width="small"),
            "Outcome": st.column_config.TextColumn(width="large"),
            "Record": st.column_config.LinkColumn("Record", display_text="Open in the CRM"),
        },
    )
    if len(rows) > SHOWN_ROWS:
        st.caption(f"The first {SHOWN_ROWS:,} of {len(rows):,}; the download has them all.")


def section(ctx: AppContext, actor: Actor, source: Source, view: RunRow, stale: bool) -> None:
    summary_card(view, stale)
    found = results(ctx, source, view)
    if found is None:
        return
    frame, _ = found
    _table(frame, view.dry_run)
    download, retry, _ = st.columns([1, 1, 3])
    name = f"{'test-run' if view.dry_run else 'push'}-{view.id}-results.csv"
    download.download_button(
        "Download results", data=lambda: push_results.results_csv(frame), file_name=name, mime="text/csv",
        key="push_download", icon=":material/download:", on_click="ignore",
    )  # fmt: skip
    if not view.dry_run and view.failed:
        retry.button(
            f"Retry {count(view.failed, 'failed row')}", key="push_retry", icon=":material/replay:",
            on_click=_retry, args=(ctx, actor, source, view.id),
        )  # fmt: skip
        st.caption(
            "Fix the failed rows in the table above (tick “Only failed rows” to see just them), then retry: "
            "only those rows are pushed again, with your fixes."
        )


def _retry(ctx: AppContext, actor: Actor, source: Source, run_id: int) -> None:
    """Push the failed rows again: from the table with the analyst's fixes when any was edited (or the
    mapping changed), else as they were sent (``service.runs.retry_failed``)."""
    plan: Any = st.session_state.get(keys.PLAN)
    failed = push_launch.failed_lead_ids(ctx, run_id)
    edits = push_leads.campaign_edits(source.campaign.id)
    run = push_launch.get_run(ctx, run_id)
    mapping_changed = plan is not None and run is not None and plan.mapping.to_json() != run.mapping
    try:
        if plan is not None and (mapping_changed or any(lead_id in edits for lead_id in failed)):
            work = push_leads.working_frame(ctx, source.campaign)
            ids = [lead_id for lead_id in failed if lead_id in work.index]
            new_id = push_launch.start(
                ctx, services.job_runner(), target=source.target,
                rows=push_launch.request_rows(work.loc[ids]), mapping=plan.mapping, actor=actor,
                filters={**plan.filters, "retry_of_run": run_id}, dry_run=False, parent_run_id=run_id,
            )  # fmt: skip
        else:
            new_id = push_launch.retry_unedited(ctx, services.job_runner(), run_id, actor)
    except RunLocked as exc:
        keys.flash("error", f"{plain(str(exc))}. Retry once it has ended.")
        return
    except (CRMError, ValueError) as exc:
        message = explain(exc, source.target.provider) if isinstance(exc, CRMError) else str(exc)
        keys.flash("error", plain(message))
        return
    keys.bucket(keys.RUNS)[keys.target_key(source.target)] = new_id
    if plan is not None:
        keys.bucket(keys.SIGNATURES)[new_id] = plan.signature
    keys.flash("info", f"Retrying {count(len(failed), 'failed row')} as push #{new_id}.")
