"""The Push page's leads: the campaign read once, filters, the analyst's edits, and what would be pushed.

Built to stay quick with 100,000 leads (the table itself is :mod:`ui.push_table`):

* the campaign frame is read once and kept in ``st.cache_resource``: shared, never copied per rerun and
  never changed in place (pandas copy-on-write gives every derived frame its own data);
* each row's checks (:func:`service.push_preview.check_rows`) are cached per campaign, mapping and CRM
  fields; a rerun checks again only the rows the analyst edited;
* edits live in session state as a diff, ``{lead id: {field: value}}``, and excluded rows as a set of
  ids; filters are vectorised masks over the whole frame, and no step loops over every row in Python.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from crm.mapping import TIERS, FieldMapping
from crm.model import FieldDef
from data.db import Database
from data.lead_columns import LEAD_FIELDS
from data.leads import CampaignSummary, leads_frame
from service import push_preview as preview
from service.context import AppContext
from ui import push_state as keys

FRAME_TTL_SECONDS = 300  # edits saved from another session show after this, or on "Reload"
SCORE_MIN, SCORE_MAX = 0, 100
LOAD_ID = "push_load_id"  # DataFrame.attrs entry naming one load of a campaign (keys the checks cache)


@st.cache_resource(ttl=FRAME_TTL_SECONDS, max_entries=4, show_spinner="Loading the campaign's leads…")
def _campaign_frame(
    database_url: str, campaign_id: int, lead_count: int, created_at: datetime, _db: Database
) -> pd.DataFrame:
    # The URL, count and creation time only key the cache: an import, delete or reused id reloads.
    with _db.session() as session:
        frame = leads_frame(session, campaign_id)
    frame = frame.drop(columns=["extra"]).set_index("id", drop=False)
    frame.index.name = None
    frame.attrs[LOAD_ID] = uuid.uuid4().hex
    return frame


def campaign_frame(ctx: AppContext, campaign: CampaignSummary) -> pd.DataFrame:
    """The campaign's leads indexed by lead id (shared: never modify it)."""
    return _campaign_frame(str(ctx.db.url), campaign.id, campaign.lead_count, campaign.created_at, ctx.db)


def forget_campaign_frames() -> None:
    _campaign_frame.clear()


@st.cache_resource(max_entries=6, show_spinner="Checking every row against the CRM's fields…")
def _base_checks(
    frame_token: str, mapping_json: str, fields_token: str, _frame: pd.DataFrame, _mapping: FieldMapping,
    _fields: Sequence[FieldDef],
) -> pd.DataFrame:  # fmt: skip
    return preview.check_rows(_frame, _mapping, _fields)


def mapping_token(mapping: FieldMapping) -> str:
    return json.dumps(mapping.to_json(), sort_keys=True)


def fields_token(fields: Sequence[FieldDef]) -> str:
    return hashlib.sha256(repr(tuple(fields)).encode()).hexdigest()


# Edits -------------------------------------------------------------------------------------------------


def _edit_value(column: str, value: Any) -> Any:
    """A table cell as the diff keeps it: text trimmed (blank as None), score a whole number."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if column == "score":
        try:
            return round(float(value))
        except (TypeError, ValueError):
            return None
    text = str(value).strip()
    if column == "tier":
        text = text.upper()
    return text or None


def absorb_editor_state() -> None:
    """Move the edits the lead table holds (its widget state, by row position) into the diff.

    Runs first on every rerun, so the counts, checks and start buttons see an edit made just now; the
    positions are those of the rows the table showed (kept with its key in ``EDITOR_LAST``).
    """
    last = st.session_state.get(keys.EDITOR_LAST)
    if not isinstance(last, dict):
        return
    state = st.session_state.get(last["key"])
    if not isinstance(state, dict):
        return
    ids = last["ids"]
    edits = keys.bucket(keys.EDITS).setdefault(last["campaign_id"], {})
    excluded = keys.bucket(keys.EXCLUDED).setdefault(last["campaign_id"], set())
    for position, changes in (state.get("edited_rows") or {}).items():
        index = int(position)
        if not 0 <= index < len(ids):
            continue
        lead_id = int(ids[index])
        for column, value in changes.items():
            if column == "push":
                if value is False:
                    excluded.add(lead_id)
                else:
                    excluded.discard(lead_id)
            elif column in LEAD_FIELDS:
                edits.setdefault(lead_id, {})[column] = _edit_value(column, value)


def _same(before: Any, after: Any) -> bool:
    blank_before = before is None or before is pd.NA or (isinstance(before, float) and np.isnan(before))
    if blank_before or after is None:
        return blank_before and (after is None or after == "")
    return str(before).strip() == str(after).strip()


def apply_edits(base: pd.DataFrame, edits: dict[int, dict[str, Any]]) -> pd.DataFrame:
    """``base`` with the edits applied (a new frame; ``base`` is untouched). Edits that give a field its
    stored value back, or name a lead that is gone, are dropped from ``edits``."""
    for lead_id in list(edits):
        if lead_id not in base.index:
            del edits[lead_id]
            continue
        changes = edits[lead_id]
        for column in [c for c, v in changes.items() if _same(base.at[lead_id, c], v)]:
            del changes[column]
        if not changes:
            del edits[lead_id]
    if not edits:
        return base
    work = base.copy(deep=False)
    by_column: dict[str, tuple[list[int], list[Any]]] = {}
    for lead_id, changes in edits.items():
        for column, value in changes.items():
            ids, values = by_column.setdefault(column, ([], []))
            ids.append(lead_id)
            values.append(value)
    for column, (ids, values) in by_column.items():
        updated = work[column].copy()
        updated.loc[ids] = pd.array(values, dtype=updated.dtype)
        work[column] = updated
    return work


def campaign_edits(campaign_id: int) -> dict[int, dict[str, Any]]:
    return keys.bucket(keys.EDITS).setdefault(campaign_id, {})


def campaign_excluded(campaign_id: int) -> set[int]:
    return keys.bucket(keys.EXCLUDED).setdefault(campaign_id, set())


def working_frame(ctx: AppContext, campaign: CampaignSummary) -> pd.DataFrame:
    """The campaign as the analyst sees it: stored values with this session's edits applied."""
    return apply_edits(campaign_frame(ctx, campaign), campaign_edits(campaign.id))


# Filters -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    min_score: int
    tiers: tuple[str, ...]
    no_tier: bool
    only_failed_of: int | None = None

    def record(self, excluded: int, edited: int) -> dict[str, Any]:
        """As stored on the run (``PushRun.filters``)."""
        return {
            "min_score": self.min_score,
            "tiers": list(self.tiers),
            "no_tier": self.no_tier,
            "only_failed_of_run": self.only_failed_of,
            "excluded_rows": excluded,
            "edited_rows": edited,
        }


def filters_bar(base: pd.DataFrame, failed_run: int | None) -> Filters:
    """Min-score slider and tier checkboxes (and, after a push with failures, "only failed rows")."""
    slider, *boxes = st.columns([3, 1, 1, 1, 1, 2], vertical_alignment="bottom")
    min_score = slider.slider(
        "Minimum score", SCORE_MIN, SCORE_MAX, SCORE_MIN, key=keys.MIN_SCORE, help="Leads without a score "
        "are shown only at 0."
    )  # fmt: skip
    tiers = tuple(tier for tier, box in zip(TIERS, boxes, strict=False) if box.checkbox(
        tier.title(), value=True, key=f"{keys.TIER_PREFIX}{tier}"
    ))  # fmt: skip
    untiered = bool(base["tier"].isna().any())
    no_tier = boxes[3].checkbox("No tier", value=True, key=keys.NO_TIER) if untiered else True
    only_failed = failed_run is not None and boxes[4].checkbox(
        "Only failed rows", key=keys.ONLY_FAILED, help=f"The rows that failed in run #{failed_run}"
    )
    return Filters(int(min_score), tiers, no_tier, failed_run if only_failed else None)


def filter_mask(work: pd.DataFrame, filters: Filters, failed_ids: Sequence[int] = ()) -> pd.Series:
    mask = pd.Series(True, index=work.index)
    if filters.min_score > SCORE_MIN:
        mask &= work["score"].fillna(-1).astype("int64") >= filters.min_score
    tier = work["tier"]
    mask &= tier.isin(list(filters.tiers)) | (tier.isna() & filters.no_tier)
    if filters.only_failed_of is not None:
        mask &= work.index.isin(list(failed_ids))
    return mask


# The push set ------------------------------------------------------------------------------------------


@dataclass
class LeadSet:
    """The leads of one rerun: what is shown, what would be pushed, and each row's verdicts."""

    work: pd.DataFrame
    checks: pd.DataFrame  # service.push_preview.CHECK_COLUMNS for every lead
    shown_ids: np.ndarray  # rows the filters keep, in campaign order (excluded ones included)
    push_ids: np.ndarray  # shown rows not excluded: what a push sends, in this order
    merge_notes: pd.Series  # by push id
    counts: preview.Counts
    edited: int
    excluded: int
    signature: str = field(default="")


def build(
    ctx: AppContext,
    campaign: CampaignSummary,
    mapping: FieldMapping,
    fields: Sequence[FieldDef],
    filters: Filters,
    failed_ids: Sequence[int] = (),
) -> LeadSet:
    base = campaign_frame(ctx, campaign)
    edits = campaign_edits(campaign.id)
    work = apply_edits(base, edits)
    checks = _base_checks(
        base.attrs[LOAD_ID], mapping_token(mapping), fields_token(fields), base, mapping, fields
    )
    if edits:
        edited_ids = list(edits)
        checks = checks.copy()
        checks.loc[edited_ids] = preview.check_rows(work.loc[edited_ids], mapping, fields)
    mask = filter_mask(work, filters, failed_ids)
    shown_ids = work.index.to_numpy()[mask.to_numpy()]
    excluded = campaign_excluded(campaign.id)
    excluded &= set(base.index)  # leads deleted meanwhile
    push_ids = shown_ids[~np.isin(shown_ids, list(excluded))] if excluded else shown_ids
    push_checks = checks.loc[push_ids]
    notes = preview.merged(push_checks, work["row_number"].loc[push_ids])
    signature = hashlib.sha256(
        json.dumps(
            [mapping.to_json(), filters.record(len(excluded), len(edits)),
             sorted((k, sorted(v.items())) for k, v in edits.items()), sorted(excluded)],
            default=str,
        ).encode()
    ).hexdigest()  # fmt: skip
    return LeadSet(
        work=work,
        checks=checks,
        shown_ids=shown_ids,
        push_ids=push_ids,
        merge_notes=notes,
        counts=preview.count(push_checks, notes),
        edited=len(edits),
        excluded=int(np.isin(shown_ids, list(excluded)).sum()) if excluded else 0,
        signature=signature,
    )
