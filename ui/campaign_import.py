"""Import a CSV/XLSX file as a campaign: upload → column mapping → preview → import → report.

The steps are ``data.lead_import``'s (``read_table``, ``prepare``, ``import_campaign``); this module keeps
their results in the session so a 25 MB file is read once, and re-prepared only when the mapping
changes. A refused file or import shows the importer's own sentence, and nothing is written: the
import runs in one transaction that a refusal rolls back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from data.lead_columns import LEAD_FIELDS
from data.lead_files import DEFAULT_MAX_BYTES
from data.lead_import import (
    ImportRefused,
    ImportReport,
    ParsedFile,
    PreparedImport,
    import_campaign,
    prepare,
    read_table,
)
from data.lead_values import LABELS
from service.context import AppContext
from ui.widgets import count, plain, problems_table

FILE_TYPES = ["csv", "tsv", "txt", "xlsx", "xls"]  # .xls only to explain that it must be saved as .xlsx
KEEP_AS_EXTRA = "(keep as extra)"
PREVIEW_ROWS = 5
ROUND_KEY = "campaigns_import_round"  # bumped after an import: a new uploader key empties the uploader
PARSED_KEY = "campaigns_import_parsed"
PREPARED_KEY = "campaigns_import_prepared"
REPORT_KEY = "campaigns_import_report"


@dataclass(frozen=True)
class Outcome:
    """What the last import did, kept to show after the rerun that refreshes the campaign list."""

    campaign_name: str
    report: ImportReport


def import_section(ctx: AppContext) -> bool:
    """The whole import flow; returns True when a campaign was just imported (the caller reruns)."""
    uploaded = st.file_uploader(
        "CSV or XLSX file of leads",
        type=FILE_TYPES,
        key=f"campaigns_upload_{st.session_state.get(ROUND_KEY, 0)}",
        help=f"Up to {DEFAULT_MAX_BYTES // (1024 * 1024)} MB. The first row must hold the column names.",
    )
    if uploaded is None:
        _show_outcome()
        return False
    st.session_state.pop(REPORT_KEY, None)
    parsed = _parsed(uploaded)
    if parsed is None:
        return False
    column_map = _mapping_editor(parsed, uploaded.file_id)
    prepared = _prepared(parsed, column_map, uploaded.file_id)
    if prepared is None:
        return False
    _preview(prepared)
    default_name = PurePath(uploaded.name).stem
    name = st.text_input("Campaign name", value=default_name, key=f"campaigns_import_name_{uploaded.file_id}")
    if not st.button(
        f"Import {count(len(prepared.leads), 'lead')}",
        key="campaigns_import",
        type="primary",
        disabled=not prepared.leads,
        icon=":material/upload:",
    ):
        return False
    try:
        with st.spinner(f"Importing {count(len(prepared.leads), 'lead')}…"):
            report = import_file(ctx, name=name, prepared=prepared, filename=uploaded.name)
    except ImportRefused as refused:
        st.error(refused.message)
        problems_table(refused.problems, key="campaigns_refused_problems")
        return False
    st.session_state[REPORT_KEY] = Outcome(name.strip(), report)
    st.session_state[ROUND_KEY] = st.session_state.get(ROUND_KEY, 0) + 1
    for key in (PARSED_KEY, PREPARED_KEY):
        st.session_state.pop(key, None)
    return True


def import_file(ctx: AppContext, *, name: str, prepared: PreparedImport, filename: str) -> ImportReport:
    """Insert the campaign in one transaction: an ImportRefused (or any error) leaves no trace.

    Analysts may import as well as admins: importing only adds a campaign to our own database (nothing
    reaches a CRM, no secret is involved), and analysts are the people who hold the lead files.
    """
    with ctx.db.begin() as session:
        return import_campaign(session, name=name, prepared=prepared, source="import", source_detail=filename)


def _parsed(uploaded: UploadedFile) -> ParsedFile | None:
    """The uploaded file read once per upload; an unreadable file shows why and returns None."""
    cached: dict[str, Any] | None = st.session_state.get(PARSED_KEY)
    if cached is None or cached["file_id"] != uploaded.file_id:
        try:
            with st.spinner(f"Reading {uploaded.name}…"):
                cached = {
                    "file_id": uploaded.file_id,
                    "parsed": read_table(uploaded.getvalue(), uploaded.name),
                }
        except ImportRefused as refused:
            cached = {"file_id": uploaded.file_id, "error": refused.message}
        st.session_state[PARSED_KEY] = cached
    if "error" in cached:
        st.error(cached["error"], icon=":material/error:")
        return None
    parsed: ParsedFile = cached["parsed"]
    encoding = f", {parsed.encoding}" if parsed.encoding else ""
    st.caption(
        f"{plain(uploaded.name)}: {parsed.format.upper()}{encoding}, {parsed.total_rows:,} rows, "
        f"{len(parsed.headers)} columns"
    )
    return parsed


def _mapping_editor(parsed: ParsedFile, file_id: str) -> dict[str, str | None]:
    """One selectbox per column, preset to the detected lead field; the analyst may correct any."""
    st.markdown("**Columns**: which lead field each column holds. Unmapped columns are kept as extras.")
    st.dataframe(parsed.frame.head(PREVIEW_ROWS), key="campaigns_import_sample", hide_index=True)
    options = [KEEP_AS_EXTRA, *LEAD_FIELDS]
    column_map: dict[str, str | None] = {}
    columns = st.columns(4)
    for position, header in enumerate(parsed.headers):
        detected = parsed.column_map.get(header)
        choice = columns[position % len(columns)].selectbox(
            plain(header, max_chars=60),
            options,
            index=options.index(detected) if detected in options else 0,
            format_func=lambda option: LABELS.get(option, option),
            key=f"campaigns_map_{file_id}_{position}",
        )
        column_map[header] = None if choice == KEEP_AS_EXTRA else choice
    return column_map


def _prepared(parsed: ParsedFile, column_map: dict[str, str | None], file_id: str) -> PreparedImport | None:
    """The rows under this mapping, prepared again only when the mapping changes."""
    signature = (file_id, tuple(column_map.items()))
    cached: dict[str, Any] | None = st.session_state.get(PREPARED_KEY)
    if cached is None or cached["signature"] != signature:
        try:
            with st.spinner("Checking every row…"):
                cached = {"signature": signature, "prepared": prepare(parsed, column_map)}
        except ImportRefused as refused:
            cached = {"signature": signature, "error": refused.message}
        st.session_state[PREPARED_KEY] = cached
    if "error" in cached:
        st.error(cached["error"], icon=":material/error:")
        return None
    prepared: PreparedImport = cached["prepared"]
    return prepared


def _preview(prepared: PreparedImport) -> None:
    rows, ready, problems = st.columns(3)
    rows.metric("Rows in the file", f"{prepared.total_rows:,}")
    ready.metric("Ready to import", f"{len(prepared.leads):,}")
    problems.metric("Not imported", f"{len(prepared.problems):,}")
    if prepared.problems:
        st.markdown("**Rows that will not be imported**, and what to do about each:")
        problems_table(prepared.problems, key="campaigns_import_problems")


def _show_outcome() -> None:
    outcome: Outcome | None = st.session_state.get(REPORT_KEY)
    if outcome is None:
        return
    report = outcome.report
    st.success(
        f"Imported {count(report.imported, 'lead')} into {plain(outcome.campaign_name)}. "
        f"Problems: {len(report.problems):,} of {report.total_rows:,} rows were not imported.",
        icon=":material/check_circle:",
    )
    problems_table(report.problems, key="campaigns_report_problems")
