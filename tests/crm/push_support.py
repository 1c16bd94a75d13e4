"""Shared helpers for the push engine tests (``test_push*.py``) against the in-memory CRM of fakes.py.

* ``lead(key, email, **props)``: a row carrying the Lead's required fields unless told otherwise.
* ``run(fake, rows, **options)``: a push through ``crm.push.run_push``; the summary, results by row key and
  the recorder.
* ``outcome(result)``: a result's action and error code.
"""

from __future__ import annotations

from collections.abc import Sequence

from crm.model import Action, LeadRecord, PushSummary, RecordResult, Value
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
