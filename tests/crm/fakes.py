"""A small in-memory CRM behind the CRMAdapter protocol, for engine tests.

It behaves like a CRM, not like the engine: it matches emails case-insensitively, refuses a create that
lacks a required field, creates on an upsert that finds nothing, and sends its batches through
:func:`crm.batching.run_batches`, so stops and daily limits look exactly as the real adapters make them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence

from crm.adapter import CancelCheck, chunked
from crm.batching import run_batches
from crm.errors import LimitExceeded
from crm.model import (
    AccountInfo,
    Action,
    ExistingRecord,
    FieldDef,
    Provider,
    RecordResult,
    RecordState,
    RecordStatus,
    Value,
    WriteKind,
    WriteOp,
)

EMAIL = "Email"


def lead_fields() -> list[FieldDef]:
    """A Salesforce-Lead-like object: two required fields, a restricted picklist, a number, a read-only."""
    return [
        FieldDef("Id", "Lead ID", "id", read_only=True),
        FieldDef(EMAIL, "Email", "email", max_length=80),
        FieldDef("FirstName", "First Name", "string", max_length=40),
        FieldDef("LastName", "Last Name", "string", required=True, max_length=80),
        FieldDef("Company", "Company", "string", required=True, max_length=255),
        FieldDef("Rating", "Rating", "picklist", options=("Hot", "Warm", "Cold"), restricted=True),
        FieldDef("NumberOfEmployees", "Employees", "integer"),
    ]


class FakeAdapter:
    """Records keyed by id; every call is counted and logged for the tests to inspect."""

    provider = Provider.SALESFORCE

    def __init__(
        self,
        records: Iterable[Mapping[str, Value]] = (),
        *,
        fields: Sequence[FieldDef] | None = None,
        object_name: str = "Lead",
        upserts_by_email: bool = False,
        batch_size: int = 200,
        concurrency: int = 1,
        failures: Mapping[str, tuple[str, str]] | None = None,
        batch_limit: int | None = None,
    ) -> None:
        self.object_name = object_name
        self.upserts_by_email = upserts_by_email
        self.batch_size = batch_size
        self.concurrency = concurrency
        #: lower-cased email -> (error code, message) the CRM answers for any write of that email
        self.failures = {k.lower(): v for k, v in (failures or {}).items()}
        #: batches allowed before the daily allocation runs out (LimitExceeded)
        self.batch_limit = batch_limit
        self._fields = list(fields if fields is not None else lead_fields())
        self.records: dict[str, dict[str, Value]] = {}
        self.lookups: list[tuple[list[str], list[str]]] = []
        self.sent_batches: list[list[WriteOp]] = []
        self._calls = 0
        self._next_id = 0
        self._lock = threading.Lock()
        for record in records:
            self.add(record)

    # -- set-up and inspection helpers (not part of the protocol) --------------------------------------

    def add(self, properties: Mapping[str, Value]) -> str:
        with self._lock:
            self._next_id += 1
            crm_id = f"00Q{self._next_id:06d}"
            self.records[crm_id] = dict(properties)
            return crm_id

    def snapshot(self) -> dict[str, dict[str, Value]]:
        return {crm_id: dict(props) for crm_id, props in self.records.items()}

    @property
    def sent_ops(self) -> list[WriteOp]:
        return [op for batch in self.sent_batches for op in batch]

    def _ids_by_email(self, email: str) -> list[str]:
        key = email.strip().lower()
        return [i for i, p in self.records.items() if str(p.get(EMAIL, "")).strip().lower() == key]

    # -- the CRMAdapter protocol ---------------------------------------------------------------------

    @property
    def api_calls(self) -> int:
        return self._calls

    def account(self) -> AccountInfo:
        return AccountInfo(Provider.SALESFORCE, "00Dfake", user="fake@example.com", api_used=self._calls)

    def fields(self, refresh: bool = False) -> list[FieldDef]:
        return list(self._fields)

    def lookup(self, emails: Sequence[str], properties: Sequence[str]) -> dict[str, list[ExistingRecord]]:
        with self._lock:
            self._calls += 1
            self.lookups.append((list(emails), list(properties)))
            found: dict[str, list[ExistingRecord]] = {}
            for email in emails:
                for crm_id in self._ids_by_email(email):
                    props = self.records[crm_id]
                    record = ExistingRecord(crm_id, str(props[EMAIL]), {p: props.get(p) for p in properties})
                    found.setdefault(email.lower(), []).append(record)
            return found

    def write(
        self, ops: Sequence[WriteOp], should_stop: CancelCheck | None = None
    ) -> Iterator[list[RecordResult]]:
        batches = list(chunked(ops, self.batch_size))
        yield from run_batches(batches, self._send, concurrency=self.concurrency, should_stop=should_stop)

    def _send(self, batch: Sequence[WriteOp]) -> list[RecordResult]:
        with self._lock:
            self._calls += 1
            if self.batch_limit is not None and len(self.sent_batches) >= self.batch_limit:
                raise LimitExceeded("TotalRequests Limit exceeded.", code="REQUEST_LIMIT_EXCEEDED")
            self.sent_batches.append(list(batch))
            return [self._apply(op) for op in batch]

    def _apply(self, op: WriteOp) -> RecordResult:
        def fail(code: str, message: str, crm_id: str | None = op.crm_id) -> RecordResult:
            return RecordResult(op.key, op.email, Action.FAILED, crm_id, code, message)

        if op.email.strip().lower() in self.failures:
            return fail(*self.failures[op.email.strip().lower()])
        target = op.crm_id
        if op.kind == WriteKind.UPSERT:
            matches = self._ids_by_email(op.email)
            if len(matches) > 1:
                return fail("DUPLICATE_EXTERNAL_ID", "More than one record has this email.", None)
            target = matches[0] if matches else None
        elif op.kind == WriteKind.UPDATE and target not in self.records:
            return fail("ENTITY_IS_DELETED", "entity is deleted")
        if target is not None:
            self.records[target].update(op.properties)
            return RecordResult(op.key, op.email, Action.UPDATED, target)
        missing = [
            f.name for f in self._fields if f.required and str(op.properties.get(f.name) or "").strip() == ""
        ]
        if missing:
            return fail("REQUIRED_FIELD_MISSING", f"Required fields are missing: {missing}", None)
        self._next_id += 1
        crm_id = f"00Q{self._next_id:06d}"
        self.records[crm_id] = dict(op.properties)
        return RecordResult(op.key, op.email, Action.CREATED, crm_id)

    def read_back(self, crm_ids: Sequence[str], properties: Sequence[str]) -> dict[str, RecordStatus]:
        with self._lock:
            self._calls += 1
            return {
                i: RecordStatus(i, RecordState.EXISTS, {p: self.records[i].get(p) for p in properties})
                if i in self.records
                else RecordStatus(i, RecordState.DELETED)
                for i in crm_ids
            }

    def record_url(self, crm_id: str) -> str | None:
        return f"https://fake.my.salesforce.com/{crm_id}"

    def usage(self) -> Mapping[str, int]:
        return {"used": self._calls, "limit": 15000}

    def close(self) -> None:
        return None
