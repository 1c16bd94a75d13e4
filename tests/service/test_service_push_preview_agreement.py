"""A dry run started from the Push page predicts exactly what the real push then does, row by row.

Both go the page's way (``service.push_launch.start`` → the job runner → ``service.runs.execute``) on
the same edited rows: some records already in the CRM (changed and identical), an invalid and a repeated
email, a value too long, and on Salesforce rows without a required field. Pushing the same rows again
is predicted, and done, as "unchanged". Runs record who started them and with which filters.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from service_support import NA_SAAS, SentEmails, campaign_id, get_run, records

from crm import sandbox
from crm.http import StaticToken
from crm.hubspot import HubSpotAdapter
from crm.mapping import default_mapping
from crm.model import WriteKind, WriteOp
from crm.salesforce import SalesforceAdapter
from data.leads import leads_frame
from data.runs import RunLocked
from service.auth import SYSTEM, Actor
from service.connections import connect_sandbox
from service.context import AppContext
from service.jobs import EmbeddedRunner
from service.push_launch import Target, request_rows, start

OBJECT = {"hubspot": "contacts", "salesforce": "Lead"}
ANALYST = Actor("ana", "analyst")
FILTERS = {"min_score": 0, "tiers": ["HOT", "WARM", "COOL"], "excluded_rows": 0, "edited_rows": 4}


@pytest.fixture
def runner(demo_ctx: AppContext) -> Iterator[EmbeddedRunner]:
    jobs = EmbeddedRunner(demo_ctx, workers=2)
    yield jobs
    jobs.shutdown()


def crm_adapter(provider: str) -> HubSpotAdapter | SalesforceAdapter:
    app = sandbox.shared(provider)
    tokens, transport = StaticToken(app.options.token), sandbox.SandboxTransport(app)
    if provider == "hubspot":
        return HubSpotAdapter(tokens, base_url=app.base_url, transport=transport)
    return SalesforceAdapter(tokens, app.base_url, transport=transport)


def edited_campaign(ctx: AppContext) -> pd.DataFrame:
    """The NA SaaS demo as the page would hold it after a few edits (the campaign itself unchanged)."""
    with ctx.db.session() as session:
        frame = leads_frame(session, campaign_id(ctx, NA_SAAS))
    frame = frame.drop(columns=["extra"]).set_index("id", drop=False)
    ids = frame.index
    frame.loc[ids[10], "email"] = "broken at example.com"
    frame.loc[ids[11], "email"] = str(frame.loc[ids[12], "email"]).upper()  # merged into the next row
    frame.loc[ids[13], "last_name"] = "L" * 120  # too long for Salesforce (80)
    frame.loc[ids[14], "company"] = None  # Salesforce: required to create
    return frame


def seed(provider: str, frame: pd.DataFrame) -> None:
    """Records that exist before the push: rows 0-4 with another title, rows 5-7 as the push sends them,
    row 14 (no company) as well, so that updating it needs no required field."""
    mapping = default_mapping(provider, OBJECT[provider])
    rows = request_rows(frame)
    title = mapping.fields["title"]
    wanted = [{**mapping.apply(row), title: "Old title"} for row in rows[:5]]
    wanted += [mapping.apply(row) for row in rows[5:8]]
    wanted.append(
        {**mapping.apply(rows[14]), **({"Company": "Known Co"} if provider == "salesforce" else {})}
    )
    kind = WriteKind.UPSERT if provider == "hubspot" else WriteKind.CREATE
    email = mapping.fields["email"]
    ops = [WriteOp(str(i), str(values[email]), kind, values) for i, values in enumerate(wanted)]
    adapter = crm_adapter(provider)
    try:
        results = [result for batch in adapter.write(ops) for result in batch]
    finally:
        adapter.close()
    assert all(result.action == "created" for result in results), results


def launch(ctx: AppContext, runner: EmbeddedRunner, provider: str, frame: pd.DataFrame, dry_run: bool) -> int:
    target = Target(campaign_id(ctx, NA_SAAS), NA_SAAS, provider, provider, OBJECT[provider])
    run_id = start(
        ctx,
        runner,
        target=target,
        rows=request_rows(frame),
        mapping=default_mapping(provider, OBJECT[provider]),
        actor=ANALYST,
        filters=FILTERS,
        dry_run=dry_run,
    )
    runner.wait("push", run_id, timeout=120)
    return run_id


def outcome(ctx: AppContext, run_id: int) -> dict[int, tuple[str, str | None, str | None]]:
    """row -> (action, error code, CRM id of an update)."""
    return {
        r.row_index: (r.action, r.error_code, r.crm_id if r.action == "updated" else None)
        for r in records(ctx, run_id)
    }


@pytest.mark.parametrize("provider", ["hubspot", "salesforce"])
def test_a_dry_run_predicts_what_the_push_then_does(
    demo_ctx: AppContext, runner: EmbeddedRunner, provider: str
) -> None:
    assert connect_sandbox(demo_ctx, SYSTEM, provider).ok
    frame = edited_campaign(demo_ctx)
    seed(provider, frame)
    before = sandbox.shared(provider).dump()

    dry = launch(demo_ctx, runner, provider, frame, dry_run=True)
    assert sandbox.shared(provider).dump() == before  # a dry run writes nothing
    real = launch(demo_ctx, runner, provider, frame, dry_run=False)

    predicted, done = outcome(demo_ctx, dry), outcome(demo_ctx, real)
    assert predicted == done
    dry_run, push = get_run(demo_ctx, dry), get_run(demo_ctx, real)
    counts = ("created", "updated", "skipped", "failed")
    assert [getattr(dry_run, c) for c in counts] == [getattr(push, c) for c in counts]
    assert push.updated == 9 and push.skipped == 1 and push.failed >= 1
    # Each predicted change is what the CRM holds afterwards.
    adapter = crm_adapter(provider)
    try:
        changed = [r for r in records(demo_ctx, dry) if r.changes]
        assert len(changed) == 5  # rows 0-4: the title; row 14 sends no company, so it keeps "Known Co"
        after = adapter.lookup(
            [r.email for r in changed], [field for r in changed for field, _, _ in r.changes]
        )
    finally:
        adapter.close()
    for record in changed:
        (found,) = after[record.email.lower()]
        for field, old, new in record.changes:
            assert str(found.properties[field]) == str(new) != str(old)
    assert (push.created_by, push.filters) == ("ana", FILTERS)
    assert (dry_run.created_by, dry_run.filters) == ("ana", FILTERS)


@pytest.mark.parametrize("provider", ["hubspot", "salesforce"])
def test_pushing_the_same_rows_again_is_predicted_and_done_as_unchanged(
    demo_ctx: AppContext, runner: EmbeddedRunner, provider: str
) -> None:
    assert connect_sandbox(demo_ctx, SYSTEM, provider).ok
    frame = edited_campaign(demo_ctx)
    first = get_run(demo_ctx, launch(demo_ctx, runner, provider, frame, dry_run=False))
    sent = first.created + first.updated

    dry = launch(demo_ctx, runner, provider, frame, dry_run=True)
    again = launch(demo_ctx, runner, provider, frame, dry_run=False)

    assert outcome(demo_ctx, dry) == outcome(demo_ctx, again)
    unchanged = [r for r in records(demo_ctx, again) if r.error_code == "UNCHANGED"]
    assert len(unchanged) == sent and all(r.action == "skipped" for r in unchanged)
    assert get_run(demo_ctx, again).created + get_run(demo_ctx, again).updated == 0


def test_a_second_push_of_the_same_campaign_is_locked(
    demo_ctx: AppContext, runner: EmbeddedRunner, sent_emails
) -> None:  # type: ignore[no-untyped-def]
    assert connect_sandbox(demo_ctx, SYSTEM, "hubspot").ok
    frame = edited_campaign(demo_ctx)
    held: SentEmails = sent_emails(sandbox.shared("hubspot"), block_after=0)
    target = Target(campaign_id(demo_ctx, NA_SAAS), NA_SAAS, "hubspot", "hubspot", "contacts")
    mapping = default_mapping("hubspot", "contacts")
    common = {
        "target": target,
        "rows": request_rows(frame),
        "mapping": mapping,
        "actor": ANALYST,
        "filters": {},
    }

    first = start(demo_ctx, runner, dry_run=False, **common)
    assert held.blocked.wait(30)
    with pytest.raises(RunLocked) as refused:
        start(demo_ctx, runner, dry_run=False, **common)
    dry = start(demo_ctx, runner, dry_run=True, **common)  # a dry run writes nothing: never locked
    held.gate.set()
    runner.wait("push", first, timeout=120)
    runner.wait("push", dry, timeout=120)

    assert refused.value.run_id == first
    assert get_run(demo_ctx, first).state in ("completed", "partial")
