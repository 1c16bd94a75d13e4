"""The Push page's services around a run: result labels, the CSV, CRM record links, the summary's colour,
the rows it sends, and its mapping (defaults, remembered, checked, HubSpot's score and tier properties)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pandas as pd
import pytest
from service_support import FINTECH, campaign_id, get_run, make_settings

from crm.mapping import HUBSPOT_SCORE_PROPERTIES, FieldMapping, default_mapping
from crm.model import FieldDef
from crm.sandbox.server import SandboxHTTPServer
from data import connections as connection_store
from data.leads import leads_frame
from data.models import PushRun
from service import adapters, connections, history, push_mapping, push_results, runs
from service.auth import SYSTEM, Actor, PermissionDenied
from service.context import AppContext
from service.push_launch import request_rows

ADMIN = Actor("ada", "admin")
ANALYST = Actor("ann", "analyst")
HUBSPOT_TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"


def pushed(ctx: AppContext, provider: str, dry_run: bool = False) -> PushRun:
    """The Fintech demo (one invalid email, one formula-like company) pushed to ``provider``'s sandbox."""
    assert connections.connect_sandbox(ctx, SYSTEM, provider).ok
    with ctx.db.session() as session:
        frame = leads_frame(session, campaign_id(ctx, FINTECH))
    rows = request_rows(frame)
    rows[0]["company"] = '=HYPERLINK("http://evil.example","x")'
    object_name = "contacts" if provider == "hubspot" else "Lead"
    request = runs.PushRequest(
        provider=provider,
        object_name=object_name,
        rows=rows,
        connection_name=provider,
        mapping=default_mapping(provider, object_name),
        source_label=FINTECH,
        actor=ANALYST,
        dry_run=dry_run,
        campaign_id=campaign_id(ctx, FINTECH),
    )
    run_id = runs.create(ctx, request)
    runs.execute(ctx, run_id)
    return get_run(ctx, run_id)


def test_results_frame_labels_and_a_formula_safe_csv(sqlite_demo_ctx: AppContext) -> None:
    run = pushed(sqlite_demo_ctx, "hubspot")
    frame = push_results.results_frame(sqlite_demo_ctx, run.id)

    assert list(frame.columns[:9]) == list(push_results.RESULT_COLUMNS)
    assert len(frame) == 88 and list(frame["row"]) == list(range(1, 89))
    labels = push_results.outcome_labels(frame, dry_run=False)
    failed = frame["action"] == "failed"
    reason = "'priya.raman at quantpay.example' is not a valid email address. Correct it or exclude the row."
    assert labels[failed].tolist() == [f"failed: {reason}"]
    assert set(labels[~failed]) == {"created"}
    assert (frame.loc[~failed, "crm_id"] != "").all() and (frame["crm_url"] == "").all()

    rows = list(csv.reader(io.StringIO(push_results.results_csv(frame).decode("utf-8-sig"))))
    assert rows[0] == list(push_results.CSV_COLUMNS) and len(rows) == 89
    by_lead = push_results.by_lead(frame, dry_run=False)
    assert by_lead.loc[by_lead["action"] == "failed"].index.tolist() == frame.loc[failed, "lead_id"].tolist()


def test_csv_cells_that_look_like_formulas_are_quoted() -> None:
    frame = pd.DataFrame(
        {
            "row": [1],
            "email": ["=1+1@example.com"],
            "action": ["failed"],
            "crm_id": ["+123"],
            "crm_url": [""],
            "error_code": ["-X"],
            "error": ['@SUM(A1) =HYPERLINK("x")'],
            "changes": ["\tTitle: a → b"],
        }
    )
    (_, row) = list(csv.reader(io.StringIO(push_results.results_csv(frame).decode("utf-8-sig"))))
    assert row == [
        "1",
        "'=1+1@example.com",
        "failed",
        "'+123",
        "",
        "'-X",
        '\'@SUM(A1) =HYPERLINK("x")',
        "'\tTitle: a → b",
    ]


def test_dry_run_labels_changes_and_unchanged_updates() -> None:
    frame = pd.DataFrame(
        {
            "row": [1, 2, 3, 4, 5],
            "lead_id": pd.array([10, 11, 12, 13, None], dtype="Int64"),
            "email": ["a@x.com", "b@x.com", "c@x.com", "d@x.com", ""],
            "action": ["updated", "updated", "created", "skipped", "failed"],
            "crm_id": ["1", "2", "", "4", ""],
            "crm_url": ["", "", "", "", ""],
            "error_code": ["", "", "", "UNCHANGED", "MISSING_EMAIL"],
            "error": ["", "", "", "Unchanged since the last successful push", "The row has no email"],
            "changes": [
                push_results.describe_changes([["jobtitle", "CTO", "VP"], ["phone", None, "+1 5"]]),
                "",
                "",
                "",
                "",
            ],
            "changed": [True, False, False, False, False],
        }
    )
    labels = push_results.outcome_labels(frame, dry_run=True).tolist()
    assert labels == [
        "would update: jobtitle: CTO → VP; phone: — → +1 5",
        "unchanged",
        "would create",
        "unchanged",
        "would fail: The row has no email",
    ]
    by_lead = push_results.by_lead(frame, dry_run=True)
    assert by_lead.index.tolist() == [10, 11, 12, 13]  # a row without a lead has no place in the table
    assert by_lead["exists"].tolist() == [True, True, False, True]


@pytest.mark.parametrize(
    ("state", "counts", "tone"),
    [
        ("completed", (5, 2, 1, 0), "green"),
        ("partial", (5, 2, 1, 3), "amber"),
        ("failed", (0, 0, 0, 8), "red"),
        ("cancelled", (2, 0, 0, 0), "amber"),
    ],
)
def test_summary_tone(state: str, counts: tuple[int, int, int, int], tone: str) -> None:
    created, updated, skipped, failed = counts
    run = PushRun(
        id=1, state=state, dry_run=False, total=sum(counts) + (4 if state == "cancelled" else 0),
        created=created, updated=updated, skipped=skipped, failed=failed, api_calls=1, created_by="ann",
        object_name="contacts",
    )  # fmt: skip
    assert history.run_row(run).tone == tone


def test_sandbox_records_have_no_link(sqlite_demo_ctx: AppContext) -> None:
    assert connections.connect_sandbox(sqlite_demo_ctx, SYSTEM, "hubspot").ok
    conn = connections.get(sqlite_demo_ctx, "hubspot")
    assert conn is not None
    assert push_results.link_template(sqlite_demo_ctx, conn, "contacts") is None


def test_hubspot_records_link_to_the_portal(
    sqlite_demo_ctx: AppContext, http_sandbox: Callable[..., SandboxHTTPServer]
) -> None:
    server = http_sandbox("hubspot", token=HUBSPOT_TOKEN)
    settings = make_settings(sqlite_demo_ctx.settings.database_url, hubspot_base_url=server.base_url)
    ctx = AppContext(settings=settings, db=sqlite_demo_ctx.db, box=sqlite_demo_ctx.box, cookie_key="k" * 32)
    assert connections.connect_hubspot_token(ctx, ADMIN, HUBSPOT_TOKEN).ok
    conn = connections.get(ctx, "hubspot")
    assert conn is not None

    template = push_results.link_template(ctx, conn, "contacts")

    assert template == "https://app.hubspot.com/contacts/146872913/record/0-1/__CRM_PUSH_RECORD_ID__"


def test_salesforce_records_link_to_lightning(sqlite_demo_ctx: AppContext) -> None:
    with sqlite_demo_ctx.db.begin() as session:
        connection_store.create_connection(
            session, sqlite_demo_ctx.box, name="salesforce", provider="salesforce", auth_kind="access_token",
            secret={"access_token": "00D!token"}, settings={"instance_url": "https://acme.my.salesforce.com"},
        )  # fmt: skip
    conn = connections.get(sqlite_demo_ctx, "salesforce")
    assert conn is not None

    template = push_results.link_template(sqlite_demo_ctx, conn, "Lead")  # no call to Salesforce needed

    assert template == "https://acme.lightning.force.com/lightning/r/Lead/__CRM_PUSH_RECORD_ID__/view"


def test_request_rows_send_blanks_as_none_and_the_lead_id(sqlite_demo_ctx: AppContext) -> None:
    with sqlite_demo_ctx.db.session() as session:
        frame = leads_frame(session, campaign_id(sqlite_demo_ctx, FINTECH))
    frame.loc[0, "score"] = None
    frame.loc[1, "city"] = None

    rows = request_rows(frame)

    assert rows[0]["lead_id"] == int(frame.loc[0, "id"]) and rows[0]["score"] is None
    assert rows[1]["city"] is None
    assert all(isinstance(row["score"], int | None) for row in rows)
    assert all(isinstance(row["lead_id"], int) for row in rows)
    assert "extra" not in rows[0] and "row_number" not in rows[0]


def hubspot_fields(*names: str) -> list[FieldDef]:
    return [FieldDef(name, name.title(), "string") for name in ("email", "firstname", *names)]


def test_hubspot_defaults_send_score_and_tier_once_their_properties_exist() -> None:
    plain = push_mapping.defaults("hubspot", "contacts", hubspot_fields())
    assert "score" not in plain.fields and "tier" not in plain.fields
    names = [spec["name"] for spec in HUBSPOT_SCORE_PROPERTIES.values()]
    full = push_mapping.defaults("hubspot", "contacts", hubspot_fields(*names))
    assert (full.fields["score"], full.fields["tier"]) == ("crmpush_score", "crmpush_tier")
    assert push_mapping.missing_score_properties(hubspot_fields(names[0])) == ["tier"]
    assert push_mapping.defaults("salesforce", "Lead", []) == default_mapping("salesforce", "Lead")


def test_mapping_check_blocks_unknown_fields_and_warns_about_shared_targets() -> None:
    fields = [FieldDef("Email", "Email", "email"), FieldDef("LastName", "Last Name", "string", required=True)]
    mapping = FieldMapping(
        {"email": "Email", "first_name": "LastName", "last_name": "LastName"}, {}, {"Nope__c": "1"}
    )

    check = push_mapping.check(mapping, fields, "Lead")

    assert [p.code for p in check.blocking] == ["UNKNOWN_FIELD"]
    assert [p.code for p in check.warnings] == ["SAME_TARGET"]
    assert "first_name and last_name both go to 'LastName'" in check.warnings[0].message


def test_the_mapping_is_remembered_per_provider_and_object(sqlite_ctx: AppContext) -> None:
    assert push_mapping.remembered(sqlite_ctx, "salesforce", "Lead") is None
    mapping = FieldMapping(
        {"email": "Email", "last_name": "LastName"}, {"tier": {"HOT": "Hot"}}, {"LeadSource": "Web"}
    )

    push_mapping.remember(sqlite_ctx, ANALYST, "salesforce", "Lead", mapping)

    assert push_mapping.remembered(sqlite_ctx, "salesforce", "Lead") == mapping
    assert push_mapping.remembered(sqlite_ctx, "salesforce", "Contact") is None


def test_only_admins_create_hubspot_properties(sqlite_ctx: AppContext) -> None:
    assert connections.connect_sandbox(sqlite_ctx, SYSTEM, "hubspot").ok
    with pytest.raises(PermissionDenied):
        push_mapping.create_score_properties(sqlite_ctx, ANALYST, ["score"])

    created = push_mapping.create_score_properties(sqlite_ctx, ADMIN, ["score", "tier"])

    assert [fd.name for fd in created] == ["crmpush_score", "crmpush_tier"]
    adapter = adapters.adapter_for(sqlite_ctx, "hubspot")
    try:
        fields = adapter.fields()
    finally:
        adapter.close()
    assert {"crmpush_score", "crmpush_tier"} <= {fd.name for fd in fields}
    assert push_mapping.missing_score_properties(fields) == []
