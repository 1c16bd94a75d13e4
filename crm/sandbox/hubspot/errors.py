"""HubSpot's error bodies, built in one place so every route answers in the vendor's own shape.

Sources for the shapes (checked 2026):

* validation (400) and missing scopes (403): the "Using object APIs" guide's error-handling section,
  developers.hubspot.com/docs/api-reference/latest/crm/using-object-apis;
* 409 "Contact already exists. Existing ID: N": hubspot-api-nodejs#545 (a real 156-byte body with only
  status, message, correlationId and category), hubspot-api-python#51;
* 401 texts: hubspot-api-ruby#181 and the notes; the ``x-hubspot-auth-failure`` header is in #181's dump;
* 429: the notes; the secondly variant's body (``policyName: SECONDLY``) from HGData/mk-node-hubspot#84;
* OAuth ``{"status": "BAD_REFRESH_TOKEN", "message": "missing or invalid refresh token", ...}``: nango.dev's
  write-up and HubSpot/oauth-quickstart-nodejs#16/#17; the other BAD_* statuses follow that pattern.

Each body carries a fresh ``correlationId``, echoed in the ``x-hubspot-correlation-id`` header.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from crm.sandbox.core import Response

CORRELATION_HEADER = "x-hubspot-correlation-id"

# Source: hubspot-api-ruby#181 (a real 401 body), repeated by the notes.
INVALID_AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
    "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
# Source: the object APIs guide's 403 example.
MISSING_SCOPES_MESSAGE = (
    "This app hasn't been granted all required scopes to make this call. Read more about required scopes "
    "here: https://developers.hubspot.com/scopes."
)
SCOPES_LINK = "https://developers.hubspot.com/scopes"
# Source: the 207 example of batch/read in the public contacts spec and many client bug reports.
NOT_FOUND_BATCH_MESSAGE = (
    "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid."
)


def correlation_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class PropertyFailure:
    """One rejected property value, as HubSpot's PropertyValidationResult describes it."""

    name: str
    error: str  # PROPERTY_DOESNT_EXIST, INVALID_EMAIL, INVALID_OPTION, READ_ONLY_VALUE, INVALID_LONG …
    message: str


class HubSpotError(Exception):
    """Raised by handlers; the route wrapper turns it into the vendor's answer."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body
        self.headers = headers or {}

    def response(self) -> Response:
        headers = dict(self.headers)
        if "correlationId" in self.body:
            headers[CORRELATION_HEADER] = str(self.body["correlationId"])
        return Response.json(self.status, self.body, headers)


def envelope(
    status: int,
    category: str,
    message: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    context: dict[str, list[str]] | None = None,
    links: dict[str, str] | None = None,
) -> HubSpotError:
    """The standard ``{"status":"error", ...}`` body; optional parts only when HubSpot sends them."""
    body: dict[str, Any] = {"status": "error", "message": message, "correlationId": correlation_id()}
    if errors is not None:
        body["errors"] = errors
    if context is not None:
        body["context"] = context
    if links is not None:
        body["links"] = links
    body["category"] = category
    return HubSpotError(status, body)


def bad_request(message: str, context: dict[str, list[str]] | None = None) -> HubSpotError:
    return envelope(400, "VALIDATION_ERROR", message, context=context)


def not_found(message: str) -> HubSpotError:
    return envelope(404, "OBJECT_NOT_FOUND", message)


def failures_message(failures: list[PropertyFailure], portal_id: int) -> str:
    """HubSpot lists the failures as compact JSON inside the message (object APIs guide)."""
    items = [
        {
            "isValid": False,
            "message": f.message,
            "error": f.error,
            "name": f.name,
            "localizedErrorMessage": f.message,
            "portalId": portal_id,
        }
        for f in failures
    ]
    return "Property values were not valid: " + json.dumps(items, separators=(",", ":"))


def failure_details(failures: list[PropertyFailure]) -> list[dict[str, Any]]:
    return [{"message": f.message, "code": f.error, "context": {"propertyName": [f.name]}} for f in failures]


def validation_failed(failures: list[PropertyFailure], portal_id: int) -> HubSpotError:
    return envelope(
        400,
        "VALIDATION_ERROR",
        failures_message(failures, portal_id),
        errors=failure_details(failures),
    )


def conflict_message(existing_id: str) -> str:
    return f"Contact already exists. Existing ID: {existing_id}"


def contact_conflict(existing_id: str) -> HubSpotError:
    """The real 409 carries exactly four fields (hubspot-api-nodejs#545)."""
    return envelope(409, "CONFLICT", conflict_message(existing_id))


def duplicate_ids(ids: list[str]) -> HubSpotError:
    """Source: a captured HubSpot 400 in rudderlabs/rudder-transformer's HubSpot test data."""
    shown = ", ".join(ids)
    return bad_request(f"Duplicate IDs found in batch input: [{shown}]. IDs must be unique", {"ids": ids})


def missing_scopes(required: list[str]) -> HubSpotError:
    return envelope(
        403,
        "MISSING_SCOPES",
        MISSING_SCOPES_MESSAGE,
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": list(required)},
            }
        ],
        links={"scopes": SCOPES_LINK},
    )


def unauthorized(expired_seconds: int | None) -> Response:
    if expired_seconds is None:
        error = envelope(401, "INVALID_AUTHENTICATION", INVALID_AUTH_MESSAGE)
    else:
        message = f"The OAuth token used to make this call expired {expired_seconds} second(s) ago."
        error = envelope(401, "EXPIRED_AUTHENTICATION", message)
    error.headers["x-hubspot-auth-failure"] = "401 Unauthorized"
    return error.response()


def rate_limited(message: str, policy: str, group: str) -> HubSpotError:
    """429 bodies carry ``errorType`` and ``policyName`` instead of a category (notes; mk-node-hubspot#84)."""
    body = {
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy,
        "groupName": group,
    }
    return HubSpotError(429, body)


_SERVER_MESSAGES = {500: "internal error", 502: "Bad Gateway", 503: "Service Unavailable"}


def server_error(status: int) -> Response:
    message = _SERVER_MESSAGES.get(status, "internal error")
    return envelope(status, "INTERNAL_ERROR", message).response()


def oauth_error(status: str, message: str, http_status: int = 400) -> Response:
    """The OAuth endpoints answer in their own older shape: ``status`` holds the error code."""
    body = {"status": status, "message": message, "correlationId": correlation_id()}
    return HubSpotError(http_status, body).response()


def batch_error(
    category: str,
    message: str,
    context: dict[str, list[str]],
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One entry of a 207's ``errors``; the client's StandardError requires ``errors`` and ``links``."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": errors or [],
        "links": {},
    }
