"""Campaign and lead queries: listing, lookup, the leads table, saving edits, deleting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data.lead_import import import_campaign, prepare, read_table
from data.leads import (
    FRAME_COLUMNS,
    delete_campaign,
    get_campaign_by_name_or_id,
    leads_frame,
    list_campaigns,
    save_lead_edits,
)
from data.models import Campaign, Lead

CSV = (
    "Email,First Name,Last Name,Company,Lead Score,Tier,Notes\n"
    "anna@acme.example,Anna,Schmidt,Acme,87,HOT,vip\n"
    "bob@globex.example,Bob,Jones,Globex,55,WARM,\n"
    "carol@initech.example,Carol,Nguyen,Initech,,,\n"
)


def add_campaign(session: Session, name: str, csv: str = CSV, *, strict_emails: bool = True) -> int:
    parsed = read_table(csv.encode(), f"{name}.csv")
    prepared = prepare(parsed, parsed.column_map, strict_emails=strict_emails)
    return import_campaign(session, name=name, prepared=prepared).campaign_id


def lead_ids(session: Session, campaign_id: int) -> dict[str, int]:
    rows = session.execute(select(Lead.email, Lead.id).where(Lead.campaign_id == campaign_id))
    return {email: lead_id for email, lead_id in rows}


def test_list_campaigns_counts_leads_newest_first(session: Session) -> None:
    older = add_campaign(session, "Older")
    newer = add_campaign(session, "Newer", "Email\nx@y.example\n")
    empty = Campaign(name="Empty", source="cli", created_at=datetime.now(UTC) + timedelta(seconds=5))
    session.add(empty)
    session.flush()
    older_campaign = session.get(Campaign, older)
    assert older_campaign is not None
    older_campaign.created_at = datetime.now(UTC) - timedelta(days=1)
    session.flush()

    summaries = list_campaigns(session)

    assert [(s.id, s.name, s.lead_count) for s in summaries] == [
        (empty.id, "Empty", 0),
        (newer, "Newer", 1),
        (older, "Older", 3),
    ]
    assert summaries[1].source == "import" and summaries[1].status == "active"
    assert summaries[1].created_at.tzinfo is not None


def test_get_campaign_by_name_or_id(session: Session) -> None:
    first = add_campaign(session, "Q3 Webinar")
    numbered = add_campaign(session, "2024", "Email\nx@y.example\n")

    def found(value: str | int) -> int | None:
        campaign = get_campaign_by_name_or_id(session, value)
        return campaign.id if campaign is not None else None

    assert found(first) == first
    assert found(str(first)) == first
    assert found(" q3 webinar ") == first
    assert found("2024") == numbered  # a name that looks like an id is found by its name
    assert found(numbered) == numbered
    assert found("Nope") is None
    assert get_campaign_by_name_or_id(session, 10**9) is None


def test_leads_frame_has_every_field_in_file_order(session: Session) -> None:
    campaign_id = add_campaign(session, "Frame")
    add_campaign(session, "Other", "Email\nother@y.example\n")

    frame = leads_frame(session, campaign_id)

    assert tuple(frame.columns) == FRAME_COLUMNS
    assert frame["email"].tolist() == ["anna@acme.example", "bob@globex.example", "carol@initech.example"]
    assert frame["row_number"].tolist() == [1, 2, 3]
    assert str(frame["score"].dtype) == "Int64"
    assert frame["score"].tolist()[:2] == [87, 55] and pd.isna(frame["score"].iloc[2])
    assert frame["extra"].tolist() == [{"Notes": "vip"}, {}, {}]
    assert frame["id"].tolist() == sorted(lead_ids(session, campaign_id).values())


def test_leads_frame_of_an_unknown_campaign_is_empty_with_its_columns(session: Session) -> None:
    frame = leads_frame(session, 10**9)
    assert frame.empty and tuple(frame.columns) == FRAME_COLUMNS


def test_save_lead_edits_normalises_and_applies_valid_edits(session: Session) -> None:
    campaign_id = add_campaign(session, "Edits")
    ids = lead_ids(session, campaign_id)

    problems = save_lead_edits(
        session,
        campaign_id,
        [
            {"id": ids["anna@acme.example"], "title": "  CTO ", "tier": "cold", "score": "42%"},
            {
                "id": ids["bob@globex.example"],
                "score": float("nan"),
                "company": None,
                "extra": {"Notes": "x"},
            },
        ],
    )

    assert problems == []
    frame = leads_frame(session, campaign_id).set_index("email")
    anna, bob = frame.loc["anna@acme.example"], frame.loc["bob@globex.example"]
    assert (anna["title"], anna["tier"], anna["score"], anna["first_name"]) == ("CTO", "COOL", 42, "Anna")
    assert pd.isna(bob["score"]) and pd.isna(bob["company"]) and bob["extra"] == {"Notes": "x"}
    updated = session.scalar(select(Lead.updated_at).where(Lead.id == ids["anna@acme.example"]))
    assert updated is not None


def test_save_lead_edits_accepts_whole_rows_from_the_table(session: Session) -> None:
    campaign_id = add_campaign(session, "Rows")
    frame = leads_frame(session, campaign_id)
    rows = frame.to_dict("records")
    rows[2]["score"] = 77.0
    rows[2]["tier"] = "warm"

    assert save_lead_edits(session, campaign_id, rows) == []
    after = leads_frame(session, campaign_id)
    assert after.loc[2, "score"] == 77 and after.loc[2, "tier"] == "WARM"
    assert after.drop(columns=["score", "tier"]).equals(frame.drop(columns=["score", "tier"]))


def test_save_lead_edits_refuses_bad_values_and_applies_nothing_of_that_edit(session: Session) -> None:
    campaign_id = add_campaign(session, "Bad edits")
    ids = lead_ids(session, campaign_id)
    before = leads_frame(session, campaign_id)

    problems = save_lead_edits(
        session,
        campaign_id,
        [
            {"id": ids["anna@acme.example"], "email": "anna at acme", "title": "CEO"},
            {"id": ids["bob@globex.example"], "score": 300, "tier": "Lukewarm"},
            {"id": ids["carol@initech.example"], "email": " "},
            {"id": ids["carol@initech.example"], "first_name": "C" * 256},
            {"id": ids["carol@initech.example"], "favourite_colour": "red"},
        ],
    )

    assert [(p.row, p.code) for p in problems] == [
        (1, "INVALID_EMAIL"),
        (2, "SCORE_OUT_OF_RANGE"),
        (3, "MISSING_EMAIL"),
    ]
    assert problems[0].email == "anna@acme.example" and "'anna at acme'" in problems[0].message
    assert "'300'" in problems[1].message and "'Lukewarm'" in problems[1].message
    # Carol's three edits are merged into one refused change that names every issue.
    assert "No email address" in problems[2].message
    assert "256 characters" in problems[2].message and "favourite_colour" in problems[2].message
    assert leads_frame(session, campaign_id).equals(before)


def test_save_lead_edits_only_judges_the_fields_an_edit_changes(session: Session) -> None:
    # A demo lead keeps its invalid email on purpose; editing its title must still work.
    campaign_id = add_campaign(session, "Lenient", "Email,Title\nnot an email,Intern\n", strict_emails=False)
    [lead_id] = lead_ids(session, campaign_id).values()

    assert save_lead_edits(session, campaign_id, [{"id": lead_id, "title": "Analyst"}]) == []
    assert session.scalar(select(Lead.title).where(Lead.id == lead_id)) == "Analyst"


def test_save_lead_edits_never_writes_into_another_campaign(session: Session) -> None:
    mine = add_campaign(session, "Mine")
    theirs = add_campaign(session, "Theirs", "Email,Title\nz@z.example,Boss\n")
    [their_lead] = lead_ids(session, theirs).values()

    problems = save_lead_edits(
        session, mine, [{"id": their_lead, "title": "Hacked"}, {"id": "x", "title": "?"}]
    )

    assert [p.code for p in problems] == ["UNKNOWN_LEAD", "UNKNOWN_LEAD"]
    assert session.scalar(select(Lead.title).where(Lead.id == their_lead)) == "Boss"


def test_save_lead_edits_keeps_emails_unique_in_a_campaign(session: Session) -> None:
    campaign_id = add_campaign(session, "Unique")
    ids = lead_ids(session, campaign_id)
    anna, bob, carol = ids["anna@acme.example"], ids["bob@globex.example"], ids["carol@initech.example"]

    problems = save_lead_edits(
        session,
        campaign_id,
        [
            {"id": carol, "email": "ANNA@acme.example"},  # taken by Anna, who keeps it
            {"id": anna, "email": "Anna@Acme.example"},  # her own address in another case: fine
            {"id": bob, "email": "robert@globex.example"},
        ],
    )

    assert [(p.row, p.code) for p in problems] == [(3, "DUPLICATE_EMAIL")]
    emails = dict(session.execute(select(Lead.id, Lead.email).where(Lead.campaign_id == campaign_id)).all())
    assert emails == {anna: "Anna@Acme.example", bob: "robert@globex.example", carol: "carol@initech.example"}


def test_delete_campaign_removes_it_and_its_leads_only(session: Session) -> None:
    doomed = add_campaign(session, "Doomed")
    kept = add_campaign(session, "Kept", "Email\nk@k.example\n")

    assert delete_campaign(session, doomed) is True
    assert delete_campaign(session, doomed) is False

    assert session.get(Campaign, doomed) is None
    assert session.scalar(select(func.count()).select_from(Lead).where(Lead.campaign_id == doomed)) == 0
    assert [s.name for s in list_campaigns(session)] == ["Kept"]
    assert len(leads_frame(session, kept)) == 1


@pytest.mark.parametrize("value", ["", "  "])
def test_get_campaign_by_blank_value_finds_nothing(session: Session, value: str) -> None:
    add_campaign(session, "Any")
    assert get_campaign_by_name_or_id(session, value) is None
