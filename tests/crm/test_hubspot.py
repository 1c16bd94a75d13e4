"""HubSpotAdapter against the in-process HubSpot sandbox: account, fields, lookup, read-back and links.

Pushes through the engine are in test_hubspot_writes.py. Counts come from the sandbox's own ``stats`` and
records from ``app.dump()``, never from the adapter's word alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import httpx
import pytest

from crm.errors import ValidationError
from crm.hubspot import HubSpotAdapter
from crm.model import Provider, RecordState
from crm.sandbox.hubspot import PORTAL_ID, HubSpotSandbox
from crm.sandbox.hubspot import app as sandbox_app_module

pytest.register_assert_rewrite("tests.crm.hubspot_support")  # before the import below, for its asserts
from tests.crm.hubspot_support import CONTACTS, SCORE, Adapters, Leads, Seed, by_email, push  # noqa: E402


# ----- account and fields ----------------------------------------------------------------------------
def test_account_reports_portal_and_daily_usage(
    make_hubspot_app: Callable[..., HubSpotSandbox], make_hubspot_adapter: Adapters
) -> None:
    app = make_hubspot_app(daily_limit=5000)
    adapter = make_hubspot_adapter(app)

    info = adapter.account()

    assert info.provider is Provider.HUBSPOT
    assert info.account_id == str(PORTAL_ID)
    assert info.instance_url == app.base_url
    assert info.details["uiDomain"] == "app.hubspot.com"
    assert info.details["accountType"] == "STANDARD"
    assert info.api_limit == 5000
    assert info.api_used == app.stats.requests == 2  # details + usage, both counted by the portal
    assert info.api_remaining == 4998
    # The rate-limit headers of the last answer feed usage() too.
    assert adapter.usage() == {"limit": 5000, "remaining": 4998}
    assert adapter.api_calls == 2


def test_fields_map_hubspot_types(hubspot: HubSpotAdapter) -> None:
    fields = {f.name: f for f in hubspot.fields()}

    email = fields["email"]
    assert (email.type, email.unique, email.read_only, email.restricted) == ("email", True, False, False)
    stage = fields["lifecyclestage"]
    assert stage.type == "picklist" and stage.restricted
    assert stage.options == (
        "subscriber",
        "lead",
        "marketingqualifiedlead",
        "salesqualifiedlead",
        "opportunity",
        "customer",
        "evangelist",
        "other",
    )
    assert stage.vendor_type == "enumeration/radio"
    assert fields["hs_lead_status"].options[:2] == ("NEW", "OPEN")
    assert fields["hs_legal_basis"].type == "multipicklist"  # enumeration shown as checkboxes
    owner = fields["hubspot_owner_id"]
    assert owner.type == "picklist" and not owner.restricted  # externalOptions: any user id
    assert fields["message"].type == "textarea"
    assert fields["closedate"].type == "datetime" and not fields["closedate"].read_only
    for name in ("createdate", "lastmodifieddate", "hs_object_id", "hs_email_domain", "total_revenue"):
        assert fields[name].read_only, name
    first = fields["firstname"]
    assert (first.type, first.label, first.read_only, first.required) == (
        "string",
        "First Name",
        False,
        False,
    )
    assert fields["phone"].vendor_type == "string/phonenumber"


def test_fields_are_cached_until_refresh(hubspot_app: HubSpotSandbox, hubspot: HubSpotAdapter) -> None:
    first = hubspot.fields()
    first.clear()  # a caller's copy: the cache is not affected
    second = hubspot.fields()

    assert second and hubspot_app.stats.by_route["properties.list"] == 1
    assert hubspot.api_calls == 1

    assert hubspot.fields(refresh=True) == second
    assert hubspot_app.stats.by_route["properties.list"] == 2
    assert hubspot.api_calls == 2


def test_created_property_appears_after_refresh(
    hubspot_app: HubSpotSandbox, hubspot: HubSpotAdapter, hubspot_api: httpx.Client
) -> None:
    assert "leadfactory_score" not in {f.name for f in hubspot.fields()}

    made = hubspot.create_property(SCORE)

    assert (made.name, made.type, made.label, made.read_only) == (
        "leadfactory_score",
        "number",
        "Lead score",
        False,
    )
    stored = hubspot_api.get("/crm/v3/properties/contacts/leadfactory_score").json()
    assert (stored["type"], stored["groupName"]) == ("number", "contactinformation")
    refreshed = {f.name: f for f in hubspot.fields(refresh=True)}
    assert refreshed["leadfactory_score"] == made
    # A second create of the same name is HubSpot's 409: refused, not retried.
    with pytest.raises(ValidationError) as refused:
        hubspot.create_property(SCORE)
    assert refused.value.status == 409 and "already exists" in refused.value.message
    assert hubspot_app.stats.by_route["properties.create"] == 2


# ----- lookup ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("existing", [1, 100, 101, 250])
def test_lookup_reads_by_email_in_batches_of_100(
    hubspot_app: HubSpotSandbox, hubspot: HubSpotAdapter, hubspot_seed: Seed, existing: int
) -> None:
    emails = [f"known.{i}@example.com" for i in range(existing)]
    ids = hubspot_seed(hubspot_app, emails, {"firstname": "Known"})
    missing = [f"nobody.{i}@example.com" for i in range(7)]
    asked = [e.upper() if i % 2 else e for i, e in enumerate(emails)] + missing + [emails[0].title()]

    found = hubspot.lookup(asked, ["firstname"])

    unique = existing + len(missing)
    assert hubspot_app.stats.by_route["contacts.batch_read"] == math.ceil(unique / 100)
    assert set(hubspot_app.stats.by_route) == {"contacts.batch_read"}  # batch read, never search
    assert set(found) == set(emails)  # keyed lower-case; the missing ones are absent
    for email, records in found.items():
        assert len(records) == 1
        record = records[0]
        assert (record.crm_id, record.email, record.properties["firstname"]) == (ids[email], email, "Known")
        assert record.last_modified


def test_lookup_of_nothing_sends_nothing(hubspot_app: HubSpotSandbox, hubspot: HubSpotAdapter) -> None:
    assert hubspot.lookup(["", "  "], ["firstname"]) == {}
    assert hubspot_app.stats.requests == 0


# ----- read-back and links ----------------------------------------------------------------------------
def test_read_back_reports_exists_deleted_and_merged(
    hubspot_app: HubSpotSandbox, hubspot: HubSpotAdapter, hubspot_seed: Seed, hubspot_api: httpx.Client
) -> None:
    ids = hubspot_seed(hubspot_app, ["keep@example.com", "gone@example.com"], {"firstname": "Kept"})
    ids |= hubspot_seed(hubspot_app, ["primary@example.com"], {"firstname": "Primary"})
    ids |= hubspot_seed(hubspot_app, ["secondary@example.com"], {"firstname": "Secondary", "jobtitle": "CFO"})
    keep, gone = ids["keep@example.com"], ids["gone@example.com"]
    primary, secondary = ids["primary@example.com"], ids["secondary@example.com"]
    assert hubspot_api.delete(f"{CONTACTS}/{gone}").status_code == 204
    merge = hubspot_api.post(
        f"{CONTACTS}/merge", json={"primaryObjectId": primary, "objectIdToMerge": secondary}
    )
    assert merge.status_code == 200
    survivor = merge.json()["id"]
    assert survivor not in (primary, secondary)
    current = by_email(hubspot_app)

    statuses = hubspot.read_back([keep, gone, primary, secondary, keep, "123"], ["firstname", "jobtitle"])

    assert set(statuses) == {keep, gone, primary, secondary, "123"}
    kept = statuses[keep]
    assert (kept.state, kept.properties["firstname"], kept.merged_into) == (RecordState.EXISTS, "Kept", None)
    assert kept.last_modified == current["keep@example.com"]["properties"]["lastmodifieddate"]
    assert statuses[gone].state is RecordState.DELETED
    assert statuses["123"].state is RecordState.DELETED
    for old in (primary, secondary):
        merged = statuses[old]
        assert (merged.state, merged.merged_into) == (RecordState.MERGED, survivor)
        assert merged.properties["firstname"] == "Primary" and merged.properties["jobtitle"] == "CFO"
        assert merged.last_modified == current["primary@example.com"]["properties"]["lastmodifieddate"]


def test_record_url_uses_portal_id_and_ui_domain(
    hubspot_app: HubSpotSandbox,
    make_hubspot_adapter: Adapters,
    hubspot_leads: Leads,
    hubspot_api: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    adapter = make_hubspot_adapter(hubspot_app)
    results, _ = push(adapter, hubspot_leads(1))
    crm_id = next(iter(results.values())).crm_id
    assert crm_id

    url = adapter.record_url(crm_id)

    assert url == f"https://app.hubspot.com/contacts/{PORTAL_ID}/record/0-1/{crm_id}"
    assert url == hubspot_api.get(f"{CONTACTS}/{crm_id}").json()["url"]  # the link HubSpot itself gives
    assert adapter.record_url("151") == f"https://app.hubspot.com/contacts/{PORTAL_ID}/record/0-1/151"
    assert hubspot_app.stats.by_route["account.details"] == 1  # looked up once, then remembered

    monkeypatch.setitem(sandbox_app_module.ACCOUNT_DETAILS, "uiDomain", "app-eu1.hubspot.com")
    eu = make_hubspot_adapter(hubspot_app)
    assert eu.record_url("151") == f"https://app-eu1.hubspot.com/contacts/{PORTAL_ID}/record/0-1/151"
