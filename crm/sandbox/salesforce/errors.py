"""Salesforce's error envelopes, in their three dialects.

The same failure is written three ways on the wire, and clients parse each literally:

* REST (single record, query, describe …): a JSON array ``[{"message","errorCode","fields"}]``;
* sObject Collections: per-record ``{"statusCode","message","fields"}`` inside a SaveResult;
* Bulk API 2.0 ``sf__Error``: ``CODE:message:Field1,Field2 --`` (``CODE:message:--`` without fields).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crm.sandbox.core import Response

NOT_FOUND_MESSAGE = "The requested resource does not exist"


@dataclass
class SaveError:
    """One reason a record was not saved. ``extra`` carries e.g. ``duplicateResult``.

    ``fields`` is None for request-level errors (NOT_FOUND, MALFORMED_QUERY …), whose REST bodies
    have no ``fields`` key; record errors always list their fields, possibly none."""

    code: str
    message: str
    fields: list[str] | None = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def rest(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            out["fields"] = list(self.fields)
        return {**out, **self.extra}

    def collection(self) -> dict[str, Any]:
        return {
            "statusCode": self.code,
            "message": self.message,
            "fields": list(self.fields or []),
            **self.extra,
        }

    def bulk(self) -> str:
        names = ",".join(self.fields or [])
        return f"{self.code}:{self.message}:{names + ' ' if names else ''}--"


class ApiError(Exception):
    """A whole request refused: becomes ``status`` with a REST error array."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[str] | None = None, **extra: Any
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.errors = [SaveError(code, message, None if fields is None else list(fields), dict(extra))]

    @classmethod
    def from_save_errors(cls, status: int, errors: list[SaveError]) -> ApiError:
        err = cls(status, errors[0].code, errors[0].message)
        err.errors = list(errors)
        return err

    def response(self) -> Response:
        return Response.json(self.status, [e.rest() for e in self.errors])


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)


def entity_is_deleted() -> SaveError:
    """What Salesforce answers for a record in the recycle bin (deleted or merged away)."""
    return SaveError("ENTITY_IS_DELETED", "entity is deleted")


def malformed_id(sobject: str, value: str) -> SaveError:
    return SaveError("MALFORMED_ID", f"{sobject} ID: id value of incorrect type: {value}", ["Id"])


def invalid_cross_reference() -> SaveError:
    return SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")


def json_parser_error(detail: str) -> ApiError:
    return ApiError(400, "JSON_PARSER_ERROR", detail)
