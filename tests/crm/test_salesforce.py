"""SalesforceAdapter against the in-process Salesforce sandbox: account, fields, dry runs, usage, read-back.

Lookups (and SOQL injection) are in test_salesforce_lookup.py; pushes through sObject Collections, per-record
failures, modes and duplicates in test_salesforce_writes.py. Pushes go through ``crm.push.run_push`` as the
app drives them. Call counts come from the sandbox's own ``stats.by_route`` and records from ``app.dump()``,
never from the adapter's word alone.
"""

from collections import Counter
from typing import Any

import pytest

from crm.adapter import CRMAdapter
from crm.model import Action, FieldChange, RecordState
from crm.push import PushOptions
from crm.salesforce import SalesforceAdapter
from crm.sandbox.salesforce import ORG_ID, USER_ID, SalesforceSandbox
from crm.sandbox.salesforce.ids import make_id

pytest.register_assert_rewrite("tests.crm.salesforce_support")  # before the import below, for its asserts
from tests.crm.salesforce_support import (  # noqa: E402
    DATA,
    SfAdapterFactory,
    lead_rows,
    push,
    sandbox_client,
    seed_records,
)

pytest_plugins = ("tests.crm.salesforce_support",)

SANDBOX_USER = "integration@crm-push.sandbox"


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
