"""The REST resources for one record at a time, describes, SOQL and limits.

Statuses follow the REST guide: create 201 ``{"id","success":true,"errors":[]}``, update and delete
204, unknown record 404 NOT_FOUND, a record in the recycle bin 404 ENTITY_IS_DELETED "entity is
deleted" (what simple-salesforce surfaces as SalesforceResourceNotFound), validation 400 with the
error array. Upsert by an external id / idLookup field (``PATCH …/sobjects/Lead/Email/<value>``)
answers 201 created / 200 updated with ``created``, and 300 with the matching records' URLs when
the value is shared ("The external ID provided matches more than one record", restforce#243).
"""

from __future__ import annotations

import math
from email.utils import format_datetime as http_date
from email.utils import parsedate_to_datetime
from typing import Any

from crm.sandbox.core import Request, Response
from crm.sandbox.salesforce.common import DATA, ApiPart, Route, api_versions, json_ok
from crm.sandbox.salesforce.describe import DESCRIBE_LAST_MODIFIED, SObjectSchema, load_schemas
from crm.sandbox.salesforce.errors import ApiError, not_found
from crm.sandbox.salesforce.ids import to18
from crm.sandbox.salesforce.query import MIN_PAGE_SIZE, PAGE_SIZE, project
from crm.sandbox.salesforce.store import SaveResult
from crm.sandbox.salesforce.validation import raise_first

OBJ = r"(?P<sobject>[A-Za-z_][A-Za-z0-9_]*)"
RECORD_ID = r"(?P<id>[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?)"
RECORD_BYTES = 2048  # storage Salesforce counts per Lead/Contact record
DATA_STORAGE_MB = 10240  # base data allocation of an Enterprise Edition org


class RestApi(ApiPart):
    def routes(self) -> list[Route]:
        sob = f"{DATA}/sobjects"
        return [
            ("GET", r"/services/data/?", self.versions, "versions", "public"),
            ("GET", rf"{DATA}/?", self.resources, "resources", "data"),
            ("GET", rf"{sob}/?", self.global_describe, "describeGlobal", "data"),
            ("GET", rf"{sob}/{OBJ}/describe/?", self.describe, "describe", "data"),
            ("GET", rf"{sob}/{OBJ}/?", self.basic_info, "sobject", "data"),
            ("POST", rf"{sob}/{OBJ}/?", self.create, "create", "data"),
            ("GET", rf"{sob}/{OBJ}/{RECORD_ID}/?", self.retrieve, "retrieve", "data"),
            ("PATCH", rf"{sob}/{OBJ}/{RECORD_ID}/?", self.update, "update", "data"),
            ("DELETE", rf"{sob}/{OBJ}/{RECORD_ID}/?", self.delete, "delete", "data"),
            (
                "GET",
                rf"{sob}/{OBJ}/(?P<field>\w+)/(?P<value>.+)",
                self.by_external_id,
                "getByExternalId",
                "data",
            ),
            ("PATCH", rf"{sob}/{OBJ}/(?P<field>\w+)/(?P<value>.+)", self.upsert, "upsert", "data"),
            ("GET", rf"{DATA}/query/?", self.query, "query", "data"),
            ("GET", rf"{DATA}/queryAll/?", self.query_all, "queryAll", "data"),
            (
                "GET",
                rf"{DATA}/(?:query|queryAll)/(?P<locator>[A-Za-z0-9]+-\d+)/?",
                self.query_more,
                "queryMore",
                "data",
            ),
            ("GET", rf"{DATA}/limits/?", self.limits, "limits", "data"),
            ("GET", rf"{DATA}/limits/recordCount/?", self.record_count, "recordCount", "data"),
        ]

    # ----- discovery ------------------------------------------------------------------------------
    def versions(self, request: Request) -> Response:
        return json_ok(api_versions())

    def resources(self, request: Request) -> Response:
        base = f"/services/data/v{self.version(request)}"
        names = ["sobjects", "query", "queryAll", "composite", "limits", "jobs/ingest", "search"]
        return json_ok({name: f"{base}/{name}" for name in names})

    def global_describe(self, request: Request) -> Response:
        version, base = self.version(request), self.app.base_url
        objects = [s.summary(version, base) for s in load_schemas().values()]
        return json_ok({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objects})

    def basic_info(self, request: Request) -> Response:
        schema = self.schema(request.params["sobject"])
        summary = schema.summary(self.version(request), self.app.base_url)
        return json_ok({"objectDescribe": summary, "recentItems": []})

    def describe(self, request: Request) -> Response:
        schema = self.schema(request.params["sobject"])
        since = request.headers.get("if-modified-since")
        if since:
            try:
                if parsedate_to_datetime(since) >= DESCRIBE_LAST_MODIFIED:
                    return Response.empty(304)
            except (TypeError, ValueError):
                pass
        body = schema.describe_body(self.version(request), self.app.base_url)
        return Response.json(200, body, {"Last-Modified": http_date(DESCRIBE_LAST_MODIFIED, usegmt=True)})

    # ----- one record -----------------------------------------------------------------------------
    def create(self, request: Request) -> Response:
        schema = self.schema(request.params["sobject"])
        payload = self._object_body(request)
        result = self.app.store.insert(schema, payload, self.write_options(request))
        raise_first(result.errors)
        return Response.json(201, {"id": result.id, "success": True, "errors": []})

    def retrieve(self, request: Request) -> Response:
        schema = self.schema(request.params["sobject"])
        record = self._visible(schema, request.params["id"])
        columns = self._columns(schema, request.arg_list("fields"))
        return json_ok(project(schema, record, columns, self.version(request)))

    def update(self, request: Request) -> Response:
        schema = self.schema(request.params["sobject"])
        self._visible(schema, request.params["id"])
        result = self.app.store.update(
            schema, request.params["id"], self._object_body(request), self.write_options(request)
        )
        raise_first(result.errors)
        return Response.empty(204)

    def delete(self, request: Request) -> Response:
        schema = self.schema(request.params["sobject"])
        self._visible(schema, request.params["id"])
        raise_first(self.app.store.delete(schema, request.params["id"]).errors)
        return Response.empty(204)

    def by_external_id(self, request: Request) -> Response:
        schema = self.schema(request.params["sobject"])
        key = self._key_field(schema, request.params["field"])
        matches = self.app.store.find(schema, key, request.params["value"])
        if not matches:
            raise not_found()
        if len(matches) > 1:
            return self._multiple(schema, matches, request)
        columns = self._columns(schema, request.arg_list("fields"))
        return json_ok(project(schema, matches[0], columns, self.version(request)))

    def upsert(self, request: Request) -> Response:
        schema = self.schema(request.params["sobject"])
        key = self._key_field(schema, request.params["field"])
        payload = {k: v for k, v in self._object_body(request).items() if k.lower() != key.lower()}
        matches = self.app.store.find(schema, key, request.params["value"])
        if len(matches) > 1:
            return self._multiple(schema, matches, request)
        payload[key] = request.params["value"]
        result: SaveResult = self.app.store.upsert(schema, key, payload, self.write_options(request))
        raise_first(result.errors)
        body = {"id": result.id, "success": True, "errors": [], "created": bool(result.created)}
        return Response.json(201 if result.created else 200, body)

    # ----- SOQL -----------------------------------------------------------------------------------
    def query(self, request: Request) -> Response:
        return self._run_query(request, include_deleted=False)

    def query_all(self, request: Request) -> Response:
        return self._run_query(request, include_deleted=True)

    def query_more(self, request: Request) -> Response:
        return json_ok(self.app.queries.more(request.params["locator"], self.version(request)))

    def _run_query(self, request: Request, *, include_deleted: bool) -> Response:
        text = request.arg("q")
        if not text:
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        page = _batch_size(request.headers.get("sforce-query-options", ""))
        result = self.app.queries.run(
            text, include_deleted=include_deleted, version=self.version(request), page_size=page
        )
        return json_ok(result)

    # ----- limits ---------------------------------------------------------------------------------
    def limits(self, request: Request) -> Response:
        app = self.app
        records = sum(1 for _ in app.store.records)
        used_mb = math.ceil(records * RECORD_BYTES / (1024 * 1024))
        daily = app.daily_allocation()

        def pair(maximum: int, remaining: int) -> dict[str, int]:
            return {"Max": maximum, "Remaining": max(remaining, 0)}

        return json_ok(
            {
                "ConcurrentAsyncGetReportInstances": pair(200, 200),
                "ConcurrentSyncReportRuns": pair(20, 20),
                "DailyApiRequests": pair(daily, daily - app.api_used()),
                "DailyAsyncApexExecutions": pair(250000, 250000),
                "DailyBulkApiBatches": pair(15000, 15000 - app.bulk_batches),
                "DailyBulkV2QueryFileStorageMB": pair(976562, 976562),
                "DailyBulkV2QueryJobs": pair(10000, 10000),
                "DataStorageMB": pair(DATA_STORAGE_MB, DATA_STORAGE_MB - used_mb),
                "FileStorageMB": pair(10240, 10240),
                "HourlyPublishedPlatformEvents": pair(250000, 250000),
                "MassEmail": pair(5000, 5000),
                "SingleEmail": pair(5000, 5000),
            }
        )

    def record_count(self, request: Request) -> Response:
        wanted = request.arg_list("sObjects") or list(load_schemas())
        counts = [
            {"count": self.app.store.count(s.name), "name": s.name}
            for name in wanted
            if (s := self._maybe_schema(name)) is not None
        ]
        return json_ok({"sObjects": counts})

    # ----- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _maybe_schema(name: str) -> SObjectSchema | None:
        try:
            return ApiPart.schema(name)
        except ApiError:
            return None

    def _object_body(self, request: Request) -> dict[str, Any]:
        payload = self.body(request)
        if not isinstance(payload, dict):
            raise ApiError(
                400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sobject from a non-object value"
            )
        return payload

    def _visible(self, schema: SObjectSchema, record_id: str) -> dict[str, Any]:
        """The record behind a URL: 404 NOT_FOUND when unknown, 404 ENTITY_IS_DELETED when binned."""
        rid = to18(record_id)
        record = self.app.store.get(record_id) if rid and rid.startswith(schema.key_prefix) else None
        if record is None:
            raise not_found()
        if record["IsDeleted"]:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", fields=[])
        return record

    @staticmethod
    def _columns(schema: SObjectSchema, names: list[str]) -> list[Any] | None:
        if not names:
            return None
        columns = []
        for name in names:
            info = schema.field(name)
            if info is None:
                raise ApiError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name}' on entity '{schema.name}'. If you are "
                    "attempting to use a custom field, be sure to append the '__c' after the custom field "
                    "name. Please reference your WSDL or the describe call for the appropriate names.",
                )
            columns.append(info)
        return columns

    @staticmethod
    def _key_field(schema: SObjectSchema, name: str) -> str:
        info = schema.field(name)
        if info is None or not (info.id_lookup or info.external_id):
            raise ApiError(
                404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}"
            )
        return info.name

    def _multiple(self, schema: SObjectSchema, matches: list[dict[str, Any]], request: Request) -> Response:
        version = self.version(request)
        return Response.json(
            300, [f"/services/data/v{version}/sobjects/{schema.name}/{r['Id']}" for r in matches]
        )


def _batch_size(header: str) -> int:
    """``Sforce-Query-Options: batchSize=500``: 200 to 2,000, default 2,000."""
    for part in header.split(","):
        key, _, value = part.partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return min(max(int(value), MIN_PAGE_SIZE), PAGE_SIZE)
    return PAGE_SIZE
