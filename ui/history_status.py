"""Background work seen from the History page: dead runs, a run's live progress, and status checks.

Jobs run on the job runner (``ui.services.job_runner``: worker threads of this process, or RQ workers),
never in the page script, so a rerun, a reload or a closed tab leaves them running. The page learns how
far they are from the database, in small fragments that poll every ``POLL_SECONDS`` and rerun the whole
page once the job is done, so the table and the counters catch up.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

import streamlit as st

from service import history, runs
from service.context import AppContext
from service.history import CheckSummary, RunDetail, RunRow
from ui import services
from ui.widgets import count, when

POLL_SECONDS = 1.5
REAP_EVERY_SECONDS = 15.0  # while a progress fragment polls; every page load reaps at once
CHECKING_KEY = "history_checking"  # run id -> the run's last_check_at when its check was submitted
REAPED_AT_KEY = "history_reaped_at"
RESUMING_KEY = "history_resuming"  # ids of runs whose resume was submitted but not yet taken up
NOT_CONNECTED = "Not connected to this CRM any more: an admin can reconnect it on the Providers page."
FLASH_KEY = "history_flash"  # (kind, message) shown once on the next run: "success" | "error" | "info"


def reap(ctx: AppContext, *, force: bool = False) -> None:
    """Show runs whose worker died as interrupted (``service.runs.reap``); at most every few seconds
    unless ``force``, since it takes the database's write lock."""
    now = time.monotonic()
    last = st.session_state.get(REAPED_AT_KEY)
    if force or not isinstance(last, float) or now - last >= REAP_EVERY_SECONDS:
        runs.reap(ctx)
        st.session_state[REAPED_AT_KEY] = now


def flash(kind: str, message: str) -> None:
    st.session_state[FLASH_KEY] = (kind, message)


def show_flash() -> None:
    """The message an action left for this run (its text is ours: numbers and fixed words)."""
    kind, message = st.session_state.pop(FLASH_KEY, (None, None))
    if kind == "success":
        st.success(message, icon=":material/check_circle:")
    elif kind == "error":
        st.error(message, icon=":material/error:")
    elif kind == "info":
        st.info(message, icon=":material/info:")


# A run on its way -----------------------------------------------------------------------------------------


def watch_active(ctx: AppContext, shown: Sequence[RunRow]) -> None:
    """While runs on the page are queued or running, rerun the page when one of them moves on."""
    active = {run.id: run.state for run in shown if run.active}
    if active:
        _watch(ctx, active)


@st.fragment(run_every=POLL_SECONDS * 2)
def _watch(ctx: AppContext, seen: dict[int, str]) -> None:
    reap(ctx)
    now = {run_id: run.state if (run := history.get_run(ctx, run_id)) else None for run_id in seen}
    if now != seen:
        st.rerun()
    st.caption(f":material/autorenew: {count(len(seen), 'run')} in progress: this list follows them.")


def start_resume(run_id: int) -> None:
    """Button callback: submit the resume job; the page shows "Resuming…" until a worker claims it."""
    st.session_state[RESUMING_KEY] = {*(st.session_state.get(RESUMING_KEY) or set()), run_id}
    services.job_runner().submit("resume", run_id)
    flash("info", f"Resuming run #{run_id}: only its unsent rows are sent, no success is sent again.")


def _resuming() -> set[int]:
    return set(st.session_state.get(RESUMING_KEY) or set())


def resuming(run_id: int) -> bool:
    """A resume of ``run_id`` was started from this session and no worker has reported on it yet."""
    return run_id in _resuming()


def _forget_resume(run_id: int) -> None:
    st.session_state[RESUMING_KEY] = _resuming() - {run_id}


def run_progress(ctx: AppContext, run: RunRow) -> None:
    """A queued or running run's progress (or a resume on its way), live until it ends."""
    resuming = run.id in _resuming()
    if resuming and run.state != "interrupted":  # a worker took it: its state tells the rest
        _forget_resume(run.id)
        resuming = False
    if run.active or resuming:
        _run_progress(ctx, run.id)


@st.fragment(run_every=POLL_SECONDS)
def _run_progress(ctx: AppContext, run_id: int) -> None:
    reap(ctx)
    ended = _job_ended("resume", run_id) if run_id in _resuming() else False
    run = history.get_run(ctx, run_id)
    if run is not None and run.active:
        share = run.done / run.total if run.total else 0.0
        label = "Waiting for a worker…" if run.state == "queued" else "Pushing…"
        st.progress(share, text=f"{label} {run.done:,} of {count(run.total, 'row')} done")
    elif run is not None and run.state == "interrupted" and run_id in _resuming() and not ended:
        st.progress(0.0, text="Resuming: waiting for a worker…")
    else:
        if run is not None and run.state == "interrupted" and run_id in _resuming():
            flash(
                "error",
                f"Run #{run_id} could not be resumed: another push of the same campaign may be running, "
                "or its connection is gone. Try again once that push has finished.",
            )
        _forget_resume(run_id)
        st.rerun()  # it ended: the whole page shows the final counters


# Status checks ----------------------------------------------------------------------------------------------


def can_check(detail: RunDetail) -> str | None:
    """Why the run cannot be checked now, or None when it can."""
    run = detail.run
    if run.dry_run:
        return "A dry run wrote nothing, so there is nothing to check in the CRM."
    if run.active:
        return "Check the run once it has finished."
    if detail.checkable == 0:
        return "This run created or updated no record, so there is nothing to check."
    if detail.connection_id is None:
        return NOT_CONNECTED
    return None


def start_check(run: RunRow) -> None:
    """Button callback: submit the status check job and remember where the run's stamps stood."""
    checking = dict(st.session_state.get(CHECKING_KEY) or {})
    checking[run.id] = run.last_check_at
    st.session_state[CHECKING_KEY] = checking
    services.job_runner().submit("status", run.id)


def checking(run_id: int) -> bool:
    return run_id in (st.session_state.get(CHECKING_KEY) or {})


def _stop_waiting(run_id: int) -> None:
    remaining = dict(st.session_state.get(CHECKING_KEY) or {})
    remaining.pop(run_id, None)
    st.session_state[CHECKING_KEY] = remaining


def check_section(ctx: AppContext, detail: RunDetail) -> None:
    """The check under way, or what the last one found and when."""
    if checking(detail.run.id):
        after = (st.session_state.get(CHECKING_KEY) or {}).get(detail.run.id)
        _check_progress(ctx, detail.run.id, after)
    elif detail.check is not None and detail.run.last_check_at is not None:
        _last_check(detail.check, detail.run.last_check_at)
    elif can_check(detail) is None:
        st.caption(
            "Never checked. **Check status** reads these records back from the CRM: are they still "
            "there (or deleted, merged, converted), and do they still hold what we pushed?"
        )


@st.fragment(run_every=POLL_SECONDS)
def _check_progress(ctx: AppContext, run_id: int, after: datetime | None) -> None:
    if not checking(run_id):  # "Stop waiting" was clicked
        st.rerun()
        return
    ended = _job_ended("status", run_id)  # before reading progress: a job ending in between is no failure
    progress = history.check_progress(ctx, run_id, after)
    if progress.finished or ended:
        _stop_waiting(run_id)
        if progress.finished:
            flash("success", f"Status check done: {count(progress.checkable, 'record')} read back.")
        else:
            flash(
                "error",
                "The status check stopped before it finished: the CRM refused or could not be reached. "
                "Test the connection on the Providers page, then check again.",
            )
        st.rerun()
        return
    share = progress.done / progress.checkable if progress.checkable else 0.0
    st.progress(share, text=f"Checking… {progress.done:,} of {count(progress.checkable, 'record')} read back")
    st.button(
        "Stop waiting",
        key=f"history_stop_waiting_{run_id}",
        type="tertiary",
        on_click=_stop_waiting,
        args=(run_id,),
        help="The check goes on in the background; its findings show here when you come back.",
    )


def _job_ended(kind: str, run_id: int) -> bool:
    """Whether this process's worker pool has finished the job. The RQ runner cannot say: there,
    progress alone ends the wait (or "Stop waiting")."""
    wait = getattr(services.job_runner(), "wait", None)
    if wait is None:
        return False
    try:
        wait(kind, run_id, timeout=0)
    except TimeoutError:
        return False
    return True


def _last_check(check: CheckSummary, checked_at: datetime) -> None:
    """``Last checked …: 100 records — 97 unchanged, 1 changed, 1 deleted, 1 merged``."""
    if not check.checked:
        st.caption(f"Last checked {when(checked_at)}: no record to read back.")
        return
    exists = check.by_state.get("exists", 0)
    parts = [f"{exists - check.changed:,} unchanged"] if exists - check.changed else []
    if check.changed:
        parts.append(f"{check.changed:,} changed since the push")
    parts += [f"{n:,} {state}" for state, n in sorted(check.by_state.items()) if state != "exists" and n]
    text = f"Last checked {when(checked_at)}: {count(check.checked, 'record')} — {', '.join(parts)}."
    if check.changed or check.checked > exists:
        st.warning(text, icon=":material/difference:")
    else:
        st.success(text, icon=":material/verified:")
