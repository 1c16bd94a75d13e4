"""Bulk API 2.0 ingest routes (``…/jobs/ingest``), the ones simple-salesforce's bulk2 drives.

Create answers the job with ``contentUrl`` *without* a leading slash; the one CSV upload answers
201 with an empty body (a second ``PUT`` is refused with "Found multiple contents for job", as
real orgs do); ``PATCH`` closes (UploadComplete) or aborts; ``GET`` polls and advances the job
(see :mod:`bulk_jobs`); ``DELETE`` answers 204. Results are CSV: ``successfulResults``
(``"sf__Id","sf__Created",…``), ``failedResults`` (``"sf__Id","sf__Error",…``) and
``unprocessedrecords`` (simple-salesforce spells it ``unprocessedRecords``; both are served).
Job-state and job-definition refusals use the Bulk API's upper-case codes (INVALIDJOBSTATE,
INVALIDJOB); those exact bodies are not in a primary source we could check.
"""

from __future__ import annotations

from typing import Any

from crm.sandbox.core import Request, Response
from crm.sandbox.salesforce.bulk_jobs import DELIMITERS, LINE_ENDINGS, OPERATIONS, TERMINAL, IngestJob
from crm.sandbox.salesforce.common import DATA, ApiPart, Route, json_ok
from crm.sandbox.salesforce.describe import schema_for
from crm.sandbox.salesforce.errors import ApiError, not_found
from crm.sandbox.salesforce.ids import KEY_PREFIXES

JOB = r"(?P<job>750[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?)"


class BulkApi(ApiPart):
    def routes(self) -> list[Route]:
        base = f"{DATA}/jobs/ingest"
        return [
            ("POST", rf"{base}/?", self.create, "bulk.create", "data"),
            ("GET", rf"{base}/?", self.list_jobs, "bulk.list", "data"),
            ("GET", rf"{base}/{JOB}/?", self.get, "bulk.get", "data"),
            ("PATCH", rf"{base}/{JOB}/?", self.set_state, "bulk.state", "data"),
            ("DELETE", rf"{base}/{JOB}/?", self.delete, "bulk.delete", "data"),
            ("PUT", rf"{base}/{JOB}/batches/?", self.upload, "bulk.upload", "data"),
            ("GET", rf"{base}/{JOB}/successfulResults/?", self.successful, "bulk.successfulResults", "data"),
            ("GET", rf"{base}/{JOB}/failedResults/?", self.failed, "bulk.failedResults", "data"),
            (
                "GET",
                rf"{base}/{JOB}/(?i:unprocessedrecords)/?",
                self.unprocessed,
                "bulk.unprocessedrecords",
                "data",
            ),
        ]

    @property
    def jobs(self) -> dict[str, IngestJob]:
        return self.app.jobs

    def _job(self, request: Request) -> IngestJob:
        job = self.jobs.get(request.params["job"][:15])
        if job is None:
            raise not_found()
        return job

    def create(self, request: Request) -> Response:
        body = self.body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "INVALIDJOB", "InvalidJob : the request body must be a JSON object")
        schema = schema_for(str(body.get("object") or ""))
        if schema is None:
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid object: {body.get('object')}")
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        if body.get("contentType", "CSV") != "CSV":
            raise ApiError(400, "INVALIDJOB", "InvalidJob : contentType must be CSV")
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
            raise ApiError(400, "INVALIDJOB", "InvalidJob : unknown columnDelimiter or lineEnding")
        external = body.get("externalIdFieldName")
        if operation == "upsert":
            info = schema.field(str(external or ""))
            if info is None or not (info.external_id or info.id_lookup):
                raise ApiError(
                    400,
                    "INVALIDJOB",
                    f"InvalidJob : External ID was blank or invalid for {schema.name}: {external}",
                )
            external = info.name
        job_id = self.app.ids.new(KEY_PREFIXES["BulkJob"])
        job = IngestJob(
            id=job_id,
            sobject=schema.name,
            operation=operation,
            api_version=self.version(request),
            created=self.app.store.now(),
            shuffle_seed=self.app.bulk_rng.randrange(2**32),
            external_id_field=external if operation == "upsert" else None,
            column_delimiter=delimiter,
            line_ending=line_ending,
        )
        self.jobs[job_id[:15]] = job
        return json_ok(self._info(job, full=False))

    def list_jobs(self, request: Request) -> Response:
        records = [self._info(j, full=False) for j in self.jobs.values()]
        return json_ok({"done": True, "records": records, "nextRecordsUrl": None})

    def get(self, request: Request) -> Response:
        job = self._job(request)
        schema = schema_for(job.sobject)
        if schema is not None and job.state not in TERMINAL:
            before = job.state
            self.app.bulk_batches += job.advance(self.app.store, schema)
            if job.state != before:
                job.modstamp = self.app.store.now()
        return json_ok(self._info(job, full=True))

    def set_state(self, request: Request) -> Response:
        job = self._job(request)
        body = self.body(request)
        wanted = body.get("state") if isinstance(body, dict) else None
        if wanted == "UploadComplete" and job.state == "Open":
            job.state = "UploadComplete"
        elif wanted == "Aborted" and job.state not in TERMINAL:
            job.state = "Aborted"
        else:
            raise ApiError(400, "INVALIDJOBSTATE", f"Invalid state transition from {job.state} to {wanted}")
        job.modstamp = self.app.store.now()
        return json_ok(self._info(job, full=False))

    def delete(self, request: Request) -> Response:
        job = self._job(request)
        if job.state in ("Open", "InProgress"):
            raise ApiError(400, "INVALIDJOBSTATE", f"Job in state {job.state} can't be deleted")
        del self.jobs[job.id[:15]]
        return Response.empty(204)

    def upload(self, request: Request) -> Response:
        job = self._job(request)
        if job.state != "Open":
            raise ApiError(409, "INVALIDJOBSTATE", f"Job [{job.id}] is not in Open state")
        if job.raw is not None:
            raise ApiError(
                400,
                "INVALIDJOBSTATE",
                f"Found multiple contents for job: <{job.id}>, please 'Close' / 'Abort' / 'Delete' the "
                "current Job then create a new Job and make sure you only do 'PUT' once on a given Job.",
            )
        job.raw = request.body
        return Response.empty(201)

    def successful(self, request: Request) -> Response:
        return _csv(self._job(request).successful_csv())

    def failed(self, request: Request) -> Response:
        return _csv(self._job(request).failed_csv())

    def unprocessed(self, request: Request) -> Response:
        return _csv(self._job(request).unprocessed_csv())

    def _info(self, job: IngestJob, *, full: bool) -> dict[str, Any]:
        info = job.info(full=full)
        info["createdById"] = self.app.user_id
        return info


def _csv(text: str) -> Response:
    return Response.text(200, text, content_type="text/csv")
