"""Lead → CRM field mappings: the defaults per provider and object, value maps, constant custom fields.

A mapping is plain data (it is stored on every run, and edited on the Push page), so it round-trips
through JSON; :func:`parse_mapping` refuses malformed JSON with a message that says what is wrong.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crm.model import Value

# The lead fields our campaigns carry, in display order (data.lead_columns keeps the same list; a test
# checks they agree, since crm and data never import each other).
LEAD_FIELDS: tuple[str, ...] = (
    "email",
    "first_name",
    "last_name",
    "company",
    "title",
    "phone",
    "website",
    "city",
    "state",
    "country",
    "industry",
    "score",
    "tier",
)

TIERS = ("HOT", "WARM", "COOL")


class MappingError(ValueError):
    """A mapping that cannot be used as given; the message names the problem."""


@dataclass(frozen=True)
class FieldMapping:
    """Which lead field fills which CRM field, how values translate, and constant extra fields."""

    fields: Mapping[str, str]  # lead field -> CRM field
    value_maps: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # lead field -> {ours: theirs}
    constants: Mapping[str, str] = field(default_factory=dict)  # CRM field -> value (custom fields)

    @property
    def email_field(self) -> str:
        try:
            return self.fields["email"]
        except KeyError:
            raise MappingError(
                "The mapping must send the lead's email: map 'email' to a CRM field."
            ) from None

    def crm_fields(self) -> list[str]:
        """Every CRM field this mapping writes, mapped fields first."""
        out = list(dict.fromkeys(self.fields.values()))
        out += [f for f in self.constants if f not in out]
        return out

    def apply(self, lead: Mapping[str, Any]) -> dict[str, Value]:
        """The CRM values for one lead. Blank values are left out, so they never erase CRM data."""
        payload: dict[str, Value] = {}
        for lead_field, crm_field in self.fields.items():
            value = plain(lead.get(lead_field))
            if value is None or value == "":
                continue
            if isinstance(value, str):
                value = value.strip()
                if not value:
                    continue
            vmap = self.value_maps.get(lead_field)
            if vmap:
                value = vmap.get(str(value), value)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            payload[crm_field] = value
        for crm_field, value in self.constants.items():
            if value != "":
                payload[crm_field] = value
        return payload

    def to_json(self) -> dict[str, Any]:
        return {
            "fields": dict(self.fields),
            "value_maps": {k: dict(v) for k, v in self.value_maps.items()},
            "constants": dict(self.constants),
        }


def plain(value: Any) -> Value:
    """A plain Python value: numpy scalars unwrapped; NaN, NaT and pandas' NA as None (table cells)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if hasattr(value, "item"):
        with contextlib.suppress(TypeError, ValueError):
            value = value.item()
    try:
        if value != value:  # NaN and NaT
            return None
    except TypeError:  # pandas.NA refuses to be compared
        return None
    return value  # type: ignore[no-any-return]


def parse_mapping(raw: str | Mapping[str, Any]) -> FieldMapping:
    """A mapping from JSON text or a decoded object, checked for shape (not yet against a CRM)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise MappingError(
                f"The mapping is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from None
        except RecursionError:
            raise MappingError("The mapping is not valid JSON: it is nested too deeply.") from None
    if not isinstance(raw, Mapping):
        raise MappingError('The mapping must be a JSON object like {"fields": {"email": "email"}}.')
    unknown = set(raw) - {"fields", "value_maps", "constants"}
    if unknown:
        raise MappingError(f"Unknown mapping keys {sorted(unknown)}; use fields, value_maps and constants.")
    fields_ = _str_map(raw.get("fields", {}), "fields")
    empty = sorted(k for k, v in fields_.items() if not v)
    if empty:
        raise MappingError(
            f"'fields' maps {empty} to an empty CRM field name; pick a field or remove the row."
        )
    bad = sorted(set(fields_) - set(LEAD_FIELDS))
    if bad:
        raise MappingError(
            f"'fields' maps unknown lead fields {bad}; lead fields are {', '.join(LEAD_FIELDS)}."
        )
    value_maps_raw = raw.get("value_maps", {})
    if not isinstance(value_maps_raw, Mapping):
        raise MappingError("'value_maps' must be an object of lead field -> {our value: CRM value}.")
    value_maps = {k: _str_map(v, f"value_maps.{k}") for k, v in value_maps_raw.items()}
    constants = _str_map(raw.get("constants", {}), "constants")
    mapping = FieldMapping(fields_, value_maps, constants)
    mapping.email_field  # noqa: B018 - raises when email is not mapped
    return mapping


def _str_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise MappingError(f"'{where}' must be an object of strings.")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str | int | float) or isinstance(v, bool):
            raise MappingError(f"'{where}' must map strings to strings; {k!r}: {v!r} is not.")
        out[k.strip()] = str(v).strip()
    return out


HUBSPOT_CONTACTS = FieldMapping(
    fields={
        "email": "email",
        "first_name": "firstname",
        "last_name": "lastname",
        "company": "company",
        "title": "jobtitle",
        "phone": "phone",
        "website": "website",
        "city": "city",
        "state": "state",
        "country": "country",
        "industry": "industry",
    }
)

# Custom HubSpot properties an admin can create from the Push page to carry score and tier.
HUBSPOT_SCORE_PROPERTIES: dict[str, dict[str, Any]] = {
    "score": {"name": "crmpush_score", "label": "Lead score", "type": "number", "fieldType": "number"},
    "tier": {
        "name": "crmpush_tier",
        "label": "Lead tier",
        "type": "enumeration",
        "fieldType": "select",
        "options": [{"label": t.title(), "value": t, "displayOrder": i} for i, t in enumerate(TIERS)],
    },
}

SALESFORCE_LEAD = FieldMapping(
    fields={
        "email": "Email",
        "first_name": "FirstName",
        "last_name": "LastName",
        "company": "Company",
        "title": "Title",
        "phone": "Phone",
        "website": "Website",
        "city": "City",
        "state": "State",
        "country": "Country",
        "industry": "Industry",
        "tier": "Rating",
    },
    value_maps={"tier": {"HOT": "Hot", "WARM": "Warm", "COOL": "Cold"}},
)

SALESFORCE_CONTACT = FieldMapping(
    fields={
        "email": "Email",
        "first_name": "FirstName",
        "last_name": "LastName",
        "title": "Title",
        "phone": "Phone",
        "city": "MailingCity",
        "state": "MailingState",
        "country": "MailingCountry",
    }
)

DEFAULTS: dict[tuple[str, str], FieldMapping] = {
    ("hubspot", "contacts"): HUBSPOT_CONTACTS,
    ("salesforce", "Lead"): SALESFORCE_LEAD,
    ("salesforce", "Contact"): SALESFORCE_CONTACT,
}


def default_mapping(provider: str, object_name: str) -> FieldMapping:
    try:
        return DEFAULTS[(provider, object_name)]
    except KeyError:
        raise MappingError(f"No default mapping for {provider} {object_name}.") from None


def payload_hash(object_name: str, payload: Mapping[str, Value]) -> str:
    """A stable fingerprint of what a row sends, for change detection between pushes."""
    canonical = json.dumps([object_name, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
