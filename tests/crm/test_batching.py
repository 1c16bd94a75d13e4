"""run_batches: bounded concurrency, one result per op, clean stops (cancel, daily limit, auth)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.batching import NOT_SENT, UNEXPECTED, failed, run_batches
from crm.errors import AuthError, CRMError, ForbiddenError, LimitExceeded, ServerError, ValidationError
from crm.model import Action, RecordResult, WriteKind, WriteOp

WAIT = 10  # seconds a blocked test thread waits before giving up: a hang guard, never asserted on


def make_batches(sizes: Sequence[int]) -> list[list[WriteOp]]:
    """Batches whose op keys say where they sit: "2.1" is the second op of batch 2."""
    return [
        [
            WriteOp(f"{b}.{i}", f"user{b}.{i}@example.com", WriteKind.CREATE, {"Email": f"u{b}.{i}"})
            for i in range(size)
        ]
        for b, size in enumerate(sizes)
    ]


def created(batch: Sequence[WriteOp]) -> list[RecordResult]:
    return [RecordResult(op.key, op.email, Action.CREATED, f"id-{op.key}") for op in batch]


def index_of(batch: Sequence[WriteOp]) -> int:
    return int(batch[0].key.split(".")[0])


class Recorder:
    """A ``send`` that records which batches went out and how many were in flight at once."""

    def __init__(self, behaviour: Callable[[Sequence[WriteOp]], list[RecordResult]] = created) -> None:
        self.behaviour = behaviour
        self.sent: list[Sequence[WriteOp]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def __call__(self, batch: Sequence[WriteOp]) -> list[RecordResult]:
        with self._lock:
            self.sent.append(batch)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return self.behaviour(batch)
        finally:
            with self._lock:
                self.in_flight -= 1


def all_results(chunks: list[list[RecordResult]]) -> list[RecordResult]:
    return [r for chunk in chunks for r in chunk]


def assert_one_result_per_op(batches: Sequence[Sequence[WriteOp]], results: list[RecordResult]) -> None:
    keys = [r.key for r in results]
    assert sorted(keys) == sorted(op.key for batch in batches for op in batch)
    assert len(set(keys)) == len(keys)


def test_every_op_gets_exactly_one_result() -> None:
    batches = make_batches([3, 1, 4, 1, 5])
    send = Recorder()
    chunks = list(run_batches(batches, send, concurrency=2))
    assert len(chunks) == len(batches)
    assert_one_result_per_op(batches, all_results(chunks))
    assert all(r.action == Action.CREATED and r.crm_id == f"id-{r.key}" for r in all_results(chunks))


def test_no_batches_yield_nothing() -> None:
    send = Recorder()
    assert list(run_batches([], send)) == []
    assert send.sent == []


@pytest.mark.parametrize("concurrency", [1, 3, 4])
def test_at_most_concurrency_batches_are_in_flight(concurrency: int) -> None:
    batches = make_batches([2] * 12)
    gate = threading.Event()
    started = threading.Semaphore(0)

    def blocked(batch: Sequence[WriteOp]) -> list[RecordResult]:
        started.release()
        assert gate.wait(WAIT)
        return created(batch)

    send = Recorder(blocked)
    out: list[list[RecordResult]] = []
    consumer = threading.Thread(
        target=lambda: out.extend(run_batches(batches, send, concurrency=concurrency))
    )
    consumer.start()
    for _ in range(concurrency):  # the first `concurrency` batches all get going at once …
        assert started.acquire(timeout=WAIT)
    gate.set()  # … and only then does anything finish
    consumer.join(WAIT)
    assert not consumer.is_alive()
    assert send.max_in_flight == concurrency
    assert len(send.sent) == len(batches)
    assert_one_result_per_op(batches, all_results(out))


def test_stop_requested_midway_lets_in_flight_batches_finish_and_returns_the_rest_unsent() -> None:
    batches = make_batches([2, 2, 2, 2, 2, 2])
    stop = threading.Event()
    send = Recorder()
    chunks = []
    for chunk in run_batches(batches, send, concurrency=2, should_stop=stop.is_set):
        chunks.append(chunk)
        stop.set()  # the caller cancels as soon as the first results arrive
    results = all_results(chunks)
    assert_one_result_per_op(batches, results)
    sent = {index_of(b) for b in send.sent}
    assert sent == {0, 1}  # the two batches in flight when the stop came
    sent_keys = {op.key for b in send.sent for op in b}
    for r in results:
        if r.key in sent_keys:
            assert r.action == Action.CREATED
        else:
            assert (r.action, r.error_code) == (Action.FAILED, NOT_SENT)
            assert r.error_message is not None and "cancelled" in r.error_message


def test_stop_requested_before_the_start_sends_nothing() -> None:
    batches = make_batches([2, 2, 2])
    send = Recorder()
    results = all_results(list(run_batches(batches, send, concurrency=2, should_stop=lambda: True)))
    assert send.sent == []
    assert_one_result_per_op(batches, results)
    assert {(r.action, r.error_code) for r in results} == {(Action.FAILED, NOT_SENT)}


def test_limit_exceeded_marks_that_batch_and_the_unsent_ones_not_sent_but_yields_in_flight_work() -> None:
    batches = make_batches([2, 2, 2, 2, 2])
    limit_reported = threading.Event()

    def behaviour(batch: Sequence[WriteOp]) -> list[RecordResult]:
        if index_of(batch) == 0:
            raise LimitExceeded("REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.", code="LIMIT")
        assert limit_reported.wait(WAIT)  # still in flight while the limit is handled
        return created(batch)

    send = Recorder(behaviour)
    chunks = []
    for chunk in run_batches(batches, send, concurrency=2):
        chunks.append(chunk)
        if chunk[0].error_code == NOT_SENT:
            limit_reported.set()
    results = {r.key: r for r in all_results(chunks)}
    assert_one_result_per_op(batches, list(results.values()))
    assert len(send.sent) == 2
    for key in ("1.0", "1.1"):  # batch 1 was in flight: its real results are kept
        assert results[key].action == Action.CREATED
    for key in ("0.0", "0.1", "2.0", "2.1", "3.0", "3.1", "4.0", "4.1"):
        assert (results[key].action, results[key].error_code) == (Action.FAILED, NOT_SENT)
        assert "API limit" in (results[key].error_message or "")
        assert "TotalRequests" in (results[key].error_message or "")


@pytest.mark.parametrize(
    "error", [AuthError("Session expired", code="INVALID_SESSION_ID"), ForbiddenError("no")]
)
def test_auth_failure_stops_further_sends(error: CRMError) -> None:
    batches = make_batches([2, 2, 2])

    def behaviour(batch: Sequence[WriteOp]) -> list[RecordResult]:
        raise error

    send = Recorder(behaviour)
    results = {r.key: r for r in all_results(list(run_batches(batches, send, concurrency=1)))}
    assert len(send.sent) == 1
    code = error.code or type(error).__name__
    assert [results[k].error_code for k in ("0.0", "0.1")] == [code, code]
    for key in ("1.0", "1.1", "2.0", "2.1"):
        assert results[key].error_code == NOT_SENT
        assert "refused the connection" in (results[key].error_message or "")


@pytest.mark.parametrize("error", [ServerError("boom", code="SERVER"), ValidationError("bad", code=None)])
def test_a_generic_crm_error_fails_only_its_batch(error: CRMError) -> None:
    batches = make_batches([2, 2, 2])

    def behaviour(batch: Sequence[WriteOp]) -> list[RecordResult]:
        if index_of(batch) == 1:
            raise error
        return created(batch)

    send = Recorder(behaviour)
    results = {r.key: r for r in all_results(list(run_batches(batches, send, concurrency=2)))}
    assert len(send.sent) == 3
    code = error.code or type(error).__name__
    assert [(results[k].action, results[k].error_code) for k in ("1.0", "1.1")] == [(Action.FAILED, code)] * 2
    assert all(results[k].action == Action.CREATED for k in ("0.0", "0.1", "2.0", "2.1"))


def test_failed_copies_the_op_identity() -> None:
    op = WriteOp("k1", "a@b.co", WriteKind.UPDATE, {}, crm_id="003xx")
    assert failed([op], "CODE", "why") == [
        RecordResult("k1", "a@b.co", Action.FAILED, "003xx", "CODE", "why")
    ]


OUTCOMES = st.sampled_from(["ok", "ok", "ok", "server", "limit", "auth"])


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 4), max_size=12),
    outcomes=st.lists(OUTCOMES, min_size=12, max_size=12),
    concurrency=st.integers(1, 4),
    stop_after=st.none() | st.integers(0, 12),
)
def test_one_result_per_op_whatever_happens(
    sizes: list[int], outcomes: list[str], concurrency: int, stop_after: int | None
) -> None:
    batches = make_batches(sizes)

    def behaviour(batch: Sequence[WriteOp]) -> list[RecordResult]:
        outcome = outcomes[index_of(batch)]
        if outcome == "server":
            raise ServerError("boom")
        if outcome == "limit":
            raise LimitExceeded("daily limit")
        if outcome == "auth":
            raise AuthError("refused")
        return created(batch)

    send = Recorder(behaviour)
    seen = 0

    def should_stop() -> bool:
        return stop_after is not None and seen >= stop_after

    results = []
    for chunk in run_batches(batches, send, concurrency=concurrency, should_stop=should_stop):
        seen += 1
        results.extend(chunk)
    assert_one_result_per_op(batches, results)
    assert send.max_in_flight <= concurrency
    sent_keys = {op.key for b in send.sent for op in b}
    assert all(r.key in sent_keys for r in results if r.action == Action.CREATED)


def test_a_bug_in_one_batch_fails_only_that_batch() -> None:
    def behaviour(batch: Sequence[WriteOp]) -> list[RecordResult]:
        if index_of(batch) == 1:
            raise ValueError("Out of range float values are not JSON compliant")
        return created(batch)

    send = Recorder(behaviour)
    results = all_results(list(run_batches(make_batches([2, 2, 2]), send, concurrency=2)))

    by_key = {r.key: r for r in results}
    assert len(results) == 6
    assert [by_key[k].action for k in ("1.0", "1.1")] == [Action.FAILED, Action.FAILED]
    assert {by_key[k].error_code for k in ("1.0", "1.1")} == {UNEXPECTED}
    assert "ValueError" in (by_key["1.0"].error_message or "")
    assert all(by_key[k].action is Action.CREATED for k in ("0.0", "0.1", "2.0", "2.1"))
