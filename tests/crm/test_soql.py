"""SOQL building: literals round-trip through the SOQL escape rules, names are refused, IN lists chunk."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crm.soql import MAX_IN_CHARS, MAX_IN_VALUES, identifier, in_chunks, quote, select_where_in

# The SOQL reference's quoted-string escapes (sforce_api_calls_soql_select_quotedstringescapes):
# \n \r \t \b \f (either case), \" \' \\ and \uXXXX. Any other backslash is a MALFORMED_QUERY.
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


class MalformedQuery(ValueError):
    pass


def unescape_literal(literal: str) -> str:
    """Read one SOQL string literal the way Salesforce does; refuse anything it would refuse."""
    if len(literal) < 2 or literal[0] != "'":
        raise MalformedQuery("a literal starts with a quote")
    out: list[str] = []
    i = 1
    while i < len(literal):
        ch = literal[i]
        if ch == "'":
            if i != len(literal) - 1:
                raise MalformedQuery(
                    f"the literal ended early at {i}: {literal[i:]!r} would be parsed as SOQL"
                )
            return "".join(out)
        if ch == "\\":
            if i + 1 >= len(literal):
                raise MalformedQuery("a backslash at the end")
            nxt = literal[i + 1]
            if nxt == "u":
                digits = literal[i + 2 : i + 6]
                if not re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
                    raise MalformedQuery(f"bad unicode escape {literal[i : i + 6]!r}")
                out.append(chr(int(digits, 16)))
                i += 6
                continue
            key = nxt.lower() if nxt in "NRTBF" else nxt
            if key not in _SIMPLE_ESCAPES:
                raise MalformedQuery(f"invalid escape \\{nxt}")
            out.append(_SIMPLE_ESCAPES[key])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise MalformedQuery("the literal never ends")


@pytest.mark.parametrize(
    ("literal", "value"),
    [(r"'o\'brien'", "o'brien"), (r"'a\\b'", "a\\b"), (r"'\u00e9'", "é"), (r"'\N'", "\n"), ("''", "")],
)
def test_reference_unescaper_reads_valid_literals(literal: str, value: str) -> None:
    assert unescape_literal(literal) == value


@pytest.mark.parametrize("literal", [r"'o\x'", r"'trailing\'", r"'\u12'", r"'50\%'", "'a'b'", "'open", "x"])
def test_reference_unescaper_refuses_what_salesforce_refuses(literal: str) -> None:
    with pytest.raises(MalformedQuery):
        unescape_literal(literal)


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("o'brien@x.com", r"'o\'brien@x.com'"),
        ("back\\slash", r"'back\\slash'"),
        ('say "hi"', r"'say \"hi\"'"),
        ("line\nbreak\r\ttab\bbell\fform", r"'line\nbreak\r\ttab\bbell\fform'"),
        ("plain@example.com", "'plain@example.com'"),
        ("", "''"),
    ],
)
def test_quote_escapes_quotes_backslashes_and_control_characters(value: str, literal: str) -> None:
    assert quote(value) == literal


@settings(max_examples=300)
@given(st.text())
@example("' OR Id != null OR Email = '")
@example("\\' OR Id != null --")
@example("\\")
@example("'")
@example("\\u0027")
def test_quote_round_trips_through_the_soql_escape_rules(value: str) -> None:
    literal = quote(value)
    assert unescape_literal(literal) == value  # also proves no unescaped ' ends the literal early
    for raw in "\n\r\t\b\f":
        assert raw not in literal


@pytest.mark.parametrize("name", ["Email", "Lead", "Custom_Field__c", "Owner.Name", "ns__Obj__c.Field__c"])
def test_identifier_accepts_field_and_object_names(name: str) -> None:
    assert identifier(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "Email' OR Id != null",
        "Email OR Id != null",
        "Email Id",
        "Email,Id",
        "Email'",
        'Email"',
        "Email\n",
        "Email\nFROM",
        "1Email",
        "_Email",
        "Owner..Name",
        "Email;",
        "Email--",
        "",
        "Émail",
    ],
)
def test_identifier_refuses_anything_that_is_not_a_plain_name(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid Salesforce field or object name"):
        identifier(name)


@given(st.text(max_size=20))
@example("Email\n")
def test_identifier_accepts_exactly_the_plain_names(name: str) -> None:
    plain = re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*", name) is not None
    try:
        identifier(name)
    except ValueError:
        assert not plain
    else:
        assert plain


def parse_in_list(chunk: str) -> list[str]:
    """The values of one ``(…)`` list of literals, using the reference unescaper."""
    assert chunk.startswith("(") and chunk.endswith(")")
    values, body, start, i = [], chunk[1:-1], 0, 1
    while i <= len(body):
        # a literal ends at an unescaped quote followed by a comma or the end
        if body[i - 1] == "'" and (i == len(body) or body[i] == ",") and i - 1 > start:
            try:
                values.append(unescape_literal(body[start:i]))
            except MalformedQuery:
                i += 1
                continue
            start = i + 1
            i = start + 1
            continue
        i += 1
    assert start >= len(body), f"unparsed tail {body[start:]!r}"
    return values


@settings(max_examples=150)
@given(
    values=st.lists(st.text(max_size=30), max_size=60),
    max_values=st.integers(1, 10),
    max_chars=st.integers(40, 200),
)
def test_in_chunks_respects_both_limits_and_loses_nothing(
    values: list[str], max_values: int, max_chars: int
) -> None:
    chunks = list(in_chunks(values, max_values=max_values, max_chars=max_chars))
    parsed = [parse_in_list(chunk) for chunk in chunks]
    assert [v for chunk in parsed for v in chunk] == values  # every value, once, in order
    for chunk, chunk_values in zip(chunks, parsed, strict=True):
        assert 1 <= len(chunk_values) <= max_values
        if len(chunk_values) > 1:  # a single over-long value cannot be split, and goes alone
            assert len(chunk) <= max_chars


def test_in_chunks_fills_chunks_to_the_value_limit() -> None:
    emails = [f"user{i}@example.com" for i in range(450)]
    chunks = list(in_chunks(emails))
    assert [chunk.count("@") for chunk in chunks] == [MAX_IN_VALUES, MAX_IN_VALUES, 50]
    assert all(len(chunk) <= MAX_IN_CHARS for chunk in chunks)


def test_in_chunks_of_nothing_is_nothing() -> None:
    assert list(in_chunks([])) == []


def test_select_where_in_builds_one_safe_statement_per_chunk() -> None:
    emails = [f"u{i}@x.com" for i in range(250)] + ["o'brien@x.com"]
    statements = list(select_where_in("Lead", ["Email", "Id", "LastName"], "Email", emails))
    assert len(statements) == 2
    head = "SELECT Id, Email, LastName FROM Lead WHERE Email IN ("
    assert all(s.startswith(head) for s in statements)
    found = [v for s in statements for v in parse_in_list(s[len(head) - 1 :])]
    assert found == emails


@pytest.mark.parametrize(
    ("object_name", "fields", "key_field"),
    [
        ("Lead' --", ["Email"], "Email"),
        ("Lead", ["Email, (SELECT Id FROM Contacts)"], "Email"),
        ("Lead", ["Email"], "Email = '' OR Id"),
    ],
)
def test_select_where_in_refuses_injected_names(object_name: str, fields: list[str], key_field: str) -> None:
    with pytest.raises(ValueError, match="not a valid Salesforce"):
        list(select_where_in(object_name, fields, key_field, ["a@b.co"]))
