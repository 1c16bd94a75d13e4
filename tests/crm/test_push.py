"""The push engine against an in-memory CRM: screening, matching, modes, dry runs, stops, bookkeeping."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm import push as push_module
from crm.adapter import CRMAdapter
from crm.batching import NOT_SENT
from crm.mapping import payload_hash
from crm.model import (
    Action,
    FieldChange,
    LeadRecord,
    Progress,
    PushMode,
    PushSummary,
    RecordResult,
    Value,
    WriteKind,
)
from crm.push import MemoryRecorder, PushOptions, run_push
from tests.crm.fakes import FakeAdapter


def lead(key: str, email: str, **props: Value) -> LeadRecord:
    """A row whose payload holds the email and the Lead's required fields unless told otherwise."""
    payload: dict[str, Value] = {"Email": email, "LastName": f"Last {key}", "Company": "Acme"}
    payload.update(props)
    return LeadRecord(key, email, {k: v for k, v in payload.items() if v is not None})


def run(
    fake: FakeAdapter, rows: Sequence[LeadRecord], **kw: object
) -> tuple[PushSummary, dict[str, RecordResult], MemoryRecorder]:
    recorder = MemoryRecorder()
    options = PushOptions(**kw)  # type: ignore[arg-type]
    summary = run_push(fake, rows, options=options, recorder=recorder)
    return summary, recorder.by_key(), recorder


def outcome(result: RecordResult) -> tuple[Action, str | None]:
    return result.action, result.error_code


def test_the_fake_is_a_crm_adapter() -> None:
    assert isinstance(FakeAdapter(), CRMAdapter)


def test_new_rows_are_created_and_existing_ones_updated() -> None:
    fake = FakeAdapter([{"Email": "old@x.com", "LastName": "Before", "Company": "Acme"}])
    rows = [lead("1", "new@x.com"), lead("2", "OLD@x.com", LastName="After")]
    summary, results, _ = run(fake, rows)
    assert outcome(results["1"]) == (Action.CREATED, None)
    assert results["2"].action == Action.UPDATED and results["2"].crm_id == "00Q000001"
    assert fake.records["00Q000001"]["LastName"] == "After"
    assert (summary.created, summary.updated, summary.total) == (1, 1, 2)


def test_duplicate_emails_merge_into_the_last_row() -> None:
    fake = FakeAdapter()
    rows = [lead("a", "Ann@X.com"), lead("b", "bob@y.com"), lead("c", "ann@x.com ", FirstName="Ann")]
    _, results, _ = run(fake, rows)
    assert outcome(results["a"]) == (Action.SKIPPED, "MERGED")
    assert "row c" in (results["a"].error_message or "")
    assert results["c"].action == Action.CREATED and results["b"].action == Action.CREATED
    assert sorted(op.key for op in fake.sent_ops) == ["b", "c"]


def test_an_email_with_stray_blanks_still_matches_its_record() -> None:
    fake = FakeAdapter([{"Email": "a@x.com", "LastName": "L", "Company": "C"}])
    _, results, _ = run(fake, [lead("1", " A@x.com ")])
    assert fake.lookups[0][0] == ["A@x.com"]  # looked up as it was screened: trimmed
    assert (results["1"].action, results["1"].crm_id) == (Action.UPDATED, "00Q000001")
    assert len(fake.records) == 1  # no duplicate created


def test_invalid_and_missing_emails_fail_without_being_sent() -> None:
    fake = FakeAdapter()
    rows = [lead("1", "not-an-email"), lead("2", ""), lead("3", "   "), lead("4", "ok@x.com")]
    summary, results, _ = run(fake, rows)
    assert outcome(results["1"]) == (Action.FAILED, "INVALID_EMAIL")
    assert "'not-an-email' is not a valid email address" in (results["1"].error_message or "")
    assert outcome(results["2"]) == (Action.FAILED, "MISSING_EMAIL")
    assert outcome(results["3"]) == (Action.FAILED, "MISSING_EMAIL")
    assert [op.key for op in fake.sent_ops] == ["4"]
    assert summary.failed == 3 and not summary.ok


def test_values_the_crm_would_refuse_fail_with_the_field_code() -> None:
    fake = FakeAdapter()
    rows = [
        lead("1", "a@x.com", Rating="Scorching"),
        lead("2", "b@x.com", NumberOfEmployees="12.5"),
        lead("3", "c@x.com", FirstName="x" * 41, Rating="Nope"),
        lead("4", "d@x.com", Rating="Hot", NumberOfEmployees=12),
    ]
    _, results, _ = run(fake, rows)
    assert outcome(results["1"]) == (Action.FAILED, "INVALID_OPTION")
    assert "Rating (Rating)" in (results["1"].error_message or "")
    assert outcome(results["2"]) == (Action.FAILED, "INVALID_NUMBER")
    assert outcome(results["3"]) == (Action.FAILED, "TOO_LONG")  # the first problem's code …
    assert "Rating (Rating)" in (results["3"].error_message or "")  # … and every problem's message
    assert results["4"].action == Action.CREATED
    assert [op.key for op in fake.sent_ops] == ["4"]


def test_unchanged_rows_are_skipped_unless_the_push_is_forced() -> None:
    fake = FakeAdapter([{"Email": "same@x.com"}, {"Email": "diff@x.com"}])
    same, diff = lead("1", "Same@X.com", Rating="Hot"), lead("2", "diff@x.com", Rating="Hot")
    previous = {
        "same@x.com": payload_hash("Lead", same.properties),
        "diff@x.com": payload_hash("Lead", {**diff.properties, "Rating": "Cold"}),
    }
    recorder = MemoryRecorder()
    run_push(fake, [same, diff], recorder=recorder, previous_hashes=previous)
    results = recorder.by_key()
    assert outcome(results["1"]) == (Action.SKIPPED, "UNCHANGED")
    assert "Force a full push" in (results["1"].error_message or "")
    assert results["2"].action == Action.UPDATED
    forced = MemoryRecorder()
    run_push(fake, [same], recorder=forced, previous_hashes=previous, options=PushOptions(force_full=True))
    assert forced.by_key()["1"].action == Action.UPDATED


def test_a_precomputed_fingerprint_is_used_for_change_detection() -> None:
    fake = FakeAdapter()
    row = LeadRecord("1", "a@x.com", {"Email": "a@x.com", "LastName": "L", "Company": "C"}, fingerprint="f1")
    recorder = MemoryRecorder()
    run_push(fake, [row], recorder=recorder, previous_hashes={"a@x.com": "f1"})
    assert outcome(recorder.by_key()["1"]) == (Action.SKIPPED, "UNCHANGED")


# (mode, upserts_by_email) -> outcome of the existing row, outcome of the new row
MODES = [
    (PushMode.UPSERT, False, (Action.UPDATED, None), (Action.CREATED, None)),
    (PushMode.UPSERT, True, (Action.UPDATED, None), (Action.CREATED, None)),
    (PushMode.CREATE_ONLY, False, (Action.SKIPPED, "EXISTS"), (Action.CREATED, None)),
    (PushMode.CREATE_ONLY, True, (Action.SKIPPED, "EXISTS"), (Action.CREATED, None)),
    (PushMode.UPDATE_ONLY, False, (Action.UPDATED, None), (Action.SKIPPED, "NOT_FOUND")),
    (PushMode.UPDATE_ONLY, True, (Action.UPDATED, None), (Action.SKIPPED, "NOT_FOUND")),
]


@pytest.mark.parametrize(("mode", "by_email", "existing_outcome", "new_outcome"), MODES)
def test_modes(
    mode: PushMode,
    by_email: bool,
    existing_outcome: tuple[Action, str | None],
    new_outcome: tuple[Action, str | None],
) -> None:
    fake = FakeAdapter([{"Email": "old@x.com", "LastName": "Before"}], upserts_by_email=by_email)
    summary, results, _ = run(fake, [lead("old", "old@x.com"), lead("new", "new@x.com")], mode=mode)
    assert outcome(results["old"]) == existing_outcome
    assert outcome(results["new"]) == new_outcome
    assert results["old"].crm_id == "00Q000001"  # skipped (EXISTS) or updated, the id is known
    lookup_needed = mode != PushMode.UPSERT or not by_email
    assert bool(fake.lookups) == lookup_needed
    kinds = {op.kind for op in fake.sent_ops}
    assert kinds <= ({WriteKind.CREATE, WriteKind.UPDATE} if lookup_needed else {WriteKind.UPSERT})
    expected_records = 2 if new_outcome[0] == Action.CREATED else 1
    assert len(fake.records) == expected_records
    assert summary.api_calls == fake.api_calls


def test_an_email_shared_by_several_records_is_ambiguous() -> None:
    fake = FakeAdapter([{"Email": "dup@x.com"}, {"Email": "DUP@x.com"}, {"Email": "one@x.com"}])
    _, results, _ = run(fake, [lead("1", "dup@x.com"), lead("2", "one@x.com")])
    assert outcome(results["1"]) == (Action.FAILED, "AMBIGUOUS_MATCH")
    message = results["1"].error_message or ""
    assert "2 CRM records share this email" in message and "00Q000001" in message and "00Q000002" in message
    assert [op.key for op in fake.sent_ops] == ["2"]


def test_required_fields_are_enforced_only_on_rows_that_will_be_created() -> None:
    fake = FakeAdapter([{"Email": "old@x.com", "LastName": "Kept", "Company": "Acme"}])
    rows = [lead("old", "old@x.com", LastName=None, Company=None), lead("new", "new@x.com", LastName=None)]
    _, results, _ = run(fake, rows)
    assert results["old"].action == Action.UPDATED
    assert outcome(results["new"]) == (Action.FAILED, "REQUIRED_FIELD_MISSING")
    assert "Last Name (LastName) is required to create the record" in (results["new"].error_message or "")
    assert [op.key for op in fake.sent_ops] == ["old"]


@pytest.mark.parametrize("by_email", [False, True])
def test_dry_run_writes_nothing_and_predicts_with_field_changes(by_email: bool) -> None:
    existing = {
        "Email": "old@x.com",
        "FirstName": "Ada",
        "LastName": "Byron",
        "Company": "acme",
        "Rating": "Cold",
    }
    fake = FakeAdapter([existing], upserts_by_email=by_email)
    before = fake.snapshot()
    rows = [
        lead("old", "OLD@x.com", FirstName="Ada", LastName="Lovelace", Company="acme", Rating="Hot"),
        lead("new", "new@x.com"),
    ]
    summary, results, _ = run(fake, rows, dry_run=True)
    assert fake.sent_batches == [] and fake.snapshot() == before
    assert summary.dry_run and (summary.created, summary.updated) == (1, 1)
    assert results["new"].action == Action.CREATED and results["new"].crm_id is None
    assert results["old"].action == Action.UPDATED and results["old"].crm_id == "00Q000001"
    # Unchanged fields are left out, and an email differing only in case is no change.
    assert set(results["old"].changes) == {
        FieldChange("LastName", "Byron", "Lovelace"),
        FieldChange("Rating", "Cold", "Hot"),
    }


def test_dry_run_counts_numbers_equal_when_only_their_spelling_differs() -> None:
    fake = FakeAdapter(
        [{"Email": "a@x.com", "NumberOfEmployees": 12.0, "LastName": "Last a", "Company": "Acme"}]
    )
    _, results, _ = run(fake, [lead("a", "a@x.com", NumberOfEmployees="12")], dry_run=True)
    assert results["a"].changes == ()


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


def test_a_field_the_crm_cannot_write_fails_every_row_before_anything_is_sent() -> None:
    fake = FakeAdapter()
    rows = [lead("1", "a@x.com", NoSuchField__c="x"), lead("2", "b@x.com")]
    summary, results, _ = run(fake, rows)
    assert {outcome(r) for r in results.values()} == {(Action.FAILED, "UNKNOWN_FIELD")}
    assert "NoSuchField__c" in (results["2"].error_message or "")
    assert summary.failed == 2 and summary.api_calls == 0
    assert fake.records == {}
