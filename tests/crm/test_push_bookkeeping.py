"""The push engine against an in-memory CRM: properties every push keeps (a dry run predicts the push, every
row gets exactly one result), progress, stops and the recorder's bookkeeping.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm import push as push_module
from crm.batching import NOT_SENT
from crm.mapping import payload_hash
from crm.model import Action, LeadRecord, Progress, PushMode, RecordResult, Value
from crm.push import MemoryRecorder, PushOptions, run_push
from tests.crm.fakes import FakeAdapter
from tests.crm.push_support import lead, outcome, run


def comparable(results: dict[str, RecordResult]) -> dict[str, tuple[Action, str | None, str | None]]:
    """What a dry run promises: the action, the error code, and the id of a record it would update."""
    return {
        k: (r.action, r.error_code, r.crm_id if r.action in (Action.UPDATED, Action.SKIPPED) else None)
        for k, r in results.items()
    }


_emails = st.sampled_from(["a@x.com", "A@X.com", " a@x.com", "b@y.org", "c@z.io", "d@w.net", "bad", "", "x@"])
_rows = st.lists(
    st.tuples(
        _emails,
        st.sampled_from(["Hot", "Warm", "Scorching", None]),
        st.booleans(),  # has a last name
        st.sampled_from([None, 5, "5.5"]),
    ),
    max_size=14,
)
_existing = st.lists(
    st.sampled_from(["a@x.com", "b@y.org", "c@z.io", "B@Y.org"]), min_size=1, max_size=4, unique=True
)


def build_rows(spec: list[tuple[str, str | None, bool, Value]]) -> list[LeadRecord]:
    return [
        lead(f"r{i}", email, Rating=rating, LastName=None if not last else f"L{i}", NumberOfEmployees=n)
        for i, (email, rating, last, n) in enumerate(spec)
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=_rows,
    existing=_existing,
    mode=st.sampled_from(list(PushMode)),
    by_email=st.booleans(),
    batch_size=st.integers(1, 4),
)
def test_a_dry_run_predicts_what_the_push_then_does(
    spec: list[tuple[str, str | None, bool, Value]],
    existing: list[str],
    mode: PushMode,
    by_email: bool,
    batch_size: int,
) -> None:
    if by_email:  # a CRM that upserts by email keeps emails unique
        existing = list({e.lower(): e for e in existing}.values())
    rows = build_rows(spec)

    def crm() -> FakeAdapter:
        return FakeAdapter([{"Email": e} for e in existing], upserts_by_email=by_email, batch_size=batch_size)

    dry_fake, real_fake = crm(), crm()
    dry_summary, predicted, _ = run(dry_fake, rows, mode=mode, dry_run=True)
    real_summary, actual, _ = run(real_fake, rows, mode=mode)
    assert dry_fake.sent_batches == []
    assert comparable(predicted) == comparable(actual)
    counts = ("created", "updated", "skipped", "failed")
    assert [getattr(dry_summary, c) for c in counts] == [getattr(real_summary, c) for c in counts]


@settings(max_examples=60, deadline=None)
@given(
    spec=_rows,
    existing=_existing,
    mode=st.sampled_from(list(PushMode)),
    dry_run=st.booleans(),
    by_email=st.booleans(),
    batch_limit=st.none() | st.integers(0, 2),
    previous=st.booleans(),
)
def test_every_row_gets_exactly_one_result(
    spec: list[tuple[str, str | None, bool, Value]],
    existing: list[str],
    mode: PushMode,
    dry_run: bool,
    by_email: bool,
    batch_limit: int | None,
    previous: bool,
) -> None:
    rows = build_rows(spec)
    fake = FakeAdapter(
        [{"Email": e} for e in existing], upserts_by_email=by_email, batch_size=2, batch_limit=batch_limit
    )
    hashes = {r.email.lower(): payload_hash("Lead", r.properties) for r in rows[::2]} if previous else None
    progress: list[Progress] = []
    recorder = MemoryRecorder()
    summary = run_push(
        fake,
        rows,
        options=PushOptions(mode=mode, dry_run=dry_run),
        recorder=recorder,
        previous_hashes=hashes,
        on_progress=progress.append,
    )
    keys = [r.key for r in recorder.results]
    assert len(recorder.results) == len(rows)
    assert sorted(keys) == sorted(r.key for r in rows) and len(set(keys)) == len(keys)
    assert summary.total == len(rows)
    assert summary.created + summary.updated + summary.skipped + summary.failed == summary.total
    tally = Counter(r.action for r in recorder.results)
    assert (summary.created, summary.updated, summary.skipped, summary.failed) == (
        tally[Action.CREATED],
        tally[Action.UPDATED],
        tally[Action.SKIPPED],
        tally[Action.FAILED],
    )
    if rows:
        assert progress[-1].done == progress[-1].total == len(rows)
        assert [p.done for p in progress] == sorted(p.done for p in progress)
    not_sent = any(r.error_code == NOT_SENT for r in recorder.results)
    assert (summary.stopped_reason is not None) == not_sent


def test_progress_reaches_done_equals_total_with_running_counts() -> None:
    fake = FakeAdapter([{"Email": "u0@x.com"}], batch_size=2)
    rows = [lead(f"{i}", f"u{i}@x.com") for i in range(5)] + [lead("bad", "nope")]
    progress: list[Progress] = []
    run_push(fake, rows, on_progress=progress.append)
    last = progress[-1]
    assert (last.done, last.total) == (6, 6)
    assert (last.created, last.updated, last.failed, last.skipped) == (4, 1, 1, 0)
    assert last.api_calls == fake.api_calls == 1 + 3  # one lookup, three batches
    assert len(progress) == 1 + 3  # the screened failure, then one report per write batch


def test_a_daily_limit_stops_the_run_and_says_why() -> None:
    fake = FakeAdapter(batch_size=2, batch_limit=1)
    rows = [lead(f"{i}", f"u{i}@x.com") for i in range(5)]
    summary, results, _ = run(fake, rows)
    assert [outcome(results[k]) for k in "01"] == [(Action.CREATED, None)] * 2
    assert [outcome(results[k]) for k in "234"] == [(Action.FAILED, NOT_SENT)] * 3
    assert summary.stopped_reason is not None and "TotalRequests Limit exceeded" in summary.stopped_reason
    assert summary.failed == 3 and summary.created == 2


def test_a_cancel_from_the_recorder_stops_after_the_batch_in_flight() -> None:
    class CancelAfterFirstWrite(MemoryRecorder):
        def record(self, results: Sequence[RecordResult], api_calls: int) -> None:
            super().record(results, api_calls)
            self.stop = any(r.action == Action.CREATED for r in results)

    fake = FakeAdapter(batch_size=2)
    recorder = CancelAfterFirstWrite()
    summary = run_push(fake, [lead(f"{i}", f"u{i}@x.com") for i in range(6)], recorder=recorder)
    assert len(fake.sent_batches) == 1
    assert (summary.created, summary.failed) == (2, 4)
    assert summary.stopped_reason is not None and "cancelled" in summary.stopped_reason


def test_a_run_without_not_sent_rows_has_no_stopped_reason() -> None:
    fake = FakeAdapter(failures={"u1@x.com": ("INVALID_EMAIL_ADDRESS", "invalid email address: u1@x.com")})
    summary, results, _ = run(fake, [lead("0", "u0@x.com"), lead("1", "u1@x.com")])
    assert outcome(results["1"]) == (Action.FAILED, "INVALID_EMAIL_ADDRESS")
    assert summary.stopped_reason is None and summary.failed == 1


def test_memory_recorder_gets_one_call_per_chunk_and_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(push_module, "RECORD_CHUNK", 2)
    fake = FakeAdapter(batch_size=2)
    rows = [lead(f"bad{i}", "nope") for i in range(3)] + [lead(f"{i}", f"u{i}@x.com") for i in range(4)]
    recorder = MemoryRecorder()
    run_push(fake, rows, recorder=recorder)
    assert recorder.batches == 2 + 2  # three screened failures in chunks of two, then two write batches
    assert len(recorder.results) == 7 and set(recorder.by_key()) == {r.key for r in rows}
    assert recorder.should_stop() is False


def test_an_empty_push_records_nothing_and_calls_nothing() -> None:
    fake = FakeAdapter()
    summary, results, recorder = run(fake, [])
    assert results == {} and recorder.batches == 0
    assert (summary.total, summary.api_calls, summary.stopped_reason) == (0, 0, None)
    assert summary.ok
