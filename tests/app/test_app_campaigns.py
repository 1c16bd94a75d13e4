"""The Campaigns page: list, browse, import (mapping, preview, report), refusals, delete, safe display."""

from __future__ import annotations

from typing import Any

import pandas as pd
from app_harness import AppHarness, button, texts
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from data.leads import list_campaigns
from data.models import Campaign, Lead

# Semicolons, a BOM, German headers, a column the detection leaves unmapped ("Firm"), an invalid and a
# missing email, a score out of range, a repeated email (the later row wins), and markup in values.
MESSY_CSV = (
    "\ufeffE-Mail Address;Vorname;Nachname;Firm;Lead Score;Notes\n"
    "ada@example.com;Ada;Lovelace;Analytical Engines;87;met at the fair\n"
    "not-an-email;Bob;Builder;Bob Co;50;\n"
    ";Carla;NoMail;Carla GmbH;40;\n"
    "dup@example.com;Dee;One;Dup Inc;55;\n"
    "DUP@example.com;Dee;Two;Dup Inc;60;the later row wins\n"
    "max@example.com;Max;Score;Big Co;150;\n"
    "eve@example.com;<script>alert(1)</script>;Evil;<b>Bold</b> & Co;99;**not bold** ![x](http://example.com/x.png)\n"
).encode("utf-8")
MESSY_PROBLEMS = {2: "INVALID_EMAIL", 3: "MISSING_EMAIL", 4: "MERGED", 6: "SCORE_OUT_OF_RANGE"}


def campaigns_page(crm_app: AppHarness, *, analyst: bool = False) -> AppTest:
    at = crm_app.as_analyst() if analyst else crm_app.as_admin()
    return crm_app.open(at, "campaigns")


def upload(at: AppTest, name: str, content: bytes, mime: str = "text/csv") -> AppTest:
    return at.file_uploader[0].set_value((name, content, mime)).run()


def campaign_rows(crm_app: AppHarness) -> dict[str, int]:
    with crm_app.db.session() as session:
        return {c.name: c.lead_count for c in list_campaigns(session)}


def frame_with(at: AppTest, column: str) -> pd.DataFrame:
    found = [df.value for df in at.dataframe if column in df.value.columns]
    assert found, f"no table with a {column!r} column"
    return found[0]


def name_input(at: AppTest) -> Any:
    return next(box for box in at.text_input if box.key and box.key.startswith("campaigns_import_name_"))


def mapping_box(at: AppTest, header_position: int) -> Any:
    return next(box for box in at.selectbox if box.key and box.key.endswith(f"_{header_position}"))


def test_lists_campaigns_and_browses_leads(crm_app: AppHarness) -> None:
    at = campaigns_page(crm_app)

    listed = frame_with(at, "Campaign")
    assert list(listed.columns) == ["Campaign", "Leads", "Created", "Source"]
    assert dict(zip(listed["Campaign"], listed["Leads"], strict=True)) == campaign_rows(crm_app)
    chosen = at.selectbox(key="campaigns_browse").value
    with crm_app.db.session() as session:
        expected = session.scalar(select(func.count()).select_from(Lead).where(Lead.campaign_id == chosen))
    at.selectbox(key="campaigns_page_size").set_value(50).run()
    leads = frame_with(at, "Email")
    assert len(leads) == min(50, expected)
    assert f"of {expected:,}" in texts(at)
    at.number_input(key=f"campaigns_page_{chosen}").set_value(2).run()
    assert frame_with(at, "Email")["Row"].iloc[0] > leads["Row"].iloc[-1]
    assert not at.exception


def test_filter_narrows_the_leads(crm_app: AppHarness) -> None:
    at = campaigns_page(crm_app)
    email = frame_with(at, "Email")["Email"].iloc[0]

    at.text_input(key="campaigns_filter").input(email.upper()).run()

    assert list(frame_with(at, "Email")["Email"]) == [email]
    assert not at.exception


def test_imports_a_messy_csv_after_fixing_the_mapping(crm_app: AppHarness) -> None:
    at = upload(campaigns_page(crm_app), "spring fair.csv", MESSY_CSV)

    assert [mapping_box(at, i).value for i in range(6)] == [
        "email", "first_name", "last_name", "(keep as extra)", "score", "(keep as extra)",
    ]  # fmt: skip
    mapping_box(at, 3).set_value("company").run()  # "Firm" holds the company
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics == {"Rows in the file": "7", "Ready to import": "3", "Not imported": "4"}
    problems = frame_with(at, "Problem")
    assert dict(zip(problems["Row"], problems["Problem"], strict=True)) == MESSY_PROBLEMS
    assert all(problems["What to do"].str.len() > 10)
    assert name_input(at).value == "spring fair"

    button(at, "Import 3 leads").click().run()

    assert "Imported 3 leads into spring fair" in texts(at)
    assert "4 of 7 rows were not imported" in texts(at)
    assert campaign_rows(crm_app)["spring fair"] == 3
    with crm_app.db.session() as session:
        ada = session.scalars(select(Lead).where(Lead.email == "ada@example.com")).one()
        assert (ada.company, ada.extra) == ("Analytical Engines", {"Notes": "met at the fair"})
        kept = session.scalars(
            select(Lead.last_name).where(func.lower(Lead.email) == "dup@example.com")
        ).all()
        assert kept == ["Two"]
        campaign = session.scalars(select(Campaign).where(Campaign.name == "spring fair")).one()
        assert (campaign.source, campaign.source_detail) == ("import", "spring fair.csv")
    assert "spring fair" in list(frame_with(at, "Campaign")["Campaign"])
    assert at.file_uploader[0].value is None  # a new, empty uploader for the next file
    assert not at.exception


def test_a_bad_file_shows_the_importers_message_and_adds_nothing(crm_app: AppHarness) -> None:
    at = campaigns_page(crm_app)
    before = campaign_rows(crm_app)

    upload(at, "contacts.csv", b"Name,Phone\nAda,123\nBob,456\n")
    assert "No email column found in contacts.csv" in texts(at)
    upload(at, "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64, "application/vnd.ms-excel")
    assert "old Excel 97-2003 (.xls) workbook" in texts(at)
    upload(at, "photo.csv", bytes(range(256)) * 8)
    assert "does not look like a CSV or XLSX file" in texts(at)

    assert not [b for b in at.button if b.label.startswith("Import")]
    assert campaign_rows(crm_app) == before
    assert not at.exception


def test_a_refused_import_leaves_the_database_unchanged(crm_app: AppHarness) -> None:
    at = campaigns_page(crm_app)
    before = campaign_rows(crm_app)
    taken = next(iter(before))
    upload(at, "leads.csv", b"Email,First Name\nnew@example.com,New\n")
    name_input(at).input(taken).run()

    button(at, "Import 1 lead").click().run()

    assert f'A campaign named "{taken}" already exists' in texts(at)
    assert campaign_rows(crm_app) == before
    with crm_app.db.session() as session:
        assert (
            session.scalar(select(func.count()).select_from(Lead).where(Lead.email == "new@example.com")) == 0
        )
    # Two columns mapped to one field: the importer's sentence, no Import button.
    at = upload(at, "two.csv", b"Email,Mail\na@example.com,b@example.com\n")
    mapping_box(at, 1).set_value("email").run()
    assert "Map only one of them" in texts(at)
    assert not [b for b in at.button if b.label.startswith("Import")]
    assert not at.exception


def test_lead_values_with_markup_show_as_plain_text(crm_app: AppHarness) -> None:
    at = upload(campaigns_page(crm_app), "x.csv", MESSY_CSV)
    mapping_box(at, 3).set_value("company").run()
    name = "**Fair** <script>alert(2)</script>"
    name_input(at).input(name).run()
    button(at, "Import 3 leads").click().run()
    with crm_app.db.session() as session:
        campaign_id = session.scalars(select(Campaign.id).where(Campaign.name == name)).one()

    at.selectbox(key="campaigns_browse").set_value(campaign_id).run()

    leads = frame_with(at, "Email")
    eve = leads[leads["Email"] == "eve@example.com"].iloc[0]
    assert eve["First name"] == "<script>alert(1)</script>"
    assert eve["Company"] == "<b>Bold</b> & Co"
    assert "![x](http://example.com/x.png)" in eve["Other columns"]
    rendered = texts(at)
    assert "<script>" not in rendered and "**Fair**" not in rendered  # escaped wherever markdown shows it
    assert "\\<script\\>alert\\(2\\)\\<\\/script\\>" in rendered
    assert not [html for html in at.get("html") if "alert" in str(html.proto)]  # no lead value as HTML
    assert not at.exception


def test_admin_deletes_a_campaign_after_typing_its_name(crm_app: AppHarness) -> None:
    at = campaigns_page(crm_app)
    chosen = at.selectbox(key="campaigns_browse").value
    with crm_app.db.session() as session:
        name = session.scalars(select(Campaign.name).where(Campaign.id == chosen)).one()
    delete = at.button(key="campaigns_delete")
    assert delete.disabled

    at.text_input(key=f"campaigns_delete_confirm_{chosen}").input(name).run()
    at.button(key="campaigns_delete").click().run()

    assert name not in campaign_rows(crm_app)
    assert f"Deleted {name}".replace(":", "\\:") in texts(at)
    with crm_app.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Lead).where(Lead.campaign_id == chosen)) == 0
    assert not at.exception


def test_analysts_import_but_cannot_delete(crm_app: AppHarness) -> None:
    at = campaigns_page(crm_app, analyst=True)

    assert "Only admins can delete campaigns" in texts(at)
    assert not [b for b in at.button if b.key == "campaigns_delete"]
    upload(at, "mine.csv", b"Email,First Name\nme@example.com,Me\n")
    button(at, "Import 1 lead").click().run()
    assert campaign_rows(crm_app)["mine"] == 1
    assert not at.exception
