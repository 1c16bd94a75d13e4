"""The portal's contact property definitions and the checks HubSpot runs on every written value.

Error codes and messages (``Property values were not valid: [...]``):

* ``PROPERTY_DOESNT_EXIST`` — 'Property "x" does not exist' (object APIs guide, verbatim);
* ``INVALID_EMAIL`` — "Email address x is invalid" (notes);
* ``INVALID_OPTION`` — "x was not one of the allowed options: [a, b, …]" (captured bodies quoted in
  public HubSpot integrations);
* ``READ_ONLY_VALUE`` — for ``modificationMetadata.readOnlyValue`` properties (notes);
* ``INVALID_LONG`` — "x was not a valid long." for a number property. The notes say ``INVALID_INTEGER``;
  the only captured HubSpot body found (hull-connectors' HubSpot fixtures) says ``INVALID_LONG``, so that
  is what the sandbox sends;
* ``INVALID_DATE`` for date and datetime values, ``INVALID_BOOLEAN`` for bool ones (not verified).

Enumeration values match an option's value or label case-insensitively (the guide's own example writes
``"lifecyclestage": "Customer"``) and are stored as the option's value. Emails are stored lower-case.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from crm.sandbox.hubspot.errors import PropertyFailure, bad_request, envelope, validation_failed
from crm.sandbox.hubspot.properties import (
    FIELD_TYPES_BY_TYPE,
    options_payload,
    standard_definitions,
)

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
REQUIRED_CREATE_FIELDS = ("name", "label", "type", "fieldType", "groupName")


def iso(moment: datetime) -> str:
    """HubSpot's timestamp format: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def utc_now() -> str:
    return iso(datetime.now(UTC))


def as_text(value: Any) -> str | None:
    """JSON values arrive as strings, numbers or booleans; HubSpot stores them all as strings."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class PropertyRegistry:
    """Standard plus custom contact properties of the sandbox portal."""

    def __init__(self) -> None:
        self.definitions: dict[str, dict[str, Any]] = standard_definitions()

    def get(self, name: str) -> dict[str, Any] | None:
        return self.definitions.get(name)

    def all(self) -> list[dict[str, Any]]:
        return list(self.definitions.values())

    def custom_names(self) -> list[str]:
        return [n for n, d in self.definitions.items() if not d.get("hubspotDefined")]

    def is_unique(self, name: str) -> bool:
        d = self.definitions.get(name)
        return bool(d and d.get("hasUniqueValue"))

    # ----- writing values ---------------------------------------------------------------------------
    def validate(self, values: Any) -> tuple[dict[str, str | None], list[PropertyFailure]]:
        """Normalise ``values``; None means "clear the property"."""
        if not isinstance(values, dict):
            raise bad_request("Invalid input JSON: properties must be an object")
        clean: dict[str, str | None] = {}
        failures: list[PropertyFailure] = []
        for name, raw in values.items():
            failure, value = self._check(str(name), as_text(raw))
            if failure:
                failures.append(failure)
            else:
                clean[str(name)] = value
        return clean, failures

    def _check(self, name: str, value: str | None) -> tuple[PropertyFailure | None, str | None]:
        d = self.definitions.get(name)
        if d is None:
            return PropertyFailure(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'), None
        if d["modificationMetadata"]["readOnlyValue"]:
            msg = f'"{name}" is a read only property; its value cannot be set.'
            return PropertyFailure(name, "READ_ONLY_VALUE", msg), None
        if value is None or value == "":
            return None, None
        kind = d["type"]
        if name == "email":
            if not EMAIL_RE.match(value.strip()):
                return PropertyFailure(name, "INVALID_EMAIL", f"Email address {value} is invalid"), None
            return None, value.strip().lower()
        if kind == "number":
            if not NUMBER_RE.match(value.strip()):
                return PropertyFailure(name, "INVALID_LONG", f"{value} was not a valid long."), None
            return None, value.strip()
        if kind == "enumeration":
            return self._check_option(d, value)
        if kind == "bool":
            if value.lower() not in ("true", "false"):
                return PropertyFailure(name, "INVALID_BOOLEAN", f"{value} was not a valid boolean."), None
            return None, value.lower()
        if kind in ("date", "datetime"):
            parsed = parse_date(value, with_time=kind == "datetime")
            if parsed is None:
                return PropertyFailure(name, "INVALID_DATE", f"{value} was not a valid date."), None
            return None, parsed
        return None, value

    @staticmethod
    def _check_option(d: dict[str, Any], value: str) -> tuple[PropertyFailure | None, str | None]:
        if d.get("externalOptions"):  # e.g. hubspot_owner_id: a user id
            if value.strip().isdigit():
                return None, value.strip()
            allowed = "[]"
            return PropertyFailure(
                d["name"], "INVALID_OPTION", f"{value} was not one of the allowed options: {allowed}"
            ), None
        by_key: dict[str, str] = {}
        for opt in d["options"]:
            by_key.setdefault(opt["value"].lower(), opt["value"])
            by_key.setdefault(opt["label"].lower(), opt["value"])
        parts = value.split(";") if d["fieldType"] == "checkbox" else [value]
        chosen: list[str] = []
        for part in parts:
            match = by_key.get(part.strip().lower())
            if match is None:
                allowed = "[" + ", ".join(o["value"] for o in d["options"]) + "]"
                return PropertyFailure(
                    d["name"], "INVALID_OPTION", f"{part} was not one of the allowed options: {allowed}"
                ), None
            chosen.append(match)
        return None, ";".join(chosen)

    # ----- defining properties ------------------------------------------------------------------------
    def create(self, payload: Any, now: str) -> dict[str, Any]:
        """``POST /crm/v3/properties/contacts``: checks, then stores a custom property."""
        if not isinstance(payload, dict):
            raise bad_request("Invalid input JSON: expected an object")
        missing = [f for f in REQUIRED_CREATE_FIELDS if not payload.get(f)]
        if missing:
            raise bad_request(f"Missing required fields: {', '.join(missing)}", {"missingFields": missing})
        name, kind, field_type = str(payload["name"]), str(payload["type"]), str(payload["fieldType"])
        if name in self.definitions:
            raise envelope(409, "OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists.")
        if not NAME_RE.match(name) or name.startswith("hs_"):
            raise bad_request(
                f"Property name '{name}' is invalid: use lower-case letters, digits and underscores, "
                "starting with a letter (the hs_ prefix is reserved)",
                {"name": [name]},
            )
        if kind not in FIELD_TYPES_BY_TYPE:
            raise bad_request(f"Invalid property type '{kind}'", {"type": [kind]})
        if field_type not in FIELD_TYPES_BY_TYPE[kind]:
            raise bad_request(
                f"Invalid fieldType '{field_type}' for a property of type '{kind}'; expected one of "
                f"{', '.join(FIELD_TYPES_BY_TYPE[kind])}",
                {"fieldType": [field_type]},
            )
        options = payload.get("options") or []
        if kind == "enumeration" and not isinstance(options, list):
            raise bad_request("options must be a list", {"options": [str(options)]})
        if any(not isinstance(o, dict) or "label" not in o or "value" not in o for o in options):
            raise bad_request("Each option needs a label and a value")
        definition = {
            "updatedAt": now,
            "createdAt": now,
            "name": name,
            "label": str(payload["label"]),
            "type": kind,
            "fieldType": field_type,
            "description": str(payload.get("description") or ""),
            "groupName": str(payload["groupName"]),
            "options": options_payload(options) if kind == "enumeration" else [],
            "displayOrder": int(payload.get("displayOrder", -1)),
            "calculated": False,
            "externalOptions": bool(payload.get("externalOptions", False)),
            "hasUniqueValue": bool(payload.get("hasUniqueValue", False)),
            "hidden": bool(payload.get("hidden", False)),
            "hubspotDefined": False,
            "showCurrencySymbol": False,
            "modificationMetadata": {"archivable": True, "readOnlyDefinition": False, "readOnlyValue": False},
            "formField": bool(payload.get("formField", False)),
            "archived": False,
        }
        self.definitions[name] = definition
        return definition


def parse_date(value: str, *, with_time: bool) -> str | None:
    """Dates accept ``YYYY-MM-DD`` or epoch milliseconds at UTC midnight; datetimes ISO-8601 or epoch
    milliseconds. Returns the stored form, or None when invalid."""
    text = value.strip()
    if text.lstrip("-").isdigit():
        try:
            moment = datetime.fromtimestamp(int(text) / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
        if with_time:
            return iso(moment)
        if moment.hour or moment.minute or moment.second or moment.microsecond:
            return None
        return moment.date().isoformat()
    try:
        if not with_time:
            return date.fromisoformat(text).isoformat()
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return iso(moment)


def raise_if_failed(failures: list[PropertyFailure], portal_id: int) -> None:
    if failures:
        raise validation_failed(failures, portal_id)
