"""sObject Collections: up to 200 records per create, update, upsert or delete call.

One SaveResult per input record, in input order; a failed item has no ``id`` key and carries
``{"statusCode","message","fields"}`` errors. With ``allOrNone`` true, one failure rolls the whole
call back and every record that did not fail itself reports ALL_OR_NONE_OPERATION_ROLLED_BACK.
More than 200 records is refused whole with EXCEEDED_ID_LIMIT "record limit reached. cannot submit
more than 200 records into this call" (the wording jsforce users report from real orgs). Upsert
(``PATCH …/composite/sobjects/{SObject}/{Field}``) works on external id and idLookup fields
(Email included, as recorded in collections_upsert_rest.json) and adds ``created``; a key value
shared by several records fails that record with DUPLICATE_EXTERNAL_ID "<Label>: more than one
record found for external id field: [ids]". Retrieve answers ``null`` for ids it cannot show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm.sandbox.core import Request, Response
from crm.sandbox.salesforce.common import DATA, ApiPart, Route, json_ok
from crm.sandbox.salesforce.describe import SObjectSchema, schema_for
from crm.sandbox.salesforce.errors import ApiError, SaveError, json_parser_error
from crm.sandbox.salesforce.query import project
from crm.sandbox.salesforce.rest import RestApi
from crm.sandbox.salesforce.store import SaveResult

MAX_RECORDS = 200  # per create/update/upsert/delete call (REST:resources_composite_sobjects_collections)
MAX_RETRIEVE_IDS = 2000  # per POST retrieve
ROLLED_BACK = SaveError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
)
NO_TYPE = SaveError("INVALID_TYPE", "Must send a concrete entity type.")

Operation = Callable[[dict[str, Any]], SaveResult]


def limit_error(limit: int) -> ApiError:
    return ApiError(
        400,
        "EXCEEDED_ID_LIMIT",
        f"record limit reached. cannot submit more than {limit} records into this call",
    )


class CompositeApi(ApiPart):
    def routes(self) -> list[Route]:
        col = f"{DATA}/composite/sobjects"
        obj = r"(?P<sobject>[A-Za-z_][A-Za-z0-9_]*)"
        return [
            ("POST", rf"{col}/?", self.create, "collections.create", "data"),
            ("PATCH", rf"{col}/?", self.update, "collections.update", "data"),
            ("DELETE", rf"{col}/?", self.delete, "collections.delete", "data"),
            ("GET", rf"{col}/{obj}/?", self.retrieve, "collections.retrieve", "data"),
            ("POST", rf"{col}/{obj}/?", self.retrieve, "collections.retrieve", "data"),
            ("PATCH", rf"{col}/{obj}/(?P<field>\w+)/?", self.upsert, "collections.upsert", "data"),
        ]

    # ----- writes ---------------------------------------------------------------------------------
    def create(self, request: Request) -> Response:
        records, all_or_none = self._records(request)
        opts = self.write_options(request)

        def one(record: dict[str, Any]) -> SaveResult:
            schema, error = _record_schema(record)
            if schema is None:
                return SaveResult(None, [error or NO_TYPE])
            return self.app.store.insert(schema, record, opts)

        return self._apply(records, all_or_none, one, upsert=False)

    def update(self, request: Request) -> Response:
        records, all_or_none = self._records(request)
        opts = self.write_options(request)

        def one(record: dict[str, Any]) -> SaveResult:
            schema, error = _record_schema(record)
            if schema is None:
                return SaveResult(None, [error or NO_TYPE])
            record_id = next((v for k, v in record.items() if k.lower() == "id"), None)
            if not record_id:
                return SaveResult(None, [SaveError("MISSING_ARGUMENT", "Id not specified in an update call")])
            body = {k: v for k, v in record.items() if k.lower() != "id"}
            return self.app.store.update(schema, str(record_id), body, opts)

        return self._apply(records, all_or_none, one, upsert=False)

    def upsert(self, request: Request) -> Response:
        schema = self.schema(request.params["sobject"])
        info = schema.field(request.params["field"])
        if info is None or not (info.id_lookup or info.external_id):
            name = request.params["field"]
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"Field name provided, {name} is not an External ID or indexed field for {schema.name}",
            )
        records, all_or_none = self._records(request)
        opts = self.write_options(request)

        def one(record: dict[str, Any]) -> SaveResult:
            declared = (record.get("attributes") or {}).get("type")
            if declared and declared.lower() != schema.name.lower():
                return SaveResult(
                    None,
                    [SaveError("INVALID_TYPE", f"sObject type '{declared}' does not match {schema.name}")],
                )
            return self.app.store.upsert(schema, info.name, record, opts)

        return self._apply(records, all_or_none, one, upsert=True)

    def delete(self, request: Request) -> Response:
        ids = request.arg_list("ids")
        if len(ids) > MAX_RECORDS:
            raise limit_error(MAX_RECORDS)
        all_or_none = (request.arg("allOrNone") or "false").lower() == "true"
        pending = [{"Id": i} for i in ids]
        return self._apply(pending, all_or_none, lambda r: self.app.store.delete(None, r["Id"]), upsert=False)

    def _records(self, request: Request) -> tuple[list[dict[str, Any]], bool]:
        body = self.body(request)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise json_parser_error(
                "Cannot deserialize the request: expected an object with a 'records' array"
            )
        records = body["records"]
        if len(records) > MAX_RECORDS:
            raise limit_error(MAX_RECORDS)
        if not all(isinstance(r, dict) for r in records):
            raise json_parser_error("Cannot deserialize instance of sobject from a non-object value")
        return records, bool(body.get("allOrNone", False))

    def _apply(
        self, records: list[dict[str, Any]], all_or_none: bool, one: Operation, *, upsert: bool
    ) -> Response:
        store = self.app.store
        store.begin()
        results = []
        try:
            for record in records:
                results.append(one(record))
        except BaseException:
            store.rollback()
            raise
        if all_or_none and any(not r.success for r in results):
            store.rollback()
            results = [r if not r.success else SaveResult(None, [ROLLED_BACK]) for r in results]
        else:
            store.commit()
        return json_ok([_save_result(r, upsert) for r in results])

    # ----- retrieve -------------------------------------------------------------------------------
    def retrieve(self, request: Request) -> Response:
        schema = self.schema(request.params["sobject"])
        if request.method == "POST":
            body = self.body(request)
            if not isinstance(body, dict):
                raise json_parser_error("Cannot deserialize the request: expected an object")
            ids = [str(i) for i in body.get("ids") or []]
            names = [str(f) for f in body.get("fields") or []]
            if len(ids) > MAX_RETRIEVE_IDS:
                raise limit_error(MAX_RETRIEVE_IDS)
        else:
            ids, names = request.arg_list("ids"), request.arg_list("fields")
        if not names:
            raise ApiError(400, "MISSING_ARGUMENT", "fields parameter is required")
        columns = RestApi._columns(schema, names)
        version = self.version(request)
        out: list[dict[str, Any] | None] = []
        for record_id in ids:
            record = self.app.store.get(record_id)
            visible = (
                record is not None and record["Id"].startswith(schema.key_prefix) and not record["IsDeleted"]
            )
            out.append(project(schema, record, columns, version) if visible and record else None)
        return json_ok(out)


def _record_schema(record: dict[str, Any]) -> tuple[SObjectSchema | None, SaveError | None]:
    declared = (record.get("attributes") or {}).get("type")
    if not declared:
        return None, NO_TYPE
    schema = schema_for(str(declared))
    if schema is None:
        return None, SaveError("INVALID_TYPE", f"sObject type '{declared}' is not supported.")
    return schema, None


def _save_result(result: SaveResult, upsert: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if result.success:
        out["id"] = result.id
    out["success"] = result.success
    out["errors"] = [e.collection() for e in result.errors]
    if upsert:
        out["created"] = bool(result.created) if result.success else False
    return out
