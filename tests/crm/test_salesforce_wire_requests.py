"""Salesforce on the wire, checked with respx on a fake ``https://acme.my.salesforce.com``: the sObject
Collections request shape, per-record failures, SOQL lookups and paging, and the account calls. respx
intercepts every call; nothing leaves the machine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from crm.batching import NOT_SENT
from crm.errors import CRMError, ServerError, TokenExpired, ValidationError
from crm.model import Action, WriteKind, WriteOp
from crm.salesforce import SalesforceAdapter
from crm.sandbox.salesforce import soql as sandbox_soql
from tests.crm.salesforce_wire_support import DATA, FAST, INSTANCE, TOKEN, error_array, make

DESCRIBE_DIR = Path(__file__).resolve().parents[2] / "crm" / "sandbox" / "salesforce" / "describe"


def describe(object_name: str) -> dict[str, Any]:
    return json.loads((DESCRIBE_DIR / f"describe_{object_name}.json").read_text())


# ----- calls through the adapter ---------------------------------------------------------------------------
@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=INSTANCE, assert_all_called=False, assert_all_mocked=True) as router:
        router.get(f"{DATA}/sobjects/Lead/describe").mock(
            return_value=httpx.Response(200, json=describe("Lead"))
        )
        router.get(f"{DATA}/sobjects/Contact/describe").mock(
            return_value=httpx.Response(200, json=describe("Contact"))
        )
        yield router


@pytest.fixture
def adapter() -> Iterator[SalesforceAdapter]:
    made = make()
    yield made
    made.close()


def echo_saves(request: httpx.Request) -> httpx.Response:
    """One success per record, in order; created ids from the position."""
    records = json.loads(request.content)["records"]
    answers = [
        {"id": r.get("Id") or f"00Q5e00000{i:05d}AAA", "success": True, "errors": []}
        for i, r in enumerate(records)
    ]
    return httpx.Response(200, json=answers, headers={"Sforce-Limit-Info": "api-usage=42/15000"})


def test_collections_requests_have_the_documented_shape(
    api: respx.MockRouter, adapter: SalesforceAdapter
) -> None:
    creates = api.post(f"{DATA}/composite/sobjects").mock(side_effect=echo_saves)
    updates = api.patch(f"{DATA}/composite/sobjects").mock(side_effect=echo_saves)
    typed = {
        "NumberOfEmployees": "250",
        "AnnualRevenue": "1250000.5",
        "IsUnreadByOwner": "true",
        "Title": "007",
    }
    ops = [
        WriteOp(
            f"c{i}",
            f"c{i}@example.com",
            WriteKind.CREATE,
            {"Email": f"c{i}@example.com", "LastName": "C", **typed},
        )
        for i in range(450)
    ] + [
        WriteOp(f"u{i}", f"u{i}@example.com", WriteKind.UPDATE, {"Title": "CTO"}, f"00Q5e00001{i:05d}AAA")
        for i in range(250)
    ]

    results = {r.key: r for batch in adapter.write(ops) for r in batch}

    create_bodies = [json.loads(c.request.content) for c in creates.calls]
    update_bodies = [json.loads(c.request.content) for c in updates.calls]
    assert sorted(len(b["records"]) for b in create_bodies) == [50, 200, 200]
    assert sorted(len(b["records"]) for b in update_bodies) == [50, 200]
    for body in create_bodies + update_bodies:
        assert body["allOrNone"] is False
        assert all(r["attributes"] == {"type": "Lead"} for r in body["records"])
    for record in (r for b in create_bodies for r in b["records"]):
        assert "Id" not in record
        assert record["NumberOfEmployees"] == 250 and type(record["NumberOfEmployees"]) is int
        assert record["AnnualRevenue"] == 1250000.5
        assert record["IsUnreadByOwner"] is True
        assert record["Title"] == "007"  # text stays text
    sent_ids = sorted(r["Id"] for b in update_bodies for r in b["records"])
    assert sent_ids == sorted(op.crm_id for op in ops if op.crm_id)
    for call in [*creates.calls, *updates.calls]:
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert "Sforce-Duplicate-Rule-Header" not in call.request.headers
    assert all(r.action == Action.CREATED and r.crm_id for k, r in results.items() if k.startswith("c"))
    assert all(
        (r.action, r.crm_id) == (Action.UPDATED, f"00Q5e00001{k[1:].zfill(5)}AAA")
        for k, r in results.items()
        if k.startswith("u")
    )
    assert adapter.usage() == {"used": 42, "limit": 15000}


def test_allowing_duplicates_sends_the_duplicate_rule_header(api: respx.MockRouter) -> None:
    creates = api.post(f"{DATA}/composite/sobjects").mock(side_effect=echo_saves)
    adapter = make(allow_duplicates=True)
    op = WriteOp(
        "c", "c@example.com", WriteKind.CREATE, {"Email": "c@example.com", "LastName": "C", "Company": "A"}
    )

    list(adapter.write([op]))
    adapter.close()

    assert creates.calls.last.request.headers["Sforce-Duplicate-Rule-Header"] == "allowSave=true"


def test_failed_items_with_or_without_an_id_key_fail_their_rows(
    api: respx.MockRouter, adapter: SalesforceAdapter
) -> None:
    answers = [
        {"id": "00Q5e000000001AAA", "success": True, "errors": []},
        {
            "success": False,
            "errors": [
                {
                    "statusCode": "REQUIRED_FIELD_MISSING",
                    "message": "Required fields are missing: [Company]",
                    "fields": ["Company"],
                }
            ],
        },
        {
            "id": None,
            "success": False,
            "errors": [
                {
                    "statusCode": "INVALID_EMAIL_ADDRESS",
                    "message": "Email: invalid email address: x",
                    "fields": ["Email"],
                }
            ],
        },
        {"success": False, "errors": []},
    ]
    api.post(f"{DATA}/composite/sobjects").mock(return_value=httpx.Response(200, json=answers))
    ops = [WriteOp(f"k{i}", f"k{i}@example.com", WriteKind.CREATE, {"LastName": "K"}) for i in range(4)]

    results = [r for batch in adapter.write(ops) for r in batch]

    assert [(r.key, r.action, r.crm_id, r.error_code) for r in results] == [
        ("k0", Action.CREATED, "00Q5e000000001AAA", None),
        ("k1", Action.FAILED, None, "REQUIRED_FIELD_MISSING"),
        ("k2", Action.FAILED, None, "INVALID_EMAIL_ADDRESS"),
        ("k3", Action.FAILED, None, "ERROR"),
    ]
    assert results[1].error_message == "Required fields are missing: [Company]"
    assert results[3].error_message


def test_the_daily_limit_on_a_write_leaves_the_rows_not_sent(
    api: respx.MockRouter, adapter: SalesforceAdapter
) -> None:
    limit = error_array("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    creates = api.post(f"{DATA}/composite/sobjects").mock(return_value=httpx.Response(403, json=limit))
    ops = [
        WriteOp(f"k{i}", f"k{i}@example.com", WriteKind.CREATE, {"LastName": "K", "Company": "A"})
        for i in range(3)
    ]

    results = [r for batch in adapter.write(ops) for r in batch]

    assert {(r.action, r.error_code) for r in results} == {(Action.FAILED, NOT_SENT)}
    assert creates.call_count == 1  # a fatal answer is never retried


def soql_of(request: httpx.Request) -> str:
    return parse_qs(urlsplit(str(request.url)).query)["q"][0]


@pytest.mark.parametrize(("object_name", "live_filter"), [("Lead", True), ("Contact", False)])
def test_lookup_sends_chunked_in_queries(api: respx.MockRouter, object_name: str, live_filter: bool) -> None:
    query = api.get(f"{DATA}/query").mock(
        return_value=httpx.Response(200, json={"totalSize": 0, "done": True, "records": []})
    )
    adapter = make(object_name=object_name)
    emails = [f"O'Neil.{i}@Example.com" for i in range(450)]

    assert adapter.lookup(emails, ["LastName"]) == {}
    adapter.close()

    assert query.call_count == 3
    seen: list[str] = []
    for call in query.calls:
        statement = soql_of(call.request)
        parsed = sandbox_soql.parse(statement)
        assert parsed.sobject == object_name
        assert [name for name, _ in parsed.fields] == ["Id", "Email", "LastModifiedDate", "LastName"]
        assert statement.endswith(" AND IsConverted = false") == live_filter
        where = parsed.where
        comparison = where.children[0] if isinstance(where, sandbox_soql.BoolOp) else where
        assert isinstance(comparison, sandbox_soql.Comparison) and comparison.op == "IN"
        assert len(comparison.values) <= 200
        seen += [v.value for v in comparison.values]
    assert sorted(seen) == sorted(e.lower() for e in emails)  # the chunks run in parallel


def test_lookup_follows_next_records_url(api: respx.MockRouter, adapter: SalesforceAdapter) -> None:
    def record(i: int) -> dict[str, Any]:
        return {
            "attributes": {"type": "Lead", "url": f"{DATA}/sobjects/Lead/00Q5e0000000{i:03d}AAA"},
            "Id": f"00Q5e0000000{i:03d}AAA",
            "Email": f"P{i}@example.com",
            "LastModifiedDate": "2026-01-01T00:00:00.000+0000",
        }

    api.get(f"{DATA}/query").mock(
        return_value=httpx.Response(
            200,
            json={
                "totalSize": 3,
                "done": False,
                "nextRecordsUrl": f"{DATA}/query/01g5e00000ABCDE-2",
                "records": [record(0), record(1)],
            },
        )
    )
    api.get(f"{DATA}/query/01g5e00000ABCDE-2").mock(
        return_value=httpx.Response(200, json={"totalSize": 3, "done": True, "records": [record(2)]})
    )

    found = adapter.lookup(["p0@example.com", "p1@example.com", "p2@example.com"], [])

    assert {e: [r.crm_id for r in rs] for e, rs in found.items()} == {
        f"p{i}@example.com": [f"00Q5e0000000{i:03d}AAA"] for i in range(3)
    }
    assert "attributes" not in found["p0@example.com"][0].properties


def test_a_repeated_query_cursor_is_refused_with_our_error(
    api: respx.MockRouter, adapter: SalesforceAdapter
) -> None:
    loop = {"totalSize": 9, "done": False, "nextRecordsUrl": f"{DATA}/query/01g5e00000LOOP0-2", "records": []}
    api.get(f"{DATA}/query").mock(return_value=httpx.Response(200, json=loop))
    more = api.get(f"{DATA}/query/01g5e00000LOOP0-2").mock(return_value=httpx.Response(200, json=loop))

    with pytest.raises(ServerError, match="repeated the query cursor"):
        adapter.lookup(["a@example.com"], [])

    assert more.call_count == 1  # followed once, then refused: no endless loop


@pytest.mark.parametrize(
    ("status", "body", "expected", "calls"),
    [
        (400, error_array("MALFORMED_QUERY", "unexpected token: 'x'"), ValidationError, 1),
        (401, error_array("INVALID_SESSION_ID", "Session expired or invalid"), TokenExpired, 1),
        (
            503,
            error_array("SERVER_UNAVAILABLE", "Server temporarily unavailable."),
            ServerError,
            FAST.attempts,
        ),
    ],
)
def test_lookup_errors_surface_as_ours(
    api: respx.MockRouter,
    adapter: SalesforceAdapter,
    status: int,
    body: list[dict[str, Any]],
    expected: type[CRMError],
    calls: int,
) -> None:
    query = api.get(f"{DATA}/query").mock(return_value=httpx.Response(status, json=body))

    with pytest.raises(expected):
        adapter.lookup(["a@example.com"], [])

    assert query.call_count == calls  # only a server error is worth another attempt


def test_account_reads_userinfo_and_limits(api: respx.MockRouter, adapter: SalesforceAdapter) -> None:
    api.get("/services/oauth2/userinfo").mock(
        return_value=httpx.Response(
            200,
            json={
                "organization_id": "00D5e000000AbCdEAF",
                "user_id": "0055e000001XyZwAAK",
                "preferred_username": "ops@acme.com",
                "name": "Ops",
            },
        )
    )
    api.get(f"{DATA}/limits").mock(
        return_value=httpx.Response(200, json={"DailyApiRequests": {"Max": 15000, "Remaining": 14982}})
    )

    info = adapter.account()

    assert (info.account_id, info.user, info.instance_url) == ("00D5e000000AbCdEAF", "ops@acme.com", INSTANCE)
    assert (info.api_used, info.api_limit, info.api_remaining) == (18, 15000, 14982)
