"""Salesforce's wire formats: the error table, the usage header, record links and the Bulk API's
``sf__Error`` cells. The requests the adapter sends are in test_salesforce_wire_requests.py.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

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
from crm.salesforce_bulk import parse_bulk_error
from crm.salesforce_wire import lightning_url, parse_usage, route_error
from tests.crm.salesforce_wire_support import DATA, INSTANCE, error_array, make


def sf_response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("GET", f"{INSTANCE}{DATA}/query")
    if isinstance(body, str):
        return httpx.Response(status, text=body, request=request, headers=headers)
    return httpx.Response(status, json=body, request=request, headers=headers)


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
