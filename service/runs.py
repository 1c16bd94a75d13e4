"""Push runs: create (every row stored pending first), execute, resume, retry failed, cancel.

A run is created with one ``pending`` record per input row before anything is sent. Executing it
claims it (one executor only), sends the pending rows through :func:`crm.push.run_push`, and writes each
batch's results in its own transaction while a heartbeat shows it is alive. A crash leaves exactly the
unsent rows pending: the run shows as *interrupted*, and :func:`resume` finishes it, re-sending no
success and creating no duplicate (HubSpot upserts are idempotent; Salesforce rows are looked up again).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from crm.errors import CRMError, NotConfigured
from crm.mapping import FieldMapping, parse_mapping, payload_hash
from crm.model import LeadRecord, Progress, PushMode, PushSummary, RecordResult
from crm.push import UNCHANGED, UNCHANGED_MESSAGE, PushOptions, run_push
from data import runs as store
from data import sync_state
from data.lead_columns import LEAD_FIELDS
from data.lead_errors import MERGED
from data.leads import leads_frame
from data.models import PushRun
from service.adapters import adapter_for
from service.auth import Actor
from service.connections import PROVIDER_LABELS, explain, get
from service.context import AppContext

log = logging.getLogger("service.runs")

HEARTBEAT_SECONDS = 5.0
# Refused rows that are no failure: left out by the caller's own filter (CLI --min-score/--tier on a
# file), or an earlier duplicate the import merged into a later row (as the engine does in a push). They
# count in the run's total as skipped, so filtering or a repeated email alone never makes a push exit 1.
FILTERED = "FILTERED"
SKIPPED_REFUSALS = frozenset({FILTERED, MERGED})
STALE_AFTER = timedelta(seconds=60)  # a worker on another host is presumed dead after this silence
WORKER = f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class PushRequest:
    """Everything a push needs; ``rows`` are lead dicts as shown and edited (``lead_id`` optional)."""

    provider: str
    object_name: str
    rows: Sequence[Mapping[str, Any]]
    connection_name: str
    mapping: FieldMapping
    source_label: str
    actor: Actor
    mode: PushMode = PushMode.UPSERT
    dry_run: bool = False
    force_full: bool = False
    campaign_id: int | None = None
    filters: Mapping[str, Any] = field(default_factory=dict)
    # rows the import refused, as (row_number, email, code, message): they count in the run's total
    refused: Sequence[tuple[int, str | None, str, str]] = ()
    refused_action: str = "failed"
    parent_run_id: int | None = None
    parent_kind: str | None = None  # retry


def lock_key(provider: str, object_name: str, campaign_id: int | None, source_label: str) -> str:
    source = (
        f"campaign:{campaign_id}"
        if campaign_id is not None
        else "source:" + hashlib.sha256(source_label.encode()).hexdigest()[:16]
    )
    return f"{provider}:{object_name}:{source}"


def create(ctx: AppContext, request: PushRequest) -> int:
    """Store the run and one pending record per row; raises ``RunLocked`` if the same push is active."""
    conn = get(ctx, request.connection_name)
    if conn is None:
        label = PROVIDER_LABELS.get(request.connection_name, request.connection_name)
        raise NotConfigured(f"{label} is not connected: an admin can connect it on the Providers page.")
    previous = _unchanged_candidates(ctx, conn.id, request)
    pending = []
    for index, row in enumerate(request.rows, start=1):
        payload = request.mapping.apply(row)
        digest = payload_hash(request.object_name, payload)
        email = row.get("email") or None
        last = previous.get(sync_state.email_key(email) or "")
        if last is not None and last[0] == digest:
            # Decided now, so a re-push of an unchanged campaign stores no copy of the rows and sends none.
            outcome = store.ResultRow(index, "skipped", last[1], UNCHANGED, UNCHANGED_MESSAGE)
            pending.append(store.PendingRow(index, email, {}, {}, digest, row.get("lead_id"), outcome))
            continue
        clean_row = {k: v for k, v in row.items() if k != "lead_id" and v is not None and v == v}
        pending.append(store.PendingRow(index, email, clean_row, payload, digest, row.get("lead_id")))
    offset = len(pending)
    refused = [
        (offset + i, row_number, email, code, message)
        for i, (row_number, email, code, message) in enumerate(request.refused, 1)
    ]
    # A refused row keeps its line number in the file, so a report can point at it.
    pending += [
        store.PendingRow(index, email, {"row_number": row}, {}, None) for index, row, email, _, _ in refused
    ]
    with ctx.db.begin() as session:
        run = store.create_run(
            session,
            rows=pending,
            created_by=request.actor.username,
            provider=request.provider,
            connection_id=conn.id,
            connection_name=conn.name,
            object_name=request.object_name,
            campaign_id=request.campaign_id,
            source_label=request.source_label,
            mode=str(request.mode),
            dry_run=request.dry_run,
            filters=dict(request.filters),
            mapping=request.mapping.to_json(),
            options={"force_full": request.force_full},
            lock_key=None
            if request.dry_run
            else lock_key(request.provider, request.object_name, request.campaign_id, request.source_label),
            parent_run_id=request.parent_run_id,
            parent_kind=request.parent_kind,
        )
        if refused:
            store.record_results(
                session,
                run.id,
                [
                    store.ResultRow(
                        index,
                        "skipped" if code in SKIPPED_REFUSALS else request.refused_action,
                        error_code=code,
                        error_message=message,
                    )
                    for index, _, _, code, message in refused
                ],
            )
        return run.id


def _unchanged_candidates(
    ctx: AppContext, connection_id: int, request: PushRequest
) -> dict[str, tuple[str, str | None]]:
    """The last push (hash, CRM id) of each email that occurs once in the request. A repeated email is
    left to the engine, which merges it into its last row; a forced full push skips nothing."""
    if request.force_full:
        return {}
    keys = Counter(sync_state.email_key(row.get("email")) for row in request.rows)
    unique = [key for key, count in keys.items() if key and count == 1]
    with ctx.db.session() as session:
        return sync_state.last_pushed(session, connection_id, request.object_name, unique)


class DbRecorder:
    """The engine's RunRecorder: one transaction per batch, and a heartbeat thread that also learns
    whether the run was cancelled."""

    def __init__(self, ctx: AppContext, run: PushRun) -> None:
        self.ctx, self.run_id = ctx, run.id
        self.base_calls = run.api_calls
        self.connection_id = None if run.dry_run else run.connection_id
        self.object_name = run.object_name
        self._cancel = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run.id}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            self.beat()

    def beat(self) -> None:
        with self.ctx.db.begin() as session:
            if store.heartbeat(session, self.run_id, WORKER):
                self._cancel.set()

    def record(self, results: Sequence[RecordResult], api_calls: int) -> None:
        rows = [
            store.ResultRow(
                int(r.key),
                str(r.action),
                r.crm_id,
                r.error_code,
                r.error_message,
                [[c.field, c.before, c.after] for c in r.changes] if r.changes else None,
            )
            for r in results
        ]
        with self.ctx.db.begin() as session:
            store.record_results(
                session,
                self.run_id,
                rows,
                api_calls=self.base_calls + api_calls,
                connection_id=self.connection_id,
                object_name=self.object_name,
            )
            if store.heartbeat(session, self.run_id, WORKER):
                self._cancel.set()

    def should_stop(self) -> bool:
        return self._cancel.is_set()

    def close(self) -> None:
        self._stop.set()


def execute(
    ctx: AppContext, run_id: int, on_progress: Callable[[Progress], None] | None = None
) -> PushSummary | None:
    """Claim the run and send its pending rows. None when another worker has it already.

    The summary covers the rows this execution decided; the run in the database holds the whole run's
    counts (rows decided at creation, such as unchanged ones, and by an earlier executor included)."""
    with ctx.db.begin() as session:
        if not store.claim_run(session, run_id, WORKER):
            return None
        run = store.get_run(session, run_id)
        if run is None:  # claimed just now, so only a concurrent delete gets here
            return None
        pending = store.pending_records(session, run_id)
    rows = [LeadRecord(str(r.row_index), r.email or "", r.payload, r.payload_hash) for r in pending]
    del pending  # the push keeps its own list; 100,000 rows twice would double the peak
    recorder = DbRecorder(ctx, run)
    adapter = None
    try:
        adapter = adapter_for(ctx, run.connection_name, run.object_name)
        previous: dict[str, str] = {}
        force = bool(run.options.get("force_full"))
        if not force and run.connection_id is not None:
            with ctx.db.session() as session:
                previous = sync_state.last_pushed_hashes(
                    session, run.connection_id, run.object_name, [r.email for r in rows if r.email]
                )
        options = PushOptions(mode=PushMode(run.mode), dry_run=run.dry_run, force_full=force)
        summary = run_push(
            adapter,
            rows,
            options=options,
            recorder=recorder,
            previous_hashes=previous,
            on_progress=on_progress,
        )
    except Exception as exc:
        if isinstance(exc, CRMError):  # the CRM's answer (bad token, no such field): no traceback
            message = explain(exc, run.provider)
            log.warning("run %s failed: %s", run_id, message)
        else:
            message = f"Unexpected error: {exc!r}"
            log.exception("run %s failed", run_id)
        _fail_pending(ctx, run_id, message, getattr(exc, "code", None) or "RUN_FAILED")
        with ctx.db.begin() as session:
            store.finish_run(
                session,
                run_id,
                state="failed",
                seconds=0.0,
                api_calls=run.api_calls + (adapter.api_calls if adapter else 0),
                error_message=message,
            )
        return None
    finally:
        recorder.close()
        if adapter is not None:
            adapter.close()
    with ctx.db.begin() as session:
        current = store.get_run(session, run_id)
        cancelled = recorder.should_stop() or bool(current and current.cancel_requested)
        store.finish_run(
            session,
            run_id,
            state="cancelled" if cancelled else None,
            seconds=(current.seconds if current else 0.0) + summary.seconds,
            api_calls=recorder.base_calls + summary.api_calls,
            error_message=summary.stopped_reason,
            api_usage=dict(adapter.usage()) if adapter else None,
        )
    return summary


def _fail_pending(ctx: AppContext, run_id: int, message: str, code: str) -> None:
    with ctx.db.begin() as session:
        pending = store.pending_records(session, run_id)
        store.record_results(
            session,
            run_id,
            [store.ResultRow(r.row_index, "failed", error_code=code, error_message=message) for r in pending],
        )


def reap(ctx: AppContext) -> list[int]:
    """Mark runs whose executor died as interrupted (its pid is gone, or its heartbeat went quiet)."""
    with ctx.db.begin() as session:
        return store.mark_interrupted(
            session, stale_after=STALE_AFTER, host=socket.gethostname(), pid_alive=_pid_alive
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def retry_failed(ctx: AppContext, run_id: int, actor: Actor) -> int:
    """A new run of only the failed rows of ``run_id``, with the same mapping, linked to it."""
    with ctx.db.session() as session:
        run = store.get_run(session, run_id)
        if run is None:
            raise ValueError(f"No run #{run_id}")
        failed = store.failed_records(session, run_id)
    # A lead fixed since the run (on the Campaigns page) is sent as it is now, not as it failed.
    fixed = _current_leads(ctx, run.campaign_id, [r.lead_id for r in failed if r.lead_id is not None])
    # Rows the import refused hold only their line number: there is nothing to send again.
    retryable = [r for r in failed if any(key != "row_number" for key in r.row)]
    rows = [{**r.row, **fixed.get(r.lead_id or -1, {}), "lead_id": r.lead_id} for r in retryable]
    if not rows:
        raise ValueError(f"Run #{run_id} has no failed rows to retry.")
    request = PushRequest(
        provider=run.provider,
        object_name=run.object_name,
        rows=rows,
        connection_name=run.connection_name,
        mapping=parse_mapping(run.mapping),
        source_label=run.source_label,
        actor=actor,
        mode=PushMode(run.mode),
        dry_run=False,
        force_full=True,
        campaign_id=run.campaign_id,
        filters=run.filters,
        parent_run_id=run_id,
        parent_kind="retry",
    )
    return create(ctx, request)


def _current_leads(
    ctx: AppContext, campaign_id: int | None, lead_ids: list[int]
) -> dict[int, dict[str, Any]]:
    """Lead id -> its lead fields as stored now (leads deleted since, or of no campaign, are absent)."""
    if campaign_id is None or not lead_ids:
        return {}
    with ctx.db.session() as session:
        frame = leads_frame(session, campaign_id)
    wanted = frame[frame["id"].isin(set(lead_ids))]
    return {int(row["id"]): {k: row[k] for k in LEAD_FIELDS} for row in wanted.to_dict("records")}


def resume(
    ctx: AppContext, run_id: int, on_progress: Callable[[Progress], None] | None = None
) -> PushSummary | None:
    """Finish an interrupted run: only its pending rows are sent."""
    reap(ctx)
    with ctx.db.session() as session:
        run = store.get_run(session, run_id)
    if run is None:
        raise ValueError(f"No run #{run_id}")
    if run.state not in ("interrupted", "queued"):
        raise ValueError(f"Run #{run_id} is {run.state}; only an interrupted run can be resumed.")
    return execute(ctx, run_id, on_progress)


def cancel(ctx: AppContext, run_id: int) -> bool:
    with ctx.db.begin() as session:
        return store.request_cancel(session, run_id)
