"""A push run, provider-agnostic: screen → match → write in batches → one result per row.

1. **Screen** every row: a missing or invalid email fails it; a duplicate email (case-insensitive) is
   merged into the later row; a value the CRM would refuse fails it with the field and the fix; a row
   whose payload is unchanged since the last successful push to this connection is skipped (unless the
   push is forced).
2. **Match** by email when the mode or the CRM needs it (a dry run always does, to predict).
3. **Plan** create, update or skip per row; rows that would be created without a required field fail.
4. **Write** through the adapter in the CRM's batches (or, in a dry run, report the plan as predictions
   with the field changes an update would make).

Results reach a :class:`RunRecorder` batch by batch, so the caller can persist each batch in its own
transaction and a crash loses nothing. The engine never imports the app or the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from crm.adapter import CRMAdapter
from crm.batching import NOT_SENT
from crm.mapping import payload_hash
from crm.model import (
    Action,
    ExistingRecord,
    FieldChange,
    LeadRecord,
    Progress,
    PushMode,
    PushSummary,
    RecordResult,
    Value,
    WriteKind,
    WriteOp,
)
from crm.validation import RowValidator, is_valid_email

RECORD_CHUNK = 1000  # results decided before any write are recorded in chunks of this size


UNCHANGED = "UNCHANGED"
UNCHANGED_MESSAGE = (
    "Unchanged since the last successful push; not sent again. Force a full push to send it anyway."
)


@dataclass(frozen=True)
class PushOptions:
    mode: PushMode = PushMode.UPSERT
    dry_run: bool = False
    force_full: bool = False  # send rows even when unchanged since the last push


class RunRecorder(Protocol):
    """Where results go. ``record`` is called once per batch; the caller makes it one transaction."""

    def record(self, results: Sequence[RecordResult], api_calls: int) -> None: ...

    def should_stop(self) -> bool: ...


class MemoryRecorder:
    """Keeps results in memory: tests, and callers that persist nothing."""

    def __init__(self) -> None:
        self.results: list[RecordResult] = []
        self.batches = 0
        self.stop = False

    def record(self, results: Sequence[RecordResult], api_calls: int) -> None:
        self.results.extend(results)
        self.batches += 1

    def should_stop(self) -> bool:
        return self.stop

    def by_key(self) -> dict[str, RecordResult]:
        return {r.key: r for r in self.results}


ProgressCallback = Callable[[Progress], None]


class _Tally:
    """Counts results as they are recorded and reports progress."""

    def __init__(
        self, adapter: CRMAdapter, recorder: RunRecorder, total: int, on_progress: ProgressCallback | None
    ):
        self.adapter, self.recorder, self.total, self.on_progress = adapter, recorder, total, on_progress
        self.started = time.monotonic()
        self.calls_at_start = adapter.api_calls
        self.counts = dict.fromkeys(Action, 0)
        self.stopped_reason: str | None = None

    @property
    def api_calls(self) -> int:
        return self.adapter.api_calls - self.calls_at_start

    def add(self, results: Sequence[RecordResult]) -> None:
        if not results:
            return
        for r in results:
            self.counts[r.action] += 1
            if r.error_code == NOT_SENT and self.stopped_reason is None:
                self.stopped_reason = r.error_message
        self.recorder.record(results, self.api_calls)
        if self.on_progress:
            c = self.counts
            self.on_progress(
                Progress(
                    done=sum(c.values()),
                    total=self.total,
                    created=c[Action.CREATED],
                    updated=c[Action.UPDATED],
                    skipped=c[Action.SKIPPED],
                    failed=c[Action.FAILED],
                    api_calls=self.api_calls,
                    elapsed=time.monotonic() - self.started,
                )
            )

    def add_chunked(self, results: Sequence[RecordResult]) -> None:
        for start in range(0, len(results), RECORD_CHUNK):
            self.add(results[start : start + RECORD_CHUNK])

    def summary(self, dry_run: bool) -> PushSummary:
        c = self.counts
        return PushSummary(
            total=self.total,
            created=c[Action.CREATED],
            updated=c[Action.UPDATED],
            skipped=c[Action.SKIPPED],
            failed=c[Action.FAILED],
            api_calls=self.api_calls,
            seconds=time.monotonic() - self.started,
            dry_run=dry_run,
            stopped_reason=self.stopped_reason,
        )


def _result(
    row: LeadRecord,
    action: Action,
    code: str | None = None,
    message: str | None = None,
    crm_id: str | None = None,
    changes: tuple[FieldChange, ...] = (),
) -> RecordResult:
    return RecordResult(row.key, row.email, action, crm_id, code, message, changes)


def screen(
    rows: Sequence[LeadRecord],
    validator: RowValidator,
    object_name: str,
    previous_hashes: Mapping[str, str] | None,
    force_full: bool,
) -> tuple[list[LeadRecord], list[RecordResult]]:
    """Split rows into those to match and write, and those already decided (merged, invalid, unchanged)."""
    last_by_email: dict[str, LeadRecord] = {}
    decided: list[RecordResult] = []
    valid: list[LeadRecord] = []
    for row in rows:
        email = (row.email or "").strip()
        if not email:
            decided.append(
                _result(
                    row, Action.FAILED, "MISSING_EMAIL", "The row has no email; add one or exclude the row."
                )
            )
        elif not is_valid_email(email):
            message = f"'{email[:80]}' is not a valid email address. Correct it or exclude the row."
            decided.append(_result(row, Action.FAILED, "INVALID_EMAIL", message))
        else:
            last_by_email[email.lower()] = row  # the later row wins
            valid.append(row)
    for row in valid:
        winner = last_by_email[row.email.strip().lower()]
        if winner is not row:
            message = f"Same email as row {winner.key} in this push: merged into it (the later row wins)."
            decided.append(_result(row, Action.SKIPPED, "MERGED", message))
    ready: list[LeadRecord] = []
    for key, row in last_by_email.items():
        problems = validator.check(row.key, row.properties)
        if problems:
            message = " ".join(p.message for p in problems)
            decided.append(_result(row, Action.FAILED, problems[0].code, message))
            continue
        if previous_hashes and not force_full:
            fingerprint = row.fingerprint or payload_hash(object_name, row.properties)
            if previous_hashes.get(key) == fingerprint:
                decided.append(_result(row, Action.SKIPPED, UNCHANGED, UNCHANGED_MESSAGE))
                continue
        ready.append(row)
    return ready, decided


def _same(a: Value, b: Value) -> bool:
    def norm(v: Value) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        text = str(v).strip()
        try:
            number = float(text)
        except ValueError:
            return text.lower() if "@" in text else text
        return str(int(number)) if number.is_integer() else str(number)

    return norm(a) == norm(b)


def field_changes(payload: Mapping[str, Value], existing: ExistingRecord) -> tuple[FieldChange, ...]:
    """The fields an update would change, before → after."""
    return tuple(
        FieldChange(name, existing.properties.get(name), value)
        for name, value in payload.items()
        if not _same(existing.properties.get(name), value)
    )


def plan(
    rows: Iterable[LeadRecord],
    existing: Mapping[str, list[ExistingRecord]],
    options: PushOptions,
    validator: RowValidator,
    matched: bool,
) -> tuple[list[WriteOp], list[RecordResult]]:
    """Turn rows into write ops, or into results decided by the match (skipped, ambiguous, missing)."""
    ops: list[WriteOp] = []
    decided: list[RecordResult] = []
    for row in rows:
        email_key = row.email.strip().lower()
        if not matched:
            ops.append(WriteOp(row.key, row.email.strip(), WriteKind.UPSERT, row.properties))
            continue
        found = existing.get(email_key, [])
        if len(found) > 1:
            ids = ", ".join(r.crm_id for r in found[:5])
            decided.append(
                _result(
                    row,
                    Action.FAILED,
                    "AMBIGUOUS_MATCH",
                    f"{len(found)} CRM records share this email "
                    f"({ids}); merge them in the CRM, then push again.",
                )
            )
        elif found:
            if options.mode == PushMode.CREATE_ONLY:
                decided.append(
                    _result(
                        row,
                        Action.SKIPPED,
                        "EXISTS",
                        "Already in the CRM; create-only mode leaves it as it is.",
                        crm_id=found[0].crm_id,
                    )
                )
            else:
                ops.append(WriteOp(row.key, row.email, WriteKind.UPDATE, row.properties, found[0].crm_id))
        elif options.mode == PushMode.UPDATE_ONLY:
            decided.append(
                _result(row, Action.SKIPPED, "NOT_FOUND", "Not in the CRM; update-only mode creates nothing.")
            )
        else:
            missing = validator.missing_required(row.key, row.properties)
            if missing:
                decided.append(
                    _result(row, Action.FAILED, missing[0].code, " ".join(p.message for p in missing))
                )
            else:
                ops.append(WriteOp(row.key, row.email, WriteKind.CREATE, row.properties))
    return ops, decided


def predict(ops: Sequence[WriteOp], existing: Mapping[str, list[ExistingRecord]]) -> list[RecordResult]:
    """What a real push of ``ops`` would do: a dry run's results, with the changes of each update."""
    out = []
    for op in ops:
        if op.kind == WriteKind.UPDATE:
            before = existing[op.email.strip().lower()][0]
            changes = field_changes(op.properties, before)
            out.append(RecordResult(op.key, op.email, Action.UPDATED, op.crm_id, changes=changes))
        else:
            out.append(RecordResult(op.key, op.email, Action.CREATED))
    return out


def run_push(
    adapter: CRMAdapter,
    rows: Sequence[LeadRecord],
    *,
    options: PushOptions | None = None,
    recorder: RunRecorder | None = None,
    previous_hashes: Mapping[str, str] | None = None,
    on_progress: ProgressCallback | None = None,
) -> PushSummary:
    """Push (or dry-run) ``rows``; every row gets exactly one result through ``recorder``."""
    options = options or PushOptions()
    recorder = recorder or MemoryRecorder()
    tally = _Tally(adapter, recorder, len(rows), on_progress)
    validator = RowValidator(adapter.fields())
    unusable = validator.unusable_fields({name for row in rows for name in row.properties})
    if unusable:  # every row would fail the same way at the CRM: send nothing, say why on every row
        message = " ".join(p.message for p in unusable)
        tally.add_chunked([_result(row, Action.FAILED, unusable[0].code, message) for row in rows])
        return tally.summary(options.dry_run)
    ready, decided = screen(rows, validator, adapter.object_name, previous_hashes, options.force_full)
    tally.add_chunked(decided)

    matched = options.dry_run or options.mode != PushMode.UPSERT or not adapter.upserts_by_email
    existing: Mapping[str, list[ExistingRecord]] = {}
    if matched and ready:
        wanted = sorted({name for row in ready for name in row.properties})
        existing = adapter.lookup([row.email.strip() for row in ready], wanted)  # as screened and planned
    ops, decided = plan(ready, existing, options, validator, matched)
    tally.add_chunked(decided)

    if options.dry_run:
        tally.add_chunked(predict(ops, existing))
    elif ops:
        for results in adapter.write(ops, should_stop=recorder.should_stop):
            tally.add(results)
    return tally.summary(options.dry_run)
