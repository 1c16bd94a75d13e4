"""Salesforce's wire formats, checked with respx on a fake ``https://acme.my.salesforce.com``: the error
table, the sObject Collections request shape, SOQL paging, the usage header, record links and the Bulk
API's ``sf__Error`` cells. respx intercepts every call; nothing leaves the machine.
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
from hypothesis import given
from hypothesis import strategies as st

from crm.batching import NOT_SENT
from crm.errors import (
    AuthError,
    CRMError,
    FatalError,
    ForbiddenError,
    LimitExceeded,
    NotFound,
    RateLimited,
    RetriableError,
    ServerError,
    TokenExpired,
    ValidationError,
)
from crm.http import RetryPolicy, StaticToken
from crm.model import Action, WriteKind, WriteOp
from crm.salesforce import SalesforceAdapter
from crm.salesforce_bulk import parse_bulk_error
from crm.salesforce_wire import DEFAULT_API_VERSION, lightning_url, parse_usage, route_error
from crm.sandbox.salesforce import soql as sandbox_soql

INSTANCE = "https://acme.my.salesforce.com"
DATA = f"/services/data/v{DEFAULT_API_VERSION}"
TOKEN = "00D5e000000AbCd!AQ0AQFakeSessionForTests"
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01, timeout=5.0)
DESCRIBE_DIR = Path(__file__).resolve().parents[2] / "crm" / "sandbox" / "salesforce" / "describe"


def describe(object_name: str) -> dict[str, Any]:
    return json.loads((DESCRIBE_DIR / f"describe_{object_name}.json").read_text())


def sf_response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("GET", f"{INSTANCE}{DATA}/query")
    if isinstance(body, str):
        return httpx.Response(status, text=body, request=request, headers=headers)
    return httpx.Response(status, json=body, request=request, headers=headers)


def error_array(code: str, message: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    return [{"message": message, "errorCode": code, **({"fields": fields} if fields is not None else {})}]


# ----- the error table -------------------------------------------------------------------------------
ERRORS = [
    pytest.param(
        401, error_array("INVALID_SESSION_ID", "Session expired or invalid"), TokenExpired, id="session"
    ),
    pytest.param(
        403, error_array("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."), LimitExceeded, id="limit"
    ),
    pytest.param(
        403,
        error_array("API_DISABLED_FOR_ORG", "The REST API is not enabled for this Organization."),
        ForbiddenError,
        id="api-disabled",
    ),
    pytest.param(
        403, error_array("INSUFFICIENT_ACCESS", "insufficient access rights"), ForbiddenError, id="access"
    ),
    pytest.param(404, error_array("NOT_FOUND", "The requested resource does not exist"), NotFound, id="404"),
    pytest.param(404, error_array("ENTITY_IS_DELETED", "entity is deleted", []), NotFound, id="deleted"),
    pytest.param(
        400, error_array("MALFORMED_QUERY", "unexpected token: 'x'"), ValidationError, id="malformed"
    ),
    pytest.param(
        400,
        error_array("INVALID_FIELD", "No such column 'Foo' on entity 'Lead'"),
        ValidationError,
        id="invalid-field",
    ),
    pytest.param(
        400,
        error_array(
            "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName, Company]", ["LastName"]
        ),
        ValidationError,
        id="required",
    ),
    pytest.param(
        400,
        error_array("INVALID_EMAIL_ADDRESS", "Email: invalid email address: not an email", ["Email"]),
        ValidationError,
        id="email",
    ),
    pytest.param(
        400,
        error_array("STRING_TOO_LONG", "Company: data value too large: x (max length=255)", ["Company"]),
        ValidationError,
        id="too-long",
    ),
    pytest.param(
        400,
        error_array("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Rating: bad value for restricted picklist"),
        ValidationError,
        id="picklist",
    ),
    pytest.param(
        400,
        error_array("DUPLICATES_DETECTED", "You're creating a duplicate record."),
        ValidationError,
        id="duplicates",
    ),
    pytest.param(
        400,
        error_array("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead"),
        ValidationError,
        id="converted",
    ),
    pytest.param(
        500,
        error_array("UNKNOWN_EXCEPTION", "An unexpected error occurred. ErrorId: 1961500000-73000"),
        ServerError,
        id="500",
    ),
    pytest.param(
        503,
        error_array("SERVER_UNAVAILABLE", "Server temporarily unavailable. Please try again later."),
        ServerError,
        id="503",
    ),
]


@pytest.mark.parametrize(("status", "body", "expected"), ERRORS)
def test_route_error_maps_every_documented_error_body(
    status: int, body: list[dict[str, Any]], expected: type[CRMError]
) -> None:
    error = route_error(sf_response(status, body))

    assert type(error) is expected
    assert (error.code, error.status, error.url) == (body[0]["errorCode"], status, f"{DATA}/query")
    assert body[0]["message"] in error.message
    assert body[0]["errorCode"] in (error.body or "")
    assert isinstance(error, RetriableError) == (status >= 500)
    assert isinstance(error, FatalError) == (status < 500)


def test_route_error_falls_back_on_the_status() -> None:
    html = route_error(sf_response(502, "<html><body>Bad Gateway</body></html>"))
    assert type(html) is ServerError and html.code is None and "502" in html.message

    no_code = route_error(sf_response(401, ""))
    assert type(no_code) is AuthError  # an unexplained 401 is no reason to refresh

    throttled = route_error(sf_response(429, "", headers={"Retry-After": "7"}))
    assert isinstance(throttled, RateLimited) and throttled.retry_after == 7.0

    oauth = route_error(
        sf_response(400, {"error": "invalid_grant", "error_description": "expired access/refresh token"})
    )
    assert type(oauth) is ValidationError
    assert (oauth.code, oauth.message) == ("invalid_grant", "expired access/refresh token")

    unknown = route_error(sf_response(403, error_array("SOMETHING_NEW", "No.")))
    assert type(unknown) is ForbiddenError


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


def make(**kwargs: Any) -> SalesforceAdapter:
    settings: dict[str, Any] = {"bulk_threshold": None, "retry": FAST, **kwargs}
    return SalesforceAdapter(StaticToken(TOKEN), INSTANCE + "/", **settings)


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


# ----- small formats --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "usage"),
    [
        ("api-usage=18/15000", {"used": 18, "limit": 15000}),
        (
            "api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)",
            {"used": 25, "limit": 5000},
        ),
        ("api-usage=0/100000", {"used": 0, "limit": 100000}),
        ("", None),
        (None, None),
        ("api-usage=lots", None),
    ],
)
def test_parse_usage(header: str | None, usage: dict[str, int] | None) -> None:
    assert parse_usage(header) == usage


@pytest.mark.parametrize(
    ("instance", "url"),
    [
        (
            "https://acme.my.salesforce.com",
            "https://acme.lightning.force.com/lightning/r/Lead/00Q5e000000001AAA/view",
        ),
        (
            "https://acme.my.salesforce.com/",
            "https://acme.lightning.force.com/lightning/r/Lead/00Q5e000000001AAA/view",
        ),
        (
            "https://acme--uat.sandbox.my.salesforce.com",
            "https://acme--uat.sandbox.lightning.force.com/lightning/r/Lead/00Q5e000000001AAA/view",
        ),
        (
            "https://na139.salesforce.com",
            "https://na139.salesforce.com/lightning/r/Lead/00Q5e000000001AAA/view",
        ),
    ],
)
def test_lightning_url(instance: str, url: str) -> None:
    assert lightning_url(instance, "Lead", "00Q5e000000001AAA") == url


def test_record_url_uses_the_adapter_object() -> None:
    adapter = make(object_name="Contact")
    assert adapter.record_url("0035e000000001AAA") == (
        "https://acme.lightning.force.com/lightning/r/Contact/0035e000000001AAA/view"
    )
    adapter.close()


@pytest.mark.parametrize(
    ("cell", "code", "message"),
    [
        (
            "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --",
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [LastName]",
        ),
        (
            "STRING_TOO_LONG:Company: data value too large: Acme (max length=255):Company --",
            "STRING_TOO_LONG",
            "Company: data value too large: Acme (max length=255)",
        ),
        (
            "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName, Company]:LastName,Company --",
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [LastName, Company]",
        ),
        ("ENTITY_IS_DELETED:entity is deleted:--", "ENTITY_IS_DELETED", "entity is deleted"),
        (
            "INVALID_FIELD_FOR_INSERT_UPDATE:Unable to create/update fields: Name. Please check it.:Name --",
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "Unable to create/update fields: Name. Please check it.",
        ),
        ("", "BULK_ERROR", ""),
    ],
)
def test_parse_bulk_error(cell: str, code: str, message: str) -> None:
    assert parse_bulk_error(cell) == (code, message)


@given(
    code=st.from_regex(r"[A-Z][A-Z_]{2,40}", fullmatch=True),
    message=st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=80).filter(
        lambda m: m.strip() != ""
    ),
    fields=st.lists(st.from_regex(r"[A-Z][A-Za-z]{1,20}", fullmatch=True), max_size=3),
)
def test_parse_bulk_error_reads_any_sandbox_cell(code: str, message: str, fields: list[str]) -> None:
    names = ",".join(fields)
    cell = f"{code}:{message}:{names + ' ' if names else ''}--"  # the sandbox's SaveError.bulk()

    assert parse_bulk_error(cell) == (code, message.strip())
