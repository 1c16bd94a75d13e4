"""HubSpot's wire formats: its error envelope, property definitions and property values.

Kept apart from the adapter so the one status/category → exception table is easy to find and test.
Facts and sources: ../shared/crm-api-notes-hubspot.md ("Error envelope", "Properties").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

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
from crm.http import snippet
from crm.model import FieldDef, Value

RATE_WINDOW = 10.0  # seconds, TEN_SECONDLY_ROLLING

_TYPES = {
    "string": "string",
    "number": "number",
    "date": "date",
    "datetime": "datetime",
    "enumeration": "picklist",
    "bool": "boolean",
    "phone_number": "phone",
}


def route_error(response: httpx.Response) -> CRMError:
    """HubSpot's error envelope → our exception, through one table of status and category."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    category = body.get("category") or body.get("errorType")
    errors = body.get("errors") or []
    code = (errors[0].get("code") if errors and isinstance(errors[0], dict) else None) or category
    message = body.get("message") or response.reason_phrase or f"HTTP {response.status_code}"
    kw: dict[str, Any] = {
        "code": code,
        "status": response.status_code,
        "url": str(response.url.path),
        "body": snippet(response),
    }
    status = response.status_code
    if status == 401:
        cls = TokenExpired if category == "EXPIRED_AUTHENTICATION" else AuthError
        return cls(f"HubSpot refused the token: {message}", **kw)
    if status == 403:
        scopes = _required_scopes(errors)
        extra = f" Missing scopes: {', '.join(scopes)}." if scopes else ""
        return ForbiddenError(f"HubSpot denied access: {message}{extra}", **kw)
    if status == 404:
        return NotFound(message, **kw)
    if status == 429:
        if body.get("policyName") == "DAILY":
            return LimitExceeded(message, **kw)
        header = response.headers.get("Retry-After")
        if header and header.replace(".", "", 1).isdigit():
            wait = float(header)
        elif body.get("policyName") == "SECONDLY" or "your secondly limit" in message:
            wait = 1.0  # the search API's own per-second limit ("ten_secondly_rolling" is not it)
        else:
            wait = RATE_WINDOW
        return RateLimited(message, retry_after=wait, **kw)
    if status == 423:
        return RateLimited(message, retry_after=2.0, **kw)  # "wait at least 2 s, then retry"
    if status >= 500:
        return ServerError(f"HubSpot had a server error ({status}): {message}", **kw)
    if status in (400, 409, 422):
        return ValidationError(message, **kw)
    return FatalError(message, **kw)


def _required_scopes(errors: list[Any]) -> list[str]:
    for err in errors:
        ctx = err.get("context", {}) if isinstance(err, dict) else {}
        if ctx.get("requiredGranularScopes"):
            return list(ctx["requiredGranularScopes"])
    return []


def wire(value: Value) -> str:
    """HubSpot property values travel as strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def to_field_def(p: Mapping[str, Any]) -> FieldDef:
    meta = p.get("modificationMetadata") or {}
    kind = _TYPES.get(p.get("type", ""), "other")
    if kind == "string" and p.get("fieldType") == "textarea":
        kind = "textarea"
    if kind == "picklist" and p.get("fieldType") == "checkbox":
        kind = "multipicklist"
    if p.get("name") == "email":
        kind = "email"  # HubSpot checks email syntax on this property
    options = tuple(o.get("value", "") for o in p.get("options") or [] if not o.get("hidden"))
    return FieldDef(
        name=p["name"],
        label=p.get("label") or p["name"],
        type=kind,
        required=False,  # HubSpot enforces no required properties on contacts through the API
        read_only=bool(meta.get("readOnlyValue") or p.get("calculated")),
        options=options,
        unique=bool(p.get("hasUniqueValue")) or p.get("name") == "email",
        restricted=kind in ("picklist", "multipicklist") and not p.get("externalOptions"),
        vendor_type=f"{p.get('type')}/{p.get('fieldType')}",
    )


def property_error(text: str, fallback: str = "VALIDATION_ERROR") -> tuple[str, str]:
    """The first per-property problem inside HubSpot's VALIDATION_ERROR message, in plain words.

    HubSpot lists them as JSON: ``Property values were not valid: [{"isValid":false,"message":"Email
    address x is invalid","error":"INVALID_EMAIL","name":"email"}]``.
    """
    start = text.find("[")
    if start >= 0:
        try:
            items = json.loads(text[start:])
        except ValueError:
            items = None
        if items and isinstance(items, list) and isinstance(items[0], dict) and items[0].get("error"):
            first = items[0]
            return str(first["error"]), str(first.get("message") or text)
    return fallback, text
