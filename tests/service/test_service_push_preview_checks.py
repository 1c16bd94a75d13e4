"""The Push page's live checks say what the engine would do: same rows, same verdicts, same words.

A messy table (missing, invalid and repeated emails, values too long, not a URL, not an allowed picklist
value, required fields empty) is checked three ways: column by column (``check_rows``, as for a whole
campaign), row by row (``check_rows_one_by_one``, as for edited rows) and by the engine itself in a dry
run against the sandbox. Also: API-call estimates and the API allowance left.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from crm import sandbox
from crm.http import StaticToken
from crm.hubspot import HubSpotAdapter
from crm.mapping import FieldMapping, default_mapping
from crm.model import LeadRecord
from crm.push import MemoryRecorder, PushOptions, run_push
from crm.salesforce import SalesforceAdapter
from service import push_preview as preview

ROWS = 240  # above ROW_BY_ROW_MAX, so check_rows takes the column-by-column path


def adapter(vendor: str) -> HubSpotAdapter | SalesforceAdapter:
    app = sandbox.shared(vendor)
    tokens, transport = StaticToken(app.options.token), sandbox.SandboxTransport(app)
    if vendor == "hubspot":
        return HubSpotAdapter(tokens, base_url=app.base_url, transport=transport)
    return SalesforceAdapter(tokens, app.base_url, transport=transport)


@pytest.fixture
def hubspot() -> Iterator[HubSpotAdapter | SalesforceAdapter]:
    found = adapter("hubspot")
    yield found
    found.close()


@pytest.fixture
def salesforce() -> Iterator[HubSpotAdapter | SalesforceAdapter]:
    found = adapter("salesforce")
    yield found
    found.close()


def messy_frame() -> pd.DataFrame:
    """Leads as the page holds them (pandas "str" columns, Int64 score), indexed by lead id."""
    rows = []
    for i in range(ROWS):
        row = {
            "email": f"lead{i}@example.com",
            "first_name": f"First{i}",
            "last_name": f"Last{i}",
            "company": f"Company {i % 7}",
            "title": "Buyer",
            "phone": "+1 555 0100",
            "website": f"https://company{i % 7}.example.com",
            "city": "Springfield",
            "state": None,
            "country": "US",
            "industry": "Retail",
            "score": i % 101,
            "tier": ("HOT", "WARM", "COOL")[i % 3],
        }
        kind = i % 12
        if kind == 1:
            row["email"] = None
        elif kind == 2:
            row["email"] = f"  not an email {i} "
        elif kind == 3:
            row["email"] = f"LEAD{i - 1}@EXAMPLE.COM"  # the previous row's address: it is merged
        elif kind == 4:
            row["last_name"] = "L" * 81  # Salesforce LastName holds 80
        elif kind == 5:
            row["website"] = "not a web address"
        elif kind == 6:
            row["company"] = None  # required to create a Salesforce Lead
        elif kind == 7:
            row["email"] = f" Lead{i}@Example.com "  # fine: trimmed, any case
        elif kind == 8:
            row["tier"] = None
            row["score"] = None
        elif kind == 9:
            row["email"] = f"lead{i}@bad_domain.example"
        rows.append(row)
    frame = pd.DataFrame(rows, index=pd.RangeIndex(1000, 1000 + ROWS))
    for name in frame.columns:
        frame[name] = frame[name].astype("Int64" if name == "score" else "str")
    frame["row_number"] = range(1, ROWS + 1)
    return frame


def engine_results(frame: pd.DataFrame, mapping: FieldMapping, crm: HubSpotAdapter | SalesforceAdapter):  # type: ignore[no-untyped-def]
    """The engine's dry run of the same rows (as the service hands them over: blanks as None)."""
    values = frame.astype(object).where(frame.notna(), None)
    rows = [
        LeadRecord(str(lead_id), row["email"] or "", mapping.apply(row))
        for lead_id, row in zip(frame.index, values.to_dict("records"), strict=True)
    ]
    recorder = MemoryRecorder()
    run_push(crm, rows, options=PushOptions(dry_run=True), recorder=recorder)
    return {int(key): result for key, result in recorder.by_key().items()}


def hubspot_mapping() -> FieldMapping:
    base = default_mapping("hubspot", "contacts")
    # tier to a restricted picklist whose values are not ours: every tiered row is refused
    return FieldMapping({**base.fields, "tier": "hs_lead_status"}, {"tier": {"HOT": "NEW"}})


@pytest.mark.parametrize("vendor", ["hubspot", "salesforce"])
def test_checks_agree_with_the_engine_row_by_row(vendor: str, request: pytest.FixtureRequest) -> None:
    crm = request.getfixturevalue(vendor)
    frame = messy_frame()
    mapping = hubspot_mapping() if vendor == "hubspot" else default_mapping("salesforce", "Lead")
    fields = crm.fields()

    checks = preview.check_rows(frame, mapping, fields)
    one_by_one = preview.check_rows_one_by_one(frame, mapping, fields)
    notes = preview.merged(checks, frame["row_number"])
    results = engine_results(frame, mapping, crm)

    pd.testing.assert_frame_equal(checks, one_by_one)
    assert set(checks[preview.CODE]) - {""}  # the table is messy enough to fail rows
    for lead_id in frame.index:
        result, code = results[lead_id], checks.at[lead_id, preview.CODE]
        if notes[lead_id]:
            assert (result.action, result.error_code) == ("skipped", "MERGED"), lead_id
        elif code:
            assert (result.action, result.error_code) == ("failed", code), lead_id
            assert result.error_message == checks.at[lead_id, preview.PROBLEM]
        elif checks.at[lead_id, preview.REQUIRED]:
            assert result.action == "failed" and result.error_code == "REQUIRED_FIELD_MISSING"  # all new here
            assert result.error_message == checks.at[lead_id, preview.REQUIRED]
        else:
            assert result.action == "created", (lead_id, result)
    counts = preview.count(checks, notes)
    failed = sum(r.action == "failed" for r in results.values())
    assert counts.failing + counts.needs_required == failed
    assert counts.merged == sum(r.error_code == "MERGED" for r in results.values())


def test_the_later_duplicate_wins_and_names_its_row() -> None:
    frame = messy_frame().iloc[:5]
    frame.loc[1004, "email"] = " LEAD0@example.com"  # row 5 repeats row 1

    checks = preview.check_rows(frame, default_mapping("hubspot", "contacts"), [])
    notes = preview.merged(checks, frame["row_number"])

    assert notes[1000] == "Same email as row 5 in this push: merged into it (the later row wins)."
    assert list(notes.loc[1001:]) == ["", "", "", ""]
    assert checks.at[1004, preview.EMAIL_KEY] == "lead0@example.com"
    assert checks.at[1001, preview.CODE] == preview.MISSING_EMAIL  # no email: no part in merging


def test_a_custom_field_value_the_crm_refuses_fails_every_row(salesforce) -> None:  # type: ignore[no-untyped-def]
    frame = messy_frame().iloc[:3].copy()
    frame.loc[1001, "email"] = "fine@example.com"
    frame.loc[1002, "email"] = "fine2@example.com"
    base = default_mapping("salesforce", "Lead")
    mapping = FieldMapping(base.fields, base.value_maps, {"NumberOfEmployees": "twelve"})

    checks = preview.check_rows(frame, mapping, salesforce.fields())

    assert set(checks[preview.CODE]) == {"INVALID_NUMBER"}
    assert all("'twelve' is not a number" in text for text in checks[preview.PROBLEM])


def test_api_call_estimates() -> None:
    assert preview.estimate_api_calls("hubspot", 0).calls == 0
    assert preview.estimate_api_calls("hubspot", 100).calls == 1
    assert preview.estimate_api_calls("hubspot", 101).calls == 2
    assert preview.estimate_api_calls("hubspot", 250, matched_upsert=True).calls == 6
    assert preview.estimate_api_calls("salesforce", 200, bulk_threshold=2000).calls == 2
    assert preview.estimate_api_calls("salesforce", 1999, bulk_threshold=2000).calls == 20
    bulk = preview.estimate_api_calls("salesforce", 100_000, bulk_threshold=2000)
    assert bulk.calls == preview.BULK_QUERY_CALLS + 2 * preview.BULK_INGEST_CALLS
    assert "Bulk API 2.0" in bulk.detail
    assert preview.estimate_api_calls("salesforce", 5000, bulk_threshold=None).calls == 50


def test_usage_left_from_a_stored_identity() -> None:
    assert preview.usage_left({"api_used": 18, "api_limit": 15_000}) == (14_982, 15_000)
    assert preview.usage_left({"api_used": 20_000, "api_limit": 15_000}) == (0, 15_000)
    assert preview.usage_left({"api_used": None, "api_limit": 15_000}) is None
    assert preview.usage_left(None) is None
