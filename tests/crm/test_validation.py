"""Values and mappings checked against field definitions; the email fast path agrees with email-validator."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crm.mapping import FieldMapping
from crm.model import FieldDef, Value
from crm.validation import _SIMPLE_EMAIL, RowValidator, check_mapping, check_value, coerce, is_valid_email


def fd(name: str = "Field__c", type_: str = "string", **kw: object) -> FieldDef:
    return FieldDef(name, kw.pop("label", name.replace("__c", " label")), type_, **kw)  # type: ignore[arg-type]


def problem(value: Value, field: FieldDef) -> tuple[str, str]:
    found = check_value(value, field)
    assert found is not None, f"{value!r} should be refused by {field}"
    code, message = found
    assert f"{field.label} ({field.name})" in message  # every message names the field
    return code, message


@pytest.mark.parametrize(
    ("type_", "good", "bad", "code", "fix"),
    [
        (
            "email",
            ["ada@example.com", "o'brien@example.ie"],
            ["ada@", "not an email", "a@b"],
            "INVALID_EMAIL",
            "Correct it or exclude the row",
        ),
        (
            "number",
            [12, 12.5, "-3", " 4e3 ", "0.25"],
            ["twelve", "12,5", "", "nan", "inf", "-Infinity", True],
            "INVALID_NUMBER",
            "Enter digits only",
        ),
        ("integer", [12, "12", 12.0, "-7"], ["12.5", "abc", "NaN"], "INVALID_NUMBER", ""),
        (
            "boolean",
            [True, False, "true", "FALSE", "yes", "n", "1", 0],
            ["maybe", "2", "t"],
            "INVALID_BOOLEAN",
            "true or false",
        ),
        ("date", ["2025-03-01"], ["01/03/2025", "2025-02-30", "tomorrow"], "INVALID_DATE", "YYYY-MM-DD"),
        (
            "datetime",
            ["2025-03-01T10:00:00", "2025-03-01T10:00:00+02:00"],
            ["10 am", "2025-13-01T00:00"],
            "INVALID_DATE",
            "ISO 8601",
        ),
        (
            "url",
            ["https://example.com", "example.com/path", "http://a.io"],
            ["not a url", "http://", "x"],
            "INVALID_URL",
            "web address",
        ),
    ],
)
def test_check_value_per_type(type_: str, good: list[Value], bad: list[Value], code: str, fix: str) -> None:
    field = fd(type_=type_, label=f"My {type_}")
    for value in good:
        assert check_value(value, field) is None, value
    for value in bad:
        got_code, message = problem(value, field)
        assert got_code == code
        assert fix in message


def test_integer_message_asks_for_a_whole_number() -> None:
    _, message = problem("12.5", fd("NumberOfEmployees", "integer", label="Employees"))
    assert "'12.5' must be a whole number" in message


def test_restricted_picklist_refuses_values_outside_its_options() -> None:
    rating = fd("Rating", "picklist", label="Rating", options=("Hot", "Warm", "Cold"), restricted=True)
    assert check_value("Warm", rating) is None
    code, message = problem("Scorching", rating)
    assert code == "INVALID_OPTION"
    assert "'Scorching' is not an allowed value; use one of Hot, Warm, Cold." in message


def test_unrestricted_picklist_takes_any_value() -> None:
    industry = fd("Industry", "picklist", options=("Banking", "Energy"), restricted=False)
    assert check_value("Aerospace", industry) is None


def test_long_option_lists_are_abbreviated() -> None:
    options = tuple(f"opt{i}" for i in range(30))
    _, message = problem("nope", fd("P", "picklist", options=options, restricted=True))
    assert "opt11 …" in message and "opt12" not in message


def test_multipicklist_checks_every_value() -> None:
    interests = fd("Interests__c", "multipicklist", options=("A", "B", "C"), restricted=True)
    assert check_value("A;C", interests) is None
    code, message = problem("A;Z;B", interests)
    assert code == "INVALID_OPTION" and "'Z'" in message


def test_max_length_counts_characters_and_names_the_limit() -> None:
    title = fd("Title", "string", label="Title", max_length=5)
    assert check_value("12345", title) is None
    assert check_value("  12345  ", title) is None  # surrounding blanks are not sent
    code, message = problem("123456", title)
    assert code == "TOO_LONG"
    assert "is 6 characters; the CRM allows 5. Shorten it." in message


def test_a_long_value_is_reported_as_too_long_before_its_type() -> None:
    code, _ = problem("x" * 300, fd("Email", "email", max_length=80))
    assert code == "TOO_LONG"


def test_bad_values_are_quoted_but_bounded() -> None:
    _, message = problem("y" * 5000 + "@", fd("Email", "email"))
    assert len(message) < 300


@pytest.mark.parametrize(
    ("value", "type_", "expected"),
    [
        ("12", "number", 12),
        (" 12.5 ", "number", 12.5),
        ("7", "integer", 7),
        ("Yes", "boolean", True),
        ("y", "boolean", True),
        ("no", "boolean", False),
        ("0", "boolean", False),
        ("12", "string", "12"),
        (5, "string", 5),
        (None, "number", None),
        (True, "boolean", True),
    ],
)
def test_coerce_gives_the_json_type_the_crm_expects(value: Value, type_: str, expected: Value) -> None:
    result = coerce(value, fd(type_=type_))
    assert result == expected and type(result) is type(expected)


def test_coerce_without_a_field_definition_leaves_the_value() -> None:
    assert coerce("12", None) == "12"


def lead_fields() -> list[FieldDef]:
    return [
        FieldDef("Id", "Lead ID", "id", read_only=True),
        FieldDef("Email", "Email", "email", max_length=80),
        FieldDef("FirstName", "First Name", "string", max_length=40),
        FieldDef("LastName", "Last Name", "string", required=True, max_length=80),
        FieldDef("Company", "Company", "string", required=True, max_length=255),
        FieldDef("Rating", "Rating", "picklist", options=("Hot", "Warm", "Cold"), restricted=True),
        FieldDef("NumberOfEmployees", "Employees", "integer"),
        FieldDef("CreatedDate", "Created Date", "datetime", read_only=True),
    ]


def test_check_mapping_accepts_a_complete_mapping() -> None:
    mapping = FieldMapping(
        {"email": "Email", "last_name": "LastName", "company": "Company", "tier": "Rating"}
    )
    assert check_mapping(mapping, lead_fields(), "Lead") == []


def test_check_mapping_reports_unknown_read_only_unmapped_required_and_bad_constants() -> None:
    mapping = FieldMapping(
        {"email": "Email", "last_name": "LastName", "title": "Titel", "score": "CreatedDate"},
        constants={"Rating": "Scorching", "Source__c": "Webinar", "NumberOfEmployees": "lots"},
    )
    problems = {(p.field, p.code): p for p in check_mapping(mapping, lead_fields(), "Lead")}
    assert set(problems) == {
        ("Titel", "UNKNOWN_FIELD"),
        ("Source__c", "UNKNOWN_FIELD"),
        ("CreatedDate", "READ_ONLY_FIELD"),
        ("Company", "REQUIRED_FIELD_NOT_MAPPED"),
        ("Rating", "INVALID_OPTION"),
        ("NumberOfEmployees", "INVALID_NUMBER"),
    }
    assert all(p.key == "mapping" for p in problems.values())
    assert "title -> 'Titel': Lead has no such field" in problems["Titel", "UNKNOWN_FIELD"].message
    assert "custom field Source__c" in problems["Source__c", "UNKNOWN_FIELD"].message
    assert (
        "read-only in Lead. Map it to a writable field" in problems["CreatedDate", "READ_ONLY_FIELD"].message
    )
    assert (
        "Company (Company) is required to create a Lead"
        in problems["Company", "REQUIRED_FIELD_NOT_MAPPED"].message
    )
    assert problems["Rating", "INVALID_OPTION"].message.startswith("Custom field: Rating (Rating)")


def test_a_constant_can_fill_a_required_field() -> None:
    mapping = FieldMapping({"email": "Email", "last_name": "LastName"}, constants={"Company": "Unknown"})
    assert check_mapping(mapping, lead_fields(), "Lead") == []


def test_row_validator_checks_values_and_ignores_fields_the_mapping_check_reports() -> None:
    validator = RowValidator(lead_fields())
    payload: dict[str, Value] = {
        "Email": "ada@example.com",
        "Rating": "Scorching",
        "NumberOfEmployees": "12.5",
        "Nonexistent__c": "whatever",
        "CreatedDate": "garbage",
    }
    problems = validator.check("row-7", payload)
    assert [(p.key, p.field, p.code) for p in problems] == [
        ("row-7", "Rating", "INVALID_OPTION"),
        ("row-7", "NumberOfEmployees", "INVALID_NUMBER"),
    ]
    assert validator.check("row-8", {"Email": "ada@example.com", "LastName": "Lovelace"}) == []


def test_missing_required_names_each_empty_required_field() -> None:
    validator = RowValidator(lead_fields())
    problems = validator.missing_required("row-1", {"Email": "a@b.co", "LastName": "  ", "FirstName": "Ada"})
    assert [(p.key, p.field, p.code) for p in problems] == [
        ("row-1", "LastName", "REQUIRED_FIELD_MISSING"),
        ("row-1", "Company", "REQUIRED_FIELD_MISSING"),
    ]
    assert "Last Name (LastName) is required to create the record" in problems[0].message
    assert validator.missing_required("row-2", {"LastName": "Lovelace", "Company": "Analytical"}) == []


def validator_accepts(value: str) -> bool:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


_label = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,70}[A-Za-z0-9])?", fullmatch=True)
_tld = st.sampled_from(
    ["com", "io", "ie", "museum", "local", "localhost", "test", "invalid", "onion", "arpa"]
) | (st.from_regex(r"[A-Za-z]{2,24}", fullmatch=True))
_local = st.from_regex(r"[A-Za-z0-9_%+-]{1,70}(?:\.[A-Za-z0-9_%+-]{1,10}){0,2}", fullmatch=True)
_plausible_emails = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join([*labels, tld])}",
    _local,
    st.lists(_label, min_size=1, max_size=4),
    _tld,
)


@settings(max_examples=150, deadline=None)
@given(_plausible_emails)
@example("a@ab--cd.com")
@example("a@xn--abc.com")
@example("a@" + "b" * 64 + ".com")
@example("a@mail.local")
@example("a@" + ".".join(["b" * 63] * 4) + ".com")
@example("ada@example.com\n")
def test_the_fast_path_never_accepts_what_email_validator_rejects(value: str) -> None:
    """Addresses shaped like the fast path's pattern, with the edge cases it must leave to the validator."""
    assert is_valid_email(value) == validator_accepts(value), value


def test_the_fast_path_takes_the_common_addresses() -> None:
    for value in ("ada.lovelace@example.com", "first_last+tag@mail.example.co.uk", "x@b.io"):
        assert _SIMPLE_EMAIL.match(value) and is_valid_email(value)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60) | st.emails().map(str))
def test_is_valid_email_agrees_with_email_validator_on_any_text(value: str) -> None:
    assert is_valid_email(value) == validator_accepts(value)
