"""S1: our engine pushing N leads to Salesforce Lead, half of them already there (matched by email).

Set-up (untimed): every other lead is seeded into the sandbox with an older title through one Bulk API
2.0 insert job over plain HTTP, so the push creates half and updates half. Timed: ``run_push`` with
``SalesforceAdapter`` through sObject Collections (``bulk_threshold=None``) or Bulk API 2.0
(``bulk_threshold`` low).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from bench.leads import generate_leads, lead_records
from bench.measure import Section
from bench.sandboxes import TOKEN
from crm.http import StaticToken
from crm.mapping import SALESFORCE_LEAD
from crm.push import run_push
from crm.salesforce import SalesforceAdapter
from crm.salesforce_bulk import to_csv
from crm.salesforce_wire import DEFAULT_API_VERSION

DATA = f"/services/data/v{DEFAULT_API_VERSION}"
SEED_TITLE = "Former title (seeded)"
BULK_THRESHOLD_FOR_BULK = 1  # "bulk_threshold low": every push of this workload goes through Bulk API 2.0

# Sandbox routes by role.
LOOKUP_ROUTES = ("query", "queryMore", "queryAll")
WRITE_ROUTES = ("collections.create", "collections.update", "collections.upsert", "create", "update")
POLL_ROUTES = ("bulk.get", "bulkQuery.get")


def existing_half(leads: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The leads that already exist in the CRM before the push: every other one."""
    return list(leads[::2])


def seed_leads(url: str, leads: Sequence[Mapping[str, Any]], sobject: str = "Lead") -> int:
    """Insert ``leads`` (with an older title) through one Bulk API 2.0 job; returns rows created."""
    rows = [{**SALESFORCE_LEAD.apply(lead), "Title": SEED_TITLE} for lead in leads]
    if not rows:
        return 0
    text, _ = to_csv(rows)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, headers=headers, timeout=600.0) as http:
        spec = {"object": sobject, "operation": "insert", "contentType": "CSV", "lineEnding": "LF"}
        job = http.post(f"{DATA}/jobs/ingest", json=spec).raise_for_status().json()["id"]
        http.put(
            f"{DATA}/jobs/ingest/{job}/batches",
            content=text.encode(),
            headers={"Content-Type": "text/csv"},
        ).raise_for_status()
        http.patch(f"{DATA}/jobs/ingest/{job}", json={"state": "UploadComplete"}).raise_for_status()
        while True:
            info = http.get(f"{DATA}/jobs/ingest/{job}").raise_for_status().json()
            if info["state"] in ("JobComplete", "Failed", "Aborted"):
                break
            time.sleep(0.05)
    if info["state"] != "JobComplete" or int(info["numberRecordsFailed"]):
        raise RuntimeError(f"seeding failed: {info}")
    return int(info["numberRecordsProcessed"])


def classify(by_route: Mapping[str, int]) -> dict[str, int]:
    """Calls by role: lookups (SOQL), writes (Collections), polls (bulk job status), other."""
    lookups = sum(v for k, v in by_route.items() if k in LOOKUP_ROUTES)
    writes = sum(v for k, v in by_route.items() if k in WRITE_ROUTES)
    polls = sum(v for k, v in by_route.items() if k in POLL_ROUTES)
    total = sum(by_route.values())
    return {"lookup_calls": lookups, "write_calls": writes, "poll_calls": polls,
            "other_calls": total - lookups - writes - polls}  # fmt: skip


def s1_push(spec: dict[str, Any]) -> dict[str, Any]:
    url, n, path = spec["url"], int(spec["n"]), spec["path"]
    leads = generate_leads(n, spec.get("seed", 2024))
    seeded = seed_leads(url, existing_half(leads))
    records = lead_records(leads, SALESFORCE_LEAD)
    adapter = SalesforceAdapter(
        StaticToken(TOKEN),
        url,
        object_name="Lead",
        bulk_threshold=None if path == "collections" else BULK_THRESHOLD_FOR_BULK,
    )
    with Section(url, spec.get("sandbox_pid")) as section:
        summary = run_push(adapter, records)
    adapter.close()
    figures = section.result()
    return {
        **figures,
        **classify(figures["by_route"]),
        "seeded": seeded,
        "adapter_calls": summary.api_calls,
        "bulk_polls": adapter.bulk.polls,
        "concurrency": adapter.concurrency if path == "collections" else 1,
        "created": summary.created,
        "updated": summary.updated,
        "skipped": summary.skipped,
        "failed": summary.failed,
    }
