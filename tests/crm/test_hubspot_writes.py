"""HubSpotAdapter writes against the in-process HubSpot sandbox: upserts by email, created/updated counts,
duplicates, rows HubSpot refuses, partial batch updates, modes and dry runs.

Pushes go through ``crm.push.run_push`` as the app drives them; counts come from the sandbox's own
``stats`` and records from ``app.dump()``, never from the adapter's word alone.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from crm.hubspot import HubSpotAdapter
from crm.model import Action, FieldChange, LeadRecord, PushMode, RecordResult, WriteKind, WriteOp
from crm.sandbox.hubspot import HubSpotSandbox

pytest.register_assert_rewrite("tests.crm.hubspot_support")  # before the import below, for its asserts
from tests.crm.hubspot_support import SCORE, Leads, Seed, by_email, push  # noqa: E402


def emails_in(app: HubSpotSandbox) -> list[str]:
    """Every live contact's email, sorted; duplicates kept so a test would see them."""
    return sorted(str(c["properties"].get("email")) for c in app.dump())


# ----- write through the push engine ------------------------------------------------------------------
def test_push_upserts_by_email_100_per_call(
    hubspot_app: HubSpotSandbox, hubspot: HubSpotAdapter, hubspot_leads: Leads
) -> None:
    rows = hubspot_leads(250, lifecyclestage="lead")

    results, summary = push(hubspot, rows)

    assert hubspot_app.stats.by_route["contacts.batch_upsert"] == 3
    assert hubspot_app.stats.by_route["contacts.batch_read"] == 0  # upsert mode needs no lookup
    assert (summary.created, summary.updated, summary.failed) == (250, 0, 0)
    stored = by_email(hubspot_app)
    assert sorted(stored) == sorted(r.email.lower() for r in rows)
    for row in rows:
        result = results[row.key]
        record = stored[row.email.lower()]
        assert result.action is Action.CREATED and result.crm_id == record["id"]
        assert record["properties"]["firstname"] == row.properties["firstname"]
        assert record["properties"]["lifecyclestage"] == "lead"


def test_second_push_counts_created_and_updated_exactly(
    hubspot_app: HubSpotSandbox, hubspot: HubSpotAdapter, hubspot_leads: Leads
) -> None:
    push(hubspot, hubspot_leads(230))
    first_ids = {c["properties"]["email"]: c["id"] for c in hubspot_app.dump()}

    again = hubspot_leads(230, jobtitle="CTO") + hubspot_leads(45, start=230)
    results, summary = push(hubspot, again)

    assert (summary.created, summary.updated, summary.failed) == (45, 230, 0)
    assert hubspot_app.stats.by_route["contacts.batch_upsert"] == 3 + 3
    stored = by_email(hubspot_app)
    assert len(stored) == 275
    for row in again[:230]:
        email = row.email.lower()
        assert results[row.key].action is Action.UPDATED
        assert results[row.key].crm_id == first_ids[email] == stored[email]["id"]
        assert stored[email]["properties"]["jobtitle"] == "CTO"
    assert all(results[row.key].action is Action.CREATED for row in again[230:])


def test_duplicate_emails_in_one_push_are_merged_into_the_later_row(
    hubspot_app: HubSpotSandbox, hubspot: HubSpotAdapter
) -> None:
    rows = [
        LeadRecord("a", "Dup@Example.com", {"firstname": "Earlier"}),
        LeadRecord("b", "other@example.com", {"firstname": "Other"}),
        LeadRecord("c", " dup@example.COM ", {"firstname": "Later"}),
    ]

    results, summary = push(hubspot, rows)

    assert results["a"].action is Action.SKIPPED and results["a"].error_code == "MERGED"
    assert "row c" in (results["a"].error_message or "")
    assert results["c"].action is Action.CREATED and results["b"].action is Action.CREATED
    assert (summary.created, summary.skipped) == (2, 1)
    assert emails_in(hubspot_app) == ["dup@example.com", "other@example.com"]
    assert by_email(hubspot_app)["dup@example.com"]["properties"]["firstname"] == "Later"


def test_a_row_hubspot_refuses_is_split_out_and_the_rest_land(
    hubspot_app: HubSpotSandbox,
    hubspot: HubSpotAdapter,
    hubspot_leads: Leads,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hubspot.create_property(SCORE)
    # Our cached definitions are stale (we think the score is text), so our own validation lets
    # "about 40" through and only HubSpot refuses it: upsert by email then fails the whole batch.
    stale = [replace(f, type="string") if f.name == "leadfactory_score" else f for f in hubspot.fields()]
    monkeypatch.setattr(hubspot, "fields", lambda refresh=False: list(stale))
    rows = hubspot_leads(150, leadfactory_score=12)
    bad = rows[37]
    rows[37] = replace(bad, properties={**bad.properties, "leadfactory_score": "about 40"})
    hubspot_app.stats.by_route.clear()

    results, summary = push(hubspot, rows)

    assert (summary.created, summary.failed) == (149, 1)
    failure = results[bad.key]
    assert failure.action is Action.FAILED
    assert failure.error_code == "INVALID_LONG"
    assert failure.error_message == "about 40 was not a valid long."
    assert bad.email.lower() not in emails_in(hubspot_app)
    assert len(emails_in(hubspot_app)) == 149
    # The clean second batch went in one call; the bad one was halved down to the row (<= 2 log2(100)+1).
    assert 3 <= hubspot_app.stats.by_route["contacts.batch_upsert"] <= 1 + 1 + 2 * 7
    assert hubspot_app.stats.by_status[400] >= 2


def test_partial_batch_update_is_attributed_to_the_right_rows(
    hubspot_app: HubSpotSandbox, hubspot: HubSpotAdapter, hubspot_seed: Seed
) -> None:
    ids = hubspot_seed(hubspot_app, [f"u{i}@example.com" for i in range(6)], {"firstname": "Before"})
    ops = [
        WriteOp(f"k{i}", email, WriteKind.UPDATE, {"firstname": f"After {i}"}, crm_id)
        for i, (email, crm_id) in enumerate(ids.items())
    ]
    ops[2] = replace(ops[2], crm_id="999999999")  # not in the portal
    ops[4] = replace(ops[4], properties={"lifecyclestage": "not-a-stage"})  # refused by HubSpot

    results = [r for batch in hubspot.write(ops) for r in batch]

    assert hubspot_app.stats.by_route["contacts.batch_update"] == 1
    assert hubspot_app.stats.by_status[207] == 1
    assert [r.key for r in results] == [op.key for op in ops]
    by_key = {r.key: r for r in results}
    assert (by_key["k2"].action, by_key["k2"].error_code) == (Action.FAILED, "OBJECT_NOT_FOUND")
    # The 207 entry's JSON list is read like a whole-batch refusal: the property's own code, in plain words.
    assert (by_key["k4"].action, by_key["k4"].error_code) == (Action.FAILED, "INVALID_OPTION")
    assert (by_key["k4"].error_message or "").startswith("not-a-stage was not one of the allowed options")
    stored = by_email(hubspot_app)
    for i in (0, 1, 3, 5):
        op = ops[i]
        assert (by_key[op.key].action, by_key[op.key].crm_id) == (Action.UPDATED, op.crm_id)
        assert stored[op.email]["properties"]["firstname"] == f"After {i}"
    assert stored[ops[2].email]["properties"]["firstname"] == "Before"
    assert stored[ops[4].email]["properties"]["firstname"] == "Before"


@pytest.mark.parametrize("mode", [PushMode.CREATE_ONLY, PushMode.UPDATE_ONLY])
def test_create_only_and_update_only_look_up_first_and_skip(
    hubspot_app: HubSpotSandbox,
    hubspot: HubSpotAdapter,
    hubspot_leads: Leads,
    hubspot_seed: Seed,
    mode: PushMode,
) -> None:
    existing = hubspot_leads(120, prefix="old")
    ids = hubspot_seed(hubspot_app, [r.email.lower() for r in existing], {"firstname": "Untouched"})
    fresh = hubspot_leads(30, prefix="new")

    results, summary = push(hubspot, existing + fresh, mode=mode)

    assert hubspot_app.stats.by_route["contacts.batch_read"] == math.ceil(150 / 100)
    assert hubspot_app.stats.by_route["contacts.search"] == 0
    stored = by_email(hubspot_app)
    if mode is PushMode.CREATE_ONLY:
        assert (summary.created, summary.skipped, summary.updated) == (30, 120, 0)
        for row in existing:
            result = results[row.key]
            assert (result.action, result.error_code) == (Action.SKIPPED, "EXISTS")
            assert result.crm_id == ids[row.email.lower()]
            assert stored[row.email.lower()]["properties"]["firstname"] == "Untouched"
        assert all(results[r.key].action is Action.CREATED for r in fresh)
        assert len(stored) == 150
        assert hubspot_app.stats.by_route["contacts.batch_update"] == 0
    else:
        assert (summary.updated, summary.skipped, summary.created) == (120, 30, 0)
        for row in existing:
            result = results[row.key]
            assert (result.action, result.crm_id) == (Action.UPDATED, ids[row.email.lower()])
            assert stored[row.email.lower()]["properties"]["firstname"] == row.properties["firstname"]
        for row in fresh:
            assert (results[row.key].action, results[row.key].error_code) == (Action.SKIPPED, "NOT_FOUND")
        assert len(stored) == 120  # update-only creates nothing
        assert hubspot_app.stats.by_route["contacts.batch_update"] == 2
        assert hubspot_app.stats.by_route["contacts.batch_upsert"] == 0


def test_dry_run_predicts_the_real_push_and_writes_nothing(
    hubspot_app: HubSpotSandbox, hubspot: HubSpotAdapter, hubspot_leads: Leads, hubspot_seed: Seed
) -> None:
    known = hubspot_leads(40, prefix="known")
    hubspot_seed(hubspot_app, [r.email.lower() for r in known], {"firstname": "Old", "lastname": "known"})
    changed = [replace(r, properties={**r.properties, "firstname": "Old"}) for r in known[:15]]  # same
    rows = [
        *changed,
        *known[15:],  # firstname changes Old -> First i
        *hubspot_leads(110, prefix="brand"),
        LeadRecord("invalid", "not-an-email", {"firstname": "X"}),
        LeadRecord("bad-stage", "stage@example.com", {"lifecyclestage": "Lead?"}),
        LeadRecord("dup-1", "twice@example.com", {"firstname": "One"}),
        LeadRecord("dup-2", "TWICE@example.com", {"firstname": "Two"}),
    ]
    before = hubspot_app.dump()

    predicted, dry = push(hubspot, rows, dry_run=True)

    assert hubspot_app.dump() == before
    writes = ("contacts.batch_upsert", "contacts.batch_update", "contacts.batch_create", "contacts.create")
    assert all(hubspot_app.stats.by_route[w] == 0 for w in writes)
    assert dry.dry_run
    for row in changed:
        assert predicted[row.key].changes == ()
    for row in known[15:]:
        assert predicted[row.key].changes == (FieldChange("firstname", "Old", row.properties["firstname"]),)

    actual, real = push(hubspot, rows)

    def outcome(r: RecordResult) -> tuple[object, ...]:
        return (r.action, r.error_code, r.crm_id if r.action is Action.UPDATED else None)

    assert {k: outcome(r) for k, r in predicted.items()} == {k: outcome(r) for k, r in actual.items()}
    counts = ("created", "updated", "skipped", "failed")
    assert [getattr(dry, c) for c in counts] == [getattr(real, c) for c in counts] == [111, 40, 1, 2]
    assert len(hubspot_app.dump()) == 40 + 111
