"""Status check of a run: read its records back from the CRM and compare with what we pushed.

Records are read in the adapter's batches (HubSpot 100, Salesforce 2,000 ids a call) through the same
rate governor as pushes, so checking thousands of records stays within the API limits. Findings are
stored per record with a timestamp, so the next visit shows the last check.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from crm.model import ExistingRecord
from crm.push import field_changes
from data import runs as store
from service.adapters import adapter_for
from service.context import AppContext

CHUNK = 2000  # records read and saved per round


@dataclass(frozen=True)
class StatusSummary:
    checked: int
    by_state: dict[str, int]
    changed: int  # records whose mapped fields no longer hold what we pushed


def check(ctx: AppContext, run_id: int) -> StatusSummary:
    with ctx.db.session() as session:
        run = store.get_run(session, run_id)
        if run is None:
            raise ValueError(f"No run #{run_id}")
        records = [
            r
            for r in store.run_records(session, run_id)[0]
            if r.crm_id and r.action in ("created", "updated")
        ]
    states: Counter[str] = Counter()
    changed = 0
    adapter = adapter_for(ctx, run.connection_name, run.object_name)
    try:
        for start in range(0, len(records), CHUNK):
            chunk = records[start : start + CHUNK]
            fields = sorted({name for r in chunk for name in r.payload})
            found = adapter.read_back([r.crm_id or "" for r in chunk], fields)
            rows = []
            for record in chunk:
                status = found[record.crm_id or ""]
                now = ExistingRecord(status.crm_id, record.email or "", status.properties)
                diff = (
                    [[c.field, c.after, c.before] for c in field_changes(record.payload, now)]
                    if status.state == "exists"
                    else None
                )
                changed += bool(diff)
                states[str(status.state)] += 1
                rows.append(store.CheckRow(record.row_index, str(status.state), diff, status.last_modified))
            with ctx.db.begin() as session:
                store.save_checks(session, run_id, rows)
    finally:
        adapter.close()
    if not records:
        with ctx.db.begin() as session:
            store.save_checks(session, run_id, [])
    return StatusSummary(checked=len(records), by_state=dict(states), changed=changed)
