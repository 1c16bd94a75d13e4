"""CSV exports: formula-looking cells neutralised, UTF-8 with a BOM, non-ASCII intact."""

from __future__ import annotations

import csv
import io

import pytest

from service.exports import safe_cell, to_csv


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ('=HYPERLINK("http://evil.example")', '\'=HYPERLINK("http://evil.example")'),
        ("+1 (415) 555-0100", "'+1 (415) 555-0100"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("plain text", "plain text"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (42, "42"),
    ],
)
def test_safe_cell(value: object, shown: str) -> None:
    assert safe_cell(value) == shown


def test_to_csv_is_bom_utf8_and_round_trips_non_ascii() -> None:
    rows = [
        {
            "email": "jürgen.müller@kesselwerk.example",
            "name": "Siobhán Ní Bhriain",
            "note": "=cmd|' /C calc'!A0",
        },
        {"email": "zoë@例え.example", "name": '李小龍, "Bruce"', "note": None},
    ]

    data = to_csv(["email", "name", "note"], rows)

    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert parsed == [
        {"email": rows[0]["email"], "name": rows[0]["name"], "note": "'=cmd|' /C calc'!A0"},
        {"email": rows[1]["email"], "name": rows[1]["name"], "note": ""},
    ]


def test_to_csv_neutralises_the_header_too() -> None:
    text = to_csv(["=evil", "ok"], [{"=evil": "@x", "ok": "fine"}]).decode("utf-8-sig")
    assert text.splitlines() == ["'=evil,ok", "'@x,fine"]
