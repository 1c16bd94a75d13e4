"""A Bulk API 2.0 ingest job: its CSV, its state machine and its result files.

Processing advances one step per status poll, so a client sees the real progression
Open → UploadComplete → InProgress → JobComplete (or Failed/Aborted): the first poll after the
close starts the job (and fails it at once on a column the object lacks, with Salesforce's
"InvalidBatch : Field name not found : X"), each later poll processes one chunk of 10,000 records
(the size Salesforce chunks ingest data into), and the poll that finishes the last chunk reports
JobComplete. Result rows come back in an order that is *not* the input order (a seeded shuffle),
because real jobs process chunks in parallel and the guide warns that row order is not kept.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crm.sandbox.salesforce.describe import SObjectSchema
from crm.sandbox.salesforce.errors import SaveError
from crm.sandbox.salesforce.store import RecordStore, SaveResult, WriteOptions

if TYPE_CHECKING:
    from collections.abc import Iterable

CHUNK_SIZE = 10_000  # records per internal batch (ASYNC: "How Requests Are Processed")
DELIMITERS = {"BACKQUOTE": "`", "CARET": "^", "COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "TAB": "\t"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
OPERATIONS = ("insert", "update", "upsert", "delete")
TERMINAL = ("JobComplete", "Failed", "Aborted")
NULL_MARKER = "#N/A"  # how a Bulk CSV sets a field to null; an empty cell means "leave unchanged"


@dataclass
class IngestJob:
    id: str
    sobject: str
    operation: str
    api_version: str
    created: str
    shuffle_seed: int
    external_id_field: str | None = None
    column_delimiter: str = "COMMA"
    line_ending: str = "LF"
    state: str = "Open"
    modstamp: str = ""
    raw: bytes | None = None
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    position: int = 0
    successes: list[list[str]] = field(default_factory=list)
    failures: list[list[str]] = field(default_factory=list)
    error_message: str | None = None
    batches: int = 0

    @property
    def content_url(self) -> str:
        return f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches"

    def info(self, *, full: bool) -> dict[str, Any]:
        """The job as the API shows it; ``full`` adds the counters a status poll returns."""
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject,
            "createdById": "",
            "createdDate": self.created,
            "systemModstamp": self.modstamp or self.created,
            "state": self.state,
        }
        if self.external_id_field:
            out["externalIdFieldName"] = self.external_id_field
        out.update(
            concurrencyMode="Parallel",
            contentType="CSV",
            apiVersion=float(self.api_version),
            contentUrl=self.content_url,
            lineEnding=self.line_ending,
            columnDelimiter=self.column_delimiter,
        )
        if full:
            out.update(
                jobType="V2Ingest",
                numberRecordsProcessed=len(self.successes) + len(self.failures),
                numberRecordsFailed=len(self.failures),
                retries=0,
                totalProcessingTime=self.batches * 37,
                apiActiveProcessingTime=self.batches * 29,
                apexProcessingTime=0,
            )
            if self.error_message:
                out["errorMessage"] = self.error_message
        return out

    # ----- data -----------------------------------------------------------------------------------
    def parse(self) -> str | None:
        """Read the uploaded CSV; the reason the job fails on it, if any."""
        text = (self.raw or b"").decode("utf-8", errors="replace")
        if not text.strip():
            return None
        if self.line_ending == "LF" and "\r\n" in text:
            return "LineEnding is invalid on user data. Current LineEnding setting is LF"
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[self.column_delimiter])
        table = [row for row in reader if row]
        self.header, self.rows = (table[0], table[1:]) if table else ([], [])
        return None

    def check_header(self, schema: SObjectSchema) -> str | None:
        for name in self.header:
            if schema.field(name) is None:
                return f"InvalidBatch : Field name not found : {name}"
        return None

    # ----- processing -----------------------------------------------------------------------------
    def advance(self, store: RecordStore, schema: SObjectSchema) -> int:
        """One poll's worth of work; returns how many internal batches it ran."""
        if self.state == "UploadComplete":
            failure = self.parse() or self.check_header(schema)
            if failure:
                self.state, self.error_message = "Failed", failure
            else:
                self.state = "InProgress"
            return 0
        if self.state != "InProgress":
            return 0
        chunk = self.rows[self.position : self.position + CHUNK_SIZE]
        opts = WriteOptions(self.api_version, allow_save=False, source="csv")
        for row in chunk:
            self._process(store, schema, row, opts)
        self.position += len(chunk)
        if chunk:
            self.batches += 1
        if self.position >= len(self.rows):
            self.state = "JobComplete"
        return 1 if chunk else 0

    def _process(self, store: RecordStore, schema: SObjectSchema, row: list[str], opts: WriteOptions) -> None:
        cells = dict(zip(self.header, row + [""] * (len(self.header) - len(row)), strict=False))
        given_id = next((v for k, v in cells.items() if k.lower() == "id"), "")
        payload = {k: (None if v == NULL_MARKER else v) for k, v in cells.items() if v != ""}
        if self.operation == "insert":
            result = store.insert(schema, payload, opts)
        elif self.operation == "update":
            body = {k: v for k, v in payload.items() if k.lower() != "id"}
            result = (
                store.update(schema, given_id, body, opts)
                if given_id
                else SaveResult(None, [SaveError("MISSING_ARGUMENT", "Id not specified in an update call")])
            )
        elif self.operation == "upsert":
            result = store.upsert(schema, self.external_id_field or "Id", payload, opts)
        else:
            result = store.delete(schema, given_id)
        if result.success:
            created = "true" if result.created else "false"
            self.successes.append([result.id or "", created, *row])
        else:
            self.failures.append([given_id, result.errors[0].bulk(), *row])

    # ----- results --------------------------------------------------------------------------------
    def successful_csv(self) -> str:
        return self._csv(['"sf__Id"', '"sf__Created"'], self._shuffled(self.successes))

    def failed_csv(self) -> str:
        return self._csv(['"sf__Id"', '"sf__Error"'], self._shuffled(self.failures))

    def unprocessed_csv(self) -> str:
        if not self.header and not self.rows:
            self.parse()
        rows = self.rows[self.position :] if self.state in ("Failed", "Aborted") else []
        return self._csv([], rows)

    def _csv(self, prefix: list[str], rows: Iterable[list[str]]) -> str:
        delimiter = DELIMITERS[self.column_delimiter]
        newline = LINE_ENDINGS[self.line_ending]
        buffer = io.StringIO()
        buffer.write(delimiter.join(prefix + self.header) + newline)
        csv.writer(buffer, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_ALL).writerows(rows)
        return buffer.getvalue()

    def _shuffled(self, rows: list[list[str]]) -> list[list[str]]:
        """The rows in a repeatable order that is never the input order (for 2+ rows)."""
        order = list(range(len(rows)))
        random.Random(self.shuffle_seed).shuffle(order)  # a row order, not a secret  # nosec B311
        if len(order) > 1 and order == sorted(order):
            order = order[1:] + order[:1]
        return [rows[i] for i in order]
