"""SalesforceAdapter lookups against the in-process Salesforce sandbox: chunked SOQL queries, case-insensitive
matching, converted/deleted/merged leads skipped, and emails that cannot inject SOQL.

Call counts come from the sandbox's own ``stats.by_route`` and records from ``app.dump()``.
"""

import math

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crm.salesforce import COLLECTION_SIZE, SalesforceAdapter
from crm.sandbox.salesforce import SalesforceSandbox
from crm.sandbox.salesforce.soql import BoolOp, Comparison, parse, tokenize
from crm.soql import quote, select_where_in

pytest.register_assert_rewrite("tests.crm.salesforce_support")  # before the import below, for its asserts
from tests.crm.salesforce_support import (  # noqa: E402
    DATA,
    SfAdapterFactory,
    assert_org_holds_exactly,
    email_of,
    lead_rows,
    make_adapter,
    make_sf_app,
    push,
    sandbox_client,
    seed_records,
)

pytest_plugins = ("tests.crm.salesforce_support",)


# ----- lookup -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("unique", [1, 200, 201, 450])
def test_lookup_queries_in_chunks_of_200_and_matches_case_insensitively(
    sf_app: SalesforceSandbox, sf_adapter: SalesforceAdapter, unique: int
) -> None:
    emails = [email_of("known", i) for i in range(unique)]
    ids = seed_records(sf_app, [e.lower() for e in emails])  # stored lower-case, looked up mixed-case
    asked = emails + [e.upper() for e in emails[:50]] + ["  " + emails[0] + " "]  # repeats collapse

    found = sf_adapter.lookup(asked, ["LastName", "Company"])

    assert sf_app.stats.by_route["query"] == math.ceil(unique / COLLECTION_SIZE)
    assert set(found) == {e.lower() for e in emails}
    for email, records in found.items():
        assert [r.crm_id for r in records] == [ids[email]]
        assert records[0].properties["LastName"] == "Seeded"
        assert records[0].properties["Company"] == "Seeded Inc"
        assert records[0].last_modified


def test_lookup_skips_converted_deleted_and_merged_leads(
    sf_app: SalesforceSandbox, sf_adapter: SalesforceAdapter
) -> None:
    ids = seed_records(
        sf_app, ["live@example.com", "conv@example.com", "gone@example.com", "dup@example.com"]
    )
    master = seed_records(sf_app, ["master@example.com"])["master@example.com"]
    with sandbox_client(sf_app) as client:
        assert client.post(f"/__sandbox/convert/{ids['conv@example.com']}").status_code == 200
        assert client.delete(f"{DATA}/sobjects/Lead/{ids['gone@example.com']}").status_code == 204
        merge = {"masterId": master, "mergedId": ids["dup@example.com"]}
        assert client.post("/__sandbox/merge", json=merge).status_code == 200

    found = sf_adapter.lookup(
        ["LIVE@example.com", "conv@example.com", "gone@example.com", "dup@example.com"], []
    )

    assert {e: [r.crm_id for r in rs] for e, rs in found.items()} == {
        "live@example.com": [ids["live@example.com"]]
    }


def test_contact_lookup_finds_the_contact_a_conversion_made(
    sf_app: SalesforceSandbox, make_sf_adapter: SfAdapterFactory
) -> None:
    lead = seed_records(sf_app, ["converted@example.com"])["converted@example.com"]
    with sandbox_client(sf_app) as client:
        contact = client.post(f"/__sandbox/convert/{lead}").json()["contactId"]

    found = make_sf_adapter(sf_app, object_name="Contact").lookup(["Converted@Example.com"], ["LastName"])

    assert [r.crm_id for r in found["converted@example.com"]] == [contact]


INJECTIONS = [
    "x' OR Email != null OR Email = 'y@z.com",
    "' OR Email != null OR Email = '",
    "\\' OR Email != null OR Email = '",
    "victim@example.com\\' OR Email LIKE '%",
    "y@z.com') OR (Email != null",
    "y@z.com' AND IsConverted = false OR Email = 'victim@example.com",
    "trailing-backslash@example.com\\",
    "\\\\' OR Email != null OR Email = '\\\\",
    "%@example.com",
    "_ictim@example.com",
    "line\nbreak' OR Email != null OR Email = '@x.com",
    '"quoted" OR Email != null@example.com',
    "\\u0027 OR Email != null OR Email = \\u0027@x.com",
]


@pytest.mark.parametrize("email", INJECTIONS)
def test_emails_cannot_inject_soql(
    sf_app: SalesforceSandbox, sf_adapter: SalesforceAdapter, email: str
) -> None:
    seed_records(sf_app, ["victim@example.com", "y@z.com", "o'brien@example.com"])

    found = sf_adapter.lookup([email, "nobody@example.com"], ["LastName"])

    assert found == {}
    assert sf_app.stats.by_status[400] == 0  # every literal parsed: nothing was MALFORMED_QUERY


def test_an_email_with_an_apostrophe_matches_itself_only(
    sf_app: SalesforceSandbox, sf_adapter: SalesforceAdapter
) -> None:
    ids = seed_records(sf_app, ["o'brien@example.com", "obrien@example.com", "o@example.com"])

    found = sf_adapter.lookup(["O'Brien@Example.com"], [])

    assert {e: [r.crm_id for r in rs] for e, rs in found.items()} == {
        "o'brien@example.com": [ids["o'brien@example.com"]]
    }


def test_pushing_an_apostrophe_email_twice_updates_it(
    sf_app: SalesforceSandbox, sf_adapter: SalesforceAdapter
) -> None:
    rows = [
        r.__class__(r.key, "O'Brien.1@Example.com", {**r.properties, "Email": "O'Brien.1@Example.com"})
        for r in lead_rows(1)
    ]
    first, _ = push(sf_adapter, rows)
    second, summary = push(sf_adapter, rows)

    assert (summary.created, summary.updated) == (0, 1)
    assert second["lead-0"].crm_id == first["lead-0"].crm_id
    assert_org_holds_exactly(sf_app, ["o'brien.1@example.com"])


SOQL_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from("'\"\\%_\n\r\t\b\f\x00u0123456789abcdefABCDEF ()=,"),
        st.characters(exclude_categories=["Cs"]),
    ),  # no lone surrogates: UTF-8 text
    max_size=40,
)


@given(value=SOQL_TEXT)
@example(value="x' OR Email != null OR Email = 'y@z.com")
@example(value="\\'")
@example(value="\\u0041")
@example(value="")
@settings(max_examples=300, deadline=None)
def test_quoted_literals_round_trip_through_the_sandbox_soql_parser(value: str) -> None:
    tokens = tokenize(quote(value))
    assert [t.kind for t in tokens] == ["string", "eof"]
    assert tokens[0].value == value

    literal = quote(value)  # the point of the test: quote() makes any value one safe literal
    statement = f"SELECT Id FROM Lead WHERE Email IN ({literal}, 'z@x.com') AND IsConverted = false"  # noqa: S608
    query = parse(statement)
    assert isinstance(query.where, BoolOp)
    condition = query.where.children[0]
    assert isinstance(condition, Comparison)
    assert [v.value for v in condition.values] == [value, "z@x.com"]


@given(values=st.lists(SOQL_TEXT, min_size=1, max_size=450))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_chunked_statements_parse_and_carry_every_value_once(values: list[str]) -> None:
    statements = list(select_where_in("Lead", ["Email"], "Email", values, extra="IsConverted = false"))

    carried: list[str] = []
    for statement in statements:
        where = parse(statement).where
        assert isinstance(where, BoolOp)
        comparison = where.children[0]
        assert isinstance(comparison, Comparison) and comparison.op == "IN"
        assert len(comparison.values) <= COLLECTION_SIZE
        carried += [v.value for v in comparison.values]
    assert carried == values


def test_lookup_of_arbitrary_text_matches_nothing_but_itself() -> None:
    app = make_sf_app()
    seed_records(app, ["victim@example.com", "o'brien@example.com"])
    adapter = make_adapter(app)

    @given(value=SOQL_TEXT)
    @example(value="O'BRIEN@example.com")
    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    def check(value: str) -> None:
        found = adapter.lookup([value], [])
        expected = {value.strip().lower()} & {"victim@example.com", "o'brien@example.com"}
        assert set(found) == expected

    try:
        check()
    finally:
        adapter.close()
    assert app.stats.by_status[400] == 0
