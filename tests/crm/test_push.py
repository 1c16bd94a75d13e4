"""The push engine against an in-memory CRM: screening, matching, modes, dry runs.

Properties every push keeps, progress, stops and the recorder's bookkeeping are in test_push_bookkeeping.py.
"""

from __future__ import annotations

import pytest

from crm.adapter import CRMAdapter
from crm.mapping import payload_hash
from crm.model import Action, FieldChange, LeadRecord, PushMode, WriteKind
from crm.push import MemoryRecorder, PushOptions, run_push
from tests.crm.fakes import FakeAdapter
from tests.crm.push_support import lead, outcome, run


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


def test_a_field_the_crm_cannot_write_fails_every_row_before_anything_is_sent() -> None:
    fake = FakeAdapter()
    rows = [lead("1", "a@x.com", NoSuchField__c="x"), lead("2", "b@x.com")]
    summary, results, _ = run(fake, rows)
    assert {outcome(r) for r in results.values()} == {(Action.FAILED, "UNKNOWN_FIELD")}
    assert "NoSuchField__c" in (results["2"].error_message or "")
    assert summary.failed == 2 and summary.api_calls == 0
    assert fake.records == {}
