"""What a push of these rows would do, before anything is sent: the Push page's live checks.

The engine (:mod:`crm.push`) screens every row before it matches or writes: a missing or invalid email
fails it, a repeated email merges the earlier row into the later one, a value the CRM would refuse fails
it, and a row that would be *created* without a required field fails. This module predicts the same
verdicts for a whole table at once, so the page can show them beside every row of a 100,000-lead
campaign on each rerun:

* it works column by column: each CRM field's values are built as :meth:`FieldMapping.apply` builds them,
  and :func:`crm.validation.check_value` judges each *distinct* value once (a string field needs only a
  vectorised length test), so the messages are the engine's own words;
* duplicates depend on which rows are pushed, so they are a separate, cheap step (:func:`merged`).

``tests/service/test_service_push_preview_*`` hold it to the engine: same rows, same verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm.mapping import FieldMapping
from crm.model import FieldDef
from crm.validation import RowValidator, check_value, is_valid_email

# Columns of :func:`check_rows`.
EMAIL_KEY = "email_key"  # the email as the engine compares it: trimmed, lower-cased ("" unless valid)
CODE = "code"  # the engine's error code of the first problem ("" when the row passes the screen)
PROBLEM = "problem"  # the engine's message(s) for a row it would fail before matching
REQUIRED = "required"  # required-on-create fields left empty: fails only if the record is new
CHECK_COLUMNS = (EMAIL_KEY, CODE, PROBLEM, REQUIRED)

MISSING_EMAIL = "MISSING_EMAIL"
INVALID_EMAIL = "INVALID_EMAIL"
MERGED = "MERGED"
# Text-like types: check_value only tests their length (and picklist options, which they have none of).
_LENGTH_ONLY = frozenset({"string", "textarea", "phone", "id", "reference", "other"})
# Batch sizes of the write paths; the adapters' constants, repeated here because the estimate must not
# build an adapter: HubSpot "at most 100 inputs per batch call", Salesforce sObject Collections 200.
HUBSPOT_BATCH = 100
SALESFORCE_BATCH = 200
# One Bulk API 2.0 ingest job: create, upload, close, at least one poll, then successful, failed and
# unprocessed results. A query job: create, at least one poll, one results page per 50,000 records.
BULK_INGEST_CALLS = 7
BULK_QUERY_CALLS = 3
# Up to this many rows, checking row by row (the engine's code) beats ~100 column operations.
ROW_BY_ROW_MAX = 200


def _texts(column: pd.Series) -> pd.Series:
    """A lead column as the text ``FieldMapping.apply`` would send: trimmed, "" where nothing is sent."""
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        numbers = pd.to_numeric(column, errors="coerce").astype("Float64")
        whole = numbers.round().eq(numbers).fillna(False)
        text = numbers.astype("string")
        text = text.where(~whole, numbers.round().astype("Int64").astype("string"))
        return text.fillna("")
    return column.astype("string").str.strip().fillna("")


def payload_texts(frame: pd.DataFrame, mapping: FieldMapping) -> dict[str, pd.Series]:
    """CRM field -> the text each row would send for it ("" where it sends nothing), in payload order.

    A later lead field mapped to the same CRM field wins where it has a value, and a custom (constant)
    field wins over both, as in :meth:`FieldMapping.apply`.
    """
    out: dict[str, pd.Series] = {}
    for lead_field, crm_field in mapping.fields.items():
        if lead_field not in frame.columns:
            continue
        text = _texts(frame[lead_field])
        value_map = mapping.value_maps.get(lead_field)
        if value_map:
            text = text.where(~text.isin(list(value_map)), text.map(value_map))
        previous = out.get(crm_field)
        out[crm_field] = text if previous is None else text.where(text != "", previous)
    for crm_field, value in mapping.constants.items():
        if value != "":
            out[crm_field] = pd.Series(str(value).strip(), index=frame.index, dtype="string")
    return out


def _field_messages(
    text: pd.Series, fd: FieldDef, valid_emails: Mapping[str, bool]
) -> tuple[pd.Series, pd.Series]:
    """(code, message) per row for one CRM field; "" where the value is fine or not sent.

    Only suspect values go to ``check_value``: for text-like fields those over the length limit, for
    email fields those also over it or already known invalid (``valid_emails``), for the rest all.
    """
    sent = text != ""
    too_long = sent & (text.str.len() > fd.max_length) if fd.max_length else sent & False
    if fd.type in _LENGTH_ONLY:
        suspects = too_long
    elif fd.type == "email":
        known = text.map(valid_emails).astype("boolean")
        suspects = sent & (too_long | ~known.fillna(False).astype(bool))
    else:
        suspects = sent
    codes = pd.Series("", index=text.index, dtype="string")
    messages = pd.Series("", index=text.index, dtype="string")
    if not suspects.any():
        return codes, messages
    values = pd.unique(text[suspects].to_numpy(dtype=object))
    bad = {value: verdict for value in values if (verdict := check_value(value, fd))}
    if bad:
        hit = suspects & text.isin(list(bad))
        codes[hit] = text[hit].map({value: verdict[0] for value, verdict in bad.items()})
        messages[hit] = text[hit].map({value: verdict[1] for value, verdict in bad.items()})
    return codes, messages


def _email_checks(emails: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series, dict[str, bool]]:
    """(email key, code, message) per row, as ``crm.push.screen`` judges the lead's email, and the
    verdict of each distinct trimmed email (reused for a CRM email field)."""
    stripped = emails.astype("string").str.strip().fillna("")
    codes = pd.Series("", index=emails.index, dtype="string")
    messages = pd.Series("", index=emails.index, dtype="string")
    missing = stripped == ""
    codes[missing] = MISSING_EMAIL
    messages[missing] = "The row has no email; add one or exclude the row."
    distinct = pd.unique(stripped[~missing].to_numpy(dtype=object))
    valid = {value: is_valid_email(value) for value in distinct}
    invalid = ~missing & ~stripped.map(valid).astype("boolean").fillna(False).astype(bool)
    codes[invalid] = INVALID_EMAIL
    messages[invalid] = [
        f"'{value[:80]}' is not a valid email address. Correct it or exclude the row."
        for value in stripped[invalid]
    ]
    return stripped.str.lower().where(codes == "", ""), codes, messages, valid


def _join(parts: Sequence[pd.Series], index: pd.Index) -> pd.Series:
    """Messages of several checks per row, space-separated, in check order."""
    joined = pd.Series("", index=index, dtype="string")
    for part in parts:
        has = part != ""
        if has.any():
            joined[has] = (joined[has] + " " + part[has]).str.strip()
    return joined


def _first(codes: Sequence[pd.Series], index: pd.Index) -> pd.Series:
    first = pd.Series("", index=index, dtype="string")
    for code in codes:
        take = (first == "") & (code != "")
        first[take] = code[take]
    return first


def check_rows(frame: pd.DataFrame, mapping: FieldMapping, fields: Sequence[FieldDef]) -> pd.DataFrame:
    """Per row of ``frame`` (same index): :data:`CHECK_COLUMNS`.

    ``code``/``problem`` are what the engine's screen fails the row with (email first, then every value
    the CRM would refuse, in payload order); ``required`` is the engine's message for required fields
    left empty, which fails the row only if the CRM has no record with its email yet. A few rows (the
    analyst's edits, on every rerun) go through the engine's own row-by-row code, which is quicker there.
    """
    if len(frame) <= ROW_BY_ROW_MAX:
        return check_rows_one_by_one(frame, mapping, fields)
    index = frame.index
    email_key, email_code, email_message, valid_emails = _email_checks(
        frame["email"] if "email" in frame.columns else pd.Series("", index=index)
    )
    texts = payload_texts(frame, mapping)
    validator = RowValidator(fields)
    codes, messages = [], []
    for crm_field, text in texts.items():
        fd = validator.by_name.get(crm_field)
        if fd is None or fd.read_only:
            continue  # the mapping check reports it once, for the whole push
        code, message = _field_messages(text, fd, valid_emails)
        codes.append(code)
        messages.append(message)
    value_code, value_problem = _first(codes, index), _join(messages, index)
    email_failed = email_code != ""
    required_parts = []
    wording = {problem.field: problem.message for problem in validator.missing_required("row", {})}
    for fd in validator.required:
        missing = texts[fd.name] == "" if fd.name in texts else pd.Series(True, index=index)
        required_parts.append(pd.Series(np.where(missing, wording[fd.name], ""), index=index, dtype="string"))
    columns = {
        EMAIL_KEY: email_key,
        CODE: email_code.where(email_failed, value_code),
        PROBLEM: email_message.where(email_failed, value_problem),
        REQUIRED: _join(required_parts, index),
    }
    # Plain object arrays: the page copies, takes and overlays these per rerun, which numpy does fastest.
    return pd.DataFrame(
        {name: column.to_numpy(dtype=object) for name, column in columns.items()}, index=index
    )


def check_rows_one_by_one(
    frame: pd.DataFrame, mapping: FieldMapping, fields: Sequence[FieldDef]
) -> pd.DataFrame:
    """:func:`check_rows` the engine's way: ``FieldMapping.apply`` and ``RowValidator`` per row."""
    validator = RowValidator(fields)
    columns = [name for name in frame.columns if name in mapping.fields or name == "email"]
    out: dict[str, list[str]] = {name: [] for name in CHECK_COLUMNS}
    for row in frame[columns].astype(object).where(frame[columns].notna(), None).to_dict("records"):
        email = str(row.get("email") or "").strip()
        payload = mapping.apply(row)
        if not email:
            code, message = MISSING_EMAIL, "The row has no email; add one or exclude the row."
        elif not is_valid_email(email):
            code = INVALID_EMAIL
            message = f"'{email[:80]}' is not a valid email address. Correct it or exclude the row."
        else:
            problems = validator.check("row", payload)
            code = problems[0].code if problems else ""
            message = " ".join(problem.message for problem in problems)
        out[EMAIL_KEY].append("" if code in (MISSING_EMAIL, INVALID_EMAIL) else email.lower())
        out[CODE].append(code)
        out[PROBLEM].append(message)
        out[REQUIRED].append(" ".join(p.message for p in validator.missing_required("row", payload)))
    return pd.DataFrame(
        {name: np.array(values, dtype=object) for name, values in out.items()}, index=frame.index
    )


def merged(checks: pd.DataFrame, labels: pd.Series) -> pd.Series:
    """For the rows of one push, in push order: the merge message of each earlier duplicate, else "".

    As the engine does, only rows with a valid email take part, and the later row wins; ``labels`` name
    the rows for the message (the campaign's row numbers, which is what the analyst sees).
    """
    candidates = checks[EMAIL_KEY][checks[EMAIL_KEY] != ""]
    out = pd.Series("", index=checks.index, dtype="string")
    losers = candidates.duplicated(keep="last")
    if not losers.any():
        return out
    winners = candidates[~candidates.duplicated(keep="last")]
    winner_label = pd.Series(labels.loc[winners.index].to_numpy(), index=winners.to_numpy())
    lost = candidates[losers]
    out[lost.index] = [
        f"Same email as row {winner_label[key]} in this push: merged into it (the later row wins)."
        for key in lost
    ]
    return out


@dataclass(frozen=True)
class Counts:
    """What a push of the chosen rows would do, as far as can be told before the CRM is asked."""

    rows: int  # rows in the push
    failing: int  # the screen fails them (email or values)
    merged: int  # earlier duplicates, skipped
    needs_required: int  # sent, but fail if new (a required field is empty)

    @property
    def to_send(self) -> int:
        return self.rows - self.failing - self.merged


def count(checks: pd.DataFrame, merge_notes: pd.Series) -> Counts:
    merged_rows = merge_notes != ""  # skipped whatever else is wrong with them: the later row is sent
    failing = (checks[CODE] != "") & ~merged_rows
    sent = ~failing & ~merged_rows
    return Counts(
        rows=len(checks),
        failing=int(failing.sum()),
        merged=int(merged_rows.sum()),
        needs_required=int((sent & (checks[REQUIRED] != "")).sum()),
    )


@dataclass(frozen=True)
class ApiEstimate:
    calls: int
    detail: str


def estimate_api_calls(
    provider: str, rows: int, *, bulk_threshold: int | None = None, matched_upsert: bool = False
) -> ApiEstimate:
    """API calls a real push of ``rows`` sendable rows costs, besides reading the fields (one call).

    HubSpot upserts by email in batches of 100, with no lookup. Salesforce looks every email up, 200 to a
    SOQL query, then writes 200 to a Collections call; at the Bulk threshold both become Bulk API 2.0
    jobs, a constant number of calls whatever the row count.
    """
    if rows <= 0:
        return ApiEstimate(0, "Nothing to send.")
    if provider == "hubspot":
        batches = math.ceil(rows / HUBSPOT_BATCH)
        lookups = batches if matched_upsert else 0
        detail = f"{batches:,} batch upsert{'s' if batches != 1 else ''} of up to {HUBSPOT_BATCH} contacts"
        if lookups:
            detail += f", after {lookups:,} batch reads"
        return ApiEstimate(batches + lookups, detail)
    if bulk_threshold is not None and rows >= bulk_threshold:
        calls = BULK_QUERY_CALLS + 2 * BULK_INGEST_CALLS
        return ApiEstimate(
            calls,
            f"Bulk API 2.0 (at {bulk_threshold:,} rows and more): 1 query job to match the emails and up "
            "to 2 ingest jobs (insert and update), about "
            f"{calls} calls whatever the row count",
        )
    queries = writes = math.ceil(rows / SALESFORCE_BATCH)
    return ApiEstimate(
        queries + writes,
        f"{queries:,} SOQL lookup{'s' if queries != 1 else ''} and {writes:,} sObject Collections "
        f"write{'s' if writes != 1 else ''} of up to {SALESFORCE_BATCH} records",
    )


def usage_left(identity: Mapping[str, object] | None) -> tuple[int, int] | None:
    """(remaining, limit) from a connection's stored identity (``api_used``/``api_limit``), if known."""
    if not identity:
        return None
    used, limit = identity.get("api_used"), identity.get("api_limit")
    if not isinstance(used, int) or not isinstance(limit, int) or limit <= 0:
        return None
    return max(limit - used, 0), limit
