"""Every answer checked against the official client's generated models (HubSpot's OpenAPI spec): a
missing required field or a wrongly typed one fails here even where the client would not notice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hubspot.crm.contacts import models as contact_models
from hubspot.crm.properties import models as property_models
from hubspot.oauth import models as oauth_models

from crm.sandbox.hubspot import CLIENT_ID, CLIENT_SECRET, HubSpotSandbox

Shape = Callable[[Any, str, Any], None]
V3 = "/crm/v3/objects/contacts"


@pytest.fixture
def seeded(http: httpx.Client) -> list[str]:
    answer = http.post(
        f"{V3}/batch/create",
        json={"inputs": [{"properties": {"email": f"m{i}@example.com", "firstname": "M"}} for i in range(3)]},
    )
    return [r["id"] for r in answer.json()["results"]]


def test_contact_answers_fit_the_contact_models(http: httpx.Client, seeded: list[str], shape: Shape) -> None:
    one = seeded[0]
    checks: list[tuple[httpx.Response, int, str]] = [
        (http.post(V3, json={"properties": {"email": "new@example.com"}}), 201, "SimplePublicObject"),
        (http.get(f"{V3}/{one}?propertiesWithHistory=firstname"), 200, "SimplePublicObjectWithAssociations"),
        (http.patch(f"{V3}/{one}", json={"properties": {"city": "Bath"}}), 200, "SimplePublicObject"),
        (
            http.get(f"{V3}?limit=2"),
            200,
            "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging",
        ),
        (
            http.post(f"{V3}/search", json={"filterGroups": [], "limit": 2}),
            200,
            "CollectionResponseWithTotalSimplePublicObjectForwardPaging",
        ),
        (
            http.post(
                f"{V3}/batch/read", json={"inputs": [{"id": one}, {"id": "1"}], "properties": ["email"]}
            ),
            207,
            "BatchResponseSimplePublicObjectWithErrors",
        ),
        (
            http.post(f"{V3}/batch/update", json={"inputs": [{"id": one, "properties": {"zip": "BA1"}}]}),
            200,
            "BatchResponseSimplePublicObject",
        ),
        (
            http.post(
                f"{V3}/batch/upsert",
                json={"inputs": [{"id": "u@example.com", "idProperty": "email", "properties": {"zip": "1"}}]},
            ),
            200,
            "BatchResponseSimplePublicUpsertObject",
        ),
        (
            http.post(
                f"{V3}/batch/create",
                json={
                    "inputs": [
                        {"objectWriteTraceId": "a", "properties": {"email": "m1@example.com"}},
                        {"objectWriteTraceId": "b", "properties": {"email": "fresh@example.com"}},
                    ]
                },
            ),
            207,
            "BatchResponseSimplePublicObjectWithErrors",
        ),
        (
            http.post(f"{V3}/merge", json={"primaryObjectId": seeded[1], "objectIdToMerge": seeded[2]}),
            200,
            "SimplePublicObject",
        ),
    ]
    for answer, status, model in checks:
        assert answer.status_code == status, answer.text
        shape(answer.json(), model, contact_models)


def test_error_answers_fit_the_error_model(
    app: HubSpotSandbox, http: httpx.Client, client_for: Any, seeded: list[str], shape: Shape
) -> None:
    answers = [
        http.post(V3, json={"properties": {"email": "m0@example.com"}}),
        http.post(V3, json={"properties": {"nope": "1"}}),
        http.get(f"{V3}/999"),
        http.post(f"{V3}/batch/update", json={"inputs": [{"id": seeded[0], "properties": {}}] * 2}),
        client_for(app, token=None).get(V3),
    ]
    assert [a.status_code for a in answers] == [409, 400, 404, 400, 401]
    for answer in answers:
        shape(answer.json(), "Error", contact_models)


def test_property_answers_fit_the_property_models(http: httpx.Client, shape: Shape) -> None:
    listing = http.get("/crm/v3/properties/contacts")
    shape(listing.json(), "CollectionResponsePropertyNoPaging", property_models)
    assert len(listing.json()["results"]) >= 40
    shape(http.get("/crm/v3/properties/contacts/hs_lead_status").json(), "ModelProperty", property_models)
    created = http.post(
        "/crm/v3/properties/contacts",
        json={
            "name": "favourite_channel",
            "label": "Favourite channel",
            "type": "enumeration",
            "fieldType": "select",
            "groupName": "contactinformation",
            "options": [{"label": "Email", "value": "email"}, {"label": "Phone", "value": "phone"}],
        },
    )
    assert created.status_code == 201
    shape(created.json(), "ModelProperty", property_models)


def test_oauth_answers_fit_the_oauth_models(app: HubSpotSandbox, client_for: Any, shape: Shape) -> None:
    public = client_for(app, token=None)
    location = public.get(
        "/oauth/authorize",
        params={
            "client_id": CLIENT_ID,
            "redirect_uri": "https://app.example/cb",
            "scope": "crm.objects.contacts.read",
        },
    ).headers["location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": "https://app.example/cb"}
    tokens = public.post(
        "/oauth/v1/token", data={"grant_type": "authorization_code", "code": code, **form}
    ).json()
    shape(tokens, "TokenResponseIF", oauth_models)
    shape(
        public.get(f"/oauth/v1/access-tokens/{tokens['access_token']}").json(),
        "AccessTokenInfoResponse",
        oauth_models,
    )
    shape(
        public.get(f"/oauth/v1/refresh-tokens/{tokens['refresh_token']}").json(),
        "RefreshTokenInfoResponse",
        oauth_models,
    )
