"""The Push page's editable lead table: one page of rows, each with its problems and last result.

``st.data_editor`` reports edits by row position, so the table's key names the exact rows it shows
(``EDITOR_LAST`` keeps the ids in that order): when the filters, the page or the edits change which rows
are shown, the key changes and the new table starts clean, its predecessor's edits already moved into
the diff by :func:`ui.push_leads.absorb_editor_state`. Values are rendered as text, never HTML.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from crm.mapping import TIERS
from data.lead_columns import FIELD_MAX_LENGTH, LEAD_FIELDS
from data.lead_values import LABELS
from data.leads import CampaignSummary, save_lead_edits
from service import push_preview as preview
from service.context import AppContext
from ui import push_leads
from ui import push_state as keys
from ui.widgets import count, plain, problems_table

PAGE_SIZES = (100, 250, 500, 1000)
DEFAULT_PAGE_SIZE = 250
TABLE_HEIGHT = 420
# Loose on purpose: the browser only catches typos; the engine's rules are in the Problems column.
EMAIL_PATTERN = r"^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$"
SAVE_PROBLEMS = "push_save_problems"


def counts_bar(leads: push_leads.LeadSet, campaign: CampaignSummary) -> None:
    """How many rows a push would send, always in view, and what the checks already know."""
    c = leads.counts
    to_push, failing, merged, edited = st.columns(4)
    to_push.metric("Rows to push", f"{c.rows:,}", help=f"Of {campaign.lead_count:,} leads in the campaign")
    failing.metric("Fail the checks", f"{c.failing:,}", help="Fix them in the table, or untick Push")
    merged.metric("Duplicate emails", f"{c.merged:,}", help="Merged into the later row with the same email")
    edited.metric("Edited rows", f"{leads.edited:,}", help="Pushed as edited; the campaign keeps its values")
    notes = [f"{len(leads.shown_ids):,} shown by the filters"]
    if leads.excluded:
        notes.append(f"{leads.excluded:,} unticked")
    if c.needs_required:
        notes.append(f"{c.needs_required:,} fail if new (a required field is empty)")
    st.caption(" · ".join(notes))


def _problems(leads: push_leads.LeadSet, ids: np.ndarray, outcomes: pd.DataFrame | None) -> list[str]:
    """Each row's problems in the engine's words: merged duplicate, screen failure, required-if-new
    (left out once the last run found the record in the CRM, as an update needs no required field)."""
    checks = leads.checks.loc[ids]
    notes = leads.merge_notes.reindex(ids).fillna("")
    if outcomes is not None:
        exists = outcomes["exists"].reindex(ids).fillna(False).astype(bool)
    else:
        exists = pd.Series(False, index=ids)
    out = []
    for note, problem, required, known in zip(
        notes, checks[preview.PROBLEM], checks[preview.REQUIRED], exists, strict=True
    ):
        if note:
            out.append(note)
        elif problem:
            out.append(problem)
        elif required and not known:
            out.append(f"If new: {required}")
        else:
            out.append("")
    return out


def _page(campaign_id: int, total: int) -> tuple[int, int]:
    size_box, page_box = st.columns([1, 1])
    size = int(size_box.selectbox("Rows per page", PAGE_SIZES, index=1, key=keys.PAGE_SIZE))
    pages = max(1, math.ceil(total / size))
    page_key = f"{keys.PAGE_PREFIX}{campaign_id}"
    if st.session_state.get(page_key, 1) > pages:
        st.session_state[page_key] = pages
    page = int(page_box.number_input(f"Page (of {pages:,})", 1, pages, 1, key=page_key))
    return (page - 1) * size, size


def editor(
    leads: push_leads.LeadSet,
    campaign: CampaignSummary,
    outcomes: pd.DataFrame | None,
    outcome_title: str,
) -> None:
    """One page of the shown rows, editable; Push (tick), Row, Problems and the last result beside them."""
    start, size = _page(campaign.id, len(leads.shown_ids))
    ids = leads.shown_ids[start : start + size]
    excluded = push_leads.campaign_excluded(campaign.id)
    shown = leads.work.loc[ids, ["row_number", *LEAD_FIELDS]]
    table = pd.DataFrame(
        {
            "push": [lead_id not in excluded for lead_id in ids.tolist()],
            "row_number": shown["row_number"].to_numpy(),
            "problems": _problems(leads, ids, outcomes),
        },
        index=ids,
    )
    if outcomes is not None:
        table["outcome"] = outcomes["label"].reindex(ids).fillna("").to_numpy()
    for name in LEAD_FIELDS:
        table[name] = shown[name].to_numpy()
    last = st.session_state.get(keys.EDITOR_LAST)
    version = int(st.session_state.get(keys.EDITOR_VERSION, 0))
    same_rows = (
        isinstance(last, dict) and last["campaign_id"] == campaign.id and np.array_equal(last["ids"], ids)
    )
    if not same_rows:
        version += 1
        st.session_state[keys.EDITOR_VERSION] = version
    key = f"push_editor_{campaign.id}_{version}"
    st.session_state[keys.EDITOR_LAST] = {"key": key, "campaign_id": campaign.id, "ids": ids}
    st.data_editor(
        table,
        key=key,
        hide_index=True,
        height=TABLE_HEIGHT,
        disabled=["row_number", "problems", "outcome"],
        column_config=_column_config(outcome_title),
    )
    if len(leads.shown_ids):
        st.caption(f"Rows {start + 1:,}–{start + len(ids):,} of {len(leads.shown_ids):,} shown")
    else:
        st.caption("No lead matches the filters.")


def _column_config(outcome_title: str) -> dict[str, object]:
    config: dict[str, object] = {
        "push": st.column_config.CheckboxColumn("Push", help="Untick to leave the row out", width="small"),
        "row_number": st.column_config.NumberColumn("Row", format="%d", width="small"),
        "problems": st.column_config.TextColumn("Problems", width="large"),
        "outcome": st.column_config.TextColumn(outcome_title, width="medium"),
        "email": st.column_config.TextColumn(LABELS["email"], validate=EMAIL_PATTERN, max_chars=320),
        "score": st.column_config.NumberColumn(
            LABELS["score"], min_value=0, max_value=100, step=1, format="%d", width="small"
        ),
        "tier": st.column_config.SelectboxColumn(LABELS["tier"], options=list(TIERS), width="small"),
    }
    for name in LEAD_FIELDS:
        if name not in config:
            config[name] = st.column_config.TextColumn(LABELS[name], max_chars=FIELD_MAX_LENGTH.get(name))
    return config


def edits_bar(ctx: AppContext, campaign: CampaignSummary) -> None:
    """Edits are pushed as shown; they change the campaign only when the analyst saves them."""
    edits = push_leads.campaign_edits(campaign.id)
    problems = st.session_state.pop(SAVE_PROBLEMS, None)
    if problems:
        st.error("Some edits were not saved; they are still in the table. Fix them and save again:")
        problems_table(problems, key="push_save_problems_table")
    save, discard, note = st.columns([2, 1, 4], vertical_alignment="center")
    save.button(
        "Save edits to the campaign",
        key="push_save_edits",
        icon=":material/save:",
        disabled=not edits,
        on_click=_save_edits,
        args=(ctx, campaign),
    )
    discard.button(
        "Discard edits", key="push_discard_edits", disabled=not edits, on_click=_discard, args=(campaign.id,)
    )
    if edits:
        note.caption(
            f"{count(len(edits), 'edited row')}: pushed as edited. The campaign keeps its stored values "
            "unless you save the edits."
        )
    else:
        note.caption("Edit cells to fix rows before pushing; the campaign itself changes only if you save.")


def _save_edits(ctx: AppContext, campaign: CampaignSummary) -> None:
    edits = push_leads.campaign_edits(campaign.id)
    rows = [{"id": lead_id, **changes} for lead_id, changes in edits.items()]
    with ctx.db.begin() as session:
        problems = save_lead_edits(session, campaign.id, rows)
    refused = {problem.row for problem in problems}
    base = push_leads.campaign_frame(ctx, campaign)
    kept = {
        lead_id: changes
        for lead_id, changes in edits.items()
        if lead_id in base.index and int(base.at[lead_id, "row_number"]) in refused
    }
    saved = len(edits) - len(kept)
    edits.clear()
    edits.update(kept)
    push_leads.forget_campaign_frames()
    keys.bump_editor()
    if problems:
        st.session_state[SAVE_PROBLEMS] = problems
    if saved:
        keys.flash("success", f"Saved {count(saved, 'edited lead')} to {plain(campaign.name)}.")


def _discard(campaign_id: int) -> None:
    push_leads.campaign_edits(campaign_id).clear()
    keys.bump_editor()
