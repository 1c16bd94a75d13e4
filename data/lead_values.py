"""Normalise lead values column by column, and say which rows cannot be taken and why.

One function serves both the file import and the analyst's table edits, so a value refused in a file is
refused in an edit too. It works on whole pandas columns: a 100,000-row file is checked in about half a
second. Email syntax is ``email-validator``'s (``check_deliverability=False``); a regular expression
accepts the common, plainly valid addresses first, and only the rest go through the validator one by one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

import email_validator
import numpy as np
import pandas as pd
from email_validator import EmailNotValidError, validate_email

from data.lead_columns import FIELD_MAX_LENGTH, LEAD_FIELDS
from data.lead_errors import (
    INVALID_EMAIL,
    INVALID_SCORE,
    MISSING_EMAIL,
    SCORE_OUT_OF_RANGE,
    UNKNOWN_TIER,
    VALUE_TOO_LONG,
)

# HOT >= 80, WARM 50-79, COOL < 50 in our scoring; COLD is Salesforce's Rating word for COOL.
TIER_ALIASES = {"HOT": "HOT", "WARM": "WARM", "COOL": "COOL", "COLD": "COOL"}
SCORE_MIN, SCORE_MAX = 0, 100
# RFC 5321 4.5.3.1.3 (via email-validator's EMAIL_MAX_LENGTH): longer addresses skip the slow validator.
EMAIL_MAX_CHARS = 254
# How much of a bad value a message quotes: enough to find it, never a 100 KB cell.
QUOTE_CHARS = 60

# A subset of what email-validator accepts: an ASCII dot-atom local part, ASCII hostname labels and an
# alphabetic top-level domain. Anything else (quotes, Unicode, IDNA, "--") goes to the validator itself.
_ATEXT = r"A-Za-z0-9_!#$%&'*+/=?^`{|}~\-"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
PLAIN_EMAIL = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}")
_SCORE_FIX = "Use a number from 0 to 100, or leave it blank."
# Cells are trimmed of whitespace and of the invisible characters copy-paste brings along.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"

LABELS = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "company": "Company",
    "title": "Title",
    "phone": "Phone",
    "website": "Website",
    "city": "City",
    "state": "State",
    "country": "Country",
    "industry": "Industry",
    "score": "Score",
    "tier": "Tier",
}


class Issue(NamedTuple):
    """One thing wrong with one row: the problem code, the field (or extra header) and the message."""

    code: str
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class Normalised:
    """``values``: one column per lead field, ``None`` where blank; ``issues``: row -> its issues, in
    the order the codes are checked (``data.lead_errors``)."""

    values: pd.DataFrame
    issues: dict[int, list[Issue]] = field(default_factory=dict)

    def report(
        self, mask: pd.Series, code: str, name: str, cells: pd.Series, message: Callable[[Any], str]
    ) -> None:
        """Record an issue for every row where ``mask`` is true, its message built from that row's cell.
        Only flagged rows are touched, and by position: label lookups would cost seconds on big files."""
        selected = mask.to_numpy(dtype=bool)
        for row, cell in zip(
            mask.index[selected].tolist(), cells.to_numpy(dtype=object)[selected], strict=True
        ):
            self.issues.setdefault(int(row), []).append(Issue(code, name, message(cell)))


def clean(column: pd.Series) -> pd.Series:
    """Trimmed strings; missing cells become empty strings."""
    text = column.fillna("").astype("str")
    return text.str.strip().str.strip(_INVISIBLE).str.strip()


def quote(value: str) -> str:
    """A value as a message shows it: quoted, and shortened when long."""
    return repr(value if len(value) <= QUOTE_CHARS else value[:QUOTE_CHARS] + "…")


def normalise(fields: pd.DataFrame, *, strict_emails: bool = True) -> Normalised:
    """Clean and check the lead-field columns of ``fields`` (strings, indexed by row number).

    With ``strict_emails=False`` a syntactically invalid email is kept as typed instead of refused; only
    the demo data, which shows validation on purpose, asks for that.
    """
    columns = {name: clean(fields[name]) for name in LEAD_FIELDS if name in fields.columns}
    values = {name: column.astype(object).where(column != "", None) for name, column in columns.items()}
    result = Normalised(values=pd.DataFrame(index=fields.index))
    email = columns.get("email", pd.Series("", index=fields.index, dtype="str"))
    result.report(
        email == "",
        MISSING_EMAIL,
        "email",
        email,
        lambda _cell: "No email address. Add one, or remove the row.",
    )
    if strict_emails:
        reasons = email_problems(email)
        result.report(reasons.notna(), INVALID_EMAIL, "email", reasons, str)
    for name, column in columns.items():
        limit = FIELD_MAX_LENGTH.get(name)
        if limit is not None and name not in ("email", "tier"):
            result.report(
                column.str.len() > limit, VALUE_TOO_LONG, name, column, _too_long(LABELS[name], limit)
            )
    if "score" in columns:
        values["score"] = _check_scores(columns["score"], result)
    if "tier" in columns:
        values["tier"] = _check_tiers(columns["tier"], result)
    frame = pd.DataFrame({name: values.get(name) for name in LEAD_FIELDS}, index=fields.index)
    return Normalised(values=frame.astype(object).where(frame.notna(), None), issues=result.issues)


def _check_scores(raw: pd.Series, result: Normalised) -> pd.Series:
    score, invalid, out_of_range = parse_scores(raw)
    result.report(
        invalid,
        INVALID_SCORE,
        "score",
        raw,
        lambda cell: f"Score {quote(cell)} is not a number. {_SCORE_FIX}",
    )
    result.report(
        out_of_range,
        SCORE_OUT_OF_RANGE,
        "score",
        raw,
        lambda cell: f"Score {quote(cell)} is outside 0-100. {_SCORE_FIX}",
    )
    return score


def _check_tiers(raw: pd.Series, result: Normalised) -> pd.Series:
    tier = raw.str.upper().map(TIER_ALIASES)
    result.report(
        (raw != "") & tier.isna(),
        UNKNOWN_TIER,
        "tier",
        raw,
        lambda cell: (
            f"Tier {quote(cell)} is not HOT, WARM or COOL (COLD counts as COOL). Fix it, or leave it blank."
        ),
    )
    return tier.astype(object).where(tier.notna(), None)


def _too_long(label: str, limit: int) -> Callable[[str], str]:
    return lambda cell: f"{label} is {len(cell):,} characters long; the limit is {limit:,}. Shorten it."


def parse_scores(raw: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Scores as ints (``None`` when blank or bad), and the masks of non-numbers and out-of-range numbers.

    Accepts ``87``, ``87.0``, `` 87 ``, ``87%`` and a decimal comma (``87,5``); halves round up.
    """
    text = raw.str.replace(r"\s*%$", "", regex=True)
    text = text.str.replace(r"^([+-]?\d+),(\d{1,2})$", r"\1.\2", regex=True)
    number = pd.to_numeric(text.astype(object).where(text != "", None), errors="coerce").astype("float64")
    filled = raw != ""
    finite = np.isfinite(number.to_numpy())
    invalid = filled & ~finite
    out_of_range = filled & finite & ((number < SCORE_MIN) | (number > SCORE_MAX))
    good = filled & ~invalid & ~out_of_range
    rounded = np.floor(number.where(good, 0.0) + 0.5).astype("int64")
    score = pd.Series(
        [int(value) if ok else None for value, ok in zip(rounded, good, strict=True)],
        index=raw.index,
        dtype=object,
    )
    return score, invalid, out_of_range


def email_problems(email: pd.Series) -> pd.Series:
    """Why each non-blank address is invalid, or NaN when it is valid (blank ones are not judged)."""
    domain = email.str.rpartition("@")[2].str.lower()
    special = pd.Series(False, index=email.index)
    for name in email_validator.SPECIAL_USE_DOMAIN_NAMES:
        special |= (domain == name) | domain.str.endswith("." + name)
    plain = (
        email.str.fullmatch(PLAIN_EMAIL).fillna(False).astype(bool)
        & (email.str.len() <= EMAIL_MAX_CHARS)
        & ~domain.str.contains("--", regex=False)
        & ~special
    )
    reasons = np.full(len(email), np.nan, dtype=object)
    addresses = email.to_numpy(dtype=object)
    for position in np.flatnonzero(~plain.to_numpy() & (email != "").to_numpy()):
        address = addresses[position]
        reason = email_reason(address)
        if reason is not None:
            reasons[position] = (
                f"{quote(address)} is not a valid email address: {reason} Correct it, or remove the row."
            )
    return pd.Series(reasons, index=email.index, dtype=object)


@lru_cache(maxsize=65536)
def email_reason(address: str) -> str | None:
    """email-validator's reason an address is invalid, or None; cached, as files repeat bad values."""
    if len(address) > EMAIL_MAX_CHARS:
        return f"it is {len(address):,} characters long, and an address can have at most {EMAIL_MAX_CHARS}."
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        return str(error)
    return None
