"""The Campaigns page's list, lead browser and delete, over ``data.leads``.

Browsing pages through one campaign's leads: ``data.leads.leads_frame`` reads a whole campaign (100,000
leads take a few seconds), so it is cached per campaign for a short while and the pages are slices of
it. The key includes the lead count and the creation time, so an import, a delete or a reused id never
shows stale rows; edits made on another page show after ``LEADS_TTL_SECONDS`` or a Reload.
"""

from __future__ import annotations

import json
import math
from datetime import datetime

import pandas as pd
import streamlit as st

from data.db import Database
from data.lead_values import LABELS
from data.leads import CampaignSummary, delete_campaign, leads_frame, list_campaigns
from service.auth import Actor, require_admin
from service.context import AppContext
from ui import auth
from ui.widgets import count, plain, when

PAGE_SIZES = (50, 100, 250, 1000)
LEADS_TTL_SECONDS = 60
DELETED_KEY = "campaigns_deleted_message"


def summaries(ctx: AppContext) -> list[CampaignSummary]:
    with ctx.db.session() as session:
        return list_campaigns(session)


def campaigns_table(campaigns: list[CampaignSummary]) -> None:
    """Name, lead count, created date and source of every campaign, newest first."""
    frame = pd.DataFrame(
        {
            "Campaign": [c.name for c in campaigns],
            "Leads": [c.lead_count for c in campaigns],
            "Created": [when(c.created_at) for c in campaigns],
            "Source": [c.source for c in campaigns],
        }
    )
    st.dataframe(
        frame,
        key="campaigns_table",
        hide_index=True,
        column_config={"Leads": st.column_config.NumberColumn(format="localized", width="small")},
    )


@st.cache_data(ttl=LEADS_TTL_SECONDS, max_entries=4, show_spinner="Loading the leads…")
def _campaign_frame(
    database_url: str, campaign_id: int, lead_count: int, created_at: datetime, _db: Database
) -> pd.DataFrame:
    # ``database_url``, ``lead_count`` and ``created_at`` only key the cache (see the module docstring).
    with _db.session() as session:
        frame = leads_frame(session, campaign_id)
    frame["extra"] = [json.dumps(extra, ensure_ascii=False) if extra else "" for extra in frame["extra"]]
    return frame


def browse(ctx: AppContext, campaign: CampaignSummary) -> None:
    """One page of the campaign's leads, with a text filter; values are shown as text, never HTML."""
    frame = _campaign_frame(str(ctx.db.url), campaign.id, campaign.lead_count, campaign.created_at, ctx.db)
    search, per_page, page_box, reload = st.columns([4, 1, 1, 1], vertical_alignment="bottom")
    query = search.text_input(
        "Filter", key="campaigns_filter", placeholder="Part of an email, name or company"
    ).strip()
    size = per_page.selectbox("Rows per page", PAGE_SIZES, index=1, key="campaigns_page_size")
    if reload.button("Reload", key="campaigns_reload", icon=":material/refresh:"):
        _campaign_frame.clear()
        st.rerun()
    if query:
        frame = frame[_matches(frame, query)]
    pages = max(1, math.ceil(len(frame) / size))
    page_key = f"campaigns_page_{campaign.id}"
    if st.session_state.get(page_key, 1) > pages:  # the filter or page size left fewer pages
        st.session_state[page_key] = pages
    page = int(
        page_box.number_input(f"Page of {pages:,}", min_value=1, max_value=pages, value=1, key=page_key)
    )
    start = (page - 1) * size
    shown = frame.iloc[start : start + size]
    st.dataframe(
        shown.drop(columns=["id"]).rename(columns={"row_number": "Row", "extra": "Other columns", **LABELS}),
        key="campaigns_leads",
        hide_index=True,
        column_config={"Row": st.column_config.NumberColumn(format="%d", width="small")},
    )
    if len(frame):
        st.caption(f"Leads {start + 1:,}–{start + len(shown):,} of {len(frame):,}")
    else:
        st.caption("No lead matches the filter.")


def _matches(frame: pd.DataFrame, query: str) -> pd.Series:
    """Rows whose email, name or company contains ``query`` (any case, literally: no regex)."""
    found = pd.Series(False, index=frame.index)
    for column in ("email", "first_name", "last_name", "company"):
        found |= frame[column].astype("string").str.contains(query, case=False, regex=False, na=False)
    return found


def delete_section(ctx: AppContext, campaign: CampaignSummary) -> None:
    """Admins delete a campaign after typing its name; analysts are told only admins can."""
    with st.expander("Delete this campaign", icon=":material/delete:"):
        actor = auth.require_admin("delete campaigns")
        if actor is None:
            return
        st.write(
            f"This deletes **{plain(campaign.name)}** and its {count(campaign.lead_count, 'lead')}. "
            "Past pushes stay in the history."
        )
        typed = st.text_input(
            "Type the campaign's name to confirm", key=f"campaigns_delete_confirm_{campaign.id}"
        )
        confirmed = typed.strip() == campaign.name
        if st.button(
            "Delete campaign",
            key="campaigns_delete",
            type="primary",
            disabled=not confirmed,
            icon=":material/delete:",
        ):
            remove_campaign(ctx, actor, campaign)
            st.session_state[DELETED_KEY] = (
                f"Deleted {plain(campaign.name)} and its {count(campaign.lead_count, 'lead')}."
            )
            st.rerun()


def remove_campaign(ctx: AppContext, actor: Actor, campaign: CampaignSummary) -> None:
    """Delete as ``actor``: refused (PermissionDenied) unless an admin, whatever the page showed."""
    require_admin(actor, "delete campaigns")
    with ctx.db.begin() as session:
        delete_campaign(session, campaign.id)
    _campaign_frame.clear()


def forget_cached_leads() -> None:
    """After an import: the next browse reads the database again."""
    _campaign_frame.clear()


def option_label(campaign: CampaignSummary) -> str:
    """Selectbox text (rendered as plain text by the widget)."""
    return f"{campaign.name} — {count(campaign.lead_count, 'lead')}"
