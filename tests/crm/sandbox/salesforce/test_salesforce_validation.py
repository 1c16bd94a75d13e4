"""Save-time validation against the recorded describe, and the duplicate rule."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from salesforce_helpers import API, collection, lead

from crm.sandbox.salesforce import SalesforceSandbox


def create_error(client: httpx.Client, body: dict[str, Any], sobject: str = "Lead") -> dict[str, Any]:
    response = client.post(f"{API}/sobjects/{sobject}", json=body)
    assert response.status_code == 400, response.text
    errors = response.json()
    assert isinstance(errors, list) and len(errors) == 1
    assert set(errors[0]) >= {"message", "errorCode", "fields"}
    return errors[0]


def create_ok(client: httpx.Client, body: dict[str, Any], sobject: str = "Lead", **headers: str) -> str:
    response = client.post(f"{API}/sobjects/{sobject}", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_required_fields_follow_the_describe_rule(client: httpx.Client) -> None:
    error = create_error(client, {"FirstName": "Nobody"})
    assert error == {
        "message": "Required fields are missing: [LastName, Company]",
        "errorCode": "REQUIRED_FIELD_MISSING",
        "fields": ["LastName", "Company"],
    }
    assert create_ok(client, {"LastName": "Solo"}, "Contact").startswith("003")
    lead_id = create_ok(client, lead())
    cleared = client.patch(f"{API}/sobjects/Lead/{lead_id}", json={"Company": None})
    assert cleared.status_code == 400 and cleared.json()[0]["fields"] == ["Company"]


@pytest.mark.parametrize(
    ("field", "length", "label"),
    [("Company", 255, "Company"), ("FirstName", 40, "First Name"), ("Title", 128, "Title")],
)
def test_string_lengths_come_from_the_describe(
    client: httpx.Client, field: str, length: int, label: str
) -> None:
    create_ok(client, lead(**{field: "x" * length}))
    error = create_error(client, lead(**{field: "y" * (length + 1)}))
    assert error["errorCode"] == "STRING_TOO_LONG" and error["fields"] == [field]
    assert error["message"] == f"{label}: data value too large: {'y' * (length + 1)} (max length={length})"


def test_email_syntax(client: httpx.Client) -> None:
    error = create_error(client, lead(Email="not an email"))
    assert error == {
        "message": "Email: invalid email address: not an email",
        "errorCode": "INVALID_EMAIL_ADDRESS",
        "fields": ["Email"],
    }
    for good in ("o'brien@x.com", "first.last+tag@sub.example.co.uk"):
        create_ok(client, lead(Email=good))


def test_restricted_picklists_refuse_unknown_values_but_open_ones_do_not(client: httpx.Client) -> None:
    error = create_error(client, lead(GeocodeAccuracy="Somewhere"))
    assert error == {
        "message": "Geocode Accuracy: bad value for restricted picklist field: Somewhere",
        "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "fields": ["GeocodeAccuracy"],
    }
    create_ok(client, lead(GeocodeAccuracy="Street", Rating="Lukewarm"))  # Rating is not restricted


def test_unknown_and_read_only_fields(client: httpx.Client) -> None:
    unknown = create_error(client, lead(Score__c=7))
    assert unknown["errorCode"] == "INVALID_FIELD"
    assert unknown["message"] == "No such column 'Score__c' on sobject of type Lead"
    read_only = create_error(client, lead(Name="Computed", IsDeleted=True))
    assert read_only["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert read_only["fields"] == ["Name", "IsDeleted"]
    assert read_only["message"].startswith("Unable to create/update fields: Name, IsDeleted.")
    lead_id = create_ok(client, lead(IsConverted=False))  # createable, not updateable
    response = client.patch(f"{API}/sobjects/Lead/{lead_id}", json={"IsConverted": True})
    assert response.status_code == 400 and response.json()[0]["fields"] == ["IsConverted"]


def test_values_of_the_wrong_json_type_are_parser_errors(client: httpx.Client) -> None:
    response = client.post(f"{API}/sobjects/Lead", json=lead(NumberOfEmployees="many"))
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    broken = client.post(
        f"{API}/sobjects/Lead", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_converted_leads_cannot_be_updated(client: httpx.Client, app: SalesforceSandbox) -> None:
    lead_id = create_ok(client, lead(Email="conv@x.com"))
    app.store.convert(lead_id)
    response = client.patch(f"{API}/sobjects/Lead/{lead_id}", json={"Title": "Too late"})
    assert response.status_code == 400
    assert response.json() == [
        {
            "message": "cannot reference converted lead",
            "errorCode": "CANNOT_UPDATE_CONVERTED_LEAD",
            "fields": [],
        }
    ]


def test_duplicate_rule_blocks_unless_allow_save(client: httpx.Client, app: SalesforceSandbox) -> None:
    first = create_ok(client, lead(Email="dup@x.com"))
    create_ok(client, lead(Email="dup@x.com"))  # the rule is off by default
    app.configure(duplicate_rule=True)
    error = create_error(client, lead(Email="DUP@x.com"))
    assert error["errorCode"] == "DUPLICATES_DETECTED"
    result = error["duplicateResult"]
    assert result["duplicateRule"] == "Standard_Lead_Duplicate_Rule" and result["allowSave"] is True
    matched = [m["record"]["Id"] for m in result["matchResults"][0]["matchRecords"]]
    assert matched[0] == first and len(matched) == 2
    create_ok(client, lead(Email="dup@x.com"), **{"Sforce-Duplicate-Rule-Header": "allowSave=true"})
    create_ok(client, {"LastName": "Same mail, other object", "Email": "dup@x.com"}, "Contact")

    other = create_ok(client, lead(Email="other@x.com"))
    moved = client.patch(f"{API}/sobjects/Lead/{other}", json={"Email": "dup@x.com"})
    assert moved.status_code == 400 and moved.json()[0]["errorCode"] == "DUPLICATES_DETECTED"

    body = collection([lead(Email="dup@x.com"), lead(Email="unique@x.com")])
    results = client.post(f"{API}/composite/sobjects", json=body).json()
    assert results[0]["errors"][0]["statusCode"] == "DUPLICATES_DETECTED"
    assert results[0]["errors"][0]["duplicateResult"]["matchResults"][0]["size"] == 3
    assert results[1]["success"] is True
    header = {"Sforce-Duplicate-Rule-Header": "allowSave=true, includeRecordDetails=false"}
    allowed = client.post(
        f"{API}/composite/sobjects", json=collection([lead(Email="dup@x.com")]), headers=header
    )
    assert allowed.json()[0]["success"] is True
