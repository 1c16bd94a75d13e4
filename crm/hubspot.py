"""HubSpot contacts behind the CRMAdapter interface.

Pushes use **batch upsert by email, 100 inputs a call**: idempotent, so a retry can never create a
duplicate, and each result's ``new`` flag counts created vs updated exactly. A 207 partial failure is
attributed to its input through the ``objectWriteTraceId`` we give each input; a batch refused as a
whole (400) is split in halves until the bad rows are isolated, so the good rows still land.
Facts and sources: ../shared/crm-api-notes-hubspot.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx

from crm.adapter import ApiAdapter, CancelCheck, chunked
from crm.batching import run_batches
from crm.errors import CRMError, ForbiddenError, NetworkError, NotFound, ServerError, ValidationError
from crm.governor import Governor, RollingWindowGovernor, governor_for
from crm.http import UNCERTAIN_RETRY, ApiClient, RetryPolicy, TokenSource
from crm.hubspot_wire import RATE_WINDOW, property_error, route_error, to_field_def, wire
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

API_BASE = "https://api.hubapi.com"
# The v3 paths the official client v12 uses; HubSpot also serves them as /crm/objects/2026-03/… .
CONTACTS = "/crm/v3/objects/contacts"
PROPERTIES = "/crm/v3/properties/contacts"
ACCOUNT_DETAILS = "/account-info/v3/details"
DAILY_USAGE = "/account-info/v3/api-usage/daily/private-apps"
BATCH_SIZE = 100  # "at most 100 inputs per batch call" (API notes, batch limits)
# Requests per 10 s by account tier (changelog "Increasing our API limits"; usage guidelines).
TIER_LIMITS = {
    "free": 100,
    "starter": 100,
    "professional": 190,
    "enterprise": 190,
    "api-limit-increase": 250,
    "public-oauth-app": 110,
}
DEFAULT_TIER = "professional"
DEFAULT_CONCURRENCY = 4
RECORD_URL = "https://{ui_domain}/contacts/{portal_id}/record/0-1/{crm_id}"
SYSTEM_PROPERTIES = ("email", "lastmodifieddate", "hs_merged_object_ids")


class HubSpotAdapter(ApiAdapter):
    provider = Provider.HUBSPOT
    object_name = "contacts"
    upserts_by_email = True

    def __init__(
        self,
        tokens: TokenSource,
        *,
        base_url: str = API_BASE,
        transport: httpx.BaseTransport | None = None,
        tier: str = DEFAULT_TIER,
        concurrency: int = DEFAULT_CONCURRENCY,
        governor: Governor | None = None,
        account_key: str | None = None,
        retry: RetryPolicy | None = None,
        record_url_template: str | None = None,
    ) -> None:
        if tier not in TIER_LIMITS:
            raise ValueError(f"unknown HubSpot tier {tier!r}; choose from {', '.join(TIER_LIMITS)}")
        key = account_key or hashlib.sha256(tokens.token().encode()).hexdigest()[:16]
        limit = TIER_LIMITS[tier]
        self.governor = governor or governor_for(
            f"hubspot:{key}:{limit}", lambda: RollingWindowGovernor(limit, RATE_WINDOW)
        )
        self.concurrency = concurrency
        self.record_url_template = record_url_template or RECORD_URL
        self._usage: dict[str, int] = {}
        self._fields: list[FieldDef] | None = None
        self._account: AccountInfo | None = None
        self._lock = threading.Lock()
        self.api = ApiClient(
            base_url,
            route_error,
            tokens=tokens,
            transport=transport,
            governor=self.governor,
            retry=retry,
            pool_size=max(concurrency * 2, 4),
            on_response=self._note_usage,
        )

    # ----- interface ---------------------------------------------------------------------------------
    def account(self) -> AccountInfo:
        details = self.api.request("GET", ACCOUNT_DETAILS).json()
        used = limit = None
        try:
            daily = self.api.request("GET", DAILY_USAGE).json().get("results") or []
            if daily:
                used, limit = daily[0].get("currentUsage"), daily[0].get("usageLimit")
        except (ForbiddenError, NotFound):
            pass  # OAuth apps cannot read private-app usage; the rate-limit headers still tell us
        if limit is None and "limit" in self._usage:
            used, limit = self._usage["limit"] - self._usage.get("remaining", 0), self._usage["limit"]
        info = AccountInfo(
            provider=Provider.HUBSPOT,
            account_id=str(details.get("portalId", "")),
            instance_url=self.api.base_url,
            api_used=used,
            api_limit=limit,
            details={
                k: details.get(k) for k in ("accountType", "timeZone", "uiDomain", "dataHostingLocation")
            },
        )
        self._account = info
        return info

    def fields(self, refresh: bool = False) -> list[FieldDef]:
        with self._lock:
            if self._fields is None or refresh:
                body = self.api.request("GET", PROPERTIES, params={"archived": "false"}).json()
                self._fields = [to_field_def(p) for p in body.get("results", [])]
            return list(self._fields)

    def create_property(self, spec: Mapping[str, Any], group: str = "contactinformation") -> FieldDef:
        """Create a custom contact property (needs the crm.schemas.contacts.write scope)."""
        body = self.api.request("POST", PROPERTIES, json={"groupName": group, **spec}).json()
        with self._lock:
            self._fields = None
        return to_field_def(body)

    def lookup(self, emails: Sequence[str], properties: Sequence[str]) -> dict[str, list[ExistingRecord]]:
        unique = list(dict.fromkeys(e.strip().lower() for e in emails if e and e.strip()))
        wanted = sorted({*properties, *SYSTEM_PROPERTIES})
        found: dict[str, list[ExistingRecord]] = {}
        chunks = list(chunked(unique, BATCH_SIZE))
        for results in self._parallel(lambda chunk: self._read_by_email(chunk, wanted), chunks):
            for item in results:
                props = item.get("properties") or {}
                email = (props.get("email") or "").lower()
                found.setdefault(email, []).append(
                    ExistingRecord(str(item["id"]), email, props, props.get("lastmodifieddate"))
                )
        return found

    def write(
        self, ops: Sequence[WriteOp], should_stop: CancelCheck | None = None
    ) -> Iterator[list[RecordResult]]:
        upserts = [op for op in ops if op.kind in (WriteKind.UPSERT, WriteKind.CREATE)]
        updates = [op for op in ops if op.kind == WriteKind.UPDATE]
        batches = [*chunked(upserts, BATCH_SIZE), *chunked(updates, BATCH_SIZE)]
        yield from run_batches(batches, self._send, concurrency=self.concurrency, should_stop=should_stop)

    def read_back(self, crm_ids: Sequence[str], properties: Sequence[str]) -> dict[str, RecordStatus]:
        wanted = sorted({*properties, *SYSTEM_PROPERTIES})
        ids = list(dict.fromkeys(crm_ids))
        statuses: dict[str, RecordStatus] = {}

        def read(chunk: Sequence[str], archived: bool) -> list[dict[str, Any]]:
            body = {"properties": wanted, "inputs": [{"id": i} for i in chunk]}
            params = {"archived": "true"} if archived else None
            return (
                self.api.request("POST", f"{CONTACTS}/batch/read", json=body, params=params)
                .json()
                .get("results", [])
            )

        for results in self._parallel(lambda c: read(c, False), list(chunked(ids, BATCH_SIZE))):
            for item in results:
                self._place(item, ids, statuses, RecordState.EXISTS)
        missing = [i for i in ids if i not in statuses]
        for results in self._parallel(lambda c: read(c, True), list(chunked(missing, BATCH_SIZE))):
            for item in results:
                self._place(item, missing, statuses, RecordState.DELETED)
        for crm_id in ids:
            statuses.setdefault(crm_id, RecordStatus(crm_id, RecordState.DELETED))
        return statuses

    def record_url(self, crm_id: str) -> str | None:
        account = self._account or self.account()
        ui_domain = account.details.get("uiDomain") or "app.hubspot.com"
        return self.record_url_template.format(
            ui_domain=ui_domain, portal_id=account.account_id, crm_id=crm_id
        )

    # ----- internals ---------------------------------------------------------------------------------
    def _read_by_email(self, emails: Sequence[str], properties: Sequence[str]) -> list[dict[str, Any]]:
        body = {"idProperty": "email", "properties": list(properties), "inputs": [{"id": e} for e in emails]}
        return self.api.request("POST", f"{CONTACTS}/batch/read", json=body).json().get("results", [])

    def _settle(self, batch: Sequence[WriteOp], started: float) -> list[RecordResult] | None:
        """After an upsert whose every attempt lost its answer: did the CRM commit it? Read the batch back
        by email. Every row written since the batch started means it landed (a batch commits whole);
        anything else is left to the caller as the failure it was. None when it cannot be told."""
        emails = [op.email.strip().lower() for op in batch]
        try:
            items = self._read_by_email(emails, SYSTEM_PROPERTIES)
        except CRMError:
            return None
        since = started - 2.0  # the same clock-skew slack as for retried answers
        landed = {
            (item.get("properties") or {}).get("email", "").lower(): item
            for item in items
            if _epoch(item.get("updatedAt") or (item.get("properties") or {}).get("lastmodifieddate"))
            >= since
        }
        if any(email not in landed for email in emails):
            return None
        return [
            RecordResult(
                op.key,
                op.email,
                Action.CREATED if _epoch(landed[email].get("createdAt")) >= since else Action.UPDATED,
                str(landed[email]["id"]),
            )
            for op, email in zip(batch, emails, strict=True)
        ]

    def _note_usage(self, response: httpx.Response) -> None:
        h = response.headers
        if "X-HubSpot-RateLimit-Daily" in h:
            with contextlib.suppress(ValueError):
                self._usage = {
                    "limit": int(h["X-HubSpot-RateLimit-Daily"]),
                    "remaining": int(h.get("X-HubSpot-RateLimit-Daily-Remaining", 0)),
                }

    def _parallel(self, fn: Callable[[Sequence[str]], Any], chunks: list[Sequence[str]]) -> Iterator[Any]:
        """Independent read calls, at most ``concurrency`` at once, results in order."""
        if len(chunks) <= 1:
            yield from (fn(c) for c in chunks)
            return
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="hubspot-read") as pool:
            yield from pool.map(fn, chunks)

    @staticmethod
    def _place(
        item: Mapping[str, Any], asked: Sequence[str], out: dict[str, RecordStatus], state: RecordState
    ) -> None:
        props = item.get("properties") or {}
        got = str(item["id"])
        modified = props.get("lastmodifieddate") or item.get("updatedAt")
        if got in asked:
            out[got] = RecordStatus(got, state, props, modified)
            return
        merged = [m for m in str(props.get("hs_merged_object_ids") or "").split(";") if m]
        for old in merged:
            if old in asked:
                out[old] = RecordStatus(old, RecordState.MERGED, props, modified, merged_into=got)

    def _send(self, batch: Sequence[WriteOp]) -> list[RecordResult]:
        """One batch call; a batch refused as a whole is bisected to find the rows at fault."""
        update = batch[0].kind == WriteKind.UPDATE
        inputs = [
            {
                **({"id": op.crm_id} if update else {"idProperty": "email", "id": op.email.strip().lower()}),
                "properties": {k: wire(v) for k, v in op.properties.items()},
                "objectWriteTraceId": op.key,
            }
            for op in batch
        ]
        started = time.time()
        try:
            response = self.api.request(
                "POST", f"{CONTACTS}/batch/{'update' if update else 'upsert'}", json={"inputs": inputs}
            )
        except (NetworkError, ServerError):
            settled = None if update else self._settle(batch, started)
            if settled is None:
                raise
            return settled
        except ValidationError as exc:
            if len(batch) == 1:
                code, message = property_error(exc.message or "", exc.code or "VALIDATION_ERROR")
                return [
                    RecordResult(batch[0].key, batch[0].email, Action.FAILED, batch[0].crm_id, code, message)
                ]
            half = len(batch) // 2
            return self._send(batch[:half]) + self._send(batch[half:])
        # After a lost answer the retry sees new=false for rows the first attempt created: a record
        # created since this batch started was created by it (2 s of slack for clock skew).
        created_since = started - 2.0 if response.extensions.get(UNCERTAIN_RETRY) else None
        return self._attribute(batch, response.json(), update, created_since)

    @staticmethod
    def _attribute(
        batch: Sequence[WriteOp], body: Mapping[str, Any], update: bool, created_since: float | None = None
    ) -> list[RecordResult]:
        by_key = {op.key: op for op in batch}
        by_match = {(op.crm_id if update else op.email.strip().lower()): op for op in batch}
        out: dict[str, RecordResult] = {}
        for item in body.get("results", []):
            props = item.get("properties") or {}
            op = by_key.get(str(item.get("objectWriteTraceId"))) or by_match.get(
                str(item.get("id")) if update else (props.get("email") or "").lower()
            )
            if op is None or op.key in out:
                continue
            new = item.get("new") or (
                created_since is not None and _epoch(item.get("createdAt")) >= created_since
            )
            action = Action.CREATED if new else Action.UPDATED
            out[op.key] = RecordResult(op.key, op.email, action, str(item["id"]))
        for err in body.get("errors", []):
            ctx = err.get("context") or {}
            keys = [str(k) for k in ctx.get("objectWriteTraceId", [])]
            keys += [
                by_match[i].key for i in map(str, ctx.get("id", []) + ctx.get("ids", [])) if i in by_match
            ]
            code, message = property_error(err.get("message") or "", err.get("category") or "ERROR")
            for key in keys:
                if key in by_key and key not in out:
                    op = by_key[key]
                    out[key] = RecordResult(key, op.email, Action.FAILED, op.crm_id, code, message)
        for op in batch:  # an answer that names neither: never claim success we cannot show
            out.setdefault(
                op.key,
                RecordResult(
                    op.key,
                    op.email,
                    Action.FAILED,
                    op.crm_id,
                    "NO_RESULT",
                    "HubSpot returned no result for this row; push it again.",
                ),
            )
        return [out[op.key] for op in batch]


def _epoch(stamp: Any) -> float:
    """HubSpot's ISO-8601 timestamps as epoch seconds (0 when absent or unreadable)."""
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
