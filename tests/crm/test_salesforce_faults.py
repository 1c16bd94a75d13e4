"""SalesforceAdapter when things go wrong: 5xx and dropped connections, answers lost after the CRM
committed a create, timeouts, the daily API allocation running out, access tokens expiring mid-run.

Every test ends by reading the org (``app.dump()``): each input row has exactly one result, and the org
holds exactly the records those results claim, no email twice and none lost. Seeded fault tests run one
batch at a time (``concurrency=1``) so the seed decides which calls fail and every run repeats exactly.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

import pytest

from crm.batching import NOT_SENT
from crm.errors import AuthError, NetworkError, TokenExpired
from crm.http import StaticToken
from crm.model import Action, LeadRecord, RecordResult, WriteKind, WriteOp
from crm.oauth import TokenSet
from crm.push import MemoryRecorder
from crm.salesforce import COLLECTION_SIZE
from crm.sandbox.salesforce import SalesforceSandbox

pytest.register_assert_rewrite("tests.crm.salesforce_support")  # before the import below, for its asserts
from tests.crm.salesforce_support import (  # noqa: E402
    FAST_RETRY,
    RecordingTransport,
    SfAdapterFactory,
    assert_org_holds_exactly,
    is_collection_create,
    lead_rows,
    live_records,
    oauth_tokens,
    push,
    seed_records,
)

pytest_plugins = ("tests.crm.salesforce_support",)

SandboxFactory = Callable[..., SalesforceSandbox]


def arrange(
    make_sf_app: SandboxFactory, n: int, existing: int, seed: int = 21, **faults: object
) -> tuple[SalesforceSandbox, list[LeadRecord], dict[str, str]]:
    """A sandbox holding the first ``existing`` of ``n`` rows; the faults switched on afterwards.

    The seeds below were picked so that faults hit create calls too (the assertions say so if a change
    in the adapter's call pattern ever makes a seed miss them)."""
    app = make_sf_app(seed=seed)
    rows = lead_rows(n, Title="Analyst")
    ids = seed_records(app, [r.email.lower() for r in rows[:existing]])
    app.configure(**faults)
    return app, rows, ids


def assert_results_match_the_org(
    app: SalesforceSandbox, rows: Sequence[LeadRecord], results: dict[str, RecordResult], ids: dict[str, str]
) -> None:
    """Every row landed once: created rows under a new id, existing ones updated under theirs."""
    held = assert_org_holds_exactly(app, [r.email for r in rows])
    for row in rows:
        email = row.email.lower()
        result, record = results[row.key], held[email]
        expected = Action.UPDATED if email in ids else Action.CREATED
        assert (result.action, result.crm_id) == (expected, record["Id"]), row.key
        assert record["Title"] == "Analyst"
        if email in ids:
            assert record["Id"] == ids[email]


# ----- server faults, lost answers, timeouts ---------------------------------------------------------------
def test_server_errors_and_dropped_connections_land_every_row_once(
    make_sf_app: SandboxFactory, make_sf_adapter: SfAdapterFactory
) -> None:
    app, rows, ids = arrange(make_sf_app, 2000, 1000, seed=24, fail_rate=0.15)  # 500, 502, 503 and drops
    transport = RecordingTransport(app)

    results, summary = push(make_sf_adapter(app, transport=transport, concurrency=1), rows)

    assert (summary.created, summary.updated, summary.failed) == (1000, 1000, 0)
    assert_results_match_the_org(app, rows, results, ids)
    assert app.stats.failed_injected > 0
    assert any(is_collection_create(r) for r in transport.failed)  # a create had to be checked and re-sent
    assert app.stats.by_route["collections.create"] > math.ceil(1000 / COLLECTION_SIZE)


def test_answers_lost_after_the_crm_committed_create_no_duplicates(
    make_sf_app: SandboxFactory, make_sf_adapter: SfAdapterFactory
) -> None:
    app, rows, ids = arrange(make_sf_app, 1000, 300, seed=25, fail_rate=0.3, fail_kinds=("drop-after",))
    transport = RecordingTransport(app)

    results, summary = push(make_sf_adapter(app, transport=transport, concurrency=1), rows)

    assert (summary.created, summary.updated, summary.failed) == (700, 300, 0)
    assert_results_match_the_org(app, rows, results, ids)
    lost_creates = [r for r in transport.failed if is_collection_create(r)]
    assert lost_creates, "the seed should lose at least one create's answer"
    # A lost create is followed by a lookup, never by a blind re-send of what already landed.
    sent_records = sum(len(body["records"]) for body in transport.bodies("POST", "/composite/sobjects"))
    assert sent_records == 700


def test_the_first_create_answer_lost_is_looked_up_not_sent_again(
    sf_app: SalesforceSandbox, make_sf_adapter: SfAdapterFactory
) -> None:
    rows = lead_rows(1000, Title="Analyst")
    transport = RecordingTransport(sf_app)
    transport.lose_answer(is_collection_create)

    results, summary = push(make_sf_adapter(sf_app, transport=transport), rows)

    assert [is_collection_create(r) for r in transport.failed] == [True]
    assert (summary.created, summary.failed) == (1000, 0)
    assert sf_app.stats.by_route["collections.create"] == 5  # nothing created twice, nothing re-sent
    assert sf_app.stats.by_route["query"] == 5 + 1  # the lookups, and one check of the lost batch
    assert_results_match_the_org(sf_app, rows, results, {})


def test_after_a_lost_answer_only_the_records_that_did_not_land_are_sent_again(
    sf_app: SalesforceSandbox, make_sf_adapter: SfAdapterFactory
) -> None:
    refused = (17, 250)  # one record per batch that the CRM refuses: no Company
    ops = [
        WriteOp(
            f"k-{i}",
            f"k.{i}@example.com",
            WriteKind.CREATE,
            {"Email": f"k.{i}@example.com", "LastName": "K", **({} if i in refused else {"Company": "Acme"})},
        )
        for i in range(400)
    ]
    transport = RecordingTransport(sf_app)
    transport.lose_answer(is_collection_create)
    adapter = make_sf_adapter(sf_app, transport=transport, concurrency=1)

    results = {r.key: r for batch in adapter.write(ops) for r in batch}

    sizes = [len(body["records"]) for body in transport.bodies("POST", "/composite/sobjects")]
    assert sizes == [200, 1, 200]  # the lost batch, its one missing record again, the second batch
    assert {k for k, r in results.items() if r.action == Action.FAILED} == {f"k-{i}" for i in refused}
    assert {results[f"k-{i}"].error_code for i in refused} == {"REQUIRED_FIELD_MISSING"}
    landed = [i for i in range(400) if i not in refused]
    held = assert_org_holds_exactly(sf_app, [f"k.{i}@example.com" for i in landed])
    assert all(results[f"k-{i}"].crm_id == held[f"k.{i}@example.com"]["Id"] for i in landed)


def test_timeouts_are_retried_without_duplicates(
    make_sf_app: SandboxFactory, make_sf_adapter: SfAdapterFactory
) -> None:
    app, rows, ids = arrange(make_sf_app, 1500, 750, seed=21, fail_rate=0.15, fail_kinds=("timeout",))
    transport = RecordingTransport(app)

    results, summary = push(make_sf_adapter(app, transport=transport, concurrency=1), rows)

    assert (summary.created, summary.updated, summary.failed) == (750, 750, 0)
    assert_results_match_the_org(app, rows, results, ids)
    assert any(is_collection_create(r) for r in transport.failed)


# ----- the daily allocation ------------------------------------------------------------------------------
def test_the_daily_limit_reached_halfway_stops_cleanly(
    make_sf_app: SandboxFactory, make_sf_adapter: SfAdapterFactory
) -> None:
    rows = lead_rows(2000, Title="Analyst")
    calls_for_half = 1 + 10 + 5  # describe, ten lookups, five of the ten creates
    app = make_sf_app(daily_limit=calls_for_half)

    results, summary = push(make_sf_adapter(app), rows)

    codes = Counter((r.action, r.error_code) for r in results.values())
    assert codes == {(Action.CREATED, None): 1000, (Action.FAILED, NOT_SENT): 1000}
    assert "limit" in (summary.stopped_reason or "")
    assert all("limit" in (r.error_message or "") for r in results.values() if r.error_code == NOT_SENT)
    created = {r.email.lower(): r.crm_id for r in results.values() if r.action == Action.CREATED}
    held = assert_org_holds_exactly(app, list(created))  # nothing half-written, nothing unreported
    assert all(held[email]["Id"] == crm_id for email, crm_id in created.items())
    assert app.stats.by_route["collections.create"] <= 10

    app.configure(daily_limit=None)  # tomorrow: the same push finishes the job
    again, second = push(make_sf_adapter(app), rows)

    assert (second.created, second.updated, second.failed) == (1000, 1000, 0)
    assert_results_match_the_org(app, rows, again, created)  # type: ignore[arg-type]


# ----- tokens ---------------------------------------------------------------------------------------------
class ExpireTokensAfterEachBatch(MemoryRecorder):
    """Ends the org's sessions whenever a batch's results are recorded (``once``: after the first only)."""

    def __init__(self, app: SalesforceSandbox, once: bool = False) -> None:
        super().__init__()
        self.app = app
        self.once = once

    def record(self, results: Sequence[RecordResult], api_calls: int) -> None:
        super().record(results, api_calls)
        if not (self.once and self.batches > 1):
            self.app.expire_tokens()


def test_an_access_token_expiring_between_batches_is_refreshed_each_time(
    make_sf_app: SandboxFactory, make_sf_adapter: SfAdapterFactory
) -> None:
    app, rows, ids = arrange(make_sf_app, 2000, 1000)
    refreshed: list[TokenSet] = []
    adapter = make_sf_adapter(app, oauth_tokens(app, on_refresh=refreshed.append), concurrency=1)

    results, summary = push(adapter, rows, recorder=ExpireTokensAfterEachBatch(app))

    assert (summary.created, summary.updated, summary.failed) == (1000, 1000, 0)
    assert_results_match_the_org(app, rows, results, ids)
    # Ten write batches: each one after the first met an expired session once, refreshed, and repeated.
    assert len(refreshed) == app.stats.by_status[401] == 9
    assert len({t.access_token for t in refreshed}) == 9
    assert all(t.refresh_token == refreshed[0].refresh_token for t in refreshed)  # no rotation: kept


def test_a_session_expiring_under_concurrent_batches_is_refreshed_once(
    make_sf_app: SandboxFactory, make_sf_adapter: SfAdapterFactory
) -> None:
    app, rows, ids = arrange(make_sf_app, 2000, 1000)  # ten write batches, eight in flight
    refreshed: list[TokenSet] = []
    adapter = make_sf_adapter(app, oauth_tokens(app, on_refresh=refreshed.append), concurrency=8)

    results, summary = push(adapter, rows, recorder=ExpireTokensAfterEachBatch(app, once=True))

    assert (summary.created, summary.updated, summary.failed) == (1000, 1000, 0)
    assert_results_match_the_org(app, rows, results, ids)
    assert len(refreshed) == 1  # every batch that met the expired session shared one refresh
    assert app.stats.by_status[401] >= 1


def test_a_refreshed_token_that_is_refused_too_is_not_refreshed_again(
    sf_app: SalesforceSandbox, make_sf_adapter: SfAdapterFactory
) -> None:
    refreshed: list[TokenSet] = []

    def revoke_at_once(tokens: TokenSet) -> None:
        refreshed.append(tokens)
        sf_app.expire_tokens()

    adapter = make_sf_adapter(sf_app, oauth_tokens(sf_app, on_refresh=revoke_at_once))
    sf_app.expire_tokens()

    with pytest.raises(TokenExpired) as caught:
        adapter.fields()

    assert caught.value.code == "INVALID_SESSION_ID"
    assert len(refreshed) == 1
    assert sf_app.stats.by_route["describe"] == 2  # the call and its one repeat


def test_a_session_lost_mid_run_stops_the_push_and_says_why(
    make_sf_app: SandboxFactory, make_sf_adapter: SfAdapterFactory
) -> None:
    app, rows, _ = arrange(make_sf_app, 1000, 0)
    adapter = make_sf_adapter(
        app, oauth_tokens(app, on_refresh=lambda _tokens: app.expire_tokens()), concurrency=1
    )

    results, summary = push(adapter, rows, recorder=ExpireTokensAfterEachBatch(app))

    codes = Counter((r.action, r.error_code) for r in results.values())
    assert codes == {
        (Action.CREATED, None): 200,
        (Action.FAILED, "INVALID_SESSION_ID"): 200,
        (Action.FAILED, NOT_SENT): 600,
    }
    assert summary.stopped_reason
    created = [r.email for r in results.values() if r.action == Action.CREATED]
    assert_org_holds_exactly(app, created)


def test_a_refused_static_token_writes_nothing(
    sf_app: SalesforceSandbox, make_sf_adapter: SfAdapterFactory
) -> None:
    adapter = make_sf_adapter(sf_app, StaticToken("00D000000000000!not-a-session"))

    with pytest.raises(AuthError):
        push(adapter, lead_rows(10))

    assert sf_app.stats.by_status[401] == 1
    assert live_records(sf_app) == []


def test_a_crm_that_never_answers_fails_the_push_with_our_error(
    make_sf_app: SandboxFactory, make_sf_adapter: SfAdapterFactory
) -> None:
    app = make_sf_app(fail_rate=1.0, fail_kinds=("drop",))

    with pytest.raises(NetworkError):
        push(make_sf_adapter(app), lead_rows(10))

    assert app.stats.by_route["describe"] == FAST_RETRY.attempts
    assert live_records(app) == []
