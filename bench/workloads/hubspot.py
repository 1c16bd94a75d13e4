"""H1 (our engine pushing N new leads to HubSpot) and H2 (the same leads again through the service layer).

H1 drives ``crm.push.run_push`` with ``crm.hubspot.HubSpotAdapter`` over plain HTTP (no transport), the
adapter's tier setting its rate governor. H2 drives ``service.runs`` (create + execute) with an
``AppContext`` on a temporary SQLite database and a Sandbox connection pointed at the HTTP sandbox, so
change detection reads the payload hashes of the last successful push from the database.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.leads import generate_leads, lead_records
from bench.measure import Section
from bench.sandboxes import TOKEN
from crm.http import StaticToken
from crm.hubspot import HubSpotAdapter
from crm.mapping import HUBSPOT_CONTACTS
from crm.push import run_push

# Sandbox routes that write contacts (everything else is a read).
WRITE_ROUTES = (
    "contacts.batch_upsert",
    "contacts.batch_update",
    "contacts.batch_create",
    "contacts.create",
    "contacts.update",
)


def write_calls(by_route: dict[str, int]) -> int:
    return sum(v for k, v in by_route.items() if k in WRITE_ROUTES)


def h1_push(spec: dict[str, Any]) -> dict[str, Any]:
    """Push ``n`` new leads with the engine; time ``run_push`` only. ``seed_half``: every other lead
    exists already (P(a)'s data, for calls per lead on the same leads as the per-contact peer)."""
    url, n, tier = spec["url"], int(spec["n"]), spec["tier"]
    leads = generate_leads(n, spec.get("seed", 2024))
    if spec.get("seed_half"):
        from bench.workloads.peers import seed_hubspot
        from bench.workloads.salesforce import existing_half

        seed_hubspot(url, existing_half(leads))
    records = lead_records(leads, HUBSPOT_CONTACTS)
    adapter = HubSpotAdapter(StaticToken(TOKEN), base_url=url, tier=tier)
    with Section(url, spec.get("sandbox_pid")) as section:
        summary = run_push(adapter, records)
    adapter.close()
    figures = section.result()
    return {
        **figures,
        "write_calls": write_calls(figures["by_route"]),
        "adapter_calls": summary.api_calls,
        "concurrency": adapter.concurrency,
        "created": summary.created,
        "updated": summary.updated,
        "skipped": summary.skipped,
        "failed": summary.failed,
    }


def _phase(ctx: Any, url: str, sandbox_pid: int | None, request: Any) -> dict[str, Any]:
    """Create one run and execute it; time both, count the sandbox calls and the results by code."""
    from data import runs as store
    from service import runs

    with Section(url, sandbox_pid) as section:
        run_id = runs.create(ctx, request)
        created_at = time.perf_counter()
        summary = runs.execute(ctx, run_id)
        finished = time.perf_counter()
    figures = section.result()
    assert summary is not None, "the run was not executed"
    with ctx.db.session() as session:  # the run's counts: rows decided at creation included
        run = store.get_run(session, run_id)
        records, _ = store.run_records(session, run_id, action="skipped")
        unchanged = sum(1 for r in records if r.error_code == "UNCHANGED")
    assert run is not None
    return {
        **figures,
        "create_s": figures["wall_s"] - (finished - created_at),
        "execute_s": finished - created_at,
        "write_calls": write_calls(figures["by_route"]),
        "created": run.created,
        "updated": run.updated,
        "skipped": run.skipped,
        "failed": run.failed,
        "unchanged": unchanged,
    }


def h2_service(spec: dict[str, Any]) -> dict[str, Any]:
    """First push, unchanged re-push, dry run, forced full push: four runs on one connection."""
    from crm.mapping import default_mapping
    from crm.model import PushMode
    from service.auth import SYSTEM
    from service.connections import connect_sandbox
    from service.context import AppContext
    from service.runs import PushRequest
    from service.settings import Settings

    url, n, tier = spec["url"], int(spec["n"]), spec["tier"]
    leads = generate_leads(n, spec.get("seed", 2024))
    with tempfile.TemporaryDirectory(prefix="crm-bench-h2-") as tmp:
        settings = Settings(
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
            sandbox_hubspot_url=url,
            hubspot_tier=tier,
        )
        ctx = AppContext.build(settings, key_dir=Path(tmp), load_demo=False)
        try:
            connected = connect_sandbox(ctx, SYSTEM, "hubspot")
            if not connected.ok:
                raise RuntimeError(f"sandbox connection failed: {connected.message}")

            def request(**options: Any) -> PushRequest:
                return PushRequest(
                    provider="hubspot",
                    object_name="contacts",
                    rows=leads,
                    connection_name="hubspot",
                    mapping=default_mapping("hubspot", "contacts"),
                    source_label="bench leads",
                    actor=SYSTEM,
                    mode=PushMode.UPSERT,
                    **options,
                )

            pid = spec.get("sandbox_pid")
            options = {
                "first": {},
                "unchanged": {},
                "dry_run": {"dry_run": True},
                "force_full": {"force_full": True},
            }
            wanted = spec.get("phases") or list(options)  # A-push-rss: the first push alone, for its memory
            phases = {name: _phase(ctx, url, pid, request(**options[name])) for name in wanted}
        finally:
            ctx.close()
    headline = phases.get("unchanged") or phases[wanted[0]]
    return {
        **{k: v for k, v in headline.items() if k not in ("created", "updated", "skipped", "failed")},
        "phases": phases,
        "concurrency": 4,
    }
