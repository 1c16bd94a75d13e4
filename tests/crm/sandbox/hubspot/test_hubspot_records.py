"""Contact rules in-process: validation codes, batch 400-versus-207, limits on inputs, merges, paths."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from crm.sandbox.hubspot import HubSpotSandbox

V3 = "/crm/v3/objects/contacts"
V2026 = "/crm/objects/2026-03/contacts"


def create(http: httpx.Client, **props: str) -> str:
    answer = http.post(V3, json={"properties": props})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def emails(app: HubSpotSandbox) -> list[str]:
    return sorted(c["properties"].get("email", "") for c in app.dump())


def test_both_path_versions_share_one_portal(http: httpx.Client, app: HubSpotSandbox) -> None:
    made = http.post(f"{V2026}", json={"properties": {"email": "dated@example.com"}})
    assert made.status_code == 201
    assert http.get(f"{V3}/{made.json()['id']}").json()["properties"]["email"] == "dated@example.com"
    upsert = http.post(
        f"{V2026}/batch/upsert",
        json={"inputs": [{"id": "DATED@example.com", "idProperty": "email", "properties": {"city": "Bonn"}}]},
    )
    assert upsert.json()["results"][0]["new"] is False
    assert http.get("/crm/objects/2026-03/0-1/dated%40example.com?idProperty=email").json()["properties"]
    assert http.get("/crm/properties/2026-03/contacts/email").json()["label"] == "Email"
    assert emails(app) == ["dated@example.com"]


def test_list_parameters_repeated_or_comma_separated(http: httpx.Client) -> None:
    contact = create(http, email="q@example.com", firstname="Q", city="Ely")
    repeated = http.get(f"{V3}/{contact}?properties=firstname&properties=city").json()["properties"]
    commas = http.get(f"{V3}/{contact}?properties=firstname,city").json()["properties"]
    assert repeated == commas == {"firstname": "Q", "city": "Ely"}
    encoded = http.get(f"{V3}/Q%40Example.com", params={"idProperty": "email"})
    assert encoded.json()["id"] == contact


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("email", "not-an-email", "INVALID_EMAIL"),
        ("favourite_food", "pie", "PROPERTY_DOESNT_EXIST"),
        ("hs_lead_status", "MAYBE", "INVALID_OPTION"),
        ("lastmodifieddate", "2024-01-01T00:00:00Z", "READ_ONLY_VALUE"),
        ("hs_object_id", "5", "READ_ONLY_VALUE"),
        ("num_associated_deals", "lots", "READ_ONLY_VALUE"),
        ("closedate", "next tuesday", "INVALID_DATE"),
    ],
)
def test_validation_codes(http: httpx.Client, envelope: Any, name: str, value: str, code: str) -> None:
    answer = http.post(V3, json={"properties": {"email": "v@example.com", name: value}})
    assert answer.status_code == 400
    body = envelope(answer.json(), "VALIDATION_ERROR")
    assert body["message"].startswith("Property values were not valid: [")
    assert body["errors"] == [
        {"message": body["errors"][0]["message"], "code": code, "context": {"propertyName": [name]}}
    ]


def test_number_options_and_emails_are_normalised(http: httpx.Client, envelope: Any) -> None:
    http.post(
        "/crm/v3/properties/contacts",
        json={"name": "score", "label": "Score", "type": "number", "fieldType": "number", "groupName": "g"},
    )
    contact = http.post(
        V3, json={"properties": {"email": "MiXeD@Example.COM", "lifecyclestage": "Customer", "score": 42}}
    ).json()
    assert contact["properties"]["email"] == "mixed@example.com"
    assert contact["properties"]["lifecyclestage"] == "customer"
    assert contact["properties"]["score"] == "42"
    bad = http.patch(f"{V3}/{contact['id']}", json={"properties": {"score": "forty"}})
    assert envelope(bad.json(), "VALIDATION_ERROR")["errors"][0]["code"] == "INVALID_LONG"
    duplicate = http.post(V3, json={"properties": {"email": "mixed@EXAMPLE.com"}})
    assert duplicate.status_code == 409
    assert duplicate.json()["message"] == f"Contact already exists. Existing ID: {contact['id']}"


def test_property_creation_checks(http: httpx.Client, envelope: Any) -> None:
    base = {"name": "x_rating", "label": "Rating", "groupName": "contactinformation"}
    mismatch = http.post(
        "/crm/v3/properties/contacts", json={**base, "type": "number", "fieldType": "select"}
    )
    assert mismatch.status_code == 400
    unknown = http.post("/crm/v3/properties/contacts", json={**base, "type": "money", "fieldType": "number"})
    assert unknown.status_code == 400
    assert http.post("/crm/v3/properties/contacts", json={"name": "only"}).status_code == 400
    taken = http.post(
        "/crm/v3/properties/contacts", json={**base, "name": "email", "type": "string", "fieldType": "text"}
    )
    assert taken.status_code == 409
    envelope(taken.json(), "OBJECT_ALREADY_EXISTS")
    assert http.get("/crm/v3/properties/contacts/x_rating").status_code == 404


def test_batch_input_limit(http: httpx.Client, app: HubSpotSandbox, envelope: Any) -> None:
    inputs = [{"properties": {"email": f"l{i}@example.com"}} for i in range(101)]
    too_many = http.post(f"{V3}/batch/create", json={"inputs": inputs})
    assert too_many.status_code == 400
    envelope(too_many.json(), "VALIDATION_ERROR")
    assert app.dump() == []
    assert http.post(f"{V3}/batch/create", json={"inputs": inputs[:100]}).status_code == 201
    assert len(app.dump()) == 100


def test_duplicate_ids_refuse_the_batch(http: httpx.Client, app: HubSpotSandbox, envelope: Any) -> None:
    contact = create(http, email="d@example.com")
    update = http.post(
        f"{V3}/batch/update",
        json={
            "inputs": [
                {"id": contact, "properties": {"city": "A"}},
                {"id": contact, "properties": {"city": "B"}},
            ]
        },
    )
    assert update.status_code == 400
    body = envelope(update.json(), "VALIDATION_ERROR")
    assert body["message"] == f"Duplicate IDs found in batch input: [{contact}]. IDs must be unique"
    assert body["context"] == {"ids": [contact]}
    upsert = http.post(
        f"{V3}/batch/upsert",
        json={"inputs": [{"id": e, "idProperty": "email", "properties": {}} for e in ("n@x.com", "N@X.com")]},
    )
    assert upsert.status_code == 400
    assert "city" not in app.dump()[0]["properties"]


def test_batch_create_is_all_or_nothing_without_trace_ids(
    http: httpx.Client, app: HubSpotSandbox, envelope: Any
) -> None:
    existing = create(http, email="old@example.com")
    bad_value = [{"properties": {"email": "fine@example.com"}}, {"properties": {"hs_lead_status": "???"}}]
    answer = http.post(f"{V3}/batch/create", json={"inputs": bad_value})
    assert answer.status_code == 400
    assert envelope(answer.json(), "VALIDATION_ERROR")["errors"][0]["code"] == "INVALID_OPTION"
    conflict = http.post(
        f"{V3}/batch/create",
        json={
            "inputs": [
                {"properties": {"email": "fresh@example.com"}},
                {"properties": {"email": "OLD@example.com"}},
            ]
        },
    )
    assert conflict.status_code == 409
    assert (
        envelope(conflict.json(), "CONFLICT")["message"] == f"Contact already exists. Existing ID: {existing}"
    )
    assert emails(app) == ["old@example.com"]


def test_batch_create_multi_status_attributes_errors(http: httpx.Client, app: HubSpotSandbox) -> None:
    existing = create(http, email="old@example.com")
    inputs = [
        {"objectWriteTraceId": "row-1", "properties": {"email": "one@example.com"}},
        {"objectWriteTraceId": "row-2", "properties": {"email": "old@example.com"}},
        {"objectWriteTraceId": "row-3", "properties": {"email": "three@example.com", "nope": "x"}},
        {"objectWriteTraceId": "row-4", "properties": {"email": "four@example.com"}},
    ]
    answer = http.post(f"{V3}/batch/create", json={"inputs": inputs})
    assert answer.status_code == 207
    body = answer.json()
    assert [r["objectWriteTraceId"] for r in body["results"]] == ["row-1", "row-4"]
    assert body["numErrors"] == 2
    by_row = {e["context"]["objectWriteTraceId"][0]: e for e in body["errors"]}
    assert by_row["row-2"]["category"] == "CONFLICT"
    assert by_row["row-2"]["context"]["existingId"] == [existing]
    assert by_row["row-3"]["category"] == "VALIDATION_ERROR"
    assert by_row["row-3"]["errors"][0]["context"] == {"propertyName": ["nope"]}
    assert emails(app) == ["four@example.com", "old@example.com", "one@example.com"]


def test_batch_update_reports_missing_ids_and_writes_the_rest(http: httpx.Client, envelope: Any) -> None:
    kept = create(http, email="k@example.com")
    answer = http.post(
        f"{V3}/batch/update",
        json={
            "inputs": [
                {"id": kept, "properties": {"city": "Cork"}},
                {"id": "12345", "properties": {"city": "X"}},
            ]
        },
    )
    assert answer.status_code == 207
    body = answer.json()
    assert [r["properties"]["city"] for r in body["results"]] == ["Cork"]
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert body["errors"][0]["context"] == {"ids": ["12345"]}
    by_email = http.post(
        f"{V3}/batch/update",
        json={"inputs": [{"id": "k@example.com", "idProperty": "email", "properties": {"city": "Y"}}]},
    )
    assert by_email.status_code == 400
    assert "non-unique 0-1 property email" in envelope(by_email.json(), "VALIDATION_ERROR")["message"]


def test_upsert_by_email_never_half_applies(http: httpx.Client, app: HubSpotSandbox) -> None:
    create(http, email="u1@example.com", city="Before")
    inputs = [
        {
            "objectWriteTraceId": "a",
            "id": "u1@example.com",
            "idProperty": "email",
            "properties": {"city": "After"},
        },
        {
            "objectWriteTraceId": "b",
            "id": "u2@example.com",
            "idProperty": "email",
            "properties": {"zip": "1"},
        },
        {
            "objectWriteTraceId": "c",
            "id": "u3@example.com",
            "idProperty": "email",
            "properties": {"hs_lead_status": "?"},
        },
    ]
    assert http.post(f"{V3}/batch/upsert", json={"inputs": inputs}).status_code == 400
    assert emails(app) == ["u1@example.com"]
    assert app.dump()[0]["properties"]["city"] == "Before"


def test_merge_creates_a_new_record_reachable_by_old_ids(http: httpx.Client, app: HubSpotSandbox) -> None:
    primary = create(http, email="p@example.com", firstname="Pat", city="Primary")
    secondary = create(http, email="s@example.com", firstname="Sam", jobtitle="Only here")
    merged = http.post(f"{V3}/merge", json={"primaryObjectId": primary, "objectIdToMerge": secondary})
    assert merged.status_code == 200
    body = merged.json()
    assert body["id"] not in (primary, secondary)
    props = body["properties"]
    assert (props["email"], props["firstname"], props["city"], props["jobtitle"]) == (
        "p@example.com",
        "Pat",
        "Primary",
        "Only here",
    )
    assert set(props["hs_merged_object_ids"].split(";")) == {primary, secondary}

    via_old = http.get(f"{V3}/{secondary}?properties=email,hs_merged_object_ids").json()
    assert via_old["id"] == body["id"] != secondary
    assert http.patch(f"{V3}/{primary}", json={"properties": {"zip": "1"}}).json()["id"] == body["id"]
    upsert = http.post(
        f"{V3}/batch/upsert",
        json={"inputs": [{"id": "s@example.com", "idProperty": "email", "properties": {}}]},
    )
    result = upsert.json()["results"][0]
    assert (result["id"], result["new"]) == (body["id"], False)
    stale = http.post(f"{V3}/batch/update", json={"inputs": [{"id": primary, "properties": {"zip": "2"}}]})
    assert stale.status_code == 207
    assert [c["id"] for c in app.dump()] == [body["id"]]


def test_archive_and_batch_archive(http: httpx.Client, app: HubSpotSandbox) -> None:
    ids = [create(http, email=f"a{i}@example.com") for i in range(3)]
    assert http.delete(f"{V3}/{ids[0]}").status_code == 204
    assert http.delete(f"{V3}/{ids[0]}").status_code == 204
    assert http.get(f"{V3}/{ids[0]}").status_code == 404
    assert http.get(f"{V3}/{ids[0]}?archived=true").json()["archived"] is True
    answer = http.post(f"{V3}/batch/archive", json={"inputs": [{"id": ids[1]}, {"id": "999"}]})
    assert answer.status_code == 204
    assert emails(app) == ["a2@example.com"]
    assert create(http, email="a0@example.com")  # an archived contact's email is free again
