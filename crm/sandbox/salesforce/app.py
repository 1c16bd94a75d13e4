"""The Salesforce emulator: one org with Leads and Contacts behind the real REST, Collections,
Bulk API 2.0 (ingest and query) and OAuth endpoints, so ``simple-salesforce`` and our adapter work
against it unchanged.

Org-wide behaviour lives here, on top of :class:`crm.sandbox.core.SandboxApp`:

* **API allocation.** Every authenticated REST call, Bulk API calls included, counts against a
  rolling 24-hour allocation of ``options.daily_limit`` calls, or 100,000 when unset (the base
  allocation of an Enterprise Edition org). Past it a call gets 403 REQUEST_LIMIT_EXCEEDED
  "TotalRequests Limit exceeded." through the core's ``throttle`` hook (so ``stats.throttled``
  counts it), and every data response carries ``Sforce-Limit-Info: api-usage=N/MAX``.
* **Sessions.** A missing, unknown, expired (``token_ttl``) or revoked token gets 401
  ``[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]``.
* **Edges.** URI plus headers above 16,384 bytes is refused (414 when the URI alone is too long,
  431 otherwise); an unsupported API version or unknown path is 404 NOT_FOUND; injected 5xx
  faults answer with Salesforce-shaped bodies.
* **Inspection** (``POST /__sandbox/convert/{leadId}``, ``POST /__sandbox/merge``) stages the lead
  conversions and merges that status checks must notice; ``dump()`` lists every record, deleted
  ones included (``IsDeleted`` true).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from crm.sandbox.core import Request, Response, RollingWindow, Route, SandboxApp, SandboxOptions
from crm.sandbox.salesforce.bulk import BulkApi
from crm.sandbox.salesforce.bulk_jobs import IngestJob
from crm.sandbox.salesforce.bulk_query import BulkQueryApi, QueryJob
from crm.sandbox.salesforce.common import DEFAULT_API_VERSION, SUPPORTED_VERSIONS
from crm.sandbox.salesforce.composite import CompositeApi
from crm.sandbox.salesforce.errors import NOT_FOUND_MESSAGE, ApiError, not_found
from crm.sandbox.salesforce.ids import USER_ID, IdFactory
from crm.sandbox.salesforce.oauth import OAuthServer
from crm.sandbox.salesforce.query import QueryEngine, project
from crm.sandbox.salesforce.rest import RestApi
from crm.sandbox.salesforce.soql import SoqlError
from crm.sandbox.salesforce.store import RecordStore

DEFAULT_DAILY_LIMIT = 100_000  # Enterprise Edition base allocation of API requests per 24 hours
USAGE_WINDOW_SECONDS = 24 * 60 * 60
MAX_REQUEST_HEAD_BYTES = 16_384  # URI plus headers (crm-api-notes-salesforce.md, SOQL limits)


class SalesforceSandbox(SandboxApp):
    vendor = "salesforce"

    def __init__(
        self, options: SandboxOptions | None = None, base_url: str = "https://sandbox.my.salesforce.sandbox"
    ) -> None:
        self.user_id = USER_ID
        self.rest = RestApi(self)
        self.composite = CompositeApi(self)
        self.bulk = BulkApi(self)
        self.bulk_query = BulkQueryApi(self)
        self.oauth = OAuthServer(self)
        super().__init__(options, base_url)

    # ----- set-up ---------------------------------------------------------------------------------
    def register_routes(self) -> None:
        for part in (self.rest, self.composite, self.bulk, self.bulk_query, self.oauth):
            for method, pattern, handler, name, kind in part.routes():
                self.add(method, pattern, self._guard(handler, kind), name, kind)

    def reset_data(self) -> None:
        seed = self.options.seed
        self.ids = IdFactory(random.Random(seed))  # repeatable demo ids, not secrets  # nosec B311
        self.bulk_rng = random.Random(None if seed is None else seed + 1)  # result order  # nosec B311
        self.store = RecordStore(self.ids, self.clock, lambda: self.options.duplicate_rule)
        self.queries = QueryEngine(self.store, self.ids, self.clock)
        self.jobs: dict[str, IngestJob] = {}
        self.query_jobs: dict[str, QueryJob] = {}
        self.oauth.reset()
        self.usage = RollingWindow(self.daily_allocation(), USAGE_WINDOW_SECONDS)
        self.bulk_batches = 0

    @staticmethod
    def clock() -> datetime:
        return datetime.now(UTC)

    # ----- API allocation -------------------------------------------------------------------------
    def daily_allocation(self) -> int:
        return self.options.daily_limit or DEFAULT_DAILY_LIMIT

    def api_used(self) -> int:
        self.usage.limit = self.daily_allocation()
        return self.usage.limit - self.usage.remaining()

    def throttle(self, request: Request, route: Route) -> Response | None:
        self.usage.limit = self.daily_allocation()
        if self.usage.hit():
            return None
        return Response.json(
            403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
        )

    def decorate(self, request: Request, route: Route | None, response: Response) -> Response:
        if route is not None and route.kind == "data":
            response.headers["Sforce-Limit-Info"] = f"api-usage={self.api_used()}/{self.daily_allocation()}"
        return response

    # ----- vendor bodies --------------------------------------------------------------------------
    def unauthorized(self, request: Request, expired: bool) -> Response:
        body = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
        return Response.json(401, body, {"WWW-Authenticate": "Token"})

    def not_found(self, request: Request) -> Response:
        return Response.json(404, [{"errorCode": "NOT_FOUND", "message": NOT_FOUND_MESSAGE}])

    def injected_failure(self, status: int) -> Response:
        if status == 500:
            n = self.stats.failed_injected
            message = (
                "An unexpected error occurred. Please include this ErrorId if you contact support: "
                f"{1961500000 + n}-{73000 + n} ({-1394585402 + n})"
            )
            return Response.json(500, [{"message": message, "errorCode": "UNKNOWN_EXCEPTION"}])
        message = "Server temporarily unavailable. Please try again later."
        return Response.json(status, [{"message": message, "errorCode": "SERVER_UNAVAILABLE"}])

    def _guard(self, handler: Callable[[Request], Response], kind: str) -> Callable[[Request], Response]:
        """Turn the handlers' exceptions into Salesforce answers, and apply the edge checks."""

        def run(request: Request) -> Response:
            try:
                if kind == "data":
                    refused = self._too_large(request)
                    if refused is not None:
                        return refused
                    version = request.params.get("v")
                    if version is not None and version not in SUPPORTED_VERSIONS:
                        raise not_found()
                return handler(request)
            except ApiError as exc:
                return exc.response()
            except SoqlError as exc:
                return Response.json(400, [{"message": exc.message, "errorCode": exc.code}])

        return run

    @staticmethod
    def _too_large(request: Request) -> Response | None:
        query = urlencode(request.query, doseq=True)
        uri = len(request.raw_path) + (len(query) + 1 if query else 0)
        head = uri + sum(len(k) + len(v) + 4 for k, v in request.headers.items())
        if uri > MAX_REQUEST_HEAD_BYTES:
            return Response.text(414, "URI Too Long")
        if head > MAX_REQUEST_HEAD_BYTES:
            return Response.text(431, "Request Header Fields Too Large")
        return None

    # ----- inspection -----------------------------------------------------------------------------
    def dump(self) -> dict[str, list[dict[str, Any]]]:
        return {
            name: [project(schema, r, None, DEFAULT_API_VERSION) for r in self.store.all(name)]
            for name, schema in self.store.schemas.items()
        }

    def inspect(self, name: str, request: Request) -> Response | None:
        if request.method != "POST":
            return None
        try:
            if name.startswith("convert/"):
                body = request.json() or {}
                return Response.json(
                    200, self.store.convert(name.split("/", 1)[1], body.get("convertedStatus"))
                )
            if name == "merge":
                body = request.json() or {}
                return Response.json(
                    200, self.store.merge(str(body.get("masterId")), str(body.get("mergedId")))
                )
        except LookupError as exc:
            return Response.json(404, {"error": str(exc)})
        except ValueError as exc:
            return Response.json(400, {"error": str(exc)})
        return None
