"""The Push page's run controls: test mode, confirmation with counts and API calls, start, progress.

A start button's callback builds the run from the plan the last rerun showed (``PLAN``: the rows' ids,
the mapping and the filters), stores it and hands it to the job runner (:mod:`service.push_launch`), so
the push runs outside any script run. Callbacks run before the script, so a click is never lost to a
rerun that would hide the button, and a second push of the same thing meets ``RunLocked`` there. The
page finds a running push of its campaign again after a reload (``active_run_id``) and polls the
database for progress in a fragment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from crm.errors import CRMError
from crm.mapping import FieldMapping
from data.leads import CampaignSummary
from data.runs import RunLocked
from service import push_launch, push_mapping, push_preview, push_results, runs
from service.auth import Actor
from service.connections import PROVIDER_LABELS, explain
from service.context import AppContext
from service.history import RunRow
from ui import push_leads, services
from ui import push_state as keys
from ui.push_source import Source
from ui.widgets import count, plain

POLL_SECONDS = 1.0
USAGE_TTL_SECONDS = 60


@dataclass(frozen=True)
class Plan:
    """What the start buttons act on: exactly the rows and settings the page showed."""

    target: push_launch.Target
    campaign: CampaignSummary
    ids: np.ndarray  # lead ids in push order
    mapping: FieldMapping
    filters: dict[str, Any]
    signature: str
    counts: push_preview.Counts


def attached_run(ctx: AppContext, target: push_launch.Target) -> RunRow | None:
    """The run this page shows: one running for this campaign and object now (whoever started it,
    e.g. before a reload), else the last one this session started here."""
    runs_by_target = keys.bucket(keys.RUNS)
    key = keys.target_key(target)
    active = push_launch.active_run_id(ctx, target)
    if active is not None:
        runs_by_target[key] = active
    run_id = runs_by_target.get(key)
    return push_results.run_view(ctx, run_id) if run_id else None


def remember_run(target: push_launch.Target, run_id: int, signature: str) -> None:
    keys.bucket(keys.RUNS)[keys.target_key(target)] = run_id
    keys.bucket(keys.SIGNATURES)[run_id] = signature


def launch(ctx: AppContext, actor: Actor, dry_run: bool) -> None:
    """Button callback: start a dry run or a push of the plan the page showed."""
    st.session_state[keys.CONFIRMING] = False
    plan: Plan | None = st.session_state.get(keys.PLAN)
    if plan is None or not len(plan.ids):
        keys.flash("warning", "There are no rows to push: loosen the filters or tick some rows.")
        return
    work = push_leads.working_frame(ctx, plan.campaign)
    ids = [lead_id for lead_id in plan.ids.tolist() if lead_id in work.index]
    try:
        run_id = push_launch.start(
            ctx,
            services.job_runner(),
            target=plan.target,
            rows=push_launch.request_rows(work.loc[ids]),
            mapping=plan.mapping,
            actor=actor,
            filters=plan.filters,
            dry_run=dry_run,
        )
    except RunLocked as exc:
        keys.flash("error", f"{plain(str(exc))}. Its progress is shown below; push again once it has ended.")
        return
    except CRMError as exc:
        keys.flash("error", plain(explain(exc, plan.target.provider)))
        return
    push_mapping.remember(ctx, actor, plan.target.provider, plan.target.object_name, plan.mapping)
    remember_run(plan.target, run_id, plan.signature)


def _ask_confirmation() -> None:
    st.session_state[keys.CONFIRMING] = True


def _cancel_confirmation() -> None:
    st.session_state[keys.CONFIRMING] = False


@st.cache_data(ttl=USAGE_TTL_SECONDS, max_entries=8, show_spinner="Asking the CRM for the API usage left…")
def _usage(
    database_url: str, target: push_launch.Target, identity: dict[str, Any] | None, _ctx: AppContext
) -> tuple[int, int] | None:
    return push_launch.api_usage(_ctx, target, identity)


def controls(ctx: AppContext, actor: Actor, source: Source, plan: Plan, blocked: str | None) -> None:
    """Test-mode toggle, the start button, and the confirmation a real push needs."""
    st.session_state[keys.PLAN] = plan
    toggle, badge = st.columns([2, 5], vertical_alignment="center")
    test_mode = toggle.toggle(
        "Test mode (dry run)", key=keys.TEST_MODE,
        help="Looks every row up in the CRM and predicts what a push would do. Writes nothing.",
    )  # fmt: skip
    if test_mode:
        badge.badge("test mode: nothing is written", icon=":material/science:", color="orange")
    if blocked:
        st.info(blocked, icon=":material/block:")
    if test_mode:
        st.button(
            f"Run the test on {count(plan.counts.rows, 'row')}", key="push_dry_run", type="primary",
            icon=":material/science:", disabled=bool(blocked), on_click=launch, args=(ctx, actor, True),
        )  # fmt: skip
        return
    if not st.session_state.get(keys.CONFIRMING) or blocked:
        st.button(
            f"Push {count(plan.counts.rows, 'row')}…", key="push_start", type="primary",
            icon=":material/send:", disabled=bool(blocked), on_click=_ask_confirmation,
        )  # fmt: skip
        return
    _confirmation(ctx, actor, source, plan)


def _confirmation(ctx: AppContext, actor: Actor, source: Source, plan: Plan) -> None:
    c, target = plan.counts, plan.target
    estimate = push_preview.estimate_api_calls(
        target.provider, c.to_send, bulk_threshold=ctx.settings.bulk_threshold
    )
    identity = (source.connection.settings or {}).get("identity")
    usage = _usage(str(ctx.db.url), target, identity, ctx)
    where = f"{PROVIDER_LABELS[target.provider]} {target.object_name}"
    with st.container(border=True, key="push_confirm_box"):
        st.markdown(f"#### Push {count(c.rows, 'row')} of {plain(target.campaign_name)} to {where}?")
        st.markdown(
            f"- **{c.to_send:,}** will be sent (created or updated);"
            f" **{c.failing:,}** fail the checks and **{c.merged:,}** are duplicates merged into a later row:"
            " they are recorded, not sent.\n"
            f"- Estimated API calls: **{estimate.calls + 1:,}**: {estimate.detail}, "
            "and 1 to read the fields.\n"
            + (
                f"- API calls left today: **{usage[0]:,}** of {usage[1]:,}."
                if usage
                else "- API calls left today: unknown (the CRM did not say)."
            )
        )
        if usage and estimate.calls + 1 > usage[0]:
            st.warning("That is more than the API calls left today: the push will stop when they run out.")
        confirm, cancel, _ = st.columns([1, 1, 4])
        confirm.button(
            "Confirm push", key="push_confirm", type="primary", icon=":material/send:", on_click=launch,
            args=(ctx, actor, False),
        )  # fmt: skip
        cancel.button("Cancel", key="push_cancel", on_click=_cancel_confirmation)


def _cancel_run(ctx: AppContext, run_id: int) -> None:
    if runs.cancel(ctx, run_id):
        keys.flash("info", f"Asked run #{run_id} to stop: rows in flight finish, the rest are not sent.")


@st.fragment(run_every=POLL_SECONDS)
def progress(ctx: AppContext, run_id: int) -> None:
    """Rows done out of the total and the rate, read from the database every second while it runs."""
    view = push_results.run_view(ctx, run_id)
    if view is None or not view.active:
        st.rerun()  # the whole page: the summary replaces this
        return
    label = "Test run" if view.dry_run else "Push"
    text = (
        f"{label} #{view.id} {view.state}: {view.done:,} of {view.total:,} rows · {view.rate():,.1f} rows/s"
    )
    st.progress(min(view.done / view.total, 1.0) if view.total else 0.0, text=text)
    st.caption(
        f"{view.created:,} created · {view.updated:,} updated · {view.skipped:,} skipped · "
        f"{view.failed:,} failed so far. It runs on the server: leaving or reloading the page "
        "does not stop it."
    )
    st.button(
        "Stop this run",
        key="push_stop",
        icon=":material/stop_circle:",
        on_click=_cancel_run,
        args=(ctx, run_id),
    )
