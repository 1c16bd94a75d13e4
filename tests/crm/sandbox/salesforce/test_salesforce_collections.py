"""sObject Collections: limits, allOrNone, per-record results, upsert keyed on Email, retrieve."""

from __future__ import annotations

from typing import Any

import httpx
from salesforce_helpers import API, collection, lead

from crm.sandbox.salesforce import SalesforceSandbox

COLLECTIONS = f"{API}/composite/sobjects"


def save(
    client: httpx.Client, method: str, body: dict[str, Any], path: str = COLLECTIONS
) -> list[dict[str, Any]]:
    response = client.request(method, path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def lead_count(client: httpx.Client) -> int:
    return client.get(f"{API}/query", params={"q": "SELECT COUNT() FROM Lead"}).json()["totalSize"]


def test_more_than_200_records_is_refused_whole(client: httpx.Client) -> None:
    too_many = collection([lead(LastName=f"N{i}") for i in range(201)])
    response = client.post(COLLECTIONS, json=too_many)
    assert response.status_code == 400
    assert response.json() == [
        {
            "message": "record limit reached. cannot submit more than 200 records into this call",
            "errorCode": "EXCEEDED_ID_LIMIT",
        }
    ]
    assert lead_count(client) == 0
    assert len(save(client, "POST", collection([lead(LastName=f"N{i}") for i in range(200)]))) == 200
    delete_many = client.delete(COLLECTIONS, params={"ids": ",".join(["00Q8d000000AAAAEAA"] * 201)})
    assert delete_many.status_code == 400 and delete_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_partial_success_keeps_input_order_and_failed_items_have_no_id(client: httpx.Client) -> None:
    results = save(
        client,
        "POST",
        collection([lead(LastName="First"), {"LastName": "NoCompany"}, lead(LastName="Third", Email="bad")]),
    )
    assert results[0]["success"] is True and results[0]["id"].startswith("00Q") and results[0]["errors"] == []
    assert results[1] == {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [Company]",
                "fields": ["Company"],
            }
        ],
    }
    assert "id" not in results[2] and results[2]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    assert lead_count(client) == 1


def test_all_or_none_rolls_back_every_record(client: httpx.Client) -> None:
    (existing,) = [r["id"] for r in save(client, "POST", collection([lead(LastName="Before")]))]
    body = collection(
        [lead(LastName="Good"), {"LastName": "Bad"}, lead(LastName="Good too")], all_or_none=True
    )
    results = save(client, "POST", body)
    codes = [[e["statusCode"] for e in r["errors"]] for r in results]
    assert codes == [
        ["ALL_OR_NONE_OPERATION_ROLLED_BACK"],
        ["REQUIRED_FIELD_MISSING"],
        ["ALL_OR_NONE_OPERATION_ROLLED_BACK"],
    ]
    assert all("id" not in r and r["success"] is False for r in results)
    assert lead_count(client) == 1

    update = {"allOrNone": True, "records": [
        {"attributes": {"type": "Lead"}, "id": existing, "Title": "Changed"},
        {"attributes": {"type": "Lead"}, "id": existing, "Email": "not an email"},
    ]}  # fmt: skip
    assert [r["success"] for r in save(client, "PATCH", update)] == [False, False]
    assert client.get(f"{API}/sobjects/Lead/{existing}").json()["Title"] is None


def test_update_reports_each_kind_of_bad_id(client: httpx.Client) -> None:
    first, gone = [r["id"] for r in save(client, "POST", collection([lead(), lead()]))]
    assert client.delete(f"{API}/sobjects/Lead/{gone}").status_code == 204
    body = {"records": [
        {"attributes": {"type": "Lead"}, "id": first, "Title": "Updated"},
        {"attributes": {"type": "Lead"}, "Title": "No id"},
        {"attributes": {"type": "Lead"}, "id": gone, "Title": "Binned"},
        {"attributes": {"type": "Lead"}, "id": "garbage", "Title": "Malformed"},
        {"id": first, "Title": "No type"},
    ]}  # fmt: skip
    results = save(client, "PATCH", body)
    assert results[0] == {"id": first, "success": True, "errors": []}
    codes = [r["errors"][0]["statusCode"] for r in results[1:]]
    assert codes == ["MISSING_ARGUMENT", "ENTITY_IS_DELETED", "MALFORMED_ID", "INVALID_TYPE"]
    assert results[2]["errors"][0]["message"] == "entity is deleted"


def test_upsert_on_email_reports_created_and_fails_shared_emails(client: httpx.Client) -> None:
    save(
        client,
        "POST",
        collection([lead(Email="shared@x.com"), lead(Email="shared@x.com"), lead(Email="one@x.com")]),
    )
    body = collection(
        [
            lead(Email="ONE@x.com", Title="Updated"),
            lead(Email="new@x.com"),
            lead(Email="shared@x.com", Title="?"),
        ]
    )
    results = save(client, "PATCH", body, f"{COLLECTIONS}/Lead/Email")
    assert [(r["success"], r["created"]) for r in results] == [(True, False), (True, True), (False, False)]
    error = results[2]["errors"][0]
    assert error["statusCode"] == "DUPLICATE_EXTERNAL_ID"
    assert error["message"].startswith("Email: more than one record found for external id field: [00Q")
    assert lead_count(client) == 4
    titles = client.get(f"{API}/query", params={"q": "SELECT Title FROM Lead WHERE Title != null"}).json()
    assert [r["Title"] for r in titles["records"]] == ["Updated"]


def test_upsert_keys_and_converted_leads(client: httpx.Client, app: SalesforceSandbox) -> None:
    by_id = save(client, "PATCH", collection([lead(Id=None, LastName="Null id")]), f"{COLLECTIONS}/Lead/Id")
    assert by_id[0]["success"] is True and by_id[0]["created"] is True
    app.store.convert(by_id[0]["id"])
    again = save(client, "PATCH", collection([lead(Id=by_id[0]["id"], Title="x")]), f"{COLLECTIONS}/Lead/Id")
    assert again[0]["errors"][0]["statusCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    not_a_key = client.patch(f"{COLLECTIONS}/Lead/Title", json=collection([lead()]))
    assert not_a_key.status_code == 400 and not_a_key.json()[0]["errorCode"] == "INVALID_FIELD"


def test_retrieve_answers_null_for_ids_it_cannot_show(client: httpx.Client) -> None:
    kept, gone = [r["id"] for r in save(client, "POST", collection([lead(Email="k@x.com"), lead()]))]
    client.delete(f"{API}/sobjects/Lead/{gone}")
    ids = [gone, kept[:15], "00Q8d000000AAAAEAA"]
    got = client.get(f"{COLLECTIONS}/Lead", params={"ids": ",".join(ids), "fields": "Id,Email"}).json()
    assert got[0] is None and got[2] is None
    assert got[1] == {
        "attributes": {"type": "Lead", "url": f"{API}/sobjects/Lead/{kept}"},
        "Id": kept,
        "Email": "k@x.com",
    }
    posted = client.post(f"{COLLECTIONS}/Lead", json={"ids": ids, "fields": ["Email"]}).json()
    assert [p and p["Email"] for p in posted] == [None, "k@x.com", None]
    too_many = client.post(f"{COLLECTIONS}/Lead", json={"ids": [kept] * 2001, "fields": ["Id"]})
    assert too_many.status_code == 400 and too_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_delete_collection_and_all_or_none(client: httpx.Client) -> None:
    a, b = [r["id"] for r in save(client, "POST", collection([lead(), lead()]))]
    rolled = client.delete(COLLECTIONS, params={"ids": f"{a},garbage", "allOrNone": "true"}).json()
    assert [r["errors"][0]["statusCode"] for r in rolled] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "MALFORMED_ID",
    ]
    assert lead_count(client) == 2
    results = client.delete(COLLECTIONS, params={"ids": f"{a},{b},{a}"}).json()
    assert results[0] == {"id": a, "success": True, "errors": []}
    assert results[1] == {"id": b, "success": True, "errors": []}
    assert results[2]["success"] is False and results[2]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert lead_count(client) == 0
