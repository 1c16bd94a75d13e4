"""A push's or dry run's results as the Push page shows them: per row, a summary, links and a CSV.

Per row: the action (a dry run's prediction, or what happened), the CRM's id with a link to the record
where the CRM has a real page for it, the CRM's error in plain words, and for updates the fields whose
value changes (before → after). Sandbox connections have no real record page, so they get the id alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from crm.errors import CRMError
from data import runs as store
from data.models import Connection
from service.adapters import build_adapter
from service.context import AppContext
from service.exports import to_csv
from service.history import RunRow, run_row

RESULT_COLUMNS = ("row", "lead_id", "email", "action", "crm_id", "crm_url", "error_code", "error", "changes")
CSV_COLUMNS = ("row", "email", "action", "crm_id", "crm_url", "error_code", "error", "changes")
UNCHANGED = "UNCHANGED"
_ID_SLOT = "__CRM_PUSH_RECORD_ID__"
_SHOWN_VALUE_CHARS = 60  # of a before/after value in the changes text; the CRM has the whole value


def run_view(ctx: AppContext, run_id: int) -> RunRow | None:
    """What the Push page shows of a run: the History page's row of it."""
    with ctx.db.session() as session:
        run = store.get_run(session, run_id)
        return run_row(run) if run is not None else None


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    text = " ".join(str(value).split())
    return text if len(text) <= _SHOWN_VALUE_CHARS else text[: _SHOWN_VALUE_CHARS - 1] + "…"


def describe_changes(changes: Iterable[Sequence[Any]] | None) -> str:
    """``Title: CTO → VP Sales; Phone: — → +1 555 0100`` (``changes`` as stored: [field, before, after])."""
    return "; ".join(f"{field}: {_shown(before)} → {_shown(after)}" for field, before, after in changes or ())


def link_template(ctx: AppContext, conn: Connection, object_name: str) -> str | None:
    """A record URL with a slot for the id, or None (a sandbox connection, or the CRM cannot say)."""
    settings = conn.settings or {}
    if conn.auth_kind == "sandbox" or settings.get("sandbox"):
        return None
    try:
        adapter = build_adapter(ctx, conn, object_name)
    except CRMError:
        return None
    try:
        url = adapter.record_url(_ID_SLOT)
    except CRMError:
        return None
    finally:
        adapter.close()
    return url if url and _ID_SLOT in url else None


def results_frame(ctx: AppContext, run_id: int, template: str | None = None) -> pd.DataFrame:
    """Every row of the run in row order: :data:`RESULT_COLUMNS` (``crm_url`` empty without a link)."""
    with ctx.db.session() as session:
        records, _ = store.run_records(session, run_id)
        frame = pd.DataFrame(
            {
                "row": [r.row_index for r in records],
                "lead_id": pd.array([r.lead_id for r in records], dtype="Int64"),
                "email": [r.email or "" for r in records],
                "action": [r.action for r in records],
                "crm_id": [r.crm_id or "" for r in records],
                "error_code": [r.error_code or "" for r in records],
                "error": [r.error_message or "" for r in records],
                "changes": [describe_changes(r.changes) for r in records],
                "changed": [bool(r.changes) for r in records],
            }
        )
    has_id = frame["crm_id"] != ""
    frame["crm_url"] = ""
    if template and has_id.any():
        frame.loc[has_id, "crm_url"] = [
            template.replace(_ID_SLOT, crm_id) for crm_id in frame["crm_id"][has_id]
        ]
    return frame[[*RESULT_COLUMNS, "changed"]]


def outcome_labels(frame: pd.DataFrame, dry_run: bool) -> pd.Series:
    """One word or phrase per row: ``would create``, ``updated``, ``unchanged``, ``failed: <why>`` …

    An update that changes no field shows as ``unchanged`` (it is still counted, and sent, as an update);
    a row skipped because it is unchanged since the last push does too.
    """
    action = frame["action"]
    verbs = {
        "created": "would create" if dry_run else "created",
        "updated": "would update" if dry_run else "updated",
        "skipped": "would skip" if dry_run else "skipped",
        "failed": "would fail" if dry_run else "failed",
        "pending": "pending",
    }
    labels = action.map(verbs).fillna(action)
    updated_same = (action == "updated") & ~frame["changed"] & dry_run
    labels[updated_same] = "unchanged"
    labels[(action == "skipped") & (frame["error_code"] == UNCHANGED)] = "unchanged"
    with_changes = (action == "updated") & frame["changed"]
    labels[with_changes] = labels[with_changes] + ": " + frame["changes"][with_changes]
    explained = action.isin(["failed", "skipped"]) & (frame["error"] != "") & (labels != "unchanged")
    labels[explained] = labels[explained] + ": " + frame["error"][explained]
    return labels


def results_csv(frame: pd.DataFrame) -> bytes:
    """Every row with its action, CRM id, link and error: formula-safe (``service.exports.to_csv``)."""
    return to_csv(CSV_COLUMNS, frame[list(CSV_COLUMNS)].to_dict("records"))


EXISTING_CODES = frozenset({UNCHANGED, "EXISTS", "AMBIGUOUS_MATCH"})


def by_lead(frame: pd.DataFrame, dry_run: bool) -> pd.DataFrame:
    """Per lead id (the last row wins): ``label`` (:func:`outcome_labels`), ``action``, and ``exists``
    (the CRM has a record with that email, so its required fields do not matter)."""
    has_lead = frame["lead_id"].notna()
    rows = frame[has_lead]
    out = pd.DataFrame(
        {
            "label": outcome_labels(rows, dry_run).to_numpy(),
            "action": rows["action"].to_numpy(),
            "exists": ((rows["action"] == "updated") | rows["error_code"].isin(EXISTING_CODES)).to_numpy(),
        },
        index=rows["lead_id"].astype("int64").to_numpy(),
    )
    return out[~out.index.duplicated(keep="last")]
