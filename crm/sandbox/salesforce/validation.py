"""Salesforce's save-time rules, driven by the recorded describe.

Two steps, in the order the platform applies them: ``prepare`` turns a request body (JSON or a CSV
row) into typed values and refuses unknown or read-only fields; ``validate`` checks the resulting
record (required fields, lengths, e-mail syntax, restricted picklists). Codes and messages follow
the real ones (``/work/shared/crm-api-notes-salesforce.md``):

* ``REQUIRED_FIELD_MISSING`` "Required fields are missing: [LastName, Company]"
* ``STRING_TOO_LONG`` "Company: data value too large: … (max length=255)"
* ``INVALID_EMAIL_ADDRESS`` "Email: invalid email address: not an email"
* ``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`` "<Label>: bad value for restricted picklist field: X"
* ``INVALID_FIELD`` "No such column 'Foo' on sobject of type Lead"
* ``INVALID_FIELD_FOR_INSERT_UPDATE`` "Unable to create/update fields: Name. Please check …"
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crm.sandbox.salesforce.describe import FieldInfo, SObjectSchema
from crm.sandbox.salesforce.errors import ApiError, SaveError, json_parser_error
from crm.sandbox.salesforce.ids import to18

# Local part as RFC 5322 allows it (apostrophes included: o'brien@x.com is a real address),
# a dotted domain and an alphabetic TLD.
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$"
)
DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)
READ_ONLY_HINT = (
    "Please check the security settings of this field and verify that it is read/write for your "
    "profile or permission set."
)


class CoercionError(ValueError):
    """A value that cannot become the field's type."""


def format_datetime(moment: datetime) -> str:
    """Salesforce's wire format for dateTime: millisecond precision, ``+0000`` offset."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime | None:
    m = DATETIME_RE.match(text.strip())
    if not m:
        return None
    year, month, day, hh, mm, ss, ms, tz = m.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hh or 0),
            int(mm or 0),
            int(ss or 0),
            int((ms or "0").ljust(3, "0")) * 1000,
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        moment -= timedelta(minutes=offset)
    return moment


def coerce(info: FieldInfo, value: Any, source: str) -> Any:
    """The stored form of ``value`` for ``info``; ``source`` is "json" or "csv"."""
    if value is None:
        return None
    kind = info.type
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        raise CoercionError("boolean")
    if info.is_number:
        if isinstance(value, bool):
            raise CoercionError(kind)
        try:
            number = float(value) if isinstance(value, str) else value
        except ValueError:
            raise CoercionError(kind) from None
        if not isinstance(number, int | float):
            raise CoercionError(kind)
        if kind in ("int", "long"):
            if float(number) != int(number):
                raise CoercionError(kind)
            return int(number)
        return float(number)
    if kind == "date":
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip()[:10]).isoformat()
            except ValueError:
                pass
        raise CoercionError(kind)
    if kind == "datetime":
        moment = parse_datetime(value) if isinstance(value, str) else None
        if moment is None:
            raise CoercionError(kind)
        return format_datetime(moment)
    if isinstance(value, dict | list):
        raise CoercionError(kind)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if not isinstance(value, str) else value


def prepare(
    schema: SObjectSchema, payload: dict[str, Any], *, creating: bool, source: str = "json"
) -> tuple[dict[str, Any], list[SaveError]]:
    """Canonical, typed field values of a request body, or the errors that refuse it.

    A JSON value of the wrong type refuses the whole request (JSON_PARSER_ERROR, as the real
    deserializer does); a CSV value of the wrong type fails only its row.
    """
    values: dict[str, Any] = {}
    unknown: list[str] = []
    read_only: list[str] = []
    type_errors: list[SaveError] = []
    for key, raw in payload.items():
        if key == "attributes":
            continue
        info = schema.field(key)
        if info is None:
            unknown.append(key)
            continue
        if info.name == "Id":
            if creating:
                return {}, [SaveError("INVALID_FIELD", "cannot specify Id in an insert call")]
            continue
        writable = info.createable if creating else info.updateable
        if not writable:
            read_only.append(info.name)
            continue
        try:
            values[info.name] = coerce(info, raw, source)
        except CoercionError:
            if source == "json":
                raise json_parser_error(_json_type_message(info, raw)) from None
            type_errors.append(
                SaveError(
                    "INVALID_TYPE_ON_FIELD_IN_RECORD",
                    f"{info.label}: value not of required type: {raw}",
                    [info.name],
                )
            )
    if unknown:
        return {}, [
            SaveError("INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {schema.name}")
        ]
    if read_only:
        message = f"Unable to create/update fields: {', '.join(read_only)}. {READ_ONLY_HINT}"
        return {}, [SaveError("INVALID_FIELD_FOR_INSERT_UPDATE", message, read_only)]
    return values, type_errors


def _json_type_message(info: FieldInfo, raw: Any) -> str:
    kind = {"int": "int", "double": "double", "currency": "double", "percent": "double"}.get(
        info.type, info.type
    )
    shown = "VALUE_STRING" if isinstance(raw, str) else type(raw).__name__.upper()
    return (
        f"Cannot deserialize instance of {kind} from {shown} value {raw} or request may be missing a "
        "required field"
    )


def validate(
    schema: SObjectSchema, record: dict[str, Any], changed: dict[str, Any], *, creating: bool
) -> list[SaveError]:
    """The rules a saved record must meet; the first failing rule family is reported, as Salesforce
    stops at the first failing stage of its save order."""
    required = (
        schema.required_on_create
        if creating
        else tuple(name for name in changed if schema.fields[name].required_on_create)
    )
    missing = [name for name in required if record.get(name) in (None, "")]
    if missing:
        return [
            SaveError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
            )
        ]
    for stage in (_too_long, _bad_email, _bad_picklist, _bad_reference):
        errors = [e for name, value in changed.items() if (e := stage(schema.fields[name], value))]
        if errors:
            return errors
    return []


def _too_long(info: FieldInfo, value: Any) -> SaveError | None:
    if isinstance(value, str) and info.is_string and info.length and len(value) > info.length:
        message = f"{info.label}: data value too large: {value} (max length={info.length})"
        return SaveError("STRING_TOO_LONG", message, [info.name])
    return None


def _bad_email(info: FieldInfo, value: Any) -> SaveError | None:
    if info.type == "email" and isinstance(value, str) and value and not EMAIL_RE.match(value):
        return SaveError(
            "INVALID_EMAIL_ADDRESS", f"{info.label}: invalid email address: {value}", [info.name]
        )
    return None


def _bad_picklist(info: FieldInfo, value: Any) -> SaveError | None:
    restricted = info.type == "picklist" and info.restricted_picklist
    if restricted and value not in (None, "") and value not in info.picklist_values:
        message = f"{info.label}: bad value for restricted picklist field: {value}"
        return SaveError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", message, [info.name])
    return None


def _bad_reference(info: FieldInfo, value: Any) -> SaveError | None:
    if info.type == "reference" and isinstance(value, str) and value and to18(value) is None:
        return SaveError("MALFORMED_ID", f"{info.label}: id value of incorrect type: {value}", [info.name])
    return None


def raise_first(errors: list[SaveError], status: int = 400) -> None:
    """Single-record REST answers carry every error of the failed save in one array."""
    if errors:
        raise ApiError.from_save_errors(status, errors)
