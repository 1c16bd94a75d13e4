"""Salesforce's wire formats: its error bodies, describe results, the usage header, record links.

Facts and sources: ../shared/crm-api-notes-salesforce.md ("Single records and error envelope",
"Describe", "Versions").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

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
from crm.model import FieldDef

# Winter '27 is v68.0 (notes, "Versions"); a setting per connection, this is the default.
DEFAULT_API_VERSION = "68.0"
LIMIT_HEADER = "Sforce-Limit-Info"
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")

_TYPES = {
    "string": "string",
    "textarea": "textarea",
    "email": "email",
    "phone": "phone",
    "url": "url",
    "picklist": "picklist",
    "multipicklist": "multipicklist",
    "combobox": "string",
    "double": "number",
    "currency": "number",
    "percent": "number",
    "int": "integer",
    "long": "integer",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
    "reference": "reference",
    "id": "id",
}

# errorCode -> exception, for the codes whose status alone does not decide.
_BY_CODE: dict[str, type[CRMError]] = {
    "INVALID_SESSION_ID": TokenExpired,
    "REQUEST_LIMIT_EXCEEDED": LimitExceeded,
    "API_DISABLED_FOR_ORG": ForbiddenError,
    "API_CURRENTLY_DISABLED": ForbiddenError,
    "INSUFFICIENT_ACCESS": ForbiddenError,
    "NOT_FOUND": NotFound,
    "ENTITY_IS_DELETED": NotFound,
}


def first_error(body: Any) -> tuple[str | None, str | None]:
    """(errorCode, message) from an error array, or from an OAuth error object."""
    if isinstance(body, list) and body and isinstance(body[0], Mapping):
        return body[0].get("errorCode"), body[0].get("message")
    if isinstance(body, Mapping):
        return body.get("errorCode") or body.get("error"), body.get("message") or body.get(
            "error_description"
        )
    return None, None


def route_error(response: httpx.Response) -> CRMError:
    """Salesforce's error array → our exception, by errorCode first, then by status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    code, message = first_error(body)
    status = response.status_code
    message = message or response.reason_phrase or f"HTTP {status}"
    kw: dict[str, Any] = {
        "code": code,
        "status": status,
        "url": str(response.url.path),
        "body": snippet(response),
    }
    if code in _BY_CODE:
        return _BY_CODE[code](f"Salesforce: {message}", **kw)
    if status == 401:
        return AuthError(f"Salesforce refused the session: {message}", **kw)
    if status == 403:
        return ForbiddenError(f"Salesforce denied access: {message}", **kw)
    if status == 404:
        return NotFound(message, **kw)
    if status == 429:
        header = response.headers.get("Retry-After", "")
        return RateLimited(message, retry_after=float(header) if header.isdigit() else 5.0, **kw)
    if status >= 500:
        return ServerError(f"Salesforce had a server error ({status}): {message}", **kw)
    if 400 <= status < 500:
        return ValidationError(message, **kw)
    return FatalError(message, **kw)


def to_field_def(f: Mapping[str, Any]) -> FieldDef:
    """One describe field. Required on create: not nillable, createable, not defaulted (notes)."""
    vendor = f.get("type", "")
    kind = _TYPES.get(vendor, "other")
    createable, updateable = bool(f.get("createable")), bool(f.get("updateable"))
    length = f.get("length") or None
    options = tuple(p["value"] for p in f.get("picklistValues") or [] if p.get("active", True))
    return FieldDef(
        name=f["name"],
        label=f.get("label") or f["name"],
        type=kind,
        required=not f.get("nillable", True) and createable and not f.get("defaultedOnCreate", False),
        read_only=not (createable or updateable),
        max_length=length if kind in ("string", "textarea", "email", "phone", "url") else None,
        options=options,
        unique=bool(f.get("unique")),
        restricted=bool(f.get("restrictedPicklist")),
        vendor_type=vendor,
    )


def parse_usage(header: str | None) -> dict[str, int] | None:
    """``api-usage=18/15000`` → {"used": 18, "limit": 15000}."""
    m = _USAGE.search(header or "")
    return {"used": int(m.group(1)), "limit": int(m.group(2))} if m else None


def lightning_url(instance_url: str, object_name: str, crm_id: str) -> str:
    """The Lightning record page: ``https://acme.my.salesforce.com`` → ``https://acme.lightning.force.com``."""
    parts = urlsplit(instance_url)
    host = parts.netloc
    if host.endswith(".my.salesforce.com"):
        host = host[: -len(".my.salesforce.com")] + ".lightning.force.com"
    return f"{parts.scheme or 'https'}://{host}/lightning/r/{object_name}/{crm_id}/view"
