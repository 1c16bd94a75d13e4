"""Campaigns: every campaign, a browser for its leads, delete (admins), and import from CSV/XLSX."""

from __future__ import annotations

import streamlit as st

from ui import campaign_import, campaigns, services
from ui.auth import current_actor

actor = current_actor()
ctx = services.context()
st.title("Campaigns")

browse_tab, import_tab = st.tabs(["Campaigns", "Import a file"], key="campaigns_tabs")

with browse_tab:
    deleted = st.session_state.pop(campaigns.DELETED_KEY, None)
    if deleted:
        st.success(deleted, icon=":material/delete:")
    summaries = campaigns.summaries(ctx)
    if not summaries:
        st.info("No campaigns yet. Import a CSV or XLSX file on the next tab.")
    else:
        campaigns.campaigns_table(summaries)
        by_id = {summary.id: summary for summary in summaries}
        chosen = st.selectbox(
            "Browse the leads of",
            list(by_id),
            format_func=lambda campaign_id: campaigns.option_label(by_id[campaign_id]),
            key="campaigns_browse",
        )
        if chosen is not None:
            campaigns.browse(ctx, by_id[chosen])
            campaigns.delete_section(ctx, by_id[chosen])

with import_tab:
    if campaign_import.import_section(ctx):
        campaigns.forget_cached_leads()
        st.rerun()
