"""Bulk API 2.0 query jobs (``…/jobs/query``): how the adapter matches large pushes in few calls.

A job is created UploadComplete; the first status poll moves it to InProgress and the next runs
the query and reports JobComplete (the same one-step-per-poll progression as ingest jobs). The
statement is checked when the job is created, with the REST query's error codes. Results are CSV
pages: ``maxRecords`` rows each (all remaining when absent), every cell quoted, nulls empty, with
``Sforce-NumberOfRecords`` and ``Sforce-Locator`` (the next page, or the string "null") headers,
which simple-salesforce's bulk2 and our adapter both read.
"""

from __future__ import annotations

import base64
import csv
import io
from dataclasses import dataclass, field
from typing import Any

from crm.sandbox.core import Request, Response
from crm.sandbox.salesforce.bulk_jobs import DELIMITERS, LINE_ENDINGS, TERMINAL
from crm.sandbox.salesforce.common import DATA, ApiPart, Route, json_ok
from crm.sandbox.salesforce.errors import ApiError, not_found
from crm.sandbox.salesforce.ids import KEY_PREFIXES

JOB = r"(?P<job>750[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?)"


@dataclass
class QueryJob:
    id: str
    operation: str
    sobject: str
    soql: str
    api_version: str
    created: str
    column_delimiter: str = "COMMA"
    line_ending: str = "LF"
    state: str = "UploadComplete"
    modstamp: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)

    def info(self, user_id: str, *, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject,
            "createdById": user_id,
            "createdDate": self.created,
            "systemModstamp": self.modstamp or self.created,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        }
        if full:
            out.update(
                jobType="V2Query",
                numberRecordsProcessed=len(self.rows),
                retries=0,
                totalProcessingTime=41 if self.state == "JobComplete" else 0,
            )
        return out

    def page(self, start: int, size: int) -> tuple[str, str]:
        """CSV text of rows ``start`` to ``start + size`` and the locator of the next page."""
        buffer = io.StringIO()
        writer = csv.writer(
            buffer,
            delimiter=DELIMITERS[self.column_delimiter],
            lineterminator=LINE_ENDINGS[self.line_ending],
            quoting=csv.QUOTE_ALL,
        )
        writer.writerow(self.columns)
        chunk = self.rows[start : start + size]
        writer.writerows(chunk)
        end = start + len(chunk)
        locator = base64.b64encode(str(end).encode()).decode().rstrip("=") if end < len(self.rows) else "null"
        return buffer.getvalue(), locator


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _offset(locator: str | None) -> int:
    if not locator:
        return 0
    try:
        return int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode())
    except ValueError:
        raise ApiError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from None


class BulkQueryApi(ApiPart):
    def routes(self) -> list[Route]:
        base = f"{DATA}/jobs/query"
        return [
            ("POST", rf"{base}/?", self.create, "bulkQuery.create", "data"),
            ("GET", rf"{base}/?", self.list_jobs, "bulkQuery.list", "data"),
            ("GET", rf"{base}/{JOB}/?", self.get, "bulkQuery.get", "data"),
            ("PATCH", rf"{base}/{JOB}/?", self.abort, "bulkQuery.abort", "data"),
            ("DELETE", rf"{base}/{JOB}/?", self.delete, "bulkQuery.delete", "data"),
            ("GET", rf"{base}/{JOB}/results/?", self.results, "bulkQuery.results", "data"),
        ]

    def _job(self, request: Request) -> QueryJob:
        job = self.app.query_jobs.get(request.params["job"][:15])
        if job is None:
            raise not_found()
        return job

    def create(self, request: Request) -> Response:
        body = self.body(request)
        if not isinstance(body, dict) or body.get("operation") not in ("query", "queryAll"):
            raise ApiError(400, "INVALIDJOB", "InvalidJob : operation must be query or queryAll")
        soql = str(body.get("query") or "")
        delimiter, line_ending = body.get("columnDelimiter", "COMMA"), body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
            raise ApiError(400, "INVALIDJOB", "InvalidJob : unknown columnDelimiter or lineEnding")
        query, schema, columns, _ = self.app.queries.select(soql, include_deleted=False)
        if query.count or any(c.type == "address" for c in columns):
            raise ApiError(400, "INVALIDJOB", "InvalidJob : aggregate and compound fields are not supported")
        job_id = self.app.ids.new(KEY_PREFIXES["BulkJob"])
        job = QueryJob(
            id=job_id,
            operation=body["operation"],
            sobject=schema.name,
            soql=soql,
            api_version=self.version(request),
            created=self.app.store.now(),
            column_delimiter=delimiter,
            line_ending=line_ending,
        )
        self.app.query_jobs[job_id[:15]] = job
        return json_ok(job.info(self.app.user_id, full=False))

    def list_jobs(self, request: Request) -> Response:
        records = [j.info(self.app.user_id, full=False) for j in self.app.query_jobs.values()]
        return json_ok({"done": True, "records": records, "nextRecordsUrl": None})

    def get(self, request: Request) -> Response:
        job = self._job(request)
        if job.state == "UploadComplete":
            job.state = "InProgress"
            job.modstamp = self.app.store.now()
        elif job.state == "InProgress":
            _, _, columns, matched = self.app.queries.select(
                job.soql, include_deleted=job.operation == "queryAll"
            )
            job.columns = [c.name for c in columns]
            job.rows = [[_cell(r.get(name)) for name in job.columns] for r in matched]
            job.state = "JobComplete"
            job.modstamp = self.app.store.now()
        return json_ok(job.info(self.app.user_id, full=True))

    def abort(self, request: Request) -> Response:
        job = self._job(request)
        body = self.body(request)
        if not isinstance(body, dict) or body.get("state") != "Aborted" or job.state in TERMINAL:
            raise ApiError(400, "INVALIDJOBSTATE", f"Invalid state transition from {job.state}")
        job.state = "Aborted"
        return json_ok(job.info(self.app.user_id, full=False))

    def delete(self, request: Request) -> Response:
        job = self._job(request)
        del self.app.query_jobs[job.id[:15]]
        return Response.empty(204)

    def results(self, request: Request) -> Response:
        job = self._job(request)
        if job.state != "JobComplete":
            raise ApiError(400, "INVALIDJOBSTATE", f"Job [{job.id}] is in state {job.state}, not JobComplete")
        max_records = request.arg("maxRecords")
        size = (
            int(max_records)
            if max_records and max_records.isdigit() and int(max_records) > 0
            else len(job.rows)
        )
        start = _offset(request.arg("locator"))
        text, locator = job.page(start, max(size, 1))
        count = min(size, max(len(job.rows) - start, 0))
        response = Response.text(200, text, content_type="text/csv")
        response.headers.update({"Sforce-Locator": locator, "Sforce-NumberOfRecords": str(count)})
        return response
