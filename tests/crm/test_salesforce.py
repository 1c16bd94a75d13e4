"""SalesforceAdapter against the in-process Salesforce sandbox: account, fields, lookup (and SOQL injection),
pushes through sObject Collections, per-record failures, modes, duplicates, dry runs, usage, read-back.

Pushes go through ``crm.push.run_push`` as the app drives them. Call counts come from the sandbox's own
``stats.by_route`` and records from ``app.dump()``, never from the adapter's word alone.
"""

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crm.adapter import CRMAdapter
from crm.model import (
    Action,
    FieldChange,
    PushMode,
    RecordResult,
    RecordState,
    WriteKind,
    WriteOp,
)
from crm.push import PushOptions
from crm.salesforce import COLLECTION_SIZE, SalesforceAdapter
from crm.sandbox.salesforce import ORG_ID, USER_ID, SalesforceSandbox
from crm.sandbox.salesforce.ids import make_id
from crm.sandbox.salesforce.soql import BoolOp, Comparison, parse, tokenize
from crm.soql import quote, select_where_in

pytest.register_assert_rewrite("tests.crm.salesforce_support")  # before the import below, for its asserts
from tests.crm.salesforce_support import (  # noqa: E402
    DATA,
    RecordingTransport,
    SfAdapterFactory,
    assert_org_holds_exactly,
    email_of,
    lead_rows,
    live_by_email,
    live_records,
    make_adapter,
    make_sf_app,
    push,
    sandbox_client,
    seed_records,
)

pytest_plugins = ("tests.crm.salesforce_support",)

SANDBOX_USER = "integration@crm-push.sandbox"


def write_all(adapter: SalesforceAdapter, ops: Sequence[WriteOp]) -> dict[str, RecordResult]:
    """``adapter.write`` bypassing the engine (and so our own validator); results by key."""
    results = [r for batch in adapter.write(ops) for r in batch]
    assert sorted(r.key for r in results) == sorted(op.key for op in ops), "one result per op"
    return {r.key: r for r in results}


def create_op(key: str, email: str, **properties: Any) -> WriteOp:
    payload = {"Email": email, "LastName": f"Last {key}", "Company": f"Company {key}", **properties}
    return WriteOp(key, email, WriteKind.CREATE, {k: v for k, v in payload.items() if v is not None})


# ----- account and fields -----------------------------------------------------------------------------
def test_adapter_satisfies_the_interface(sf_adapter: SalesforceAdapter) -> None:
    assert isinstance(sf_adapter, CRMAdapter)
    assert sf_adapter.upserts_by_email is False  # Email is no external id: the engine looks up first


def test_account_reports_org_user_and_daily_api_usage(
    make_sf_app: Any, make_sf_adapter: SfAdapterFactory
) -> None:
    app = make_sf_app(daily_limit=5000)
    adapter = make_sf_adapter(app)
    adapter.fields()
    adapter.lookup(["someone@example.com"], [])

    info = adapter.account()

    assert info.account_id == ORG_ID
    assert info.user == SANDBOX_USER
    assert info.details["user_id"] == USER_ID
    assert info.instance_url == app.base_url
    assert info.api_limit == 5000
    assert info.api_used == app.api_used() == 3  # describe, query and the limits call itself
    assert info.api_remaining == 4997


@pytest.mark.parametrize(
    ("object_name", "required"), [("Lead", {"LastName", "Company"}), ("Contact", {"LastName"})]
)
def test_fields_follow_the_describe(
    sf_app: SalesforceSandbox, make_sf_adapter: SfAdapterFactory, object_name: str, required: set[str]
) -> None:
    fields = {f.name: f for f in make_sf_adapter(sf_app, object_name=object_name).fields()}

    assert {name for name, f in fields.items() if f.required} == required
    assert (fields["LastName"].max_length, fields["FirstName"].max_length) == (80, 40)
    assert (fields["Email"].type, fields["Email"].max_length) == ("email", 80)
    assert fields["Title"].max_length == 128
    assert fields["Phone"].type == "phone"
    for name in ("Id", "Name", "CreatedDate", "LastModifiedDate", "IsDeleted"):
        assert fields[name].read_only, name
    for name in ("Email", "LastName", "FirstName", "Title"):
        assert not fields[name].read_only, name


def test_lead_fields_carry_picklists_types_and_restrictions(
    sf_app: SalesforceSandbox, sf_adapter: SalesforceAdapter
) -> None:
    fields = {f.name: f for f in sf_adapter.fields()}

    assert fields["Company"].max_length == 255
    assert fields["Rating"].type == "picklist"
    assert fields["Rating"].options == ("Hot", "Warm", "Cold")
    assert not fields["Rating"].restricted  # as in the recorded describe
    assert fields["GeocodeAccuracy"].restricted
    assert not fields["Status"].required  # defaultedOnCreate: "Open - Not Contacted"
    assert fields["NumberOfEmployees"].type == "integer"
    assert fields["AnnualRevenue"].type == "number"
    assert fields["IsUnreadByOwner"].type == "boolean"


def test_fields_are_cached_until_refresh(sf_app: SalesforceSandbox, sf_adapter: SalesforceAdapter) -> None:
    first = sf_adapter.fields()
    assert sf_adapter.fields() == first
    assert sf_app.stats.by_route["describe"] == 1

    assert sf_adapter.fields(refresh=True) == first
    assert sf_app.stats.by_route["describe"] == 2


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


# ----- pushes through sObject Collections ----------------------------------------------------------------
def test_a_push_of_1000_with_half_existing_uses_200_record_collections(
    sf_app: SalesforceSandbox, make_sf_adapter: SfAdapterFactory
) -> None:
    rows = lead_rows(1000, Title="VP Sales")
    existing = seed_records(sf_app, [r.email.lower() for r in rows[::2]])
    transport = RecordingTransport(sf_app)
    adapter = make_sf_adapter(sf_app, transport=transport)

    results, summary = push(adapter, rows)

    routes = sf_app.stats.by_route
    assert routes["query"] == 5  # ceil(1000 / 200) lookups
    assert (routes["collections.create"], routes["collections.update"]) == (3, 3)  # ceil(500/200) each
    assert summary.api_calls == sf_app.stats.requests <= 2 * math.ceil(1000 / 200) + 3
    assert (summary.created, summary.updated, summary.failed) == (500, 500, 0)
    for body in transport.bodies("POST", "/composite/sobjects") + transport.bodies(
        "PATCH", "/composite/sobjects"
    ):
        assert body["allOrNone"] is False
        assert 1 <= len(body["records"]) <= COLLECTION_SIZE
        assert all(r["attributes"] == {"type": "Lead"} for r in body["records"])

    held = assert_org_holds_exactly(sf_app, [r.email for r in rows])
    for i, row in enumerate(rows):
        result, record = results[row.key], held[row.email.lower()]
        assert result.crm_id == record["Id"]
        assert result.action == (Action.UPDATED if i % 2 == 0 else Action.CREATED)
        if i % 2 == 0:
            assert record["Id"] == existing[row.email.lower()]
        assert (record["Title"], record["LastName"], record["Company"]) == (
            "VP Sales",
            f"Last {i}",
            f"Company {i}",
        )


def test_per_record_failures_are_attributed_to_their_rows(
    sf_app: SalesforceSandbox, sf_adapter: SalesforceAdapter
) -> None:
    ops = [create_op(f"ok-{i}", f"ok.{i}@example.com") for i in range(396)]
    bad = {
        "no-company": (
            create_op("no-company", "nc@example.com", Company=None),
            "REQUIRED_FIELD_MISSING",
            "[Company]",
        ),
        "too-long": (
            create_op("too-long", "tl@example.com", Company="C" * 256),
            "STRING_TOO_LONG",
            "max length=255",
        ),
        "bad-email": (
            create_op("bad-email", "be@example.com", Email="be@@example.com"),
            "INVALID_EMAIL_ADDRESS",
            "invalid email address",
        ),
        "bad-pick": (
            create_op("bad-pick", "bp@example.com", GeocodeAccuracy="Rooftop"),
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "Rooftop",
        ),
    }
    for index, (op, _, _) in zip((3, 150, 201, 398), bad.values(), strict=True):
        ops.insert(index, op)  # spread over both collection calls

    results = write_all(sf_adapter, ops)

    assert sf_app.stats.by_route["collections.create"] == 2
    for key, (_, code, fragment) in bad.items():
        assert (results[key].action, results[key].error_code) == (Action.FAILED, code)
        assert fragment in (results[key].error_message or "")
        assert results[key].crm_id is None
    held = assert_org_holds_exactly(sf_app, [f"ok.{i}@example.com" for i in range(396)])
    for i in range(396):
        assert results[f"ok-{i}"].action == Action.CREATED
        assert results[f"ok-{i}"].crm_id == held[f"ok.{i}@example.com"]["Id"]


def test_an_update_of_a_deleted_record_fails_alone(
    sf_app: SalesforceSandbox, sf_adapter: SalesforceAdapter
) -> None:
    ids = seed_records(sf_app, [f"u.{i}@example.com" for i in range(5)])
    with sandbox_client(sf_app) as client:
        assert client.delete(f"{DATA}/sobjects/Lead/{ids['u.2@example.com']}").status_code == 204
    ops = [
        WriteOp(f"u-{i}", f"u.{i}@example.com", WriteKind.UPDATE, {"Title": "CTO"}, ids[f"u.{i}@example.com"])
        for i in range(5)
    ]

    results = write_all(sf_adapter, ops)

    assert (results["u-2"].action, results["u-2"].error_code) == (Action.FAILED, "ENTITY_IS_DELETED")
    assert results["u-2"].crm_id == ids["u.2@example.com"]
    titles = {e: rs[0]["Title"] for e, rs in live_by_email(sf_app).items()}
    assert titles == {f"u.{i}@example.com": "CTO" for i in (0, 1, 3, 4)}


def test_create_only_leaves_existing_records_alone(
    sf_app: SalesforceSandbox, sf_adapter: SalesforceAdapter
) -> None:
    rows = lead_rows(300, Title="New title")
    existing = seed_records(sf_app, [r.email for r in rows[:150]])

    results, summary = push(sf_adapter, rows, PushOptions(mode=PushMode.CREATE_ONLY))

    assert (summary.created, summary.updated, summary.skipped) == (150, 0, 150)
    assert sf_app.stats.by_route["collections.update"] == 0
    for row in rows[:150]:
        result = results[row.key]
        assert (result.action, result.error_code) == (Action.SKIPPED, "EXISTS")
        assert result.crm_id == existing[row.email.lower()]
    held = assert_org_holds_exactly(sf_app, [r.email for r in rows])
    assert {held[r.email.lower()]["Title"] for r in rows[:150]} == {None}
    assert {held[r.email.lower()]["Title"] for r in rows[150:]} == {"New title"}


def test_update_only_creates_nothing(sf_app: SalesforceSandbox, sf_adapter: SalesforceAdapter) -> None:
    rows = lead_rows(300, Title="New title")
    seed_records(sf_app, [r.email for r in rows[:150]])

    results, summary = push(sf_adapter, rows, PushOptions(mode=PushMode.UPDATE_ONLY))

    assert (summary.created, summary.updated, summary.skipped) == (0, 150, 150)
    assert sf_app.stats.by_route["collections.create"] == 0
    assert {results[r.key].error_code for r in rows[150:]} == {"NOT_FOUND"}
    held = assert_org_holds_exactly(sf_app, [r.email for r in rows[:150]])
    assert {r["Title"] for r in held.values()} == {"New title"}


def test_contacts_are_pushed_to_the_contact_object(
    sf_app: SalesforceSandbox, make_sf_adapter: SfAdapterFactory
) -> None:
    rows = lead_rows(250, prefix="contact", object_name="Contact", Title="Buyer")
    existing = seed_records(sf_app, [r.email for r in rows[:100]], object_name="Contact")
    adapter = make_sf_adapter(sf_app, object_name="Contact")

    results, summary = push(adapter, rows)

    assert (summary.created, summary.updated, summary.failed) == (150, 100, 0)
    held = assert_org_holds_exactly(sf_app, [r.email for r in rows], object_name="Contact")
    assert live_records(sf_app, "Lead") == []
    for row in rows:
        assert results[row.key].crm_id == held[row.email.lower()]["Id"]
        assert held[row.email.lower()]["Id"].startswith("003")
        assert held[row.email.lower()]["Title"] == "Buyer"
    assert all(results[r.key].crm_id == existing[r.email.lower()] for r in rows[:100])


def test_numbers_and_booleans_are_stored_typed(
    sf_app: SalesforceSandbox, sf_adapter: SalesforceAdapter
) -> None:
    rows = lead_rows(2, NumberOfEmployees="250", AnnualRevenue="1250000.5", IsUnreadByOwner="false")

    _, summary = push(sf_adapter, rows)

    assert summary.created == 2
    for record in live_records(sf_app):
        assert record["NumberOfEmployees"] == 250
        assert record["AnnualRevenue"] == 1250000.5
        assert record["IsUnreadByOwner"] is False


# ----- duplicates -------------------------------------------------------------------------------------
def test_duplicate_rule_refuses_a_create_unless_allowed(
    make_sf_app: Any, make_sf_adapter: SfAdapterFactory
) -> None:
    app = make_sf_app(duplicate_rule=True)
    existing = seed_records(app, ["taken@example.com"])
    ops = [create_op("dup", "taken@example.com"), create_op("fresh", "fresh@example.com")]

    refused = write_all(make_sf_adapter(app), ops)

    assert (refused["dup"].action, refused["dup"].error_code) == (Action.FAILED, "DUPLICATES_DETECTED")
    assert refused["fresh"].action == Action.CREATED
    assert [r["Id"] for r in live_by_email(app)["taken@example.com"]] == [existing["taken@example.com"]]

    transport = RecordingTransport(app)
    allowed = write_all(make_sf_adapter(app, allow_duplicates=True, transport=transport), ops[:1])

    assert allowed["dup"].action == Action.CREATED
    assert len(live_by_email(app)["taken@example.com"]) == 2
    creates = [r for r in transport.sent if r.method == "POST" and r.url.path.endswith("/composite/sobjects")]
    assert [r.headers.get("Sforce-Duplicate-Rule-Header") for r in creates] == ["allowSave=true"]


def test_a_push_after_a_lead_conversion_meets_the_duplicate_rule(
    make_sf_app: Any, make_sf_adapter: SfAdapterFactory
) -> None:
    """The lookup skips converted leads, so their email is created again: the duplicate rule objects."""
    app = make_sf_app(duplicate_rule=True)
    rows = lead_rows(3)
    first, _ = push(make_sf_adapter(app), rows)
    with sandbox_client(app) as client:
        assert client.post(f"/__sandbox/convert/{first['lead-0'].crm_id}").status_code == 200

    results, summary = push(make_sf_adapter(app), rows)

    assert (summary.updated, summary.failed) == (2, 1)
    assert results["lead-0"].error_code == "DUPLICATES_DETECTED"

    results, summary = push(make_sf_adapter(app, allow_duplicates=True), rows)

    assert (summary.created, summary.updated) == (1, 2)
    converted, fresh = live_by_email(app)[rows[0].email.lower()]
    assert converted["IsConverted"] and not fresh["IsConverted"]
    assert results["lead-0"].crm_id == fresh["Id"]


def test_two_leads_sharing_an_email_make_an_ambiguous_match(
    sf_app: SalesforceSandbox, sf_adapter: SalesforceAdapter
) -> None:
    rows = lead_rows(5)
    shared = rows[2].email
    with sandbox_client(sf_app) as client:
        for _ in range(2):
            answer = client.post(
                f"{DATA}/sobjects/Lead", json={"LastName": "Twin", "Company": "T", "Email": shared}
            )
            assert answer.status_code == 201
    twins = [r["Id"] for r in live_by_email(sf_app)[shared.lower()]]

    results, summary = push(sf_adapter, rows)

    assert (summary.created, summary.failed) == (4, 1)
    result = results[rows[2].key]
    assert (result.action, result.error_code) == (Action.FAILED, "AMBIGUOUS_MATCH")
    assert all(twin in (result.error_message or "") for twin in twins)
    assert {r["LastName"] for r in live_by_email(sf_app)[shared.lower()]} == {"Twin"}  # neither touched


# ----- dry run and usage ---------------------------------------------------------------------------------
def test_a_dry_run_predicts_the_push_and_writes_nothing(
    sf_app: SalesforceSandbox, sf_adapter: SalesforceAdapter
) -> None:
    rows = lead_rows(600, Title="Head of Data")
    seed_records(sf_app, [r.email for r in rows[:300]])
    before = sf_app.dump()

    predicted, dry = push(sf_adapter, rows, PushOptions(dry_run=True))

    assert sf_app.dump() == before
    assert set(sf_app.stats.by_route) == {"describe", "query"}
    assert dry.dry_run and (dry.created, dry.updated, dry.failed) == (300, 300, 0)
    changes = predicted[rows[0].key].changes
    assert FieldChange("Title", None, "Head of Data") in changes
    assert FieldChange("LastName", "Seeded", "Last 0") in changes

    actual, real = push(sf_adapter, rows)

    assert (real.created, real.updated, real.failed) == (dry.created, dry.updated, dry.failed)
    for row in rows:
        assert predicted[row.key].action == actual[row.key].action
        if actual[row.key].action == Action.UPDATED:
            assert predicted[row.key].crm_id == actual[row.key].crm_id
        else:
            assert predicted[row.key].crm_id is None


def test_usage_follows_the_limit_info_header(make_sf_app: Any, make_sf_adapter: SfAdapterFactory) -> None:
    app = make_sf_app(daily_limit=15000)
    adapter = make_sf_adapter(app)
    assert adapter.usage() == {}

    push(adapter, lead_rows(450))

    assert adapter.usage() == {"used": app.api_used(), "limit": 15000}
    assert adapter.usage()["used"] == app.stats.requests == adapter.api_calls


# ----- read-back ----------------------------------------------------------------------------------------
def test_read_back_tells_exists_deleted_merged_and_converted_apart(
    sf_app: SalesforceSandbox, sf_adapter: SalesforceAdapter
) -> None:
    rows = lead_rows(5)
    results, _ = push(sf_adapter, rows)
    live, deleted, merged, converted, master = (results[r.key].crm_id or "" for r in rows)
    never = make_id("00Q", 42)  # a well-formed id no record ever had
    with sandbox_client(sf_app) as client:
        assert client.patch(f"{DATA}/sobjects/Lead/{live}", json={"Title": "Changed"}).status_code == 204
        assert client.delete(f"{DATA}/sobjects/Lead/{deleted}").status_code == 204
        assert (
            client.post("/__sandbox/merge", json={"masterId": master, "mergedId": merged}).status_code == 200
        )
        contact = client.post(f"/__sandbox/convert/{converted}").json()["contactId"]

    status = sf_adapter.read_back([live, deleted, merged, converted, master, never], ["Title", "LastName"])

    assert set(status) == {live, deleted, merged, converted, master, never}
    assert status[live].state == RecordState.EXISTS
    assert (status[live].properties["Title"], status[live].properties["LastName"]) == ("Changed", "Last 0")
    assert status[live].last_modified
    assert status[deleted].state == RecordState.DELETED
    assert (status[merged].state, status[merged].merged_into) == (RecordState.MERGED, master)
    assert (status[converted].state, status[converted].merged_into) == (RecordState.CONVERTED, contact)
    assert status[master].state == RecordState.EXISTS
    assert status[never].state == RecordState.DELETED


def test_contact_read_back(sf_app: SalesforceSandbox, make_sf_adapter: SfAdapterFactory) -> None:
    adapter = make_sf_adapter(sf_app, object_name="Contact")
    ids = seed_records(sf_app, ["c1@example.com", "c2@example.com"], object_name="Contact")
    with sandbox_client(sf_app) as client:
        assert client.delete(f"{DATA}/sobjects/Contact/{ids['c2@example.com']}").status_code == 204

    status = adapter.read_back(list(ids.values()), ["LastName"])

    assert status[ids["c1@example.com"]].state == RecordState.EXISTS
    assert status[ids["c1@example.com"]].properties["LastName"] == "Seeded"
    assert status[ids["c2@example.com"]].state == RecordState.DELETED


def test_record_url_opens_the_lightning_page(sf_adapter: SalesforceAdapter) -> None:
    assert sf_adapter.record_url("00Q8d000001AbCdEAF") == (
        "https://sandbox.my.salesforce.sandbox/lightning/r/Lead/00Q8d000001AbCdEAF/view"
    )


def test_counts_per_route_are_exact_for_a_mixed_push(
    sf_app: SalesforceSandbox, sf_adapter: SalesforceAdapter
) -> None:
    rows = lead_rows(401)
    seed_records(sf_app, [r.email for r in rows[:1]])

    _, summary = push(sf_adapter, rows)

    assert Counter(sf_app.stats.by_route) == Counter(
        {"describe": 1, "query": 3, "collections.create": 2, "collections.update": 1}
    )
    assert summary.api_calls == 7
