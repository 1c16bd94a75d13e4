"""SOQL through the in-process sandbox: parsing, escaping, filtering, ordering, errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from salesforce_helpers import API, collection, lead

from crm.sandbox.salesforce import SalesforceSandbox
from crm.sandbox.salesforce.soql import SoqlError, parse


def query(client: httpx.Client, soql: str, *, all_rows: bool = False, **headers: str) -> httpx.Response:
    return client.get(f"{API}/{'queryAll' if all_rows else 'query'}/", params={"q": soql}, headers=headers)


def ids_of(client: httpx.Client, soql: str) -> list[str]:
    response = query(client, soql)
    assert response.status_code == 200, response.text
    return [r["Id"] for r in response.json()["records"]]


def error_of(client: httpx.Client, soql: str) -> dict[str, Any]:
    response = query(client, soql)
    assert response.status_code == 400, response.text
    (error,) = response.json()
    return error


def create(client: httpx.Client, *records: dict[str, Any]) -> list[str]:
    results = client.post(f"{API}/composite/sobjects", json=collection(list(records))).json()
    assert all(r["success"] for r in results), results
    return [r["id"] for r in results]


def soql_quote(text: str) -> str:
    """A SOQL string literal for ``text``, escaped as the SOQL guide prescribes."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return "'" + escaped.replace("\t", "\\t") + "'"


def test_escaped_quote_in_an_email_matches_case_insensitively(client: httpx.Client) -> None:
    (obrien,) = create(client, lead(Email="o'brien@x.com"))
    create(client, lead(Email="obrien@x.com"))
    assert ids_of(client, r"SELECT Id FROM Lead WHERE Email = 'O\'Brien@X.com'") == [obrien]
    assert ids_of(client, r"SELECT Id FROM Lead WHERE Email IN ('nobody@x.com', 'o\'brien@x.com')") == [
        obrien
    ]


def test_every_documented_escape_decodes(client: httpx.Client) -> None:
    (target,) = create(client, lead(Description='tab\there "quoted" back\\slash é\nnext'))
    soql = r"SELECT Id FROM Lead WHERE Description = 'tab\There \"quoted\" back\\slash \u00e9\nnext'"
    assert ids_of(client, soql) == [target]


@pytest.mark.parametrize("literal", [r"'o\x'", r"'trailing\'", r"'\u12'", r"'50\%'"])
def test_bad_escapes_are_malformed_queries(client: httpx.Client, literal: str) -> None:
    error = error_of(client, f"SELECT Id FROM Lead WHERE LastName = {literal}")  # noqa: S608 - test-made SOQL for the sandbox
    assert error["errorCode"] == "MALFORMED_QUERY"
    assert "ERROR at Row:1:Column:" in error["message"]


def test_unknown_names_get_invalid_field_and_invalid_type(client: httpx.Client) -> None:
    field = error_of(client, "SELECT Id, Foo FROM Lead")
    assert field["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Foo' on entity 'Lead'" in field["message"]
    assert "ERROR at Row:1:Column:12" in field["message"]
    in_where = error_of(client, "SELECT Id FROM Lead WHERE Bar__c = 'x'")
    assert in_where["errorCode"] == "INVALID_FIELD" and "'Bar__c'" in in_where["message"]
    sobject = error_of(client, "SELECT Id FROM Leed")
    assert (
        sobject["errorCode"] == "INVALID_TYPE"
        and "sObject type 'Leed' is not supported" in sobject["message"]
    )


@pytest.mark.parametrize(
    ("soql", "token"),
    [
        ("SELECT Id FROM Lead WHERE", "<EOF>"),
        ("SELECT Id Lead", "Lead"),
        ('SELECT Id FROM Lead WHERE Email = "a@b.c"', '"'),
        ("SELECT Id FROM Lead LIMIT -1", "-1"),
        ("SELECT Id FROM Lead WHERE Email = 'a' AND NOT (LastName = 'b')", "NOT"),
        ("SELECT , FROM Lead", ","),
    ],
)
def test_unexpected_tokens_name_the_token(client: httpx.Client, soql: str, token: str) -> None:
    error = error_of(client, soql)
    assert error["errorCode"] == "MALFORMED_QUERY"
    assert error["message"].endswith(f"unexpected token: '{token}'")


def test_and_or_need_parentheses_and_respect_them(client: httpx.Client) -> None:
    a, b, c = create(
        client,
        lead(LastName="A", Rating="Hot", Industry="Banking"),
        lead(LastName="B", Rating="Hot", Industry="Energy"),
        lead(LastName="C", Rating="Cold", Industry="Energy"),
    )
    mixed = error_of(
        client, "SELECT Id FROM Lead WHERE Rating = 'Hot' AND Industry = 'Banking' OR LastName = 'C'"
    )
    assert mixed["message"].endswith("unexpected token: 'OR'")
    left = "SELECT Id FROM Lead WHERE (Rating = 'Hot' AND Industry = 'Banking') OR LastName = 'C' ORDER BY Id"
    right = (
        "SELECT Id FROM Lead WHERE Rating = 'Hot' AND (Industry = 'Banking' OR LastName = 'C') ORDER BY Id"
    )
    assert ids_of(client, left) == [a, c]
    assert ids_of(client, right) == [a]
    assert ids_of(client, "SELECT Id FROM Lead WHERE NOT (Rating = 'Hot') ORDER BY LastName") == [c]
    assert ids_of(
        client, "SELECT Id FROM Lead WHERE Rating = 'Hot' OR Rating = 'Cold' OR Industry = 'X'"
    ) == [a, b, c]


def test_in_not_in_and_null_comparisons(client: httpx.Client) -> None:
    hot, cold, unrated = create(client, lead(Rating="Hot"), lead(Rating="Cold"), lead())
    assert ids_of(client, "SELECT Id FROM Lead WHERE Rating IN ('hot', 'Warm')") == [hot]
    assert ids_of(client, "SELECT Id FROM Lead WHERE Rating NOT IN ('Hot')") == [cold, unrated]
    assert ids_of(client, "SELECT Id FROM Lead WHERE Rating = null") == [unrated]
    assert ids_of(client, "SELECT Id FROM Lead WHERE Rating != null") == [hot, cold]
    assert ids_of(client, "SELECT Id FROM Lead WHERE Rating != 'Hot'") == [cold, unrated]


def test_like_wildcards_and_escaped_wildcards(client: httpx.Client) -> None:
    pct, plain, other = create(client, lead(Title="50% off"), lead(Title="500 off"), lead(Title="Other"))
    assert ids_of(client, "SELECT Id FROM Lead WHERE Title LIKE '50%'") == [pct, plain]
    assert ids_of(client, r"SELECT Id FROM Lead WHERE Title LIKE '50\%%'") == [pct]
    assert ids_of(client, "SELECT Id FROM Lead WHERE Title LIKE '_0_ off'") == [pct, plain]
    assert ids_of(client, "SELECT Id FROM Lead WHERE Title LIKE 'oTHER'") == [other]


def test_order_by_limit_offset_and_count(client: httpx.Client) -> None:
    ids = create(
        client,
        lead(LastName="b", NumberOfEmployees=5),
        lead(LastName="A", NumberOfEmployees=5),
        lead(LastName="c"),
        lead(LastName="d", NumberOfEmployees=1),
    )
    b, a, c, d = ids
    assert ids_of(client, "SELECT Id FROM Lead ORDER BY LastName") == [a, b, c, d]
    assert ids_of(client, "SELECT Id FROM Lead ORDER BY NumberOfEmployees DESC, LastName ASC") == [a, b, d, c]
    assert ids_of(client, "SELECT Id FROM Lead ORDER BY NumberOfEmployees ASC NULLS LAST") == [d, b, a, c]
    assert ids_of(client, "SELECT Id FROM Lead ORDER BY NumberOfEmployees NULLS FIRST, LastName") == [
        c,
        d,
        a,
        b,
    ]
    assert ids_of(client, "SELECT Id FROM Lead ORDER BY LastName LIMIT 2 OFFSET 1") == [b, c]
    counted = query(client, "SELECT COUNT() FROM Lead WHERE NumberOfEmployees >= 5").json()
    assert counted == {"totalSize": 2, "done": True, "records": []}


def test_typed_literals_and_their_errors(client: httpx.Client, app: SalesforceSandbox) -> None:
    (big,) = create(client, lead(NumberOfEmployees=250, AnnualRevenue=1.5e6))
    create(client, lead(NumberOfEmployees=3))
    assert ids_of(
        client, "SELECT Id FROM Lead WHERE NumberOfEmployees > 100 AND AnnualRevenue >= 1000000.5"
    ) == [big]
    assert len(ids_of(client, "SELECT Id FROM Lead WHERE IsConverted = false")) == 2
    assert len(ids_of(client, "SELECT Id FROM Lead WHERE CreatedDate > 2020-01-01T00:00:00Z")) == 2
    assert ids_of(client, "SELECT Id FROM Lead WHERE CreatedDate < 2020-01-01T00:00:00+02:00") == []
    assert len(ids_of(client, "SELECT Id FROM Lead WHERE CreatedDate = TODAY")) == 2
    assert ids_of(client, f"SELECT Id FROM Lead WHERE Id = '{big[:15]}'") == [big]  # noqa: S608 - test-made SOQL for the sandbox
    quoted = error_of(client, "SELECT Id FROM Lead WHERE NumberOfEmployees = '5'")
    assert quoted["errorCode"] == "INVALID_FIELD"
    assert "must be of type integer and should not be enclosed in quotes" in quoted["message"]
    unquoted = error_of(client, "SELECT Id FROM Lead WHERE Email = 5")
    assert "must be of type string and should be enclosed in quotes" in unquoted["message"]
    bad_id = error_of(client, "SELECT Id FROM Lead WHERE Id = 'not-an-id'")
    assert (
        bad_id["errorCode"] == "INVALID_QUERY_FILTER_OPERATOR"
        and "invalid ID field: not-an-id" in bad_id["message"]
    )


def test_names_are_case_insensitive_and_answers_use_api_names(client: httpx.Client) -> None:
    create(client, lead(Email="case@x.com"))
    (record,) = query(client, "select id, EMAIL, address from LEAD where email like 'CASE%'").json()[
        "records"
    ]
    assert list(record) == ["attributes", "Id", "Email", "Address"]
    assert record["attributes"]["type"] == "Lead"
    duplicate = error_of(client, "SELECT Id, id FROM Lead")
    assert (
        duplicate["errorCode"] == "MALFORMED_QUERY" and "duplicate field selected: Id" in duplicate["message"]
    )


def test_batch_size_header_and_bad_locators(client: httpx.Client) -> None:
    for start in range(0, 250, 200):
        create(client, *[lead(LastName=f"P{i:03d}") for i in range(start, min(start + 200, 250))])
    page = query(client, "SELECT Id FROM Lead", **{"Sforce-Query-Options": "batchSize=200"}).json()
    assert len(page["records"]) == 200 and page["nextRecordsUrl"].endswith("-200")
    more = client.get(page["nextRecordsUrl"]).json()
    assert more["done"] is True and len(more["records"]) == 50
    stale = client.get(page["nextRecordsUrl"])
    assert stale.status_code == 400 and stale.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_the_parser_builds_a_tree_not_a_string_match() -> None:
    tree = parse("SELECT Id FROM Lead WHERE (A = 1 OR B IN ('x', 'y')) AND NOT_A_KEYWORD LIKE 'q%'")
    assert tree.where is not None and type(tree.where).__name__ == "BoolOp"
    assert [type(c).__name__ for c in tree.where.children] == ["BoolOp", "Comparison"]  # type: ignore[union-attr]
    with pytest.raises(SoqlError):
        parse("SELECT Id FROM Lead ORDER BY")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]) | st.sampled_from(
    ["'", "\\", "\n", "\t", "%", "_", '"']), min_size=1, max_size=40))  # fmt: skip
def test_any_escaped_value_round_trips(app: SalesforceSandbox, client: httpx.Client, name: str) -> None:
    app.reset()
    (target,) = create(client, lead(LastName=name))
    soql = f"SELECT Id FROM Lead WHERE LastName = {soql_quote(name)}"  # noqa: S608 - test-made SOQL for the sandbox
    assert ids_of(client, soql) == [target]
