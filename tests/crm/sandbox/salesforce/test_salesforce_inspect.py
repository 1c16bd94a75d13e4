"""Inspection endpoints that stage status-check scenarios, stats, reset, dump, and thread safety."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from salesforce_helpers import API, collection, lead
from simple_salesforce import Salesforce

from crm.sandbox.salesforce import SalesforceSandbox


def make(client: httpx.Client, count: int, sobject: str = "Lead") -> list[str]:
    body = [lead(Email=f"i{i}@x.com") if sobject == "Lead" else {"LastName": f"C{i}"} for i in range(count)]
    return [r["id"] for r in client.post(f"{API}/composite/sobjects", json=collection(body, sobject)).json()]


def test_convert_turns_a_lead_into_a_contact(client: httpx.Client) -> None:
    (lead_id,) = make(client, 1)
    converted = client.post(f"/__sandbox/convert/{lead_id}")
    assert converted.status_code == 200
    contact_id = converted.json()["contactId"]
    assert contact_id.startswith("003") and converted.json()["leadId"] == lead_id
    record = client.get(f"{API}/sobjects/Lead/{lead_id}").json()
    assert record["IsConverted"] is True and record["ConvertedContactId"] == contact_id
    assert record["Status"] == "Closed - Converted" and record["ConvertedDate"] is not None
    contact = client.get(f"{API}/sobjects/Contact/{contact_id}").json()
    assert (contact["Email"], contact["LastName"]) == ("i0@x.com", "Lovelace")
    assert client.post(f"/__sandbox/convert/{lead_id}").status_code == 400
    assert client.post("/__sandbox/convert/00Q8d000000AAAAEAA").status_code == 404


def test_merge_bins_the_losing_record_with_its_master(client: httpx.Client) -> None:
    master, merged = make(client, 2)
    response = client.post("/__sandbox/merge", json={"masterId": master, "mergedId": merged})
    assert response.json() == {"masterId": master, "mergedId": merged}
    gone = client.get(f"{API}/sobjects/Lead/{merged}")
    assert gone.status_code == 404 and gone.json()[0]["errorCode"] == "ENTITY_IS_DELETED"
    soql = f"SELECT IsDeleted, MasterRecordId FROM Lead WHERE Id = '{merged}'"  # noqa: S608 - test-made SOQL for the sandbox
    rows = client.get(f"{API}/queryAll", params={"q": soql})
    assert rows.json()["records"][0] | {"attributes": None} == {
        "attributes": None,
        "IsDeleted": True,
        "MasterRecordId": master,
    }
    (contact,) = make(client, 1, "Contact")
    assert client.post("/__sandbox/merge", json={"masterId": master, "mergedId": contact}).status_code == 400
    assert client.post("/__sandbox/merge", json={"masterId": master, "mergedId": merged}).status_code == 404


def test_stats_records_and_reset(client: httpx.Client, app: SalesforceSandbox) -> None:
    first, second = make(client, 2)
    client.delete(f"{API}/sobjects/Lead/{second}")
    client.get(f"{API}/sobjects/Lead/{second}")
    stats = client.get("/__sandbox/stats").json()
    assert stats["requests"] == 3
    assert stats["by_route"] == {"collections.create": 1, "delete": 1, "retrieve": 1}
    assert stats["by_status"] == {"200": 1, "204": 1, "404": 1}
    dumped = client.get("/__sandbox/records").json()
    assert {r["Id"]: r["IsDeleted"] for r in dumped["Lead"]} == {first: False, second: True}
    assert dumped["Contact"] == [] and dumped == app.dump()
    assert client.post("/__sandbox/reset").json() == {"reset": True}
    assert client.get("/__sandbox/records").json() == {"Lead": [], "Contact": []}
    assert client.get("/__sandbox/stats").json()["requests"] == 0


def test_concurrent_clients_never_share_an_id(sf: Salesforce, served_app: SalesforceSandbox) -> None:
    def create_batch(n: int) -> list[str]:
        body = collection([lead(LastName=f"T{n}-{i}") for i in range(50)])
        return [r["id"] for r in sf.restful("composite/sobjects", method="POST", json=body)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = [i for batch in pool.map(create_batch, range(16)) for i in batch]
    assert len(ids) == len(set(ids)) == 800
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 800
    assert served_app.stats.requests == 17
