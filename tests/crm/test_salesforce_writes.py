"""SalesforceAdapter writes against the in-process Salesforce sandbox: pushes through sObject Collections,
per-record failures, modes, typed values and duplicates.

Pushes go through ``crm.push.run_push`` as the app drives them. Call counts come from the sandbox's own
``stats.by_route`` and records from ``app.dump()``, never from the adapter's word alone.
"""

import math
from typing import Any

import pytest

from crm.model import Action, PushMode, WriteKind, WriteOp
from crm.push import PushOptions
from crm.salesforce import COLLECTION_SIZE, SalesforceAdapter
from crm.sandbox.salesforce import SalesforceSandbox

pytest.register_assert_rewrite("tests.crm.salesforce_support")  # before the import below, for its asserts
from tests.crm.salesforce_support import (  # noqa: E402
    DATA,
    RecordingTransport,
    SfAdapterFactory,
    assert_org_holds_exactly,
    create_op,
    lead_rows,
    live_by_email,
    live_records,
    push,
    sandbox_client,
    seed_records,
    write_all,
)

pytest_plugins = ("tests.crm.salesforce_support",)


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
