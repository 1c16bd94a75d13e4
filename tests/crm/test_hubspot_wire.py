"""HubSpot's wire formats: the error table and property definitions and values, as ``crm.hubspot_wire``
reads and writes them. The requests the adapter sends are in test_hubspot_wire_requests.py.

Bodies are the ones the API notes (../shared/crm-api-notes-hubspot.md) quote from HubSpot.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from crm.errors import (
    AuthError,
    CRMError,
    FatalError,
    ForbiddenError,
    LimitExceeded,
    NotFound,
    RateLimited,
    ServerError,
    TokenExpired,
    ValidationError,
)
from crm.http import StaticToken
from crm.hubspot import API_BASE, CONTACTS
from crm.hubspot_wire import property_error, route_error, to_field_def, wire
from tests.crm.hubspot_wire_support import MISSING_SCOPES, TOKEN, definition, envelope, rate_limit

UPSERT = f"{API_BASE}{CONTACTS}/batch/upsert"


def hubspot_response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("POST", UPSERT)
    if body is None:
        return httpx.Response(status, request=request, headers=headers)
    if isinstance(body, str):
        return httpx.Response(status, text=body, request=request, headers=headers)
    return httpx.Response(status, json=body, request=request, headers=headers)


VALIDATION_MESSAGE = 'Property values were not valid: [{"isValid":false,"message":"Email address x is invalid","error":"INVALID_EMAIL","name":"email"},{"isValid":false,"message":"Property \\"foo\\" does not exist","error":"PROPERTY_DOESNT_EXIST","name":"foo"}]'  # noqa: E501


# ----- the error table --------------------------------------------------------------------------------
ERRORS = [
    pytest.param(
        401,
        envelope(
            "INVALID_AUTHENTICATION", "Authentication credentials not found. This API supports OAuth 2.0"
        ),
        AuthError,
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found",
        id="401-invalid",
    ),
    pytest.param(
        401,
        envelope("EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired 3 minute(s) ago."),
        TokenExpired,
        "EXPIRED_AUTHENTICATION",
        "expired 3 minute(s) ago",
        id="401-expired",
    ),
    pytest.param(
        403, MISSING_SCOPES, ForbiddenError, "MISSING_SCOPES", "crm.objects.contacts.write", id="403-scopes"
    ),
    pytest.param(
        404,
        envelope("OBJECT_NOT_FOUND", "resource not found"),
        NotFound,
        "OBJECT_NOT_FOUND",
        "resource not found",
        id="404",
    ),
    pytest.param(
        409,
        {
            "status": "error",
            "message": "Contact already exists. Existing ID: 151",
            "correlationId": str(uuid.uuid4()),
            "category": "CONFLICT",
        },
        ValidationError,
        "CONFLICT",
        "Existing ID: 151",
        id="409-conflict",
    ),
    pytest.param(
        400,
        envelope("VALIDATION_ERROR", VALIDATION_MESSAGE),
        ValidationError,
        "VALIDATION_ERROR",
        "Property values were not valid",
        id="400-validation",
    ),
    pytest.param(
        400,
        envelope(
            "VALIDATION_ERROR",
            VALIDATION_MESSAGE,
            errors=[{"message": "Email address x is invalid", "code": "INVALID_EMAIL"}],
        ),
        ValidationError,
        "INVALID_EMAIL",
        "Property values were not valid",
        id="400-validation-detailed",
    ),
    pytest.param(
        429,
        rate_limit("DAILY", "You have reached your daily limit."),
        LimitExceeded,
        "RATE_LIMIT",
        "daily limit",
        id="429-daily",
    ),
    pytest.param(
        500,
        envelope("INTERNAL_ERROR", "internal error"),
        ServerError,
        "INTERNAL_ERROR",
        "server error (500)",
        id="500",
    ),
    pytest.param(502, "<html>Bad Gateway</html>", ServerError, None, "server error (502)", id="502-html"),
    pytest.param(503, None, ServerError, None, "Service Unavailable", id="503-empty"),
    pytest.param(405, None, FatalError, None, "Method Not Allowed", id="405-other"),
]


@pytest.mark.parametrize(("status", "body", "kind", "code", "says"), ERRORS)
def test_route_error_maps_hubspots_bodies(
    status: int, body: Any, kind: type[CRMError], code: str | None, says: str
) -> None:
    error = route_error(hubspot_response(status, body))

    assert type(error) is kind
    assert (error.status, error.code) == (status, code)
    assert says in error.message
    assert error.url == f"{CONTACTS}/batch/upsert"


@pytest.mark.parametrize(
    ("status", "body", "headers", "wait"),
    [
        pytest.param(
            429,
            rate_limit("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit."),
            None,
            10.0,
            id="ten-secondly",
        ),
        pytest.param(
            429,
            rate_limit("SECONDLY", "You have reached your secondly limit."),
            None,
            1.0,
            id="search-secondly",
        ),
        pytest.param(
            429,
            {"status": "error", "message": "You have reached your secondly limit."},
            None,
            1.0,
            id="search-no-policy",
        ),
        pytest.param(
            429,
            rate_limit("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit."),
            {"Retry-After": "3"},
            3.0,
            id="retry-after",
        ),
        pytest.param(423, envelope("LOCKED", "Locked"), None, 2.0, id="423-locked"),
    ],
)
def test_throttling_answers_say_how_long_to_wait(
    status: int, body: dict[str, Any], headers: dict[str, str] | None, wait: float
) -> None:
    error = route_error(hubspot_response(status, body, headers))

    assert isinstance(error, RateLimited)
    assert error.retry_after == wait


def test_missing_scopes_are_named_in_the_message() -> None:
    error = route_error(hubspot_response(403, MISSING_SCOPES))

    assert error.message.endswith("Missing scopes: crm.objects.contacts.write.")


def test_error_bodies_are_kept_redacted() -> None:
    body = envelope("INVALID_AUTHENTICATION", f"token {TOKEN} is not valid")
    StaticToken(TOKEN)  # registers the secret, as every adapter's token source does

    error = route_error(hubspot_response(401, body))

    assert error.body and TOKEN not in error.body
    assert "INVALID_AUTHENTICATION" in error.body


@pytest.mark.parametrize(
    ("message", "code", "reason"),
    [
        (VALIDATION_MESSAGE, "INVALID_EMAIL", "Email address x is invalid"),
        (
            'Property values were not valid: [{"isValid":false,"message":"Lead? was not one of the allowed '
            'options: [subscriber, lead]","error":"INVALID_OPTION","name":"lifecyclestage"}]',
            "INVALID_OPTION",
            "Lead? was not one of the allowed options: [subscriber, lead]",
        ),
        ("Contact already exists. Existing ID: 151", "CONFLICT", "Contact already exists. Existing ID: 151"),
        (
            "Property values were not valid: [not json",
            "VALIDATION_ERROR",
            "Property values were not valid: [not json",
        ),
    ],
)
def test_property_error_extracts_the_first_problem(message: str, code: str, reason: str) -> None:
    fallback = "CONFLICT" if "already exists" in message else "VALIDATION_ERROR"

    assert property_error(message, fallback) == (code, reason)


# ----- property definitions and values ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "kind", "read_only", "restricted"),
    [
        ({"type": "string", "fieldType": "textarea"}, "textarea", False, False),
        ({"type": "number", "fieldType": "number"}, "number", False, False),
        ({"type": "bool", "fieldType": "booleancheckbox"}, "boolean", False, False),
        ({"type": "date", "fieldType": "date"}, "date", False, False),
        ({"type": "phone_number", "fieldType": "phonenumber"}, "phone", False, False),
        ({"type": "enumeration", "fieldType": "select"}, "picklist", False, True),
        ({"type": "enumeration", "fieldType": "checkbox"}, "multipicklist", False, True),
        ({"type": "enumeration", "fieldType": "select", "externalOptions": True}, "picklist", False, False),
        ({"type": "number", "fieldType": "calculation_equation", "calculated": True}, "number", True, False),
        (
            {
                "modificationMetadata": {
                    "readOnlyValue": True,
                    "readOnlyDefinition": True,
                    "archivable": False,
                }
            },
            "string",
            True,
            False,
        ),
        ({"type": "object_coordinates", "fieldType": "text"}, "other", False, False),
        ({"name": "email"}, "email", False, False),
    ],
)
def test_property_definitions_become_field_defs(
    overrides: dict[str, Any], kind: str, read_only: bool, restricted: bool
) -> None:
    field = to_field_def(definition(**overrides))

    assert (field.type, field.read_only, field.restricted) == (kind, read_only, restricted)
    assert field.vendor_type == f"{overrides.get('type', 'string')}/{overrides.get('fieldType', 'text')}"


def test_hidden_options_are_not_offered() -> None:
    options = [
        {"label": "Lead", "value": "lead", "displayOrder": 1, "hidden": False},
        {"label": "Old", "value": "legacy", "displayOrder": 2, "hidden": True},
        {"label": "Customer", "value": "customer", "displayOrder": 3, "hidden": False},
    ]
    field = to_field_def(
        definition(type="enumeration", fieldType="radio", options=options, hasUniqueValue=True)
    )

    assert field.options == ("lead", "customer")
    assert field.unique and not field.required


@pytest.mark.parametrize(
    ("value", "sent"),
    [("Ann", "Ann"), (42, "42"), (3.0, "3"), (2.5, "2.5"), (True, "true"), (False, "false"), (None, "")],
)
def test_values_travel_as_strings(value: Any, sent: str) -> None:
    assert wire(value) == sent
