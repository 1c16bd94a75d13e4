"""CRM search: operators, sorting, paging and HubSpot's limits on it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from crm.sandbox.hubspot import HubSpotSandbox

SEARCH = "/crm/v3/objects/contacts/search"
PEOPLE = [
    {"email": "ann@alpha.io", "firstname": "Ann", "city": "Oslo", "hs_lead_status": "NEW"},
    {"email": "bob@beta.io", "firstname": "Bob", "city": "Rome", "hs_lead_status": "OPEN"},
    {"email": "cy@alpha.io", "firstname": "Cy", "city": "Oslo"},
    {"email": "dee@gamma.io", "firstname": "Dee Anne", "hs_lead_status": "CONNECTED"},
]


@pytest.fixture
def people(http: httpx.Client) -> dict[str, str]:
    answer = http.post(
        "/crm/v3/objects/contacts/batch/create", json={"inputs": [{"properties": p} for p in PEOPLE]}
    )
    return {r["properties"]["email"]: r["id"] for r in answer.json()["results"]}


def found(http: httpx.Client, *filters: dict[str, Any], **extra: Any) -> list[str]:
    body = {"filterGroups": [{"filters": list(filters)}] if filters else [], "properties": ["email"], **extra}
    answer = http.post(SEARCH, json=body)
    assert answer.status_code == 200, answer.text
    return [r["properties"]["email"] for r in answer.json()["results"]]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"propertyName": "city", "operator": "EQ", "value": "OSLO"}, ["ann@alpha.io", "cy@alpha.io"]),
        ({"propertyName": "city", "operator": "NEQ", "value": "oslo"}, ["bob@beta.io", "dee@gamma.io"]),
        (
            {"propertyName": "hs_lead_status", "operator": "IN", "values": ["NEW", "OPEN"]},
            ["ann@alpha.io", "bob@beta.io"],
        ),
        (
            {"propertyName": "hs_lead_status", "operator": "NOT_IN", "values": ["NEW"]},
            ["bob@beta.io", "cy@alpha.io", "dee@gamma.io"],
        ),
        (
            {"propertyName": "city", "operator": "HAS_PROPERTY"},
            ["ann@alpha.io", "bob@beta.io", "cy@alpha.io"],
        ),
        ({"propertyName": "city", "operator": "NOT_HAS_PROPERTY"}, ["dee@gamma.io"]),
        ({"propertyName": "firstname", "operator": "CONTAINS_TOKEN", "value": "anne"}, ["dee@gamma.io"]),
        (
            {"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*alpha.io"},
            ["ann@alpha.io", "cy@alpha.io"],
        ),
    ],
)
def test_operators(
    http: httpx.Client, people: dict[str, str], flt: dict[str, Any], expected: list[str]
) -> None:
    assert sorted(found(http, flt)) == expected


def test_groups_are_or_filters_are_and(http: httpx.Client, people: dict[str, str]) -> None:
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "city", "operator": "EQ", "value": "Oslo"},
                         {"propertyName": "firstname", "operator": "EQ", "value": "cy"}]},
            {"filters": [{"propertyName": "city", "operator": "EQ", "value": "Rome"}]},
        ],
        "properties": ["email"],
    }  # fmt: skip
    answer = http.post(SEARCH, json=body).json()
    assert answer["total"] == 2
    assert sorted(r["properties"]["email"] for r in answer["results"]) == ["bob@beta.io", "cy@alpha.io"]


def test_numbers_compare_as_numbers_and_sorts_apply(http: httpx.Client, app: HubSpotSandbox) -> None:
    http.post(
        "/crm/v3/properties/contacts",
        json={"name": "score", "label": "Score", "type": "number", "fieldType": "number", "groupName": "g"},
    )
    for email, score in [("a@x.io", "9"), ("b@x.io", "10"), ("c@x.io", "100")]:
        http.post("/crm/v3/objects/contacts", json={"properties": {"email": email, "score": score}})
    assert found(http, {"propertyName": "score", "operator": "GT", "value": "9"}, sorts=["score"]) == [
        "b@x.io",
        "c@x.io",
    ]
    descending = [{"propertyName": "score", "direction": "DESCENDING"}]
    assert found(http, sorts=descending) == ["c@x.io", "b@x.io", "a@x.io"]
    assert found(http, {"propertyName": "score", "operator": "BETWEEN", "value": "5", "highValue": "10"}) == [
        "a@x.io",
        "b@x.io",
    ]


def test_default_limit_and_paging(http: httpx.Client) -> None:
    http.post(
        "/crm/v3/objects/contacts/batch/create",
        json={"inputs": [{"properties": {"email": f"p{i:02d}@x.io"}} for i in range(25)]},
    )
    first = http.post(SEARCH, json={}).json()
    assert (first["total"], len(first["results"])) == (25, 10)
    assert first["paging"]["next"]["after"] == "10"
    last = http.post(SEARCH, json={"after": "20"}).json()
    assert len(last["results"]) == 5 and "paging" not in last
    assert len(http.post(SEARCH, json={"limit": 200}).json()["results"]) == 25


@pytest.mark.parametrize(
    "body",
    [
        {"limit": 201},
        {"after": "10000"},
        {"filterGroups": [{"filters": [{"propertyName": "city", "operator": "EQ", "value": "x"}]}] * 6},
        {"filterGroups": [{"filters": [{"propertyName": "city", "operator": "EQ", "value": "x"}] * 7}]},
        {"filterGroups": [{"filters": [{"propertyName": "city", "operator": "LIKE", "value": "x"}]}]},
    ],
)
def test_limits_answer_400(http: httpx.Client, envelope: Any, body: dict[str, Any]) -> None:
    answer = http.post(SEARCH, json=body)
    assert answer.status_code == 400
    envelope(answer.json(), "VALIDATION_ERROR")


def test_query_matches_names_and_emails(http: httpx.Client, people: dict[str, str]) -> None:
    assert sorted(found(http, query="ANN")) == ["ann@alpha.io", "dee@gamma.io"]
