"""Shared helpers for the HubSpotAdapter tests over the in-process HubSpot sandbox (``test_hubspot.py``,
``test_hubspot_writes.py``); the fixtures themselves are in conftest.py.

* ``Adapters``, ``Leads``, ``Seed``: the types of the ``make_hubspot_adapter``, ``hubspot_leads`` and
  ``hubspot_seed`` fixtures.
* ``push(adapter, rows, **options)``: a push through ``crm.push.run_push``; results by row key, and the
  summary.
* ``by_email(app)``: the sandbox's live contacts by email.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm.hubspot import HubSpotAdapter
from crm.model import LeadRecord, PushSummary, RecordResult
from crm.push import MemoryRecorder, PushOptions, run_push
from crm.sandbox.hubspot import HubSpotSandbox

Adapters = Callable[..., HubSpotAdapter]
Leads = Callable[..., list[LeadRecord]]
Seed = Callable[..., dict[str, str]]
CONTACTS = "/crm/v3/objects/contacts"
SCORE = {"name": "leadfactory_score", "label": "Lead score", "type": "number", "fieldType": "number"}


def by_email(app: HubSpotSandbox) -> dict[str, dict[str, str]]:
    return {c["properties"]["email"]: c for c in app.dump()}


def push(
    adapter: HubSpotAdapter, rows: list[LeadRecord], **options: Any
) -> tuple[dict[str, RecordResult], PushSummary]:
    """Run a push through the engine; results by row key, and the summary."""
    recorder = MemoryRecorder()
    summary = run_push(adapter, rows, options=PushOptions(**options), recorder=recorder)
    results = recorder.by_key()
    assert len(recorder.results) == len(rows) == len(results), "every row gets exactly one result"
    return results, summary
