"""HubSpot on the wire: the exact requests ``HubSpotAdapter`` sends to ``https://api.hubapi.com`` and the
answers it must read right. respx intercepts every call; nothing leaves the machine.

Bodies are the ones the API notes (../shared/crm-api-notes-hubspot.md) quote from HubSpot.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.errors import AuthError
from crm.governor import Unlimited
from crm.http import StaticToken
from crm.hubspot import API_BASE, BATCH_SIZE, CONTACTS, HubSpotAdapter
from crm.model import Action, RecordState, WriteKind, WriteOp
from tests.crm.hubspot_wire_support import (
    FAST,
    MISSING_SCOPES,
    NOW,
    TOKEN,
    definition,
    envelope,
    rate_limit,
)


# ----- the requests the adapter sends -----------------------------------------------------------------
@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=API_BASE, assert_all_called=False, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
def adapter() -> Iterator[HubSpotAdapter]:
    made = HubSpotAdapter(
        StaticToken(TOKEN), governor=Unlimited(), account_key=f"wire-{uuid.uuid4().hex}", retry=FAST
    )
    yield made
    made.close()


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


def upsert_answer(request: httpx.Request) -> httpx.Response:
    """HubSpot's 200: one result per input, ``new`` for the ones whose email ends in .new."""
    results = [
        {
            "id": str(1000 + n),
            "properties": {"email": item["id"], "hs_object_id": str(1000 + n)},
            "createdAt": NOW,
            "updatedAt": NOW,
            "archived": False,
            "new": item["id"].endswith(".new"),
            "objectWriteTraceId": item["objectWriteTraceId"],
        }
        for n, item in enumerate(body_of(request)["inputs"])
    ]
    return httpx.Response(
        200, json={"status": "COMPLETE", "results": results, "startedAt": NOW, "completedAt": NOW}
    )


def test_upsert_sends_the_documented_shape(api: respx.MockRouter, adapter: HubSpotAdapter) -> None:
    route = api.post(f"{CONTACTS}/batch/upsert").mock(side_effect=upsert_answer)
    ops = [
        WriteOp(
            "row-1",
            " Ann@Example.COM ",
            WriteKind.UPSERT,
            {"firstname": "Ann", "score": 42, "ratio": 3.0, "vip": True, "notes": None},
        ),
        WriteOp("row-2", "bob@x.new", WriteKind.CREATE, {"firstname": "Bob"}),
    ]

    results = [r for batch in adapter.write(ops) for r in batch]

    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.url.path == "/crm/v3/objects/contacts/batch/upsert"
    assert body_of(request) == {
        "inputs": [
            {
                "idProperty": "email",
                "id": "ann@example.com",
                "properties": {"firstname": "Ann", "score": "42", "ratio": "3", "vip": "true", "notes": ""},
                "objectWriteTraceId": "row-1",
            },
            {
                "idProperty": "email",
                "id": "bob@x.new",
                "properties": {"firstname": "Bob"},
                "objectWriteTraceId": "row-2",
            },
        ]
    }
    assert [(r.key, r.action, r.crm_id) for r in results] == [
        ("row-1", Action.UPDATED, "1000"),
        ("row-2", Action.CREATED, "1001"),
    ]


def test_upserts_go_100_per_call_and_updates_by_id(api: respx.MockRouter, adapter: HubSpotAdapter) -> None:
    upserts = api.post(f"{CONTACTS}/batch/upsert").mock(side_effect=upsert_answer)
    updates = api.post(f"{CONTACTS}/batch/update").mock(
        return_value=httpx.Response(
            200,
            json={
                "status": "COMPLETE",
                "results": [
                    {"id": "151", "properties": {}, "createdAt": NOW, "updatedAt": NOW, "archived": False}
                ],
                "startedAt": NOW,
                "completedAt": NOW,
            },
        )
    )
    ops = [WriteOp(f"k{i}", f"p{i}@x.com", WriteKind.UPSERT, {"firstname": "P"}) for i in range(250)]
    ops.append(WriteOp("u", "u@x.com", WriteKind.UPDATE, {"jobtitle": "CTO"}, "151"))

    results = [r for batch in adapter.write(ops) for r in batch]

    assert sorted(len(body_of(c.request)["inputs"]) for c in upserts.calls) == [50, BATCH_SIZE, BATCH_SIZE]
    assert body_of(updates.calls.last.request) == {
        "inputs": [{"id": "151", "properties": {"jobtitle": "CTO"}, "objectWriteTraceId": "u"}]
    }
    assert len(results) == 251 and {r.key for r in results} == {op.key for op in ops}
    assert next(r for r in results if r.key == "u").action is Action.UPDATED


def test_lookup_reads_by_email(api: respx.MockRouter, adapter: HubSpotAdapter) -> None:
    route = api.post(f"{CONTACTS}/batch/read").mock(
        return_value=httpx.Response(
            207,
            json={
                "status": "COMPLETE",
                "results": [
                    {
                        "id": "151",
                        "properties": {"email": "ann@x.com", "firstname": "Ann", "lastmodifieddate": NOW},
                        "createdAt": NOW,
                        "updatedAt": NOW,
                        "archived": False,
                    }
                ],
                "numErrors": 1,
                "errors": [
                    {"status": "error", "category": "OBJECT_NOT_FOUND", "context": {"ids": ["zed@x.com"]}}
                ],
                "startedAt": NOW,
                "completedAt": NOW,
            },
        )
    )

    found = adapter.lookup(["Ann@X.com", "zed@x.com", "ann@x.com"], ["firstname"])

    assert body_of(route.calls.last.request) == {
        "idProperty": "email",
        "properties": ["email", "firstname", "hs_merged_object_ids", "lastmodifieddate"],
        "inputs": [{"id": "ann@x.com"}, {"id": "zed@x.com"}],
    }
    assert list(found) == ["ann@x.com"]
    assert (found["ann@x.com"][0].crm_id, found["ann@x.com"][0].last_modified) == ("151", NOW)


def test_fields_and_account_calls(api: respx.MockRouter, adapter: HubSpotAdapter) -> None:
    properties = api.get(f"{API_BASE}/crm/v3/properties/contacts", params={"archived": "false"}).mock(
        return_value=httpx.Response(200, json={"results": [definition(name="email")]})
    )
    details = {
        "portalId": 151,
        "accountType": "STANDARD",
        "uiDomain": "app-eu1.hubspot.com",
        "timeZone": "UTC",
    }
    api.get("/account-info/v3/details").mock(
        return_value=httpx.Response(
            200,
            json=details,
            headers={"X-HubSpot-RateLimit-Daily": "250000", "X-HubSpot-RateLimit-Daily-Remaining": "249990"},
        )
    )
    # An OAuth app may not read private-app usage: the rate-limit headers stand in for it.
    usage = api.get("/account-info/v3/api-usage/daily/private-apps").mock(
        return_value=httpx.Response(403, json=MISSING_SCOPES)
    )

    assert [f.name for f in adapter.fields()] == ["email"]
    info = adapter.account()

    assert properties.call_count == 1 and usage.call_count == 1
    assert (info.account_id, info.api_used, info.api_limit) == ("151", 10, 250000)
    assert info.instance_url == API_BASE
    assert adapter.record_url("9") == "https://app-eu1.hubspot.com/contacts/151/record/0-1/9"


def test_read_back_asks_for_archived_records_only_for_the_missing(
    api: respx.MockRouter, adapter: HubSpotAdapter
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        archived = request.url.params.get("archived") == "true"
        ids = [i["id"] for i in body_of(request)["inputs"]]
        found = [i for i in ids if (i == "2") == archived]
        results = [
            {
                "id": i,
                "properties": {"firstname": "F", "lastmodifieddate": NOW},
                "createdAt": NOW,
                "updatedAt": NOW,
                "archived": archived,
            }
            for i in found
        ]
        return httpx.Response(
            200, json={"status": "COMPLETE", "results": results, "startedAt": NOW, "completedAt": NOW}
        )

    route = api.post(f"{CONTACTS}/batch/read").mock(side_effect=answer)

    statuses = adapter.read_back(["1", "2"], ["firstname"])

    first, second = (c.request for c in route.calls)
    assert "archived" not in first.url.params and "idProperty" not in body_of(first)
    assert body_of(first)["inputs"] == [{"id": "1"}, {"id": "2"}]
    assert second.url.params["archived"] == "true" and body_of(second)["inputs"] == [{"id": "2"}]
    assert (statuses["1"].state, statuses["2"].state) == (RecordState.EXISTS, RecordState.DELETED)
    assert statuses["2"].properties["firstname"] == "F"


# ----- answers the adapter must read right -------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_partial_answer_gives_each_row_exactly_its_own_result(data: st.DataObject) -> None:
    """Results may come in any order, with or without trace ids; errors name rows by trace id or id."""
    n = data.draw(st.integers(1, 12), label="rows")
    fate = data.draw(
        st.lists(st.sampled_from(["ok", "ok-untraced", "error", "missing"]), min_size=n, max_size=n)
    )
    order = data.draw(st.permutations(range(n)))
    ops = [WriteOp(f"k{i}", f"Row{i}@X.com", WriteKind.UPSERT, {"firstname": str(i)}) for i in range(n)]
    results = []
    for i in order:
        if fate[i].startswith("ok"):
            item = {"id": f"id{i}", "properties": {"email": f"row{i}@x.com"}, "new": i % 2 == 0}
            if fate[i] == "ok":
                item["objectWriteTraceId"] = f"k{i}"
            results.append(item)
    errors = [
        {
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": f"bad {i}",
            "context": {"objectWriteTraceId": [f"k{i}"]},
        }
        for i in range(n)
        if fate[i] == "error"
    ]
    body = {"status": "COMPLETE", "results": results, "errors": errors, "startedAt": NOW, "completedAt": NOW}
    adapter = HubSpotAdapter(StaticToken(TOKEN), governor=Unlimited(), account_key="wire-prop", retry=FAST)
    with respx.mock(base_url=API_BASE) as api:
        api.post(f"{CONTACTS}/batch/upsert").mock(
            return_value=httpx.Response(207 if errors else 200, json=body)
        )
        got = [r for batch in adapter.write(ops) for r in batch]
    adapter.close()

    assert [r.key for r in got] == [op.key for op in ops]
    for i, result in enumerate(got):
        if fate[i].startswith("ok"):
            expected = Action.CREATED if i % 2 == 0 else Action.UPDATED
            assert (result.action, result.crm_id) == (expected, f"id{i}")
        elif fate[i] == "error":
            assert (result.action, result.error_code, result.error_message) == (
                Action.FAILED,
                "VALIDATION_ERROR",
                f"bad {i}",
            )
        else:
            assert (result.action, result.error_code) == (Action.FAILED, "NO_RESULT")


def test_a_conflicting_update_fails_only_its_row(api: respx.MockRouter, adapter: HubSpotAdapter) -> None:
    conflict = {
        "status": "error",
        "message": "Contact already exists. Existing ID: 151",
        "correlationId": str(uuid.uuid4()),
        "category": "CONFLICT",
    }

    def answer(request: httpx.Request) -> httpx.Response:
        inputs = body_of(request)["inputs"]
        if any(i["properties"].get("email") == "taken@x.com" for i in inputs):
            return httpx.Response(409, json=conflict)
        results = [
            {"id": i["id"], "properties": {}, "objectWriteTraceId": i["objectWriteTraceId"]} for i in inputs
        ]
        return httpx.Response(
            200, json={"status": "COMPLETE", "results": results, "startedAt": NOW, "completedAt": NOW}
        )

    api.post(f"{CONTACTS}/batch/update").mock(side_effect=answer)
    ops = [
        WriteOp(f"k{i}", f"r{i}@x.com", WriteKind.UPDATE, {"firstname": "R"}, str(200 + i)) for i in range(4)
    ]
    ops[1] = WriteOp("k1", "r1@x.com", WriteKind.UPDATE, {"email": "taken@x.com"}, "201")

    results = {r.key: r for batch in adapter.write(ops) for r in batch}

    assert results["k1"].action is Action.FAILED
    assert (results["k1"].error_code, results["k1"].error_message) == (
        "CONFLICT",
        "Contact already exists. Existing ID: 151",
    )
    assert all(results[k].action is Action.UPDATED for k in ("k0", "k2", "k3"))


def test_a_server_error_is_retried_and_a_bad_token_is_not(
    api: respx.MockRouter, adapter: HubSpotAdapter
) -> None:
    flaky = api.post(f"{CONTACTS}/batch/upsert").mock(
        side_effect=[httpx.Response(502, text="<html>Bad Gateway</html>"), upsert_answer]
    )
    ops = [WriteOp("k", "a@x.new", WriteKind.UPSERT, {})]
    assert [r.action for batch in adapter.write(ops) for r in batch] == [Action.CREATED]
    assert flaky.call_count == 2

    refused = api.get(f"{API_BASE}/crm/v3/properties/contacts").mock(
        return_value=httpx.Response(
            401, json=envelope("INVALID_AUTHENTICATION", "Authentication credentials not found.")
        )
    )
    with pytest.raises(AuthError, match="Authentication credentials not found"):
        adapter.fields()
    assert refused.call_count == 1


def test_the_daily_limit_leaves_rows_not_sent(api: respx.MockRouter, adapter: HubSpotAdapter) -> None:
    daily = api.post(f"{CONTACTS}/batch/upsert").mock(
        return_value=httpx.Response(429, json=rate_limit("DAILY", "You have reached your daily limit."))
    )
    ops = [WriteOp(f"k{i}", f"r{i}@x.com", WriteKind.UPSERT, {}) for i in range(3)]

    results = [r for batch in adapter.write(ops) for r in batch]

    assert daily.call_count == 1  # a used-up allowance is not retried
    assert {(r.action, r.error_code) for r in results} == {(Action.FAILED, "NOT_SENT")}
    assert "daily limit" in (results[0].error_message or "")
