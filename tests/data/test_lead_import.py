"""Lead import: reading real files, header detection, normalisation, row problems and the insert."""

from __future__ import annotations

import io
import os
import re
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data.db import Database
from data.lead_import import (
    ImportRefused,
    PreparedImport,
    detect_columns,
    import_campaign,
    prepare,
    read_table,
)
from data.lead_xlsx import read_xlsx_rows
from data.models import Campaign, Lead

FILES = Path(__file__).parent / "files"


def read(name: str) -> bytes:
    return (FILES / name).read_bytes()


def counts(database: Database) -> tuple[int, int]:
    with database.session() as session:
        campaigns = session.scalar(select(func.count()).select_from(Campaign))
        leads = session.scalar(select(func.count()).select_from(Lead))
    return campaigns or 0, leads or 0


def import_bytes(database: Database, data: bytes, filename: str, name: str = "Upload") -> int:
    """The Campaigns page's path: read, prepare with the suggested map, import in one transaction."""
    with database.begin() as session:
        parsed = read_table(data, filename)
        report = import_campaign(session, name=name, prepared=prepare(parsed, parsed.column_map))
    return report.campaign_id


# --- header detection -------------------------------------------------------------------------------


# fmt: off
SPELLINGS = [
    ("Email Address", "email"), ("E-mail", "email"), ("email_address", "email"), (" EMAIL ", "email"),
    ("First Name", "first_name"), ("Firstname", "first_name"), ("Given name", "first_name"),
    ("Vorname", "first_name"), ("Last Name", "last_name"), ("Surname", "last_name"),
    ("Company Name", "company"), ("Organisation", "company"), ("Organization", "company"),
    ("Account", "company"), ("Job Title", "title"), ("Position", "title"), ("Phone Number", "phone"),
    ("Mobile", "phone"), ("Website", "website"), ("URL", "website"), ("City", "city"), ("Town/City", "city"),
    ("Province", "state"), ("Region", "state"), ("State/Region", "state"), ("Country/Region", "country"),
    ("Billing Country", "country"), ("Industry", "industry"), ("Lead Score", "score"), ("Score", "score"),
    ("Rating", "score"), ("Tier", "tier"), ("Grade", "tier"), ("Favourite colour", None),
    ("Webinar Title", None),
]
# fmt: on


@pytest.mark.parametrize(("header", "field"), SPELLINGS)
def test_detect_columns_knows_common_spellings(header: str, field: str | None) -> None:
    assert detect_columns([header]) == {header: field}


def test_detect_columns_uses_each_field_once_best_spelling_first() -> None:
    mapping = detect_columns(["Work Email", "Email", "Company", "Company Name", "Notes"])
    assert list(mapping.values()) == [None, "email", "company", None, None]


def test_detect_columns_reads_values_where_the_header_is_ambiguous() -> None:
    samples = {"Rating": ["Hot", "Cold", "warm"], "Grade": ["A", "B", "C"], "Contact": ["x@y.example"]}
    mapping = detect_columns(["Contact", "Rating", "Grade"], samples=samples)
    # Salesforce's Rating holds tiers; letter grades are no tiers (kept in extra); emails found by value.
    assert mapping == {"Contact": "email", "Rating": "tier", "Grade": None}
    numeric = detect_columns(["Email", "Rating"], samples={"Email": ["a@b.example"], "Rating": ["87", "12"]})
    assert numeric["Rating"] == "score"


# --- the messy file ---------------------------------------------------------------------------------


def test_messy_file_is_normalised_and_every_row_accounted_for() -> None:
    parsed = read_table(read("messy.csv"), "messy.csv")
    assert parsed.encoding == "utf-8" and parsed.delimiter == ","
    assert parsed.headers[0] == "E-mail" and parsed.headers[1] == "Given name"  # trimmed
    assert parsed.column_map["Grade"] == "tier" and parsed.column_map["Notes"] is None
    assert parsed.total_rows == 13 and parsed.blank_rows == 1

    prepared = prepare(parsed, parsed.column_map)

    leads = {lead["row_number"]: lead for lead in prepared.leads}
    assert sorted(leads) == [3, 4, 11, 12]
    anna = leads[4]
    assert anna["email"] == "Anna.Schmidt@ACME.example"  # the later row wins, its case kept for display
    assert anna["title"] == "Chief Technology Officer" and anna["score"] == 90 and anna["tier"] == "HOT"
    assert anna["extra"] == {"Notes": "updated title", "Campaign Source": "fair"}
    carol = leads[3]  # a later duplicate with a bad score must not swallow this good row
    assert carol["tier"] == "COOL" and carol["score"] == 42  # COLD -> COOL, "42%" -> 42
    assert leads[12]["tier"] == "WARM" and leads[12]["first_name"] == "Robert"
    ivan = leads[11]  # blank optional cells are None, not ""
    assert ivan["company"] is None and ivan["score"] is None and ivan["tier"] is None and ivan["extra"] == {}

    codes = {problem.row: problem.code for problem in prepared.problems}
    # fmt: off
    assert codes == {
        1: "MERGED", 2: "MERGED", 5: "SCORE_OUT_OF_RANGE", 6: "INVALID_SCORE", 7: "UNKNOWN_TIER",
        8: "INVALID_EMAIL", 9: "MISSING_EMAIL", 13: "INVALID_SCORE", 14: "VALUE_TOO_LONG",
    }
    # fmt: on
    messages = {problem.row: problem.message for problem in prepared.problems}
    assert "merged into row 4" in messages[1] and "merged into row 12" in messages[2]
    assert "'150'" in messages[5] and "0 to 100" in messages[5]
    assert "'Lukewarm'" in messages[7] and "HOT, WARM or COOL" in messages[7]
    assert "grace(at)umbrella.example" in messages[8] and "@-sign" in messages[8]
    assert "300 characters" in messages[14] and "255" in messages[14]
    assert prepared.total_rows == len(prepared.leads) + len(prepared.problems)


def test_a_row_with_several_problems_is_reported_once_with_every_message() -> None:
    data = b"Email,Score,Tier\nnot-an-email,500,Lukewarm\nok@fine.example,1,HOT\n"
    prepared = prepare(parsed := read_table(data, "x.csv"), parsed.column_map)
    [problem] = prepared.problems
    assert problem.row == 1 and problem.code == "INVALID_EMAIL"
    assert "'500'" in problem.message and "'Lukewarm'" in problem.message


@pytest.mark.parametrize(
    ("cell", "score"),
    [("87", 87), ("87.0", 87), (" 87 ", 87), ("87%", 87), ("87,5", 88), ("0", 0), ("100", 100)],
)
def test_score_spellings(cell: str, score: int) -> None:
    parsed = read_table(f"Email;Score\na@b.example;{cell}\n".encode(), "s.csv")
    assert prepare(parsed, parsed.column_map).leads[0]["score"] == score


# --- encodings, delimiters, XLSX --------------------------------------------------------------------


def test_latin1_file_decodes_umlauts() -> None:
    parsed = read_table(read("latin1.csv"), "latin1.csv")
    assert parsed.encoding == "cp1252"
    leads = prepare(parsed, parsed.column_map).leads
    assert [lead["last_name"] for lead in leads] == ["Müller", "Favre"]
    assert leads[1]["first_name"] == "René" and leads[1]["city"] == "Zürich"


def test_utf8_with_stray_windows_1252_bytes_decodes_both() -> None:
    data = "Email,Name\na@b.example,Jürgen\n".encode() + "b@b.example,Zoë\n".encode("cp1252")
    parsed = read_table(data, "mixed.csv")
    assert parsed.encoding == "utf-8+cp1252" and parsed.frame["Name"].tolist() == ["Jürgen", "Zoë"]


def test_utf16_with_bom_tab_separated() -> None:
    parsed = read_table(read("utf16.txt"), "utf16.txt")
    assert parsed.encoding == "utf-16" and parsed.delimiter == "\t"
    leads = prepare(parsed, parsed.column_map).leads
    assert [(lead["first_name"], lead["last_name"], lead["score"]) for lead in leads] == [
        ("Zoë", "Clarke", 91),
        ("伟", "李", 64),
    ]


def test_semicolon_file_with_german_headers() -> None:
    parsed = read_table(read("semicolon.csv"), "semicolon.csv")
    assert parsed.delimiter == ";"
    leads = prepare(parsed, parsed.column_map).leads
    assert [(lead["first_name"], lead["score"], lead["tier"]) for lead in leads] == [
        ("Łukasz", 73, "WARM"),
        ("Jiří", 88, "HOT"),
    ]


def test_excel_sep_hint_names_the_delimiter() -> None:
    parsed = read_table(b"sep=;\r\nEmail;Company\r\na@b.example;Smith, Jones & Co\r\n", "hint.csv")
    assert parsed.delimiter == ";" and parsed.headers == ["Email", "Company"]
    assert prepare(parsed, parsed.column_map).leads[0]["company"] == "Smith, Jones & Co"


def test_utf8_bom_is_not_part_of_the_first_header() -> None:
    parsed = read_table("\ufeffEmail,Name\na@b.example,Zoë\n".encode(), "bom.csv")
    assert parsed.headers == ["Email", "Name"] and parsed.encoding == "utf-8-sig"


def test_xlsx_first_sheet_cells_as_excel_shows_them() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Email", "First Name", "Lead Score", "Phone", "Registered", None])
    sheet.append(["jose@banco.example", "José", 87.0, 4155550100, datetime(2025, 9, 1), None])
    sheet.append([None, None, None, None, None, None])
    sheet.append(["li@jade.example", "李", 64, None, date(2025, 9, 2), None])
    workbook.create_sheet("Ignored").append(["Email"])
    buffer = io.BytesIO()
    workbook.save(buffer)

    parsed = read_table(buffer.getvalue(), "leads.xlsx")

    assert parsed.format == "xlsx" and parsed.headers == [
        "Email",
        "First Name",
        "Lead Score",
        "Phone",
        "Registered",
    ]
    prepared = prepare(parsed, parsed.column_map)
    assert [(lead["row_number"], lead["first_name"], lead["score"]) for lead in prepared.leads] == [
        (1, "José", 87),
        (3, "李", 64),
    ]
    assert prepared.leads[0]["phone"] == "4155550100"
    assert prepared.leads[0]["extra"] == {"Registered": "2025-09-01"}


def test_xlsx_declared_size_is_ignored_only_real_cells_are_read() -> None:
    workbook = openpyxl.Workbook()
    workbook.active.append(["Email", "Name"])
    workbook.active.append(["a@b.example", "Anna"])
    workbook.active["B50"] = "late"
    buffer = io.BytesIO()
    workbook.save(buffer)
    # Some generators declare the whole grid; read naively, that is a million rows of 16,384 cells.
    patched = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source, zipfile.ZipFile(patched, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = re.sub(rb'<dimension ref="[^"]+"', b'<dimension ref="A1:XFD1048576"', content)
            target.writestr(item, content)

    rows = read_xlsx_rows(patched.getvalue(), "grid.xlsx", max_bytes=2**20)

    assert len(rows) == 50 and {len(cells) for _number, cells in rows} == {2}
    parsed = read_table(patched.getvalue(), "grid.xlsx")
    assert parsed.frame.index.tolist() == [1, 49]  # Excel rows 2 and 50, under the header in row 1


# --- whole-file refusals: a clear sentence, and nothing written --------------------------------------


def zip_without_workbook() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    return buffer.getvalue()


REFUSALS = [
    pytest.param(b"", "is empty", id="empty"),
    pytest.param(b" \r\n\r\n", "is empty", id="whitespace"),
    pytest.param(b"Email,First Name\r\n", "no data rows", id="header-only"),
    pytest.param(b"Email,First Name\r\n,\r\n\r\n", "no data rows", id="header-and-blank-rows"),
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(64), "binary data", id="png"),
    pytest.param(bytes(range(256)) * 4, "binary data", id="binary-junk"),
    pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "Excel 97-2003", id="old-xls"),
    pytest.param(b"PK\x03\x04 broken zip", "not a readable XLSX", id="broken-zip"),
    pytest.param(zip_without_workbook(), "not a readable XLSX", id="zip-not-xlsx"),
    pytest.param(
        b" Email ,Name,email\na@b.example,A,a@b.example\n", '"email" (columns 1 and 3)', id="dup-headers"
    ),
    pytest.param(b"Name,Company\nAnna,Acme\n", "No email column found", id="no-email-column"),
    pytest.param(
        b"Email,Name\na@b.example,Anna\nb@b.example,Bob,extra,cells\n", "Row 2 (line 3)", id="ragged-row"
    ),
    pytest.param(b'Email,Name\na@b.example,"Anna\n', "Line 2", id="unterminated-quote"),
    pytest.param(b'Email,Name\na@b.example,"Anna"x\n', "quote", id="bad-quote"),
]


@pytest.mark.parametrize(("data", "fragment"), REFUSALS)
def test_unusable_files_are_refused_clearly_and_nothing_is_written(
    sqlite_database: Database, data: bytes, fragment: str
) -> None:
    with pytest.raises(ImportRefused) as refused:
        import_bytes(sqlite_database, data, "upload.csv")
    assert fragment in refused.value.message
    assert refused.value.message.endswith(".")  # a sentence, not a repr
    assert counts(sqlite_database) == (0, 0)


def test_a_file_above_the_size_limit_is_refused_before_parsing(sqlite_database: Database) -> None:
    # 50 MB of data rows that would all parse: the refusal comes from the size alone.
    line = b"someone@example-domain.example,Somebody Else\n"
    data = (b"Email,Name\n" + line * (50 * 2**20 // len(line) + 1))[: 50 * 2**20]

    with pytest.raises(ImportRefused) as refused:
        import_bytes(sqlite_database, data, "huge.csv")

    assert refused.value.message.startswith("huge.csv is 50.0 MB; the limit is 25.0 MB.")
    assert counts(sqlite_database) == (0, 0)
    with pytest.raises(ImportRefused, match=r"the limit is 1\.0 MB"):
        read_table(data[: 2 * 2**20], "big.csv", max_bytes=2**20)


def test_a_100_kb_cell_is_reported_not_truncated(sqlite_database: Database) -> None:
    note = "n" * 100 * 1024
    data = f"Email,First Name,Notes\na@b.example,Anna,{note}\nb@b.example,{note},short\nc@b.example,Cy,ok\n"
    parsed = read_table(data.encode(), "notes.csv")
    prepared = prepare(parsed, parsed.column_map)

    assert [lead["email"] for lead in prepared.leads] == ["c@b.example"]
    notes, name = prepared.problems
    assert (notes.row, notes.code, name.row, name.code) == (1, "VALUE_TOO_LONG", 2, "VALUE_TOO_LONG")
    assert '"Notes" is 102,400 characters' in notes.message and "65,536" in notes.message
    assert "First name is 102,400 characters" in name.message
    assert len(notes.message) < 300  # the value itself is never echoed back


# --- column maps corrected by hand --------------------------------------------------------------------


def test_prepare_follows_a_corrected_map() -> None:
    parsed = read_table(b"Contact,Org,Notes\na@b.example,Acme,vip\n", "x.csv")
    assert parsed.column_map == {"Contact": "email", "Org": "company", "Notes": None}
    lead = prepare(parsed, {"Contact": "email", "Org": None, "Notes": "title"}).leads[0]
    assert lead["company"] is None and lead["title"] == "vip" and lead["extra"] == {"Org": "Acme"}


@pytest.mark.parametrize(
    ("column_map", "fragment"),
    [
        ({"Contact": "email", "Org": "email"}, 'Both "Contact" and "Org" are mapped to email'),
        ({"Contact": None}, "No column is mapped to email"),
        ({"Contact": "email", "Missing": "title"}, "does not have: Missing"),
        ({"Contact": "email", "Org": "favourite"}, "not a lead field"),
    ],
)
def test_prepare_refuses_a_broken_map(column_map: dict[str, str | None], fragment: str) -> None:
    parsed = read_table(b"Contact,Org\na@b.example,Acme\n", "x.csv")
    with pytest.raises(ImportRefused, match=fragment):
        prepare(parsed, column_map)


def test_lenient_emails_keep_an_invalid_address_as_typed() -> None:
    parsed = read_table(b"Email,Name\nnot an email,Anna\n", "demo.csv")
    assert prepare(parsed, parsed.column_map).problems[0].code == "INVALID_EMAIL"
    lenient = prepare(parsed, parsed.column_map, strict_emails=False)
    assert lenient.problems == [] and lenient.leads[0]["email"] == "not an email"


# --- import_campaign -----------------------------------------------------------------------------------


def test_import_campaign_inserts_the_campaign_and_its_leads(session: Session) -> None:
    parsed = read_table(read("messy.csv"), "messy.csv")
    prepared = prepare(parsed, parsed.column_map)

    report = import_campaign(session, name=" Q3 fair ", prepared=prepared, source_detail="messy.csv")

    assert (report.imported, report.total_rows, len(report.problems)) == (4, 13, 9)
    campaign = session.get(Campaign, report.campaign_id)
    assert campaign is not None
    expected = ("Q3 fair", "import", "messy.csv", "active")
    assert (campaign.name, campaign.source, campaign.source_detail, campaign.status) == expected
    rows = session.execute(
        select(Lead.row_number, Lead.email, Lead.score, Lead.tier, Lead.extra)
        .where(Lead.campaign_id == report.campaign_id)
        .order_by(Lead.row_number)
    ).all()
    assert [tuple(row) for row in rows] == [
        (3, "carol@initech.example", 42, "COOL", {}),
        (4, "Anna.Schmidt@ACME.example", 90, "HOT", {"Notes": "updated title", "Campaign Source": "fair"}),
        (11, "ivan@stark.example", None, None, {}),
        (12, "bob@example-corp.example", 61, "WARM", {"Campaign Source": "webinar"}),
    ]


def test_a_taken_campaign_name_is_refused_in_any_case(database: Database) -> None:
    import_bytes(database, read("latin1.csv"), "latin1.csv", name="Fair leads")
    before = counts(database)
    with pytest.raises(ImportRefused, match='A campaign named "FAIR LEADS" already exists'):
        import_bytes(database, read("semicolon.csv"), "semicolon.csv", name="FAIR LEADS")
    assert counts(database) == before == (1, 2)


def test_nothing_importable_is_refused_with_the_row_problems(sqlite_database: Database) -> None:
    with pytest.raises(ImportRefused) as refused:
        import_bytes(sqlite_database, b"Email\nnope\n@\n", "bad.csv")
    assert "None of the 2 rows" in refused.value.message
    assert [problem.code for problem in refused.value.problems] == ["INVALID_EMAIL", "INVALID_EMAIL"]
    assert counts(sqlite_database) == (0, 0)


def test_a_failing_insert_leaves_the_database_unchanged(database: Database) -> None:
    parsed = read_table(read("semicolon.csv"), "semicolon.csv")
    good = prepare(parsed, parsed.column_map)
    # A lead the database refuses (past prepare's checks), after the campaign and a first lead are written.
    broken = PreparedImport([*good.leads, {**good.leads[0], "email": "x@y.example", "score": 500}], [], 3)
    with pytest.raises(Exception, match="score_range"), database.begin() as session:
        import_campaign(session, name="Broken", prepared=broken)
    assert counts(database) == (0, 0)
