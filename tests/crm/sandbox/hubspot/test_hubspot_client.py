"""The vendor's own ``hubspot-api-client`` against the sandbox's HTTP server, unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException
from hubspot.crm.contacts.models import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors,
    BatchResponseSimplePublicUpsertObject,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.properties import ApiException as PropertiesApiException
from hubspot.crm.properties.models import PropertyCreate
from hubspot.oauth import ApiException as OAuthApiException

from crm.sandbox.hubspot import CLIENT_ID, CLIENT_SECRET, PORTAL_ID
from crm.sandbox.server import SandboxHTTPServer

Envelope = Callable[[Any, str], dict[str, Any]]
# The option values the notes require (HubSpot's defaults).
LIFECYCLE_STAGES = [
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
]
LEAD_STATUSES = [
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
]


def new_contact(hs: HubSpot, **props: str) -> str:
    created = hs.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties=props))
    return str(created.id)


def test_basic_api_round_trip(hs: HubSpot, envelope: Envelope) -> None:
    api = hs.crm.contacts.basic_api
    created, status, _ = api.create_with_http_info(
        SimplePublicObjectInputForCreate(properties={"email": "Ada+1@Example.com", "firstname": "Ada"})
    )
    assert status == 201
    assert created.properties["email"] == "ada+1@example.com"
    assert created.properties["hs_object_id"] == created.id
    assert all(isinstance(v, str) for v in created.properties.values())

    by_email = api.get_by_id("ada+1@example.com", id_property="email", properties=["firstname", "company"])
    assert by_email.id == created.id
    assert by_email.properties == {"firstname": "Ada", "company": None}

    updated = api.update(created.id, SimplePublicObjectInput(properties={"jobtitle": "CTO"}))
    assert updated.properties["jobtitle"] == "CTO"
    api.update(
        "ada+1@example.com", SimplePublicObjectInput(properties={"city": "Leeds"}), id_property="email"
    )
    again = api.get_by_id(created.id, properties=["jobtitle", "city"])
    assert again.properties == {"jobtitle": "CTO", "city": "Leeds"}
    assert again.updated_at >= again.created_at

    assert api.archive(created.id) is None
    with pytest.raises(ApiException) as missing:
        api.get_by_id(created.id)
    assert missing.value.status == 404
    envelope(missing.value.body, "OBJECT_NOT_FOUND")


def test_get_page_follows_paging_to_the_end(hs: HubSpot) -> None:
    ids = {new_contact(hs, email=f"p{i}@example.com") for i in range(7)}
    seen: list[str] = []
    after = None
    while True:
        page = hs.crm.contacts.basic_api.get_page(limit=3, after=after, properties=["email"])
        seen += [r.id for r in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert seen == sorted(ids, key=int)


def test_error_answers_raise_api_exception_with_envelopes(hs: HubSpot, envelope: Envelope) -> None:
    api = hs.crm.contacts.basic_api
    existing = new_contact(hs, email="taken@example.com")
    with pytest.raises(ApiException) as conflict:
        api.create(SimplePublicObjectInputForCreate(properties={"email": "TAKEN@example.com"}))
    assert conflict.value.status == 409
    body = envelope(conflict.value.body, "CONFLICT")
    assert body["message"] == f"Contact already exists. Existing ID: {existing}"

    with pytest.raises(ApiException) as invalid:
        api.create(SimplePublicObjectInputForCreate(properties={"email": "nope", "shoe_size": "9"}))
    assert invalid.value.status == 400
    body = envelope(invalid.value.body, "VALIDATION_ERROR")
    assert [e["code"] for e in body["errors"]] == ["INVALID_EMAIL", "PROPERTY_DOESNT_EXIST"]
    assert [e["context"]["propertyName"] for e in body["errors"]] == [["email"], ["shoe_size"]]
    listed = json.loads(body["message"].removeprefix("Property values were not valid: "))
    assert {item["name"]: item["error"] for item in listed} == {
        "email": "INVALID_EMAIL",
        "shoe_size": "PROPERTY_DOESNT_EXIST",
    }
    assert all(item["portalId"] == PORTAL_ID for item in listed)

    bad_client = HubSpot(access_token="forged", host=hs.crm.contacts.basic_api.api_client.configuration.host)
    with pytest.raises(ApiException) as denied:
        bad_client.crm.contacts.basic_api.get_page()
    assert denied.value.status == 401
    envelope(denied.value.body, "INVALID_AUTHENTICATION")


def test_batch_api_round_trip(hs: HubSpot, server: SandboxHTTPServer) -> None:
    batch = hs.crm.contacts.batch_api
    created, status, _ = batch.create_with_http_info(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectBatchInputForCreate(properties={"email": f"b{i}@example.com"})
                for i in range(3)
            ]
        )
    )
    assert status == 201
    assert isinstance(created, BatchResponseSimplePublicObject)
    assert created.status == "COMPLETE"
    ids = [r.id for r in created.results]

    upserted = batch.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id="B0@example.com", id_property="email", properties={"city": "Oslo"}
                ),
                SimplePublicObjectBatchInputUpsert(
                    id="new@example.com", id_property="email", properties={"city": "Rome"}
                ),
            ]
        )
    )
    assert isinstance(upserted, BatchResponseSimplePublicUpsertObject)
    assert {r.properties["email"]: r.new for r in upserted.results} == {
        "b0@example.com": False,
        "new@example.com": True,
    }

    updated, status, _ = batch.update_with_http_info(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=i, properties={"jobtitle": "Buyer"}) for i in ids[:2]]
        )
    )
    assert status == 200
    assert [r.properties["jobtitle"] for r in updated.results] == ["Buyer", "Buyer"]

    read, status, _ = batch.read_with_http_info(
        BatchReadInputSimplePublicObjectId(
            properties=["jobtitle", "city"],
            properties_with_history=[],
            id_property="email",
            inputs=[SimplePublicObjectId(id="b0@example.com"), SimplePublicObjectId(id="ghost@example.com")],
        )
    )
    assert status == 207
    assert isinstance(read, BatchResponseSimplePublicObjectWithErrors)
    assert [r.properties for r in read.results] == [{"jobtitle": "Buyer", "city": "Oslo"}]
    assert read.num_errors == 1
    assert read.errors[0].category == "OBJECT_NOT_FOUND"
    assert read.errors[0].context == {"ids": ["ghost@example.com"]}

    archived = batch.archive(BatchInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=i) for i in ids]))
    assert archived is None
    assert [c["properties"]["email"] for c in server.app.dump()] == ["new@example.com"]


def test_batch_create_multi_status_via_client(hs: HubSpot) -> None:
    answer, status, _ = hs.crm.contacts.batch_api.create_with_http_info(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectBatchInputForCreate(
                    object_write_trace_id="row-1", properties={"email": "ok@example.com"}
                ),
                SimplePublicObjectBatchInputForCreate(
                    object_write_trace_id="row-2", properties={"email": "bad"}
                ),
            ]
        )
    )
    assert status == 207
    assert isinstance(answer, BatchResponseSimplePublicObjectWithErrors)
    assert [r.object_write_trace_id for r in answer.results] == ["row-1"]
    assert answer.errors[0].context["objectWriteTraceId"] == ["row-2"]
    assert answer.errors[0].errors[0].code == "INVALID_EMAIL"


def test_search_api_via_client(hs: HubSpot) -> None:
    for i, city in enumerate(["Oslo", "Rome", "Oslo", "Lima"]):
        new_contact(hs, email=f"s{i}@example.com", city=city, firstname=f"N{i}")
    request = PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=[Filter(property_name="city", operator="EQ", value="oslo")])],
        sorts=["-email"],
        properties=["email", "city"],
        limit=1,
    )
    first = hs.crm.contacts.search_api.do_search(request)
    assert first.total == 2
    assert [r.properties["email"] for r in first.results] == ["s2@example.com"]
    request.after = first.paging.next.after
    second = hs.crm.contacts.search_api.do_search(request)
    assert [r.properties["email"] for r in second.results] == ["s0@example.com"]
    assert second.paging is None


def test_properties_api_via_client(hs: HubSpot) -> None:
    core = hs.crm.properties.core_api
    names = {p.name: p for p in core.get_all("contacts").results}
    assert {"email", "firstname", "lastname", "hs_lead_status", "lifecyclestage", "hs_object_id"} <= set(
        names
    )
    assert names["hs_object_id"].modification_metadata.read_only_value is True
    mapped = ("company", "jobtitle", "phone", "mobilephone", "website", "address", "city", "state", "zip")
    assert set(mapped) | {"country", "industry", "createdate", "lastmodifieddate"} <= set(names)
    stage = core.get_by_name("contacts", "lifecyclestage")
    assert [o.value for o in stage.options] == LIFECYCLE_STAGES
    status = core.get_by_name("contacts", "hs_lead_status")
    assert [o.value for o in status.options] == LEAD_STATUSES
    assert (status.type, status.field_type) == ("enumeration", "radio")

    spec = PropertyCreate(
        name="leadfactory_score",
        label="Lead score",
        type="number",
        field_type="number",
        group_name="contactinformation",
    )
    made, status, _ = core.create_with_http_info("contacts", spec)
    assert status == 201
    assert made.name == "leadfactory_score" and made.hubspot_defined is False
    with pytest.raises(PropertiesApiException) as exists:
        core.create("contacts", spec)
    assert exists.value.status == 409

    new_contact(hs, email="scored@example.com", leadfactory_score="87")
    with pytest.raises(ApiException) as invalid:
        new_contact(hs, email="x@example.com", leadfactory_score="high")
    assert json.loads(invalid.value.body)["errors"][0]["code"] == "INVALID_LONG"


def test_oauth_tokens_api_via_client(hs: HubSpot, server: SandboxHTTPServer, envelope: Envelope) -> None:
    redirect = "http://localhost:8501/callback"
    authorize = httpx.get(
        f"{server.base_url}/oauth/authorize",
        params={
            "client_id": CLIENT_ID,
            "redirect_uri": redirect,
            "scope": "crm.objects.contacts.read",
            "state": "s1",
        },
    )
    assert authorize.status_code == 302
    query = parse_qs(urlsplit(authorize.headers["location"]).query)
    assert query["state"] == ["s1"]

    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": redirect}
    tokens = hs.oauth.tokens_api.create(grant_type="authorization_code", code=query["code"][0], **form)
    assert tokens.token_type == "bearer" and tokens.expires_in == 1800

    info = hs.oauth.access_tokens_api.get(tokens.access_token)
    assert info.hub_id == PORTAL_ID
    assert "crm.objects.contacts.read" in info.scopes
    refresh = hs.oauth.refresh_tokens_api.get(tokens.refresh_token)
    assert refresh.client_id == CLIENT_ID

    oauth_client = HubSpot(access_token=tokens.access_token, host=server.base_url)
    assert oauth_client.crm.contacts.basic_api.get_page().results == []
    with pytest.raises(ApiException) as scoped:
        oauth_client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={}))
    assert scoped.value.status == 403
    body = envelope(scoped.value.body, "MISSING_SCOPES")
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.contacts.write"]

    hs.oauth.refresh_tokens_api.archive(tokens.refresh_token)
    with pytest.raises(OAuthApiException) as revoked:
        hs.oauth.tokens_api.create(grant_type="refresh_token", refresh_token=tokens.refresh_token, **form)
    assert revoked.value.status == 400
    assert json.loads(revoked.value.body)["status"] == "BAD_REFRESH_TOKEN"
