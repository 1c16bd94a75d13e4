"""The fault matrix at the run level: 3,000 leads per case, through ``service.runs.create`` and
``service.runs.execute`` on a real database (SQLite; one case also on PostgreSQL), into the in-process
sandbox behind a Sandbox connection, while the sandbox misbehaves.

Cases, per path (HubSpot batch upsert; Salesforce sObject Collections; Salesforce Bulk API 2.0):
429 storms (the sandbox admits fewer calls than the adapter's governor allows), 5xx on 15 % of calls,
dropped connections and timeouts, answers lost after the CRM committed (``drop-after``), rows the CRM
refuses although our validator passed them (stale cached field definitions), an OAuth access token
expiring every few calls (refreshed through the sandbox's OAuth server, the call repeated), and the
daily API limit reached mid-run.

After each: every input row has exactly one final result and the counters add up; the CRM holds exactly
what the results say (each pushed email once, with the pushed values; refused and unsent rows absent, or
untouched when they existed before); zero duplicates, zero lost rows. Every API call the CRM saw is
counted on the run. Each case prints its figures (``-s``) and appends them to the file named by
``CRM_RELIABILITY_REPORT``; docs/reliability.md tabulates one such run.

The random-fault cases send one batch at a time (``CRM_CONCURRENCY=1``): the sandbox's seeded fault
sequence then meets the same calls on every run, so the figures are the same every time. The 429, token
and refused-row cases use the production concurrency (4 HubSpot, 8 Salesforce).
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from reliability_support import (
    ROWS,
    SEEDED_EVERY,
    Outcome,
    SandboxTap,
    check_outcome,
    email_of,
    import_leads,
    lead_csv,
    rewrite_json,
    seed_existing,
)

import crm.hubspot_wire
from crm import sandbox
from crm.mapping import default_mapping
from crm.oauth import authorize_url, exchange_code, new_code_verifier
from crm.sandbox.core import Request, Response, SandboxApp
from crm.sandbox.hubspot import CLIENT_ID as HUBSPOT_CLIENT_ID
from crm.sandbox.hubspot import CLIENT_SECRET as HUBSPOT_CLIENT_SECRET
from crm.sandbox.salesforce import CLIENT_ID as SALESFORCE_CLIENT_ID
from crm.sandbox.salesforce import CLIENT_SECRET as SALESFORCE_CLIENT_SECRET
from data.db import Database
from data.leads import leads_frame
from service import connections, oauth_flow, runs
from service.auth import SYSTEM
from service.context import AppContext

OBJECTS = {"hubspot": "contacts", "salesforce": "Lead"}
REDIRECT = "http://localhost:8501/oauth/callback"
SANDBOX_RATE_WINDOW = 1.0  # seconds: the 429 case's sandbox window (HubSpot's real one is 10 s)
TOKEN_LIFE_CALLS = 5  # the token cases: an access token expires after serving this many data calls
# Rows the CRM refuses in the refused-row cases, half of them new, half already in the CRM. HubSpot gets
# few: an upsert by email is all-or-nothing there, and finding each refused row by bisection costs about
# 15 calls (450 refused rows took 3,151 calls: see docs/reliability.md).
REFUSED = {
    "salesforce": frozenset(i for i in range(ROWS) if i % 10 == 5 or i % 20 == 0),
    "hubspot": frozenset(i for i in range(ROWS) if i % 750 in (0, 375)),
}


@dataclass(frozen=True)
class Case:
    id: str
    provider: str
    path: str  # batch (HubSpot), collections or bulk (Salesforce)
    faults: dict[str, Any] = field(default_factory=dict)  # sandbox options during the push
    concurrency: int | None = 1  # None: the production default
    oauth: bool = False  # an OAuth connection whose tokens expire after TOKEN_LIFE_CALLS calls
    refuse_by: str | None = None  # "industry" (HubSpot) or "title" (Salesforce): stale field definitions
    limit_after: tuple[str, int] | None = None  # (route, n): the daily limit is reached after n answers
    state: str = "completed"
    codes: frozenset[str] = frozenset()  # the failure codes the case must produce (none: no failure)

    @property
    def bulk_threshold(self) -> int:
        return 2000 if self.path == "bulk" else 1_000_000


FIVE_XX = {"fail_rate": 0.15, "fail_kinds": ("500", "502", "503")}
NETWORK = {"fail_rate": 0.15, "fail_kinds": ("drop", "timeout")}
LOST_AFTER_COMMIT = {"fail_rate": 0.25, "fail_kinds": ("drop-after",)}

CASES = [
    Case("hubspot-429-storm", "hubspot", "batch", {"rate_limit": 10, "rate_window": SANDBOX_RATE_WINDOW},
         concurrency=None),
    Case("hubspot-5xx", "hubspot", "batch", {**FIVE_XX, "seed": 11}),
    Case("hubspot-drops-timeouts", "hubspot", "batch", {**NETWORK, "seed": 12}),
    Case("hubspot-lost-after-commit", "hubspot", "batch", {**LOST_AFTER_COMMIT, "seed": 13}),
    Case("hubspot-refused-rows", "hubspot", "batch", refuse_by="industry", concurrency=None,
         state="partial", codes=frozenset({"INVALID_OPTION"})),
    Case("hubspot-token-expiry", "hubspot", "batch", oauth=True, concurrency=None),
    Case("hubspot-daily-limit", "hubspot", "batch", limit_after=("contacts.batch_upsert", 12),
         state="partial", codes=frozenset({"NOT_SENT"})),
    Case("salesforce-collections-5xx", "salesforce", "collections", {**FIVE_XX, "seed": 21}),
    Case("salesforce-collections-drops-timeouts", "salesforce", "collections", {**NETWORK, "seed": 22}),
    Case("salesforce-collections-lost-after-commit", "salesforce", "collections",
         {**LOST_AFTER_COMMIT, "seed": 23}),
    Case("salesforce-collections-refused-rows", "salesforce", "collections", refuse_by="title",
         concurrency=None, state="partial", codes=frozenset({"STRING_TOO_LONG"})),
    Case("salesforce-collections-token-expiry", "salesforce", "collections", oauth=True, concurrency=None),
    Case("salesforce-collections-daily-limit", "salesforce", "collections",
         limit_after=("collections.create", 6), state="partial", codes=frozenset({"NOT_SENT"})),
    # A Bulk push makes a few dozen calls (polls vary with timing): a higher rate, so faults surely land.
    Case("salesforce-bulk-5xx", "salesforce", "bulk", {**FIVE_XX, "fail_rate": 0.25, "seed": 31}),
    Case("salesforce-bulk-drops-timeouts-lost", "salesforce", "bulk",
         {"fail_rate": 0.25, "fail_kinds": ("drop", "timeout", "drop-after"), "seed": 32}),
    Case("salesforce-bulk-refused-rows", "salesforce", "bulk", refuse_by="title", state="partial",
         codes=frozenset({"STRING_TOO_LONG"})),
    Case("salesforce-bulk-token-expiry", "salesforce", "bulk", oauth=True),
    Case("salesforce-bulk-daily-limit", "salesforce", "bulk", limit_after=("bulk.unprocessedrecords", 1),
         state="partial", codes=frozenset({"NOT_SENT"})),
]  # fmt: skip


# ----- arranging ------------------------------------------------------------------------------------------
def connect_oauth(ctx: AppContext, provider: str) -> None:
    """An OAuth connection made through the sandbox's own OAuth server (authorize, PKCE, code exchange)."""
    app = sandbox.shared(provider)
    endpoints = oauth_flow.endpoints_for(ctx, provider, sandbox=True)
    client_id, client_secret = (
        (HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET)
        if provider == "hubspot"
        else (SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET)
    )
    verifier = new_code_verifier()
    url = authorize_url(endpoints, client_id, REDIRECT, "reliability-state", verifier)
    with httpx.Client(transport=sandbox.SandboxTransport(app)) as browser:
        answer = browser.get(url)
    assert answer.status_code == 302, answer.text
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    tokens = exchange_code(
        endpoints,
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=REDIRECT,
        code=code,
        code_verifier=verifier,
        transport=sandbox.SandboxTransport(app),
    )
    settings = {"sandbox": True, "client_id": client_id}
    secret = {**tokens.secret_json(), "client_secret": client_secret}
    connections.save(ctx, SYSTEM, provider, "oauth", secret, settings)
    assert connections.test_connection(ctx, provider).ok


def stale_field_definitions(app: SandboxApp, refuse_by: str) -> Callable[[Request, str, Response], Any]:
    """The CRM changed a field after we read its definition; the adapter keeps seeing the old one.

    HubSpot: Industry became a dropdown, but the properties list served to us still says free text.
    Salesforce: Title is 128 characters, but the describe served to us still says 255.
    """
    if refuse_by == "industry":
        old = copy.deepcopy(app.registry.definitions["industry"])  # type: ignore[attr-defined]
        options = [
            {"label": v, "value": v, "displayOrder": i, "hidden": False}
            for i, v in enumerate(("Technology", "Manufacturing", "Finance"))
        ]
        app.registry.definitions["industry"] = {  # type: ignore[attr-defined]
            **old, "type": "enumeration", "fieldType": "select", "options": options,
        }  # fmt: skip

        def stale_properties(request: Request, route: str, response: Response) -> Response | None:
            if route != "properties.list" or response.status != 200:
                return None
            return rewrite_json(
                response,
                lambda body: body.update(
                    results=[old if p["name"] == "industry" else p for p in body["results"]]
                ),
            )

        return stale_properties

    def stale_describe(request: Request, route: str, response: Response) -> Response | None:
        if route != "describe" or response.status != 200:
            return None

        def widen(body: Any) -> None:
            for f in body["fields"]:
                if f["name"] == "Title":
                    f["length"] = 255

        return rewrite_json(response, widen)

    return stale_describe


def limit_after(app: SandboxApp, route_name: str, n: int) -> Callable[[Request, str, Response], None]:
    """After the ``n``-th answer of ``route_name``, the day's API allocation is used up."""
    seen = Counter[str]()

    def reach(request: Request, route: str, response: Response) -> None:
        if route != route_name:
            return
        seen[route] += 1
        if seen[route] == n:
            used = app.limits.daily_used if app.vendor == "hubspot" else app.api_used()  # type: ignore[attr-defined]
            app.configure(daily_limit=used)

    return reach


def tokens_live_for(app: SandboxApp, calls: int) -> Callable[[Request, str, Response], None]:
    """Every access token the sandbox issued through OAuth expires after serving ``calls`` data calls: the
    run meets an expired token again and again, each time with a token that did work until then."""
    served = Counter[str]()

    def expire(request: Request, route: str, response: Response) -> None:
        token = request.bearer() or ""
        if route.startswith("oauth.") or response.status >= 400 or token not in app.issued_tokens:
            return
        with app.lock:
            served[token] += 1
            if served[token] == calls:
                app.issued_tokens[token] = time.monotonic() - 1  # expired from now on

    return expire


# ----- the case -------------------------------------------------------------------------------------------
def run_case(
    case: Case,
    database: Database,
    make_ctx: Callable[..., AppContext],
    tap: Callable[[SandboxApp], SandboxTap],
    logical_calls: Any,
) -> Outcome:
    ctx = make_ctx(database, concurrency=case.concurrency, bulk_threshold=case.bulk_threshold)
    app = sandbox.shared(case.provider)
    if case.oauth:
        connect_oauth(ctx, case.provider)
    else:
        assert connections.connect_sandbox(ctx, SYSTEM, case.provider).ok
    domain = f"{case.id}.example"
    refused = REFUSED[case.provider] if case.refuse_by else frozenset()
    data = lead_csv(ROWS, domain, refused=refused, refuse_by=case.refuse_by or "title")
    campaign_id = import_leads(ctx, case.id, data)
    seeded = seed_existing(app, [email_of(i, domain) for i in range(0, ROWS, SEEDED_EVERY)])

    spy = tap(app)
    if case.refuse_by:
        spy.afters.append(stale_field_definitions(app, case.refuse_by))
    if case.limit_after:
        spy.afters.append(limit_after(app, *case.limit_after))
    if case.oauth:
        spy.afters.append(tokens_live_for(app, TOKEN_LIFE_CALLS))
    if case.faults:
        app.configure(**case.faults)
    with ctx.db.session() as session:
        frame = leads_frame(session, campaign_id)
    rows = [{**row, "lead_id": row["id"]} for row in frame.to_dict("records")]
    request = runs.PushRequest(
        provider=case.provider,
        object_name=OBJECTS[case.provider],
        rows=rows,
        connection_name=case.provider,
        mapping=default_mapping(case.provider, OBJECTS[case.provider]),
        source_label=case.id,
        actor=SYSTEM,
        campaign_id=campaign_id,
    )
    calls_before = logical_calls.count

    run_id = runs.create(ctx, request)
    runs.execute(ctx, run_id)

    app.configure(fail_rate=0.0)
    run, records, duplicates, lost = check_outcome(ctx, run_id, app, provider=case.provider, seeded=seeded)
    codes = Counter(r.error_code for r in records if r.action == "failed")
    messages = Counter(r.error_message for r in records if r.action == "failed")
    assert run.state == case.state, (
        run.state,
        run.error_message,
        codes.most_common(3),
        messages.most_common(2),
    )
    assert set(codes) == set(case.codes), codes
    assert run.api_calls == app.stats.requests, "every call the CRM saw is counted on the run"
    faults = {
        "injected": app.stats.failed_injected,
        "throttled": app.stats.throttled,
        "expired_401": app.stats.by_status[401],
        "token_refreshes": spy.routes["oauth.token"],
    }
    return Outcome(
        case=case.id,
        rows=run.total,
        created=run.created,
        updated=run.updated,
        failed=run.failed - codes["NOT_SENT"],
        not_sent=codes["NOT_SENT"],
        faults={k: v for k, v in faults.items() if v},
        api_calls=run.api_calls,
        retries=run.api_calls - (logical_calls.count - calls_before),
        duplicates=duplicates,
        lost=lost,
        state=run.state,
        failure_codes=dict(codes),
    )


def assert_case_specifics(case: Case, outcome: Outcome) -> None:
    """What each kind of fault must show besides "exactly once"."""
    faults = outcome.faults
    seeded = ROWS // SEEDED_EVERY
    if case.state == "completed":  # the fault was survived: every row landed
        assert (outcome.created, outcome.updated, outcome.failed) == (ROWS - seeded, seeded, 0)
    if case.faults.get("fail_rate"):
        # Survived, not merely missed: faults were injected. (A fault can be absorbed without a retry,
        # e.g. a Bulk job's state re-read after a lost "UploadComplete", so retries are reported only.)
        assert faults.get("injected", 0) > 0
    if case.faults.get("rate_limit"):
        assert faults.get("throttled", 0) > 0 and outcome.retries >= faults["throttled"]
    if case.oauth:
        assert faults.get("expired_401", 0) > 0 and faults.get("token_refreshes", 0) > 0
    if case.refuse_by:
        refused = len(REFUSED[case.provider])
        assert outcome.failed == refused and outcome.created + outcome.updated == ROWS - refused
    if case.limit_after:
        assert outcome.not_sent > 0 and outcome.created > 0 and faults.get("throttled", 0) >= 1


@pytest.mark.usefixtures("fast_retries")
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_fault_case_every_row_once(
    case: Case,
    sqlite_database: Database,
    make_ctx: Callable[..., AppContext],
    tap: Callable[[SandboxApp], SandboxTap],
    logical_calls: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if case.faults.get("rate_limit"):
        # HubSpot's 429 names no Retry-After, so we wait out its window: make it the sandbox's window.
        monkeypatch.setattr(crm.hubspot_wire, "RATE_WINDOW", SANDBOX_RATE_WINDOW)

    outcome = run_case(case, sqlite_database, make_ctx, tap, logical_calls)

    assert_case_specifics(case, outcome)
    outcome.report()


@pytest.mark.postgres
@pytest.mark.usefixtures("fast_retries")
def test_lost_answers_after_commit_on_postgresql(
    pg_database: Database,
    make_ctx: Callable[..., AppContext],
    tap: Callable[[SandboxApp], SandboxTap],
    logical_calls: Any,
) -> None:
    case = next(c for c in CASES if c.id == "salesforce-collections-lost-after-commit")

    outcome = run_case(case, pg_database, make_ctx, tap, logical_calls)

    assert_case_specifics(case, outcome)
    outcome.case += " (PostgreSQL)"
    outcome.report()
