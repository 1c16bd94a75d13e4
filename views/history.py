"""History: every push and dry run, charts of how they went, and one run in detail with its records,
a live status check against the CRM, retry of failed rows and resume of an interrupted run."""

from __future__ import annotations

import streamlit as st

from ui import history_charts, history_detail, history_runs, history_status, services
from ui.auth import current_actor

actor = current_actor()
ctx = services.context()
st.title("History")
history_runs.no_raw_grid_export()  # the records' CSV is the formula-safe "Download CSV" button
history_status.reap(ctx, force=True)  # a run whose worker died shows as interrupted, not running

filters = history_runs.filters(ctx)
history_charts.charts(ctx, filters)
shown = history_runs.runs_list(ctx, filters)
history_status.watch_active(ctx, shown)

open_run = st.session_state.get(history_runs.RUN_KEY)
if isinstance(open_run, int | float) and open_run >= 1:
    history_detail.detail(ctx, actor, int(open_run))  # it shows the last action's message too
else:
    history_status.show_flash()
