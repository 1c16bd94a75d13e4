"""Check a mapping and every row against the CRM's live field definitions, before anything is written.

Each problem names the row, the field and the fix, so the Push page can show it beside the row and the
CLI can print it. The same checks run in a dry run and in a real push, so their predictions agree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from crm.mapping import FieldMapping
from crm.model import FieldDef, Value

# A strict subset of valid addresses, checked first because email-validator costs ~30 µs a call and a
# push can hold 100,000 rows; anything this does not accept goes to email-validator for the verdict.
# Kept a subset: labels of at most 63 characters, no "--" after the @ (R-LDH and Punycode labels), no
# trailing newline (\Z, not $); special-use top-level domains are left to the validator too.
_SIMPLE_EMAIL = re.compile(
    r"^[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@(?!.*--)"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\Z"
)
_URL = re.compile(r"^(https?://)?[^\s/$.?#][^\s]*\.[^\s]{2,}$", re.IGNORECASE)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n"}


@dataclass(frozen=True, slots=True)
class Problem:
    key: str  # the row's key, or "mapping"
    field: str
    code: str
    message: str


@lru_cache(maxsize=65536)
def is_valid_email(value: str) -> bool:
    """Syntax only; no DNS (pushes must work offline and fast)."""
    if len(value) > 254:
        return False
    if _SIMPLE_EMAIL.match(value) and value.rpartition(".")[2].lower() not in SPECIAL_USE_DOMAIN_NAMES:
        return True
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _as_text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def check_value(value: Value, fd: FieldDef) -> tuple[str, str] | None:
    """(code, message) when ``value`` cannot go into ``fd``; None when it can."""
    text = _as_text(value).strip()
    label = f"{fd.label} ({fd.name})"
    if fd.max_length and len(text) > fd.max_length:
        return "TOO_LONG", f"{label} is {len(text)} characters; the CRM allows {fd.max_length}. Shorten it."
    kind = fd.type
    if kind == "email" and not is_valid_email(text):
        return (
            "INVALID_EMAIL",
            f"{label}: '{text[:80]}' is not a valid email address. Correct it or exclude the row.",
        )
    if kind in ("number", "integer"):
        # Plain decimal notation only: float() would also take "1_000", "nan" and "inf", which CRMs refuse.
        if not _NUMBER.match(text):
            return "INVALID_NUMBER", f"{label}: '{text[:40]}' is not a number. Enter digits only."
        if not math.isfinite(float(text)):
            return "INVALID_NUMBER", f"{label}: '{text[:40]}' is too large a number."
        if kind == "integer" and not float(text).is_integer():
            return "INVALID_NUMBER", f"{label}: '{text}' must be a whole number."
    elif kind == "boolean" and text.lower() not in _TRUE | _FALSE:
        return "INVALID_BOOLEAN", f"{label}: '{text[:40]}' is not true or false."
    elif kind == "date" and not _parses(text, date.fromisoformat):
        return "INVALID_DATE", f"{label}: '{text[:40]}' is not a date; use YYYY-MM-DD."
    elif kind == "datetime" and not _parses(text, datetime.fromisoformat):
        return "INVALID_DATE", f"{label}: '{text[:40]}' is not a date and time; use ISO 8601."
    elif kind == "url" and not _URL.match(text):
        return "INVALID_URL", f"{label}: '{text[:80]}' is not a web address."
    if fd.restricted and fd.options and kind in ("picklist", "multipicklist"):
        values = text.split(";") if kind == "multipicklist" else [text]
        bad = [v for v in values if v not in fd.options]
        if bad:
            allowed = ", ".join(fd.options[:12]) + (" …" if len(fd.options) > 12 else "")
            return (
                "INVALID_OPTION",
                f"{label}: '{bad[0][:40]}' is not an allowed value; use one of {allowed}.",
            )
    return None


def _parses(text: str, parse: object) -> bool:
    try:
        parse(text)  # type: ignore[operator]
    except ValueError:
        return False
    return True


def coerce(value: Value, fd: FieldDef | None) -> Value:
    """The JSON type a CRM expects for ``fd`` (Salesforce wants numbers and booleans as such)."""
    if fd is None or value is None or not isinstance(value, str):
        return value
    if fd.type == "boolean":
        return value.strip().lower() in _TRUE
    if fd.type in ("number", "integer"):
        number = float(value)
        return int(number) if number.is_integer() else number
    return value


def check_mapping(mapping: FieldMapping, fields: Sequence[FieldDef], object_label: str) -> list[Problem]:
    """Problems with the mapping itself: unknown or read-only fields, required fields never sent."""
    by_name = {f.name: f for f in fields}
    problems: list[Problem] = []
    targets = list(mapping.fields.items()) + [(f"custom field {k}", k) for k in mapping.constants]
    for source, target in targets:
        fd = by_name.get(target)
        if fd is None:
            problems.append(
                Problem(
                    "mapping",
                    target,
                    "UNKNOWN_FIELD",
                    f"{source} -> '{target}': {object_label} has no such "
                    "field. Pick one from the list, or create it first.",
                )
            )
        elif fd.read_only:
            problems.append(
                Problem(
                    "mapping",
                    target,
                    "READ_ONLY_FIELD",
                    f"{source} -> '{target}': {fd.label} is read-only "
                    f"in {object_label}. Map it to a writable field.",
                )
            )
    for crm_field, value in mapping.constants.items():
        fd = by_name.get(crm_field)
        bad = check_value(value, fd) if fd and not fd.read_only else None
        if bad:
            problems.append(Problem("mapping", crm_field, bad[0], f"Custom field: {bad[1]}"))
    sent = set(mapping.crm_fields())
    for fd in fields:
        if fd.required and fd.name not in sent:
            problems.append(
                Problem(
                    "mapping",
                    fd.name,
                    "REQUIRED_FIELD_NOT_MAPPED",
                    f"{fd.label} ({fd.name}) is required "
                    f"to create a {object_label} record but nothing is mapped to it; new rows will fail.",
                )
            )
    return problems


class RowValidator:
    """Validates mapped payloads against one object's fields; built once per push."""

    def __init__(self, fields: Sequence[FieldDef]) -> None:
        self.by_name = {f.name: f for f in fields}
        self.required = [f for f in fields if f.required]

    def check(self, key: str, payload: Mapping[str, Value]) -> list[Problem]:
        problems = []
        for name, value in payload.items():
            fd = self.by_name.get(name)
            if fd is None or fd.read_only:
                continue  # reported once for the whole mapping, not per row
            bad = check_value(value, fd)
            if bad:
                problems.append(Problem(key, name, *bad))
        return problems

    def unusable_fields(self, names: set[str]) -> list[Problem]:
        """Fields a push cannot write at all: unknown to the CRM, or read-only there."""
        problems = []
        for name in sorted(names):
            fd = self.by_name.get(name)
            if fd is None:
                problems.append(
                    Problem(
                        "mapping",
                        name,
                        "UNKNOWN_FIELD",
                        f"The CRM has no field '{name}'. Fix the mapping, or create the field first.",
                    )
                )
            elif fd.read_only:
                problems.append(
                    Problem(
                        "mapping",
                        name,
                        "READ_ONLY_FIELD",
                        f"{fd.label} ({name}) is read-only in the CRM. Map the value to a writable field.",
                    )
                )
        return problems

    def missing_required(self, key: str, payload: Mapping[str, Value]) -> list[Problem]:
        """Required-on-create fields left empty; only rows that will be created need them."""
        return [
            Problem(
                key,
                fd.name,
                "REQUIRED_FIELD_MISSING",
                f"{fd.label} ({fd.name}) is required to create the record. Fill it in, or exclude the row.",
            )
            for fd in self.required
            if _as_text(payload.get(fd.name)).strip() == ""
        ]
