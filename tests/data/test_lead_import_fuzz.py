"""Fuzzing the importer: whatever bytes arrive, it refuses clearly or accounts for every row once."""

from __future__ import annotations

import pandas as pd
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.lead_import import ImportRefused, ParsedFile, prepare, read_table
from data.lead_values import email_problems

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KNOWN_HEADERS = [
    "Email",
    "E-mail",
    "First Name",
    "Surname",
    "Company",
    "Lead Score",
    "Tier",
    "Rating",
    "Grade",
]
PRINTABLE = st.characters(exclude_categories=("Cc", "Cs"))
CELLS = st.one_of(
    st.sampled_from(
        ["", " ", "a@b.example", "A@B.EXAMPLE", "87", "87%", "101", "-1", "hot", "COLD", "nan", "inf"]
    ),
    st.text(PRINTABLE, max_size=12),
    st.text(alphabet='ab@.,;\t"\r\n ', max_size=12),
    st.from_regex(r"[a-z]{1,6}@[a-z]{1,6}\.(example|com|test|c0m)", fullmatch=True),
)
HEADERS = st.one_of(st.sampled_from(KNOWN_HEADERS), st.text(PRINTABLE, max_size=10))


def assert_every_row_accounted_for(parsed: ParsedFile) -> None:
    prepared = prepare(parsed, parsed.column_map)
    lead_rows = [lead["row_number"] for lead in prepared.leads]
    problem_rows = [problem.row for problem in prepared.problems]
    assert len(set(lead_rows)) == len(lead_rows)
    assert len(set(problem_rows)) == len(problem_rows)
    assert not set(lead_rows) & set(problem_rows)
    assert sorted(lead_rows + problem_rows) == sorted(parsed.frame.index.tolist())
    assert prepared.total_rows == parsed.total_rows == len(lead_rows) + len(problem_rows)
    for lead in prepared.leads:
        assert lead["email"] and lead["email"] == lead["email"].strip()
        assert lead["score"] is None or 0 <= lead["score"] <= 100
        assert lead["tier"] in (None, "HOT", "WARM", "COOL")
    emails = [lead["email"].lower() for lead in prepared.leads]
    assert len(set(emails)) == len(emails)


def import_or_refuse(data: bytes, filename: str = "fuzz.csv") -> None:
    try:
        parsed = read_table(data, filename)
    except ImportRefused as refused:
        assert refused.message.strip()
        return
    try:
        assert_every_row_accounted_for(parsed)
    except ImportRefused as refused:  # e.g. a map the analyst must fix; still a sentence, not a crash
        assert refused.message.strip()


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    import_or_refuse(data)


@FUZZ
@given(st.binary(max_size=200), st.sampled_from(["x.xlsx", "x.csv"]))
def test_random_bytes_behind_a_zip_signature(tail: bytes, filename: str) -> None:
    import_or_refuse(b"PK\x03\x04" + tail, filename)


@st.composite
def csv_like(draw: st.DrawFn) -> bytes:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    width = draw(st.integers(1, 5))
    # Mostly well-formed (unique headers, rows no wider than the header) so most examples reach prepare.
    wild = draw(st.integers(0, 4)) == 0
    unique = None if wild else (lambda header: header.strip().casefold())
    headers = draw(st.lists(HEADERS, min_size=width, max_size=width, unique_by=unique))
    if draw(st.booleans()) and "Email" not in headers:
        headers[draw(st.integers(0, width - 1))] = "Email"
    rows = draw(
        st.lists(st.lists(CELLS, min_size=1, max_size=width + wild), min_size=0 if wild else 1, max_size=8)
    )
    quote = draw(st.booleans())

    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if quote else value

    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(delimiter.join(cell(value) for value in row) for row in [headers, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    return text.encode(encoding, errors="replace")


@FUZZ
@given(csv_like())
def test_random_csv_like_text(data: bytes) -> None:
    import_or_refuse(data)


# The fast email path must never accept what email-validator refuses (or the reverse).
EMAILISH = st.one_of(
    st.from_regex(r"[a-zA-Z0-9._%+'-]{1,20}@[a-zA-Z0-9.-]{1,20}\.[a-zA-Z0-9-]{1,8}", fullmatch=True),
    st.from_regex(
        r"[a-z]{1,8}@([a-z0-9-]{1,8}\.)+(local|test|arpa|invalid|onion|localhost|xn--p1ai)", fullmatch=True
    ),
    st.text(alphabet='ab.@-_+1éü"<> ', min_size=1, max_size=20),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(EMAILISH, min_size=1, max_size=10))
def test_email_check_agrees_with_email_validator(addresses: list[str]) -> None:
    reasons = email_problems(pd.Series(addresses, dtype="str")).tolist()
    for address, reason in zip(addresses, reasons, strict=True):
        try:
            validate_email(address, check_deliverability=False)
            valid = True
        except EmailNotValidError:
            valid = False
        assert valid == pd.isna(reason), (address, reason)
