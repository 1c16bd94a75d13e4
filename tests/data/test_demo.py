"""Demo campaigns: realistic files that load once, flaws included on purpose."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data.demo import DEMO_CAMPAIGNS, DEMO_DIR, DEMO_FLAG, DemoCampaign, load_demo
from data.lead_columns import LEAD_FIELDS
from data.lead_import import prepare, read_table
from data.leads import list_campaigns
from data.models import AppFlag, Campaign, Lead


def lead_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Lead)) or 0


def test_load_demo_creates_three_campaigns_once(session: Session) -> None:
    ids = load_demo(session)

    assert len(ids) == 3
    summaries = {s.id: s for s in list_campaigns(session)}
    assert sorted(summaries) == sorted(ids)
    assert {s.name for s in summaries.values()} == {demo.name for demo in DEMO_CAMPAIGNS}
    assert all(s.source == "demo" and s.lead_count >= 80 for s in summaries.values())
    assert lead_count(session) >= 250
    flag = session.get(AppFlag, DEMO_FLAG)
    assert flag is not None and sorted(int(i) for i in (flag.value or "").split(",")) == sorted(ids)

    total = lead_count(session)
    assert load_demo(session) == []
    assert lead_count(session) == total and len(list_campaigns(session)) == 3


def test_demo_is_not_reloaded_after_its_campaigns_are_deleted(session: Session) -> None:
    load_demo(session)
    for campaign in session.scalars(select(Campaign)):
        session.delete(campaign)
    session.flush()
    assert load_demo(session) == [] and lead_count(session) == 0


def test_demo_names_keep_their_accents_and_scripts(session: Session) -> None:
    load_demo(session)
    names = {(first, last) for first, last in session.execute(select(Lead.first_name, Lead.last_name))}
    for name in [
        ("Jürgen", "Müller"),
        ("Anders", "Ångström"),
        ("Łukasz", "Wójcik"),
        ("Jiří", "Dvořák"),
        ("Sigrid", "Ødegaard"),
        ("José", "García"),
        ("Zoë", "Clarke"),
        ("Carlos", "Ñúñez"),
        ("伟", "李"),
    ]:
        assert name in names


def test_demo_keeps_its_curated_problem_leads(session: Session) -> None:
    load_demo(session)
    leads = session.execute(select(Lead.email, Lead.last_name, Lead.company, Lead.score, Lead.tier)).all()

    assert [lead.email for lead in leads if " at " in (lead.email or "")] == [
        "priya.raman at quantpay.example"
    ]
    assert any(lead.last_name is None for lead in leads)
    assert any(lead.company is None for lead in leads)
    expected = {
        lead.email: "HOT" if lead.score >= 80 else "WARM" if lead.score >= 50 else "COOL" for lead in leads
    }
    disagreeing = [lead for lead in leads if lead.tier != expected[lead.email]]
    assert 1 <= len(disagreeing) <= 10  # a few, as real data has
    assert all(lead.score is not None and 0 <= lead.score <= 100 for lead in leads)


def test_demo_skips_a_campaign_name_the_analyst_already_uses(session: Session) -> None:
    session.add(Campaign(name=DEMO_CAMPAIGNS[0].name.upper(), source="import"))
    session.flush()
    assert len(load_demo(session)) == 2


# The webinar tool exports no website column; every other field is in every file.
NOT_EXPORTED = {"fintech_webinar_attendees.csv": {"website"}}


@pytest.mark.parametrize("demo", DEMO_CAMPAIGNS, ids=lambda demo: demo.filename)
def test_demo_files_read_like_real_exports(demo: DemoCampaign) -> None:
    parsed = read_table((DEMO_DIR / demo.filename).read_bytes(), demo.filename)

    # Every lead field is found from the export's own header spellings, each by exactly one column.
    found = [field for field in parsed.column_map.values() if field is not None]
    assert sorted(found) == sorted(set(LEAD_FIELDS) - NOT_EXPORTED.get(demo.filename, set()))
    assert any(field is None for field in parsed.column_map.values())  # extra columns ride along
    strict = prepare(parsed, parsed.column_map)
    filename = demo.filename
    # The only thing the strict import refuses is the deliberate invalid email.
    assert [(problem.code, problem.email) for problem in strict.problems] == (
        [("INVALID_EMAIL", "priya.raman at quantpay.example")] if filename.startswith("fintech") else []
    )
    for lead in strict.leads:
        assert lead["email"].isascii() and lead["email"].rpartition("@")[2].endswith(".example")
