"""Salesforce Lead or Contact behind the CRMAdapter interface.

Emails are matched with chunked SOQL ``IN`` queries (every literal escaped by :mod:`crm.soql`).
Creates and updates go through **sObject Collections, 200 records a call, allOrNone=false**; above
``bulk_threshold`` rows they go through **Bulk API 2.0** instead (:mod:`crm.salesforce_bulk`).

A create is not idempotent. When its answer is lost (timeout, dropped connection, 5xx), the batch's
emails are looked up again before anything is re-sent: records that landed are reported as created,
only the missing ones are created again. A retry therefore never creates a duplicate.
Facts and sources: ../shared/crm-api-notes-salesforce.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from crm.adapter import ApiAdapter, CancelCheck, chunked
from crm.batching import run_batches
from crm.errors import RetriableError, ServerError
from crm.http import ApiClient, RetryPolicy, TokenSource
from crm.model import (
    AccountInfo,
    Action,
    ExistingRecord,
    FieldDef,
    Provider,
    RecordResult,
    RecordState,
    RecordStatus,
    WriteKind,
    WriteOp,
)
from crm.salesforce_bulk import BulkClient
from crm.salesforce_wire import (
    DEFAULT_API_VERSION,
    LIMIT_HEADER,
    lightning_url,
    parse_usage,
    route_error,
    to_field_def,
)
from crm.soql import select_where_in
from crm.validation import coerce

OBJECTS = ("Lead", "Contact")
COLLECTION_SIZE = 200  # sObject Collections: up to 200 records a call
RETRIEVE_SIZE = 2000  # POST …/composite/sobjects/{type} retrieves up to 2000 ids
DEFAULT_BULK_THRESHOLD = 2000  # notes: "use it above about 2,000 records"
DEFAULT_CONCURRENCY = 8  # Salesforce has no per-second limit; stay far below 25 long-running requests
CREATE_ATTEMPTS = 4
SYSTEM_FIELDS = ("Email", "LastModifiedDate")


class SalesforceAdapter(ApiAdapter):
    provider = Provider.SALESFORCE
    upserts_by_email = False

    def __init__(
        self,
        tokens: TokenSource,
        instance_url: str,
        *,
        object_name: str = "Lead",
        api_version: str = DEFAULT_API_VERSION,
        transport: httpx.BaseTransport | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        bulk_threshold: int | None = DEFAULT_BULK_THRESHOLD,
        allow_duplicates: bool = False,
        retry: RetryPolicy | None = None,
        poll_interval: float = 0.5,
    ) -> None:
        if object_name not in OBJECTS:
            raise ValueError(f"Salesforce object must be one of {', '.join(OBJECTS)}, not {object_name!r}")
        self.object_name = object_name
        self.instance_url = instance_url.rstrip("/")
        self.data_path = f"/services/data/v{api_version}"
        self.concurrency = concurrency
        self.bulk_threshold = bulk_threshold
        self.allow_duplicates = allow_duplicates
        self._usage: dict[str, int] = {}
        self._fields: list[FieldDef] | None = None
        self._lock = threading.Lock()
        self.api = ApiClient(
            self.instance_url,
            route_error,
            tokens=tokens,
            transport=transport,
            retry=retry,
            pool_size=max(concurrency * 2, 4),
            on_response=self._note_usage,
        )
        self.bulk = BulkClient(self.api, self.data_path, object_name, poll_interval=poll_interval)

    # ----- interface ---------------------------------------------------------------------------------
    def account(self) -> AccountInfo:
        info = self.api.request("GET", "/services/oauth2/userinfo").json()
        limits = self.api.request("GET", f"{self.data_path}/limits").json().get("DailyApiRequests", {})
        used = limit = None
        if "Max" in limits:
            limit, used = int(limits["Max"]), int(limits["Max"]) - int(limits.get("Remaining", 0))
        return AccountInfo(
            provider=Provider.SALESFORCE,
            account_id=str(info.get("organization_id", "")),
            user=info.get("preferred_username") or info.get("email") or info.get("name"),
            instance_url=self.instance_url,
            api_used=used,
            api_limit=limit,
            details={"user_id": info.get("user_id"), "name": info.get("name"), "object": self.object_name},
        )

    def fields(self, refresh: bool = False) -> list[FieldDef]:
        with self._lock:
            if self._fields is None or refresh:
                body = self.api.request(
                    "GET", f"{self.data_path}/sobjects/{self.object_name}/describe"
                ).json()
                self._fields = [to_field_def(f) for f in body.get("fields", [])]
            return list(self._fields)

    def lookup(self, emails: Sequence[str], properties: Sequence[str]) -> dict[str, list[ExistingRecord]]:
        unique = list(dict.fromkeys(e.strip().lower() for e in emails if e and e.strip()))
        wanted = list(dict.fromkeys([*SYSTEM_FIELDS, *properties]))
        if self.bulk_threshold is not None and len(unique) >= self.bulk_threshold:
            rows = self.bulk.query_existing(wanted, set(unique), self._live_filter())
        else:
            statements = list(
                select_where_in(self.object_name, wanted, "Email", unique, extra=self._live_filter())
            )
            rows = [r for page in self._parallel(self._query_all, statements) for r in page]
        found: dict[str, list[ExistingRecord]] = {}
        for r in rows:
            email = str(r.get("Email") or "").lower()
            props = {k: v for k, v in r.items() if k != "attributes"}
            found.setdefault(email, []).append(
                ExistingRecord(str(r["Id"]), email, props, r.get("LastModifiedDate"))
            )
        return found

    def write(
        self, ops: Sequence[WriteOp], should_stop: CancelCheck | None = None
    ) -> Iterator[list[RecordResult]]:
        creates = [op for op in ops if op.kind != WriteKind.UPDATE]
        updates = [op for op in ops if op.kind == WriteKind.UPDATE]
        if self.bulk_threshold is not None and len(ops) >= self.bulk_threshold:
            yield from self.bulk.write(creates, updates, self._body, should_stop)
            return
        batches = [*chunked(creates, COLLECTION_SIZE), *chunked(updates, COLLECTION_SIZE)]
        yield from run_batches(batches, self._send, concurrency=self.concurrency, should_stop=should_stop)

    def read_back(self, crm_ids: Sequence[str], properties: Sequence[str]) -> dict[str, RecordStatus]:
        ids = list(dict.fromkeys(crm_ids))
        extra = ("IsConverted", "ConvertedContactId") if self.object_name == "Lead" else ()
        wanted = list(dict.fromkeys(["Id", *SYSTEM_FIELDS, *properties, *extra]))
        out: dict[str, RecordStatus] = {}
        path = f"{self.data_path}/composite/sobjects/{self.object_name}"
        for chunk in chunked(ids, RETRIEVE_SIZE):
            records = self.api.request("POST", path, json={"ids": list(chunk), "fields": wanted}).json()
            for crm_id, rec in zip(chunk, records, strict=False):
                if rec is None:
                    continue
                props = {k: v for k, v in rec.items() if k != "attributes"}
                if rec.get("IsConverted"):
                    out[crm_id] = RecordStatus(
                        crm_id,
                        RecordState.CONVERTED,
                        props,
                        rec.get("LastModifiedDate"),
                        merged_into=rec.get("ConvertedContactId"),
                    )
                else:
                    out[crm_id] = RecordStatus(crm_id, RecordState.EXISTS, props, rec.get("LastModifiedDate"))
        gone = [i for i in ids if i not in out]
        for statement in select_where_in(self.object_name, ["IsDeleted", "MasterRecordId"], "Id", gone):
            for rec in self._query_all(statement, all_rows=True):
                master = rec.get("MasterRecordId")
                state = RecordState.MERGED if master else RecordState.DELETED
                out[str(rec["Id"])] = RecordStatus(str(rec["Id"]), state, merged_into=master)
        for crm_id in ids:
            out.setdefault(crm_id, RecordStatus(crm_id, RecordState.DELETED))
        return out

    def record_url(self, crm_id: str) -> str | None:
        return lightning_url(self.instance_url, self.object_name, crm_id)

    # ----- internals ---------------------------------------------------------------------------------
    def _live_filter(self) -> str:
        """Converted leads cannot be updated; match only the live ones."""
        return "IsConverted = false" if self.object_name == "Lead" else ""

    def _note_usage(self, response: httpx.Response) -> None:
        usage = parse_usage(response.headers.get(LIMIT_HEADER))
        # Answers of concurrent calls arrive in any order: an older count must not replace a newer one.
        if usage and usage.get("used", 0) >= self._usage.get("used", -1):
            self._usage = usage

    def _parallel(self, fn: Callable[[str], Any], items: Sequence[str]) -> Iterator[Any]:
        if len(items) <= 1:
            yield from map(fn, items)
            return
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="sf-query") as pool:
            yield from pool.map(fn, items)

    def _query_all(self, soql: str, all_rows: bool = False) -> list[dict[str, Any]]:
        """Every record of a query, following ``nextRecordsUrl`` (a repeated cursor is refused)."""
        resource = "queryAll" if all_rows else "query"
        body = self.api.request("GET", f"{self.data_path}/{resource}", params={"q": soql}).json()
        records = list(body.get("records", []))
        seen: set[str] = set()
        while not body.get("done", True) and body.get("nextRecordsUrl"):
            cursor = body["nextRecordsUrl"]
            if cursor in seen:
                raise ServerError(f"Salesforce repeated the query cursor {cursor}", url=cursor)
            seen.add(cursor)
            body = self.api.request("GET", cursor).json()
            records.extend(body.get("records", []))
        return records

    def _body(self, op: WriteOp) -> dict[str, Any]:
        """A record's JSON fields, typed as the describe says (numbers and booleans as such)."""
        by_name = {f.name: f for f in self.fields()}
        return {k: coerce(v, by_name.get(k)) for k, v in op.properties.items()}

    def _send(self, batch: Sequence[WriteOp]) -> list[RecordResult]:
        if batch[0].kind == WriteKind.UPDATE:
            records = [
                {"attributes": {"type": self.object_name}, "Id": op.crm_id, **self._body(op)} for op in batch
            ]
            return self._collection("PATCH", batch, records, Action.UPDATED, idempotent=True)
        return self._create(batch)

    def _create(self, batch: Sequence[WriteOp]) -> list[RecordResult]:
        """Create, and on a lost answer look up before creating again (never a duplicate)."""
        results: dict[str, RecordResult] = {}
        pending = list(batch)
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            records = [{"attributes": {"type": self.object_name}, **self._body(op)} for op in pending]
            try:
                for r in self._collection("POST", pending, records, Action.CREATED, idempotent=False):
                    results[r.key] = r
                break
            except RetriableError as exc:
                landed = self.lookup([op.email for op in pending], [])
                for op in pending:
                    found = landed.get(op.email.strip().lower())
                    if found:
                        results[op.key] = RecordResult(op.key, op.email, Action.CREATED, found[0].crm_id)
                pending = [op for op in pending if op.key not in results]
                if not pending:
                    break
                if attempt == CREATE_ATTEMPTS:
                    for op in pending:
                        results[op.key] = RecordResult(
                            op.key,
                            op.email,
                            Action.FAILED,
                            None,
                            exc.code or "RETRY_EXHAUSTED",
                            f"Not created after {attempt} attempts: {exc.message}",
                        )
                else:
                    policy = self.api.retry  # back off as the connection's retry policy says
                    time.sleep(min(policy.max_delay, policy.base_delay * 2**attempt))
        return [results[op.key] for op in batch]

    def _collection(
        self,
        method: str,
        batch: Sequence[WriteOp],
        records: list[dict[str, Any]],
        ok: Action,
        idempotent: bool,
    ) -> list[RecordResult]:
        headers = {"Sforce-Duplicate-Rule-Header": "allowSave=true"} if self.allow_duplicates else None
        body = {"allOrNone": False, "records": records}
        answers = self.api.request(
            method, f"{self.data_path}/composite/sobjects", json=body, headers=headers, idempotent=idempotent
        ).json()
        out = []
        for op, answer in zip(batch, answers, strict=True):
            if answer.get("success"):
                out.append(RecordResult(op.key, op.email, ok, answer.get("id") or op.crm_id))
            else:
                err = (answer.get("errors") or [{}])[0]
                out.append(
                    RecordResult(
                        op.key,
                        op.email,
                        Action.FAILED,
                        op.crm_id,
                        err.get("statusCode") or "ERROR",
                        err.get("message") or "Salesforce refused the record.",
                    )
                )
        return out
