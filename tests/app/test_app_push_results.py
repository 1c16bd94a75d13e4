"""Acting on a push's results: failed rows in view with the CRM's reason, "Retry failed" with the fixes,
the formula-safe CSV download, and CRM ids (sandbox records have no real page to link to)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from app_harness import AppHarness
from sqlalchemy import select
from streamlit.runtime.media_file_manager import MediaFileManager
from test_app_push_support import (
    FINTECH,
    click,
    connect,
    crm,
    edit,
    fresh_sandboxes,
    last_run,
    position,
    push_page,
    records,
    summary,
    table,
)

from crm.sandbox import SandboxApp
from data.models import Lead

BAD_EMAIL = "priya.raman at quantpay.example"
FIXED_EMAIL = "priya.raman@quantpay.example"


@pytest.fixture(autouse=True)
def sandboxes() -> Iterator[dict[str, SandboxApp]]:
    yield from fresh_sandboxes()


def push_fintech(crm_app: AppHarness, **kwargs: Any):  # type: ignore[no-untyped-def]
    """The Fintech demo pushed to the HubSpot sandbox: 87 created, the invalid email failed."""
    connect(crm_app, "hubspot")
    at = push_page(crm_app, campaign=FINTECH, **kwargs)
    click(at, "push_start")
    click(at, "push_confirm")
    run = last_run(crm_app)
    assert (run.created, run.failed) == (87, 1)
    return at.run(), run


def results_table(at):  # type: ignore[no-untyped-def]
    """The results table (a read-only st.dataframe, found by its columns)."""
    (found,) = [df.value for df in at.dataframe if "Outcome" in df.value.columns]
    return found


def stored_email(crm_app: AppHarness, lead_id: int) -> str | None:
    with crm_app.db.session() as session:
        return session.scalar(select(Lead.email).where(Lead.id == lead_id))


def test_failed_rows_stay_in_view_with_the_reason(crm_app: AppHarness) -> None:
    at, _ = push_fintech(crm_app, analyst=True)

    failed = results_table(at)  # failures are shown first
    assert list(failed["Email"]) == [BAD_EMAIL]
    reason = f"failed: '{BAD_EMAIL}' is not a valid email address. Correct it or exclude the row."
    assert list(failed["Outcome"]) == [reason]
    assert table(at)["outcome"].iloc[position(at, BAD_EMAIL)] == reason

    at.checkbox(key="push_only_failed").check().run()
    assert list(table(at)["email"]) == [BAD_EMAIL]
    at.segmented_control(key="push_results_show").set_value("all").run()
    everything = results_table(at)
    assert len(everything) == 88
    created = everything[everything["Outcome"] == "created"]
    assert len(created) == 87 and (created["CRM id"] != "").all()
    assert "Record" not in everything.columns  # sandbox records have no real page: ids only
    assert not at.exception


def test_retry_failed_pushes_only_the_fixed_rows(crm_app: AppHarness) -> None:
    at, run = push_fintech(crm_app)
    at.checkbox(key="push_only_failed").check().run()
    lead_id = next(r.lead_id for r in records(crm_app, run.id) if r.action == "failed")

    edit(at, {0: {"email": FIXED_EMAIL}})
    click(at, "push_retry")
    retry = last_run(crm_app)
    at.run()

    assert (retry.id, retry.parent_run_id, retry.parent_kind) == (run.id + 1, run.id, "retry")
    assert (retry.total, retry.created, retry.failed) == (1, 1, 0)
    assert retry.filters["retry_of_run"] == run.id
    assert [r.email for r in records(crm_app, retry.id)] == [FIXED_EMAIL]
    assert any(c["properties"].get("email") == FIXED_EMAIL for c in crm("hubspot").dump())
    assert stored_email(crm_app, lead_id) == BAD_EMAIL  # pushed as edited; the campaign is unchanged
    assert summary(at) == (
        "green",
        f"Push #{retry.id} done: 1 created, 0 updated, 0 skipped, 0 failed of 1 row.",
    )
    assert not at.exception


def test_retry_without_edits_sends_the_rows_as_saved(crm_app: AppHarness) -> None:
    at, run = push_fintech(crm_app)
    edit(at, {position(at, BAD_EMAIL): {"email": FIXED_EMAIL}})
    click(at, "push_save_edits")  # saved to the campaign on purpose: nothing left edited on the page

    click(at, "push_retry")
    retry = last_run(crm_app)

    assert (retry.parent_run_id, retry.total, retry.created) == (run.id, 1, 1)
    assert "retry_of_run" not in retry.filters  # service.runs.retry_failed: the run's own filters
    assert [r.email for r in records(crm_app, retry.id)] == [FIXED_EMAIL]
    assert not at.run().exception


def test_download_results_is_a_formula_safe_csv(crm_app: AppHarness) -> None:
    deferred: list[Callable[[], bytes]] = []
    original = MediaFileManager.add_deferred

    def capture(self: MediaFileManager, callable_: Callable[[], bytes], *args: Any, **kwargs: Any) -> str:
        deferred.append(callable_)
        return original(self, callable_, *args, **kwargs)

    crm_app.monkeypatch.setattr(MediaFileManager, "add_deferred", capture)
    connect(crm_app, "hubspot")
    at = push_page(crm_app, campaign=FINTECH)
    edit(at, {0: {"company": '=HYPERLINK("http://evil.example","click")', "first_name": "@SUM(1+1)"}})
    click(at, "push_start")
    click(at, "push_confirm")
    run = last_run(crm_app)
    at.run()

    (button,) = [b for b in at.get("download_button") if b.proto.label == "Download results"]
    assert button.proto.deferred_file_id
    text = deferred[-1]().decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0] == "row,email,action,crm_id,crm_url,error_code,error,changes"
    assert len(lines) == 1 + run.total
    assert f"'{BAD_EMAIL}' is not a valid email address" in text
    assert "=HYPERLINK" not in text.replace("'=HYPERLINK", "")  # no cell starts with a formula
    assert not at.exception


def test_dry_run_results_show_field_changes(crm_app: AppHarness) -> None:
    at, _ = push_fintech(crm_app)
    email = table(at)["email"].iloc[2]
    edit(at, {2: {"title": "Chief Risk Officer (new)"}})
    at.toggle(key="push_test_mode").set_value(True).run()
    click(at, "push_dry_run")
    test_run = last_run(crm_app)
    at.run()

    assert test_run.dry_run and test_run.updated == 1 and test_run.skipped == 86  # the rest is unchanged
    at.segmented_control(key="push_results_show").set_value("updated").run()
    (outcome,) = results_table(at)["Outcome"]
    assert outcome.startswith("would update: jobtitle: ") and outcome.endswith("→ Chief Risk Officer (new)")
    assert table(at)["outcome"].iloc[2] == outcome and table(at)["email"].iloc[2] == email
    assert summary(at)[0] == "amber"  # the invalid email still fails
    assert not at.exception
