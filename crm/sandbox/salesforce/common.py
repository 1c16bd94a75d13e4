"""What every Salesforce route shares: the API versions, the URL prefix, request parsing.

The sandbox answers under any supported ``/services/data/vNN.N/``; a version outside the list is
a 404 NOT_FOUND, as on a real org.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crm.sandbox.core import Request, Response
from crm.sandbox.salesforce.describe import SObjectSchema, schema_for
from crm.sandbox.salesforce.errors import json_parser_error, not_found
from crm.sandbox.salesforce.store import WriteOptions

if TYPE_CHECKING:
    from crm.sandbox.salesforce.app import SalesforceSandbox

# Winter '27 (v68.0) is the release in force for a real org in November 2026 and the newest
# version GET /services/data/ lists, so it is what the sandbox assumes where no URL names one.
DEFAULT_API_VERSION = "68.0"
OLDEST_API_VERSION = 31  # versions 21.0-30.0 were retired in Summer '25
NEWEST_API_VERSION = 68
FIRST_LABELLED_VERSION = 20  # Winter '11; three releases a year since

DATA = r"/services/data/v(?P<v>\d+\.\d)"

Route = tuple[str, str, Callable[[Request], Response], str, str]  # method, pattern, handler, name, kind


def release_label(major: int) -> str:
    """``68`` -> "Winter '27": releases go Winter, Spring, Summer, and Winter opens the year."""
    steps = major - FIRST_LABELLED_VERSION
    season = ("Winter", "Spring", "Summer")[steps % 3]
    return f"{season} '{11 + steps // 3:02d}"


def api_versions() -> list[dict[str, str]]:
    return [
        {"label": release_label(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
        for v in range(OLDEST_API_VERSION, NEWEST_API_VERSION + 1)
    ]


SUPPORTED_VERSIONS = frozenset(v["version"] for v in api_versions())


def allow_save(request: Request) -> bool:
    """``Sforce-Duplicate-Rule-Header: allowSave=true`` (other keys such as includeRecordDetails
    may ride along, separated by commas or semicolons)."""
    header = request.headers.get("sforce-duplicate-rule-header", "")
    for part in header.replace(";", ",").split(","):
        key, _, value = part.partition("=")
        if key.strip().lower() == "allowsave" and value.strip().lower() == "true":
            return True
    return False


class ApiPart:
    """One family of routes (REST, Collections, Bulk, OAuth) over the sandbox's shared state."""

    def __init__(self, app: SalesforceSandbox) -> None:
        self.app = app

    def routes(self) -> list[Route]:
        raise NotImplementedError

    @staticmethod
    def version(request: Request) -> str:
        return request.params.get("v", DEFAULT_API_VERSION)

    @staticmethod
    def schema(name: str) -> SObjectSchema:
        schema = schema_for(name)
        if schema is None:
            raise not_found()
        return schema

    @staticmethod
    def body(request: Request) -> Any:
        try:
            return request.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise json_parser_error(f"Unexpected character: {exc}") from None

    def write_options(self, request: Request, source: str = "json") -> WriteOptions:
        return WriteOptions(self.version(request), allow_save(request), source)


def json_ok(payload: Any, status: int = 200) -> Response:
    return Response.json(status, payload)
