"""The sandbox against responses recorded from real orgs (CumulusCI cassettes, BSD-3).

A test fails when a response lacks a key the real API sends, or sends it with another JSON type.
Where a recorded exchange involves only Lead/Contact, it is replayed request by request and the
outcomes (created flags, id identity, query rows) must match too.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from salesforce_helpers import API, collection, exchanges, lead, recorded

from crm.sandbox.salesforce import SalesforceSandbox
from crm.sandbox.salesforce.ids import checksum, to18

UNEMULATED = ("Account", "Opportunit")  # objects the sandbox does not keep


def assert_covers(ours: Any, real: Any, path: str = "$") -> None:
    """Every key of ``real`` is in ``ours`` with the same JSON type (a recorded null matches anything)."""
    if real is None:
        return
    if isinstance(real, dict):
        assert isinstance(ours, dict), f"{path}: expected an object, got {ours!r}"
        for key, value in real.items():
            assert key in ours, f"{path}.{key} is missing"
            assert_covers(ours[key], value, f"{path}.{key}")
    elif isinstance(real, list):
        assert isinstance(ours, list), f"{path}: expected an array, got {ours!r}"
        if ours:
            for i, item in enumerate(real):
                assert_covers(ours[min(i, len(ours) - 1)], item, f"{path}[{i}]")
    elif isinstance(real, bool) or isinstance(ours, bool):
        assert type(ours) is type(real), f"{path}: {ours!r} is not like {real!r}"
    elif isinstance(real, int | float):
        assert isinstance(ours, int | float), f"{path}: {ours!r} is not a number"
    else:
        assert type(ours) is type(real), f"{path}: {ours!r} is not like {real!r}"


def replay(client: httpx.Client, cassette: str) -> list[tuple[dict[str, Any], httpx.Response]]:
    """Send the cassette's Lead/Contact requests in order; return (recorded exchange, our response)."""
    out = []
    for exchange in exchanges(cassette):
        request = exchange["request"]
        if any(name in request["uri"] or name in str(request["body"]) for name in UNEMULATED):
            continue
        if "Opportunities" in request["uri"]:  # relationship subqueries are not emulated
            continue
        path = request["uri"].split("/services/data/vxx.0", 1)[1]
        response = client.request(request["method"], API + path, json=request["body"])
        assert response.status_code == exchange["response"]["status"]["code"], response.text
        assert_covers(response.json(), exchange["response"]["body"])
        out.append((exchange, response))
    return out


@pytest.mark.parametrize("sobject", ["Lead", "Contact"])
def test_describe_serves_every_recorded_attribute(client: httpx.Client, sobject: str) -> None:
    real = recorded(f"describe_{sobject}.json")
    ours = client.get(f"{API}/sobjects/{sobject}/describe").json()
    assert set(ours) == set(real)
    assert ours["fields"] == real["fields"]
    assert_covers(ours, real)


def test_replaying_the_recorded_upserts_on_email(client: httpx.Client) -> None:
    pairs = replay(client, "collections_upsert_rest.json")
    upserts = [(x, r) for x, r in pairs if x["request"]["method"] == "PATCH"]
    assert len(upserts) == 2
    real_ids: dict[str, set[str]] = {}
    our_ids: dict[str, set[str]] = {}
    for exchange, response in upserts:
        real, ours = exchange["response"]["body"], response.json()
        assert [r["created"] for r in ours] == [r["created"] for r in real]
        for record, real_result, our_result in zip(
            exchange["request"]["body"]["records"], real, ours, strict=True
        ):
            real_ids.setdefault(record["Email"].lower(), set()).add(real_result["id"])
            our_ids.setdefault(record["Email"].lower(), set()).add(our_result["id"])
    assert all(len(ids) == 1 for ids in our_ids.values())
    assert len(set().union(*our_ids.values())) == len(our_ids)  # one record per distinct email
    assert {k: len(v) for k, v in our_ids.items()} == {k: len(v) for k, v in real_ids.items()}
    (query_exchange, query_response) = next((x, r) for x, r in pairs if x["request"]["method"] == "GET")
    names = [r["FirstName"] for r in query_response.json()["records"]]
    assert names == [r["FirstName"] for r in query_exchange["response"]["body"]["records"]]


def test_replaying_the_recorded_upserts_on_null_ids(client: httpx.Client) -> None:
    pairs = replay(client, "collections_upsert_duplicate_error.json")
    (patch,) = [r.json() for x, r in pairs if x["request"]["method"] == "PATCH"]
    assert len(patch) == 16 and all(r["created"] is True for r in patch)


def test_collection_create_and_errors_have_the_recorded_shapes(client: httpx.Client) -> None:
    (recorded_create,) = [
        x for x in exchanges("collections_upsert_rest.json") if x["request"]["method"] == "POST"
    ][:1]
    ours = client.post(f"{API}/composite/sobjects", json=collection([lead()])).json()
    assert_covers(ours, recorded_create["response"]["body"])
    assert set(ours[0]) == set(recorded_create["response"]["body"][0])
    (composite,) = recorded("composite_errors.json")
    sub = composite["response"]["body"]["compositeResponse"][0]
    missing = client.get(f"{API}/sobjects/Foo")
    assert missing.status_code == sub["httpStatusCode"]
    assert missing.json() == sub["body"]


def test_ids_use_the_real_case_safe_suffix(client: httpx.Client, app: SalesforceSandbox) -> None:
    real_ids = {
        r["id"]
        for name in ("collections_upsert_rest.json", "collections_upsert_duplicate_error.json")
        for x in exchanges(name)
        if isinstance(x["response"]["body"], list)
        for r in x["response"]["body"]
        if isinstance(r, dict) and r.get("id")
    }
    assert len(real_ids) > 20
    assert all(checksum(i[:15]) == i[15:] and to18(i[:15]) == i for i in real_ids)
    ours = client.post(f"{API}/composite/sobjects", json=collection([lead(), lead()])).json()
    for result in ours:
        assert to18(result["id"][:15]) == result["id"] and result["id"].startswith("00Q")
    assert to18("00Q8d0000hp2cEPXXX") is None and to18("short") is None
