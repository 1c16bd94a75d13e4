"""Start pushes, dry runs and retries from the Push page, as background jobs.

The page holds the campaign as a pandas frame with the analyst's edits applied. This turns the chosen
rows into a :class:`service.runs.PushRequest` (the filters and the acting user recorded with it), stores
the run with every row pending (``service.runs.create``, which raises ``RunLocked`` while the same push
is active), and hands the run id to the job runner: the push itself never runs inside a page's script
run, so a rerun, a reload or a closed tab does not stop it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from crm.errors import CRMError
from crm.mapping import LEAD_FIELDS, FieldMapping
from data import runs as store
from data.models import ACTIVE_RUN_STATES, PushRun
from service import runs
from service.adapters import adapter_for
from service.auth import Actor
from service.context import AppContext
from service.jobs import JobRunner
from service.push_preview import usage_left

PUSH_JOB = "push"


@dataclass(frozen=True)
class Target:
    """Which campaign goes to which connection and object."""

    campaign_id: int
    campaign_name: str
    connection_name: str
    provider: str
    object_name: str

    @property
    def lock_key(self) -> str:
        return runs.lock_key(self.provider, self.object_name, self.campaign_id, self.campaign_name)


def request_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as the service takes them: the lead fields (blank as None) and ``lead_id``."""
    columns = [name for name in LEAD_FIELDS if name in frame.columns]
    values = frame[columns].astype(object)
    values = values.where(frame[columns].notna(), None)
    rows = values.to_dict("records")
    for row, lead_id in zip(rows, frame["id"].tolist(), strict=True):
        row["lead_id"] = int(lead_id)
    return rows


def start(
    ctx: AppContext,
    runner: JobRunner,
    *,
    target: Target,
    rows: Sequence[Mapping[str, Any]],
    mapping: FieldMapping,
    actor: Actor,
    filters: Mapping[str, Any],
    dry_run: bool,
    parent_run_id: int | None = None,
) -> int:
    """Store the run and submit it; returns its id. Raises ``RunLocked`` when this push is running."""
    request = runs.PushRequest(
        provider=target.provider,
        object_name=target.object_name,
        rows=rows,
        connection_name=target.connection_name,
        mapping=mapping,
        source_label=target.campaign_name,
        actor=actor,
        dry_run=dry_run,
        force_full=parent_run_id is not None,  # a retry sends its rows whatever was pushed before
        campaign_id=target.campaign_id,
        filters=dict(filters),
        parent_run_id=parent_run_id,
        parent_kind="retry" if parent_run_id is not None else None,
    )
    run_id = runs.create(ctx, request)
    runner.submit(PUSH_JOB, run_id)
    return run_id


def retry_unedited(ctx: AppContext, runner: JobRunner, run_id: int, actor: Actor) -> int:
    """Retry the failed rows of ``run_id`` as they were sent (or as saved since): ``retry_failed``."""
    new_id = runs.retry_failed(ctx, run_id, actor)
    runner.submit(PUSH_JOB, new_id)
    return new_id


def get_run(ctx: AppContext, run_id: int) -> PushRun | None:
    with ctx.db.session() as session:
        return store.get_run(session, run_id)


def active_run_id(ctx: AppContext, target: Target) -> int | None:
    """The run of this campaign to this CRM object that is queued or running now: the real push (found
    by its lock) first, else a dry run."""
    with ctx.db.session() as session:
        run = store.active_run(session, target.lock_key)
        if run is not None:
            return run.id
        candidates, _ = store.list_runs(
            session,
            provider=target.provider,
            campaign_id=target.campaign_id,
            states=ACTIVE_RUN_STATES,
            limit=20,
        )
    found = [r.id for r in candidates if r.object_name == target.object_name]
    return found[0] if found else None


def failed_lead_ids(ctx: AppContext, run_id: int) -> list[int]:
    with ctx.db.session() as session:
        return [r.lead_id for r in store.failed_records(session, run_id) if r.lead_id is not None]


def api_usage(ctx: AppContext, target: Target, identity: Mapping[str, Any] | None) -> tuple[int, int] | None:
    """(remaining, limit) of the CRM's API allowance: asked live (``account()``), else as stored when
    the connection was last tested; None when neither knows."""
    try:
        adapter = adapter_for(ctx, target.connection_name, target.object_name)
    except CRMError:
        return usage_left(identity)
    try:
        account = adapter.account()
    except CRMError:
        return usage_left(identity)
    finally:
        adapter.close()
    if account.api_remaining is None or not account.api_limit:
        return usage_left(identity)
    return account.api_remaining, account.api_limit
