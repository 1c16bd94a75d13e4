"""Bulk API 2.0 for large Salesforce pushes: a constant number of calls, whatever the row count.

* Matching: one **query job** reads every live record with an email (``SELECT … WHERE Email != null``)
  and we keep those whose email is in the push: job, polls, and result pages, not N/200 queries.
* Writing: one **insert job** and one **update job**: create, upload the CSV (201), close, poll, then
  read successful, failed and unprocessed results. Result rows come back in no particular order, so
  they are joined back by a key column of ours: the (deduplicated, lower-cased) ``Email`` for inserts
  and the record ``Id`` for updates.

Nothing in a job is processed before it is closed, so a lost answer while uploading is safe: the job
is aborted and a fresh one made. Facts and sources: ../shared/crm-api-notes-salesforce.md ("Bulk API
2.0 ingest").
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from crm.adapter import CancelCheck
from crm.batching import NOT_SENT, failed
from crm.errors import CRMError, LimitExceeded, RetriableError, ServerError
from crm.http import ApiClient
from crm.model import Action, RecordResult, Value, WriteOp
from crm.soql import identifier

MAX_UPLOAD_BYTES = 90 * 1024 * 1024  # one upload is at most 100 MB of raw CSV; keep a margin
QUERY_PAGE = 50_000  # maxRecords per query-results page
UPLOAD_ATTEMPTS = 5
FINAL_STATES = ("JobComplete", "Failed", "Aborted")
RESULT_UNKNOWN = "RESULT_UNKNOWN"
BodyFn = Callable[[WriteOp], dict[str, Any]]


class LimitAfterClose(LimitExceeded):
    """The API limit ran out after a job was closed: its rows were sent and may have landed."""


def _cell(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def to_csv(rows: Sequence[Mapping[str, Value]]) -> tuple[str, list[str]]:
    """CSV text (LF line endings) and its columns: the union of every row's fields, first seen first."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue(), columns


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def parse_bulk_error(text: str) -> tuple[str, str]:
    """``REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --`` → (code, message)."""
    code, _, rest = text.partition(":")
    message = rest.rsplit(":", 1)[0] if rest.count(":") >= 1 and rest.rstrip().endswith("--") else rest
    return (code.strip() or "BULK_ERROR"), (message.strip() or text)


class BulkClient:
    def __init__(
        self,
        api: ApiClient,
        data_path: str,
        object_name: str,
        poll_interval: float = 0.5,
        max_poll_interval: float = 5.0,
        timeout: float = 3600.0,
    ) -> None:
        self.api = api
        self.data_path = data_path
        self.object_name = object_name
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.timeout = timeout
        self.polls = 0

    # ----- matching ----------------------------------------------------------------------------------
    def query_existing(
        self, fields: Sequence[str], emails: set[str], live_filter: str
    ) -> list[dict[str, Any]]:
        columns = ", ".join(identifier(f) for f in dict.fromkeys(["Id", *fields]))
        where = "Email != null" + (f" AND {live_filter}" if live_filter else "")
        soql = f"SELECT {columns} FROM {identifier(self.object_name)} WHERE {where}"  # noqa: S608  # nosec B608 - names pass identifier(), no user input
        job = self.api.request(
            "POST", f"{self.data_path}/jobs/query", json={"operation": "query", "query": soql}
        )
        job_id = job.json()["id"]
        state = self._wait(f"{self.data_path}/jobs/query/{job_id}")
        if state["state"] != "JobComplete":
            raise ServerError(
                f"Salesforce query job {job_id} ended {state['state']}: {state.get('errorMessage')}"
            )
        rows: list[dict[str, Any]] = []
        locator: str | None = None
        while True:
            params = {"maxRecords": str(QUERY_PAGE), **({"locator": locator} if locator else {})}
            page = self.api.request(
                "GET",
                f"{self.data_path}/jobs/query/{job_id}/results",
                params=params,
                headers={"Accept": "text/csv"},
            )
            rows += [r for r in read_csv(page.text) if (r.get("Email") or "").lower() in emails]
            locator = page.headers.get("Sforce-Locator")
            if not locator or locator == "null":
                return rows

    # ----- writing -----------------------------------------------------------------------------------
    def write(
        self,
        creates: Sequence[WriteOp],
        updates: Sequence[WriteOp],
        body: BodyFn,
        should_stop: CancelCheck | None,
    ) -> Iterator[list[RecordResult]]:
        jobs = [(op_list, kind) for op_list, kind in ((creates, "insert"), (updates, "update")) if op_list]
        for index, (ops, kind) in enumerate(jobs):
            reason = "The push was cancelled." if should_stop and should_stop() else None
            if reason is None:
                try:
                    yield from self._run_chunks(ops, kind, body)
                    continue
                except LimitAfterClose as exc:
                    reason = f"The CRM's API limit was reached: {exc.message}"
                    yield failed(
                        ops,
                        RESULT_UNKNOWN,
                        f"Sent, but the outcome is unknown: {reason} (before the bulk job's results "
                        "could be read). A status check, or the next push, which matches by email, "
                        "finds what landed.",
                    )
                except LimitExceeded as exc:
                    reason = f"The CRM's API limit was reached: {exc.message}"
                    yield failed(ops, NOT_SENT, f"Not sent: {reason}")
                except CRMError as exc:
                    yield failed(ops, exc.code or "BULK_JOB_FAILED", exc.message)
                    continue
            else:
                yield failed(ops, NOT_SENT, f"Not sent: {reason}")
            for later_ops, _ in jobs[index + 1 :]:
                yield failed(later_ops, NOT_SENT, f"Not sent: {reason}")
            return

    def _run_chunks(self, ops: Sequence[WriteOp], kind: str, body: BodyFn) -> Iterator[list[RecordResult]]:
        rows = [({"Id": op.crm_id} if kind == "update" else {}) | body(op) for op in ops]
        text, _ = to_csv(rows)
        if len(text.encode("utf-8")) > MAX_UPLOAD_BYTES and len(ops) > 1:
            half = len(ops) // 2
            yield from self._run_chunks(ops[:half], kind, body)
            yield from self._run_chunks(ops[half:], kind, body)
            return
        yield self._run_job(ops, kind, text)

    def _run_job(self, ops: Sequence[WriteOp], kind: str, text: str) -> list[RecordResult]:
        job_id = self._upload(kind, text)
        base = f"{self.data_path}/jobs/ingest/{job_id}"
        self._close(base)
        try:
            state = self._wait(base)
            if state["state"] != "JobComplete":
                return failed(
                    ops,
                    "BULK_JOB_FAILED",
                    f"Salesforce bulk job {job_id} ended {state['state']}: "
                    f"{state.get('errorMessage') or 'no reason given'}",
                )
            return self._join(ops, kind, base)
        except LimitExceeded as exc:  # the job is closed: its rows may land, so they are not NOT_SENT
            raise LimitAfterClose(exc.message, code=exc.code, status=exc.status, url=exc.url) from exc

    def _close(self, base: str) -> None:
        """Mark the upload complete. A lost answer is settled by reading the job's state: still Open
        means Salesforce never saw the request, so sending it again is safe."""
        for attempt in range(1, UPLOAD_ATTEMPTS + 1):
            try:
                self.api.request("PATCH", base, json={"state": "UploadComplete"}, idempotent=False)
                return
            except RetriableError:
                if self.api.request("GET", base).json().get("state") != "Open":
                    return
                if attempt == UPLOAD_ATTEMPTS:
                    raise

    def _upload(self, kind: str, text: str) -> str:
        spec = {"object": self.object_name, "operation": kind, "contentType": "CSV", "lineEnding": "LF"}
        for attempt in range(1, UPLOAD_ATTEMPTS + 1):
            job_id = self.api.request("POST", f"{self.data_path}/jobs/ingest", json=spec).json()["id"]
            try:
                self.api.request(
                    "PUT",
                    f"{self.data_path}/jobs/ingest/{job_id}/batches",
                    content=text.encode(),
                    headers={"Content-Type": "text/csv"},
                    idempotent=False,
                )
                return job_id
            except RetriableError:
                # Nothing in an open job is processed: abort it and upload to a fresh one.
                with contextlib.suppress(CRMError):
                    self.api.request(
                        "PATCH", f"{self.data_path}/jobs/ingest/{job_id}", json={"state": "Aborted"}
                    )
                if attempt == UPLOAD_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _wait(self, path: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        delay = self.poll_interval
        while True:
            self.polls += 1
            job = self.api.request("GET", path).json()
            if job.get("state") in FINAL_STATES:
                return job
            if time.monotonic() > deadline:
                raise ServerError(f"Salesforce bulk job still {job.get('state')} after {self.timeout:.0f} s")
            time.sleep(delay)
            delay = min(self.max_poll_interval, delay * 1.5)

    def _join(self, ops: Sequence[WriteOp], kind: str, base: str) -> list[RecordResult]:
        key_of = (
            (lambda r: r.get("Id") or r.get("sf__Id") or "")
            if kind == "update"
            else (lambda r: (r.get("Email") or "").strip().lower())
        )
        by_key = {(op.crm_id or "") if kind == "update" else op.email.strip().lower(): op for op in ops}
        out: dict[str, RecordResult] = {}
        ok_action = Action.CREATED if kind == "insert" else Action.UPDATED
        for row in read_csv(self._csv(f"{base}/successfulResults")):
            op = by_key.get(key_of(row))
            if op:
                out[op.key] = RecordResult(op.key, op.email, ok_action, row.get("sf__Id") or op.crm_id)
        for row in read_csv(self._csv(f"{base}/failedResults")):
            op = by_key.get(key_of(row))
            if op:
                code, message = parse_bulk_error(row.get("sf__Error", ""))
                out[op.key] = RecordResult(op.key, op.email, Action.FAILED, op.crm_id, code, message)
        for row in read_csv(self._csv(f"{base}/unprocessedrecords")):
            op = by_key.get(key_of(row))
            if op:
                out[op.key] = RecordResult(
                    op.key,
                    op.email,
                    Action.FAILED,
                    op.crm_id,
                    NOT_SENT,
                    "Not processed by the bulk job; push it again.",
                )
        return [
            out.get(op.key)
            or RecordResult(
                op.key,
                op.email,
                Action.FAILED,
                op.crm_id,
                "NO_RESULT",
                "The bulk job reported nothing for this row; push it again.",
            )
            for op in ops
        ]

    def _csv(self, path: str) -> str:
        return self.api.request("GET", path, headers={"Accept": "text/csv"}).text
