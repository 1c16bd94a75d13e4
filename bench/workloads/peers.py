"""P: the peers, on the same sandboxes and the same leads.

(a) ``per_contact``: what many integrations do — for each lead, search HubSpot by email (the search API,
    with its own 5/s limit), then create or update that one contact. Official ``hubspot-api-client``.
(b) ``hubspot_client_batch``: a sequential loop of the official client's batch upsert, 100 per call.
(c) ``simple_salesforce_bulk2``: ``sf.bulk2.Lead.upsert(…, external_id_field="Email")`` and the job's
    results, with simple-salesforce's defaults (it sleeps ``wait=5`` s before its first poll).

Retries of the HubSpot peers are the client's documented ones (its README, "Retry middleware"):
``Retry(total=5, status_forcelist=(429,))``, handed to ``HubSpot(retry=…)``. urllib3's default
``allowed_methods`` leave out POST and PATCH, so that setting alone never retries a batch upsert; we add
``allowed_methods=None`` (any verb), the smallest change that makes the documented setting apply. When
urllib3 gives up (no backoff: its five retries fire at once), the loop waits as HubSpot's own Node
client does (../shared/crm-api-notes-hubspot.md, "Official clients' retries"): 10 s × attempt after a
ten-secondly 429, 1 s × attempt after a search 429, up to :data:`LOOP_ATTEMPTS` attempts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from bench.leads import generate_leads
from bench.measure import Section
from bench.sandboxes import TOKEN
from bench.workloads.salesforce import existing_half, seed_leads
from crm.hubspot_wire import wire
from crm.mapping import HUBSPOT_CONTACTS, SALESFORCE_LEAD

BATCH = 100  # the client's batch upsert takes at most 100 inputs
LOOP_ATTEMPTS = 5
BURST_WAIT = 10.0  # Node client: a ten-secondly 429 waits 10 s × attempt
SEARCH_WAIT = 1.0  # Node client: a search 429 waits 1 s × attempt
SF_INSTANCE = "https://orgfarm-bench.my.salesforce.test"  # any https host; forwarded to the sandbox

T = TypeVar("T")


def documented_retry() -> Retry:
    """hubspot-api-client README's rate-limit retry, made to cover POST/PATCH (see the module doc)."""
    return Retry(total=5, status_forcelist=(429,), allowed_methods=None)


def hubspot_client(url: str) -> Any:
    from hubspot import HubSpot

    return HubSpot(access_token=TOKEN, host=url, retry=documented_retry())


class LoopStats:
    def __init__(self) -> None:
        self.gave_up = 0  # times urllib3's retries ran out and the loop waited
        self.waited_s = 0.0


def with_loop_retry(call: Callable[[], T], wait: float, loop: LoopStats) -> T:
    """Call; when the client gives up on 429s, wait ``wait`` × attempt and call again."""
    from hubspot.crm.contacts import ApiException

    for attempt in range(1, LOOP_ATTEMPTS + 1):
        try:
            return call()
        except (ApiException, MaxRetryError) as exc:
            status = getattr(exc, "status", None)
            if isinstance(exc, ApiException) and status != 429:
                raise
            if attempt == LOOP_ATTEMPTS:
                raise
            loop.gave_up += 1
            loop.waited_s += wait * attempt
            time.sleep(wait * attempt)
    raise AssertionError("unreachable")


def hubspot_properties(lead: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(wire(v)) for k, v in HUBSPOT_CONTACTS.apply(lead).items()}


def seed_hubspot(url: str, leads: Sequence[Mapping[str, Any]]) -> None:
    """Put ``leads`` (with an older title) into the HubSpot sandbox by batch upsert, untimed."""
    import httpx

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as http:
        for start in range(0, len(leads), BATCH):
            inputs = [
                {"idProperty": "email", "id": str(lead["email"]).lower(),
                 "properties": {**hubspot_properties(lead), "jobtitle": "Former title (seeded)"}}
                for lead in leads[start : start + BATCH]
            ]  # fmt: skip
            while True:
                response = http.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": inputs})
                if response.status_code != 429:
                    response.raise_for_status()
                    break
                time.sleep(1.0)


def per_contact(spec: dict[str, Any]) -> dict[str, Any]:
    """Peer (a): search by email, then create or update, one lead at a time."""
    from hubspot.crm.contacts import (
        Filter,
        FilterGroup,
        PublicObjectSearchRequest,
        SimplePublicObjectInput,
        SimplePublicObjectInputForCreate,
    )

    url, n = spec["url"], int(spec["n"])
    leads = generate_leads(n, spec.get("seed", 2024))
    seed_hubspot(url, existing_half(leads))
    client = hubspot_client(url)
    contacts = client.crm.contacts
    loop = LoopStats()
    created = updated = 0
    with Section(url, spec.get("sandbox_pid")) as section:
        for lead in leads:
            props = hubspot_properties(lead)
            query = PublicObjectSearchRequest(
                filter_groups=[
                    FilterGroup(filters=[Filter(property_name="email", operator="EQ", value=lead["email"])])
                ],
                properties=["email"],
                limit=1,
            )
            found = with_loop_retry(
                lambda q=query: contacts.search_api.do_search(public_object_search_request=q),
                SEARCH_WAIT,
                loop,
            )
            if found.results:
                contact_id = found.results[0].id
                with_loop_retry(
                    lambda c=contact_id, p=props: contacts.basic_api.update(
                        contact_id=c, simple_public_object_input=SimplePublicObjectInput(properties=p)
                    ),
                    BURST_WAIT,
                    loop,
                )
                updated += 1
            else:
                with_loop_retry(
                    lambda p=props: contacts.basic_api.create(
                        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties=p)
                    ),
                    BURST_WAIT,
                    loop,
                )
                created += 1
    figures = section.result()
    return {**figures, "created": created, "updated": updated, "loop_gave_up": loop.gave_up,
            "loop_waited_s": loop.waited_s, "concurrency": 1}  # fmt: skip


def hubspot_client_batch(spec: dict[str, Any]) -> dict[str, Any]:
    """Peer (b): the official client's batch upsert in a sequential loop, 100 leads a call."""
    from hubspot.crm.contacts import (
        BatchInputSimplePublicObjectBatchInputUpsert,
        SimplePublicObjectBatchInputUpsert,
    )

    url, n = spec["url"], int(spec["n"])
    leads = generate_leads(n, spec.get("seed", 2024))
    batches = [
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id=str(lead["email"]).lower(), id_property="email", properties=hubspot_properties(lead)
                )
                for lead in leads[start : start + BATCH]
            ]
        )
        for start in range(0, len(leads), BATCH)
    ]
    client = hubspot_client(url)
    batch_api = client.crm.contacts.batch_api
    loop = LoopStats()
    created = updated = 0
    with Section(url, spec.get("sandbox_pid")) as section:
        for body in batches:
            answer = with_loop_retry(
                lambda b=body: batch_api.upsert(batch_input_simple_public_object_batch_input_upsert=b),
                BURST_WAIT,
                loop,
            )
            for result in answer.results:
                if result.new:
                    created += 1
                else:
                    updated += 1
    figures = section.result()
    return {**figures, "created": created, "updated": updated, "loop_gave_up": loop.gave_up,
            "loop_waited_s": loop.waited_s, "concurrency": 1}  # fmt: skip


class ForwardToSandbox(HTTPAdapter):
    """simple-salesforce always builds ``https://`` URLs: rewrite them to the plain-HTTP sandbox."""

    def __init__(self, https_prefix: str, http_base: str) -> None:
        super().__init__()
        self.https_prefix = https_prefix
        self.http_base = http_base

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        url = request.url or ""
        if url.startswith(self.https_prefix):
            request.url = self.http_base + url[len(self.https_prefix) :]
        return super().send(request, **kwargs)


def simple_salesforce_bulk2(spec: dict[str, Any]) -> dict[str, Any]:
    """Peer (c): one Bulk API 2.0 upsert job keyed on Email, then its results, via simple-salesforce."""
    from simple_salesforce import Salesforce

    from crm.salesforce_wire import DEFAULT_API_VERSION

    url, n = spec["url"], int(spec["n"])
    leads = generate_leads(n, spec.get("seed", 2024))
    seeded = seed_leads(url, existing_half(leads))
    records = [{k: str(v) for k, v in SALESFORCE_LEAD.apply(lead).items()} for lead in leads]
    session = requests.Session()
    session.mount(SF_INSTANCE, ForwardToSandbox(SF_INSTANCE, url))
    sf = Salesforce(instance_url=SF_INSTANCE, session_id=TOKEN, version=DEFAULT_API_VERSION, session=session)
    options: dict[str, Any] = {"wait": spec["peer_wait"]} if spec.get("peer_wait") is not None else {}
    created = updated = failed = 0
    with Section(url, spec.get("sandbox_pid")) as section:
        jobs = sf.bulk2.Lead.upsert(records=records, external_id_field="Email", **options)
        for job in jobs:
            results = sf.bulk2.Lead.get_all_ingest_records(job["job_id"])
            for row in results["successfulRecords"]:
                if row.get("sf__Created") == "true":
                    created += 1
                else:
                    updated += 1
            failed += len(results["failedRecords"]) + len(results["unprocessedRecords"])
    figures = section.result()
    return {**figures, "seeded": seeded, "jobs": len(jobs), "created": created, "updated": updated,
            "failed": failed, "concurrency": 1}  # fmt: skip
