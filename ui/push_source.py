"""The Push page's first step: which campaign, to which connected CRM and, for Salesforce, which object."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from data.leads import CampaignSummary, list_campaigns
from data.models import Connection
from service.connections import OBJECTS, PROVIDER_LABELS, PROVIDERS, all_connections
from service.context import AppContext
from service.push_launch import Target
from ui import push_state as keys
from ui.widgets import count


@dataclass(frozen=True)
class Source:
    campaign: CampaignSummary
    connection: Connection
    target: Target

    @property
    def provider_label(self) -> str:
        return PROVIDER_LABELS.get(self.target.provider, self.target.provider)


def campaign_label(campaign: CampaignSummary) -> str:
    """Selectbox text (shown as plain text by the widget): name, lead count and creation date."""
    return f"{campaign.name} — {count(campaign.lead_count, 'lead')} — {campaign.created_at:%Y-%m-%d}"


def connection_label(conn: Connection) -> str:
    settings = conn.settings or {}
    label = PROVIDER_LABELS.get(conn.provider, conn.provider)
    if conn.auth_kind == "sandbox" or settings.get("sandbox"):
        return f"{label} (sandbox)"
    where = (settings.get("identity") or {}).get("instance_url") or settings.get("instance_url")
    return f"{label} — {where}" if where and conn.provider == "salesforce" else label


def connections(ctx: AppContext) -> dict[str, Connection]:
    """The app's connections (one per provider, named after it), HubSpot first."""
    found = all_connections(ctx)
    return {name: found[name] for name in PROVIDERS if name in found}


def pick(ctx: AppContext) -> Source | None:
    """Render the pickers; None (after saying what to do) when there is no campaign or no connection."""
    with ctx.db.session() as session:
        campaigns = {c.name: c for c in list_campaigns(session)}
    conns = connections(ctx)
    if not campaigns:
        st.info("There is no campaign yet. Import a CSV or XLSX file on the Campaigns page first.")
        st.page_link("views/campaigns.py", label="Go to Campaigns", icon=":material/campaign:")
        return None
    if not conns:
        st.info(
            "No CRM is connected yet, so there is nowhere to push to. An admin connects HubSpot or "
            "Salesforce (or their sandboxes, for a demo) on the Providers page.",
            icon=":material/hub:",
        )
        st.page_link("views/providers.py", label="Go to Providers", icon=":material/hub:")
        return None
    campaign_box, provider_box, object_box = st.columns([3, 2, 1], vertical_alignment="bottom")
    name = campaign_box.selectbox(
        "Campaign",
        list(campaigns),
        format_func=lambda value: campaign_label(campaigns[value]) if value in campaigns else str(value),
        key=keys.CAMPAIGN,
    )
    provider = provider_box.selectbox(
        "Send to",
        list(conns),
        format_func=lambda value: connection_label(conns[value]) if value in conns else str(value),
        key=keys.PROVIDER,
    )
    if name is None or provider is None:
        return None
    conn = conns[provider]
    objects = OBJECTS[conn.provider]
    if len(objects) > 1:
        default = (conn.settings or {}).get("object")
        if st.session_state.get(keys.OBJECT) not in objects:
            st.session_state[keys.OBJECT] = default if default in objects else objects[0]
        object_name = object_box.radio(
            "Salesforce object", objects, key=keys.OBJECT, horizontal=True, help="Push as Leads or Contacts"
        )
    else:
        object_name = objects[0]
        object_box.caption(f"Object: {object_name}")
    campaign = campaigns[name]
    target = Target(campaign.id, campaign.name, conn.name, conn.provider, str(object_name))
    return Source(campaign, conn, target)
