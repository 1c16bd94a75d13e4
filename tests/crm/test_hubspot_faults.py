"""HubSpotAdapter when things go wrong: server faults, lost answers, timeouts, 429 storms, the daily limit,
expiring OAuth tokens, bad tokens and missing scopes.

Every test checks the portal afterwards (``app.dump()``): each row landed exactly once, or not at all.
Rate tests use a 1 s sandbox window and assert on 429 counts, never on durations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest

from crm.errors import AuthError, ForbiddenError, TokenExpired
from crm.governor import Governor, RollingWindowGovernor, Unlimited
from crm.http import RetryPolicy, StaticToken
from crm.hubspot import HubSpotAdapter
from crm.hubspot_wire import RATE_WINDOW
from crm.model import Action, LeadRecord, PushSummary, RecordResult, WriteKind, WriteOp
from crm.oauth import TokenSet
from crm.push import MemoryRecorder, run_push
from crm.sandbox import SandboxTransport
from crm.sandbox.hubspot import HubSpotSandbox

Apps = Callable[..., HubSpotSandbox]
Adapters = Callable[..., HubSpotAdapter]
Leads = Callable[..., list[LeadRecord]]
WRITE_SCOPE = "crm.objects.contacts.write"


def push(
    adapter: HubSpotAdapter, rows: Sequence[LeadRecord], recorder: MemoryRecorder | None = None
) -> tuple[dict[str, RecordResult], PushSummary]:
    recorder = recorder or MemoryRecorder()
    summary = run_push(adapter, rows, recorder=recorder)
    assert len(recorder.results) == len(rows), "every row gets exactly one result"
    return recorder.by_key(), summary


def assert_landed_once(app: HubSpotSandbox, rows: Sequence[LeadRecord]) -> None:
    """The portal holds exactly the rows' emails, each once."""
    emails = [str(c["properties"]["email"]) for c in app.dump()]
    assert len(emails) == len(set(emails)), "a retry created a duplicate contact"
    assert sorted(emails) == sorted(r.email.lower() for r in rows)


class RecordingGovernor:
    """Delegates to a real governor and records every backoff the adapter asked for."""

    def __init__(self, inner: Governor) -> None:
        self.inner = inner
        self.backoffs: list[float] = []

    def acquire(self) -> float:
        return self.inner.acquire()

    def release(self) -> None:
        self.inner.release()

    def backoff(self, seconds: float) -> None:
        self.backoffs.append(seconds)
        self.inner.backoff(seconds)


# ----- server faults and lost answers -----------------------------------------------------------------
def test_server_faults_are_retried_and_every_row_created_once(
    make_hubspot_app: Apps, make_hubspot_adapter: Adapters, hubspot_leads: Leads
) -> None:
    app = make_hubspot_app(fail_rate=0.2, seed=7)  # 500, 502, 503 and dropped connections
    rows = hubspot_leads(1000)

    adapter = make_hubspot_adapter(app, retry=RetryPolicy(attempts=8, base_delay=0.001, max_delay=0.01))

    _, summary = push(adapter, rows)

    assert app.stats.failed_injected > 0
    assert (summary.created, summary.updated, summary.failed) == (1000, 0, 0)
    assert_landed_once(app, rows)
    # Each injected failure cost exactly one more call; nothing else was sent twice.
    assert app.stats.requests == 1 + 10 + app.stats.failed_injected


def test_a_lost_answer_after_the_write_creates_no_duplicate(
    make_hubspot_app: Apps, make_hubspot_adapter: Adapters, hubspot_leads: Leads
) -> None:
    # The CRM commits the upsert, then the connection drops before the answer arrives.
    app = make_hubspot_app(fail_rate=0.3, fail_kinds=("drop-after",), seed=3)
    rows = hubspot_leads(600)

    results, summary = push(make_hubspot_adapter(app), rows)

    assert app.stats.failed_injected > 0
    # Every row was new: a retry after a lost answer still counts it as created, not updated.
    assert (summary.failed, summary.created, summary.updated) == (0, 600, 0)
    assert all(r.action == Action.CREATED and r.crm_id for r in results.values())
    assert_landed_once(app, rows)


class LoseUpsertAnswers(httpx.BaseTransport):
    """The CRM commits every batch upsert, and every one of its answers is lost on the way back."""

    def __init__(self, app: HubSpotSandbox) -> None:
        self.inner = SandboxTransport(app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path.endswith("/batch/upsert"):
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return response


def test_when_every_answer_is_lost_a_read_back_settles_what_landed(
    make_hubspot_app: Apps, hubspot_leads: Leads
) -> None:
    app = make_hubspot_app()
    rows = hubspot_leads(150)
    retry = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01)
    adapter = HubSpotAdapter(
        StaticToken(app.options.token), base_url=app.base_url, transport=LoseUpsertAnswers(app),
        governor=Unlimited(), account_key="lost-answers", retry=retry,
    )  # fmt: skip
    try:
        results, summary = push(adapter, rows)
    finally:
        adapter.close()

    assert app.stats.by_route["contacts.batch_upsert"] == 2 * 3  # every attempt committed, none answered
    assert (summary.created, summary.updated, summary.failed) == (150, 0, 0)
    held = {r["properties"]["email"]: r["id"] for r in app.dump()}
    assert {r.crm_id for r in results.values()} == set(held.values())
    assert_landed_once(app, rows)


def test_a_timeout_is_retried(
    make_hubspot_app: Apps, make_hubspot_adapter: Adapters, hubspot_leads: Leads
) -> None:
    app = make_hubspot_app(fail_rate=0.4, fail_kinds=("timeout",), hang_seconds=0.01, seed=2)
    rows = hubspot_leads(500)

    _, summary = push(make_hubspot_adapter(app), rows)

    assert app.stats.failed_injected > 0
    assert summary.failed == 0 and summary.created + summary.updated == 500
    assert_landed_once(app, rows)


def test_retries_are_bounded_when_the_crm_never_answers(
    make_hubspot_app: Apps, make_hubspot_adapter: Adapters, hubspot_leads: Leads
) -> None:
    app = make_hubspot_app(fail_rate=1.0, fail_kinds=("timeout",), hang_seconds=0.01)
    adapter = make_hubspot_adapter(app, retry=RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01))
    ops = [WriteOp(r.key, r.email, WriteKind.UPSERT, r.properties) for r in hubspot_leads(150)]

    results = [r for batch in adapter.write(ops) for r in batch]

    assert app.stats.by_route["contacts.batch_upsert"] == 2 * 3  # two batches, three attempts each
    assert sorted(r.key for r in results) == sorted(op.key for op in ops)  # batches end in any order
    assert all(r.action is Action.FAILED and r.error_code == "NetworkError" for r in results)
    assert "timed out" in (results[0].error_message or "")
    assert app.dump() == []


# ----- rate limits ------------------------------------------------------------------------------------
@pytest.mark.slow  # one real 10 s wait: HubSpot's 429 names no Retry-After, so we wait out its window
def test_a_429_storm_is_survived_by_waiting_as_told(
    make_hubspot_app: Apps, make_hubspot_adapter: Adapters, hubspot_leads: Leads
) -> None:
    app = make_hubspot_app(rate_limit=20, rate_window=1.0)
    governor = RecordingGovernor(RollingWindowGovernor(1000, 1.0))  # set far above what the portal allows
    adapter = make_hubspot_adapter(app, governor=governor, concurrency=4)
    rows = hubspot_leads(2500)  # 25 upserts + the fields call: 26 calls against 20 a second

    _, summary = push(adapter, rows)

    assert (summary.created, summary.failed) == (2500, 0)
    assert_landed_once(app, rows)
    throttled = app.stats.throttled
    assert throttled >= 1 and app.stats.by_status[429] == throttled
    # Every 429 paused the account's governor for HubSpot's window, and the retries that followed the
    # wait were all admitted: at most one 429 per batch in flight, never a second round.
    assert governor.backoffs == [RATE_WINDOW] * throttled
    assert throttled <= 4
    assert app.stats.requests == 26 + throttled


def test_a_governor_matching_the_portal_limit_sees_no_429(
    make_hubspot_app: Apps, make_hubspot_adapter: Adapters, hubspot_leads: Leads
) -> None:
    app = make_hubspot_app(rate_limit=20, rate_window=1.0)
    adapter = make_hubspot_adapter(app, governor=RollingWindowGovernor(20, 1.0), concurrency=4)
    rows = hubspot_leads(2500)

    _, summary = push(adapter, rows)

    assert app.stats.requests == 26 > 20  # more calls than one window admits
    assert app.stats.throttled == 0
    assert (summary.created, summary.failed) == (2500, 0)
    assert_landed_once(app, rows)


def test_the_daily_limit_stops_the_push_cleanly(
    make_hubspot_app: Apps, make_hubspot_adapter: Adapters, hubspot_leads: Leads
) -> None:
    app = make_hubspot_app(daily_limit=4)  # the fields call and three upserts
    adapter = make_hubspot_adapter(app, concurrency=1)
    rows = hubspot_leads(1000)

    results, summary = push(adapter, rows)

    assert (summary.created, summary.failed) == (300, 700)
    assert summary.stopped_reason and "daily limit" in summary.stopped_reason
    assert app.stats.by_route["contacts.batch_upsert"] == 4  # three landed, the fourth refused, no more
    created = sorted(r.email.lower() for r in rows if results[r.key].action is Action.CREATED)
    assert created == sorted(str(c["properties"]["email"]) for c in app.dump())
    unsent = [r for r in results.values() if r.action is Action.FAILED]
    assert len(unsent) == 700
    assert all(r.error_code == "NOT_SENT" and r.crm_id is None for r in unsent)
    assert all("daily limit" in (r.error_message or "") for r in unsent)


# ----- tokens and scopes ------------------------------------------------------------------------------
class ExpiringRecorder(MemoryRecorder):
    """Expires every OAuth token the sandbox issued once the first write batch is recorded."""

    def __init__(self, app: HubSpotSandbox) -> None:
        super().__init__()
        self.app = app
        self.expired = 0

    def record(self, results: Sequence[RecordResult], api_calls: int) -> None:
        super().record(results, api_calls)
        if not self.expired:
            self.expired = self.app.expire_tokens()


def test_an_oauth_token_expiring_mid_run_is_refreshed_and_the_batch_retried(
    hubspot_app: HubSpotSandbox,
    make_hubspot_adapter: Adapters,
    hubspot_leads: Leads,
    hubspot_oauth: Callable[..., Any],
) -> None:
    refreshed: list[TokenSet] = []
    tokens = hubspot_oauth(hubspot_app).token_source(on_refresh=refreshed.append)
    first = tokens.current
    adapter = make_hubspot_adapter(hubspot_app, tokens, concurrency=1)
    rows = hubspot_leads(300)
    recorder = ExpiringRecorder(hubspot_app)

    _, summary = push(adapter, rows, recorder)

    assert recorder.expired >= 1
    assert (summary.created, summary.failed) == (300, 0)
    assert_landed_once(hubspot_app, rows)
    assert hubspot_app.stats.by_status[401] == 1  # the one call that met the expired token
    assert hubspot_app.stats.by_route["contacts.batch_upsert"] == 3 + 1  # that batch, sent again
    assert len(refreshed) == 1
    assert refreshed[0].access_token != first.access_token
    assert refreshed[0].refresh_token == first.refresh_token
    assert tokens.token() == refreshed[0].access_token


def test_a_bad_token_is_an_auth_error_with_hubspots_message(
    hubspot_app: HubSpotSandbox, make_hubspot_adapter: Adapters, hubspot_leads: Leads
) -> None:
    adapter = make_hubspot_adapter(hubspot_app, StaticToken("pat-na1-not-a-real-token"))

    with pytest.raises(AuthError) as refused:
        run_push(adapter, hubspot_leads(5))

    error = refused.value
    assert not isinstance(error, TokenExpired)
    assert (error.status, error.code) == (401, "INVALID_AUTHENTICATION")
    assert "Authentication credentials not found" in error.message
    assert hubspot_app.stats.requests == 1  # fatal: never retried
    assert hubspot_app.dump() == []


def test_an_expired_token_that_cannot_refresh_says_so(
    hubspot_app: HubSpotSandbox, make_hubspot_adapter: Adapters, hubspot_oauth: Callable[..., Any]
) -> None:
    pasted = hubspot_oauth(hubspot_app).tokens().access_token
    hubspot_app.expire_tokens()
    adapter = make_hubspot_adapter(hubspot_app, StaticToken(pasted))

    with pytest.raises(TokenExpired) as refused:
        adapter.fields()

    assert "expired" in refused.value.message


def test_a_token_without_the_write_scope_is_forbidden_naming_the_scope(
    hubspot_app: HubSpotSandbox,
    make_hubspot_adapter: Adapters,
    hubspot_leads: Leads,
    hubspot_oauth: Callable[..., Any],
) -> None:
    flow = hubspot_oauth(hubspot_app, scopes=("crm.objects.contacts.read", "crm.schemas.contacts.read"))
    adapter = make_hubspot_adapter(hubspot_app, StaticToken(flow.tokens().access_token), concurrency=1)

    with pytest.raises(ForbiddenError) as refused:
        adapter.create_property({"name": "x_score", "label": "X", "type": "number", "fieldType": "number"})
    assert refused.value.status == 403 and "crm.schemas.contacts.write" in refused.value.message

    rows = hubspot_leads(150)
    results, summary = push(adapter, rows)

    assert summary.failed == 150 and hubspot_app.dump() == []
    first, second = results[rows[0].key], results[rows[-1].key]
    assert first.error_code == "MISSING_SCOPES" and WRITE_SCOPE in (first.error_message or "")
    assert second.error_code == "NOT_SENT" and WRITE_SCOPE in (second.error_message or "")
    assert summary.stopped_reason and WRITE_SCOPE in summary.stopped_reason
    assert hubspot_app.stats.by_route["contacts.batch_upsert"] == 1  # the second batch was never sent
