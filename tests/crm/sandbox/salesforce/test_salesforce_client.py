"""simple-salesforce, unchanged, against the sandbox served over HTTP on loopback."""

from __future__ import annotations

import csv
import io

import pytest
from salesforce_helpers import INSTANCE_HOST, collection, forwarding_session, lead
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from crm.sandbox.salesforce import DEFAULT_API_VERSION, SalesforceSandbox
from crm.sandbox.salesforce.store import WriteOptions
from crm.sandbox.server import SandboxHTTPServer


def seed_leads(app: SalesforceSandbox, count: int) -> list[str]:
    """Records put straight into the store, for tests about reading many of them."""
    schema = app.store.schemas["Lead"]
    opts = WriteOptions(DEFAULT_API_VERSION)
    ids = []
    for i in range(count):
        result = app.store.insert(schema, lead(LastName=f"Seed{i:05d}", Email=f"seed{i}@example.com"), opts)
        assert result.success, result.errors
        ids.append(result.id or "")
    return ids


def test_sobject_create_get_update_delete_round_trip(sf: Salesforce) -> None:
    created = sf.Lead.create(lead(FirstName="Ada", Email="ada@example.com"))
    assert created["success"] is True and created["errors"] == []
    record = sf.Lead.get(created["id"])
    assert record["Id"] == created["id"] and record["Id"].startswith("00Q") and len(record["Id"]) == 18
    assert record["Name"] == "Ada Lovelace"
    assert record["Status"] == "Open - Not Contacted"  # defaultedOnCreate picklist default
    assert record["IsDeleted"] is False and record["IsConverted"] is False
    assert record["OwnerId"].startswith("005") and record["CreatedDate"].endswith("+0000")

    assert sf.Lead.update(created["id"], {"Title": "Countess"}) == 204
    assert sf.Lead.get(created["id"])["Title"] == "Countess"
    partial = sf.Lead.get(created["id"], params={"fields": "Id,Email"})
    assert set(partial) == {"attributes", "Id", "Email"}

    assert sf.Lead.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound) as gone:
        sf.Lead.get(created["id"])
    assert gone.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_describe_comes_from_the_recorded_orgs(sf: Salesforce) -> None:
    described = sf.Lead.describe()
    assert described["keyPrefix"] == "00Q" and len(described["fields"]) == 54
    required = [
        f["name"]
        for f in described["fields"]
        if not f["nillable"] and f["createable"] and not f["defaultedOnCreate"]
    ]
    assert required == ["LastName", "Company"]
    contact = sf.Contact.describe()
    assert [
        f["name"]
        for f in contact["fields"]
        if not f["nillable"] and f["createable"] and not f["defaultedOnCreate"]
    ] == ["LastName"]
    assert described["urls"]["sobject"] == f"/services/data/v{DEFAULT_API_VERSION}/sobjects/Lead"
    assert {o["name"] for o in sf.describe()["sobjects"]} == {"Lead", "Contact"}
    assert sf.Contact.metadata()["objectDescribe"]["keyPrefix"] == "003"


def test_query_pages_at_2000_and_query_more_follows(sf: Salesforce, served_app: SalesforceSandbox) -> None:
    ids = seed_leads(served_app, 2150)
    first = sf.query("SELECT Id, Email FROM Lead")
    assert first["totalSize"] == 2150 and first["done"] is False and len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith(f"/services/data/v{DEFAULT_API_VERSION}/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    rest = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert rest["done"] is True and len(rest["records"]) == 150
    everything = sf.query_all("SELECT Id FROM Lead")
    assert [r["Id"] for r in everything["records"]] == ids


def test_query_all_sees_deleted_and_merged_records(sf: Salesforce, served_app: SalesforceSandbox) -> None:
    keep, merged, deleted = (sf.Lead.create(lead(Email=f"m{i}@example.com"))["id"] for i in range(3))
    sf.Lead.delete(deleted)
    served_app.store.merge(keep, merged)
    soql = "SELECT Id, IsDeleted, MasterRecordId FROM Lead ORDER BY Id"
    live = sf.query(soql)["records"]
    assert [r["Id"] for r in live] == [keep]
    everything = {r["Id"]: r for r in sf.query_all(soql, include_deleted=True)["records"]}
    assert everything[merged]["IsDeleted"] is True and everything[merged]["MasterRecordId"] == keep
    assert everything[deleted]["IsDeleted"] is True and everything[deleted]["MasterRecordId"] is None
    assert everything[keep]["IsDeleted"] is False


def test_restful_collections_and_limits(sf: Salesforce) -> None:
    created = sf.restful(
        "composite/sobjects", method="POST", json=collection([lead(Email="one@example.com")])
    )
    assert created[0]["success"] is True
    upserted = sf.restful(
        "composite/sobjects/Lead/Email",
        method="PATCH",
        json=collection([lead(Email="ONE@example.com", Title="Again"), lead(Email="two@example.com")]),
    )
    assert [(r["success"], r["created"]) for r in upserted] == [(True, False), (True, True)]
    assert upserted[0]["id"] == created[0]["id"]
    limits = sf.restful("limits")
    assert limits["DailyApiRequests"]["Max"] == 100_000
    used = limits["DailyApiRequests"]["Max"] - limits["DailyApiRequests"]["Remaining"]
    assert sf.api_usage["api-usage"].used == used == 3


def test_bulk2_insert_update_upsert_and_delete(sf: Salesforce) -> None:
    rows = [lead(LastName=f"Bulk{i}", Email=f"bulk{i}@example.com") for i in range(30)]
    rows.append(lead(LastName="", Email="nameless@example.com"))
    (inserted,) = sf.bulk2.Lead.insert(records=rows, wait=0)
    assert inserted["numberRecordsProcessed"] == 31 and inserted["numberRecordsFailed"] == 1
    results = sf.bulk2.Lead.get_all_ingest_records(inserted["job_id"])
    by_email = {r["Email"]: r for r in results["successfulRecords"]}
    assert len(by_email) == 30 and all(r["sf__Created"] == "true" for r in by_email.values())
    assert results["failedRecords"][0]["Email"] == "nameless@example.com"
    assert (
        results["failedRecords"][0]["sf__Error"]
        == "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"
    )

    updates = [{"Id": by_email[f"bulk{i}@example.com"]["sf__Id"], "Title": f"T{i}"} for i in range(5)]
    (updated,) = sf.bulk2.Lead.update(records=updates, wait=0)
    assert updated["numberRecordsFailed"] == 0
    titles = {
        r["Email"]: r["Title"]
        for r in sf.query("SELECT Email, Title FROM Lead WHERE Title != null")["records"]
    }
    assert titles == {f"bulk{i}@example.com": f"T{i}" for i in range(5)}

    upserts = [{"Email": "bulk7@example.com", "Title": "Upserted", "LastName": "Bulk7", "Company": "C"},
               {"Email": "fresh@example.com", "LastName": "Fresh", "Company": "C"}]  # fmt: skip
    (upserted,) = sf.bulk2.Lead.upsert(records=upserts, external_id_field="Email", wait=0)
    created = {
        r["Email"]: r["sf__Created"]
        for r in csv.DictReader(io.StringIO(sf.bulk2.Lead.get_successful_records(upserted["job_id"])))
    }
    assert created == {"bulk7@example.com": "false", "fresh@example.com": "true"}

    (deleted,) = sf.bulk2.Lead.delete(records=[{"Id": updates[0]["Id"]}], wait=0)
    assert deleted["numberRecordsFailed"] == 0
    gone = f"SELECT COUNT() FROM Lead WHERE Id = '{updates[0]['Id']}'"  # noqa: S608 - test-made SOQL for the sandbox
    assert sf.query(gone)["totalSize"] == 0


def test_bulk2_query_pages_through_results(sf: Salesforce, served_app: SalesforceSandbox) -> None:
    ids = seed_leads(served_app, 25)
    pages = list(
        sf.bulk2.Lead.query("SELECT Id, Email FROM Lead WHERE Email LIKE 'seed1%'", max_records=4, wait=0)
    )
    rows = [r for page in pages for r in csv.DictReader(io.StringIO(page))]
    assert len(pages) == 3 and [r["Id"] for r in rows] == [ids[1], *ids[10:20]]


def test_errors_raise_the_clients_own_exceptions(sf: Salesforce, sf_server: SandboxHTTPServer) -> None:
    with pytest.raises(SalesforceMalformedRequest) as bad_query:
        sf.query("SELECT Id FROM Lead WHERE Email = ")
    assert bad_query.value.content[0]["errorCode"] == "MALFORMED_QUERY"

    with pytest.raises(SalesforceResourceNotFound) as missing:
        sf.Lead.get("00Q8d000000AAAAEAA")
    assert missing.value.content == [
        {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
    ]

    with pytest.raises(SalesforceMalformedRequest) as invalid:
        sf.Lead.create({"LastName": "Only"})
    assert invalid.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"

    for _ in range(2):
        sf.Lead.create(lead(Email="twice@example.com"))
    with pytest.raises(SalesforceMoreThanOneRecord) as several:
        sf.Lead.get_by_custom_id("Email", "twice@example.com")
    assert len(several.value.content) == 2

    stranger = Salesforce(
        instance_url=INSTANCE_HOST, session_id="not-a-token", version=DEFAULT_API_VERSION,
        session=forwarding_session(sf_server),
    )  # fmt: skip
    with pytest.raises(SalesforceExpiredSession) as expired:
        stranger.query("SELECT Id FROM Lead")
    assert expired.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_daily_limit_is_refused_as_request_limit_exceeded(
    sf: Salesforce, served_app: SalesforceSandbox
) -> None:
    served_app.configure(daily_limit=3)
    for _ in range(3):
        sf.query("SELECT COUNT() FROM Lead")
    assert sf.api_usage["api-usage"].used == 3 and sf.api_usage["api-usage"].total == 3
    with pytest.raises(SalesforceRefusedRequest) as refused:
        sf.query("SELECT COUNT() FROM Lead")
    assert refused.value.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert served_app.stats.throttled == 1
