"""``python -m crm push | fields | status | history`` end to end, against HTTP sandboxes with credentials
from the environment.

The commands run once per module, independent ones in parallel (each CLI start costs seconds), and the
tests below check one behaviour each on the stored results.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pytest
from cli_support import Cli, Result, assert_no_token, call
from sqlalchemy import select

from crm.sandbox.server import SandboxHTTPServer
from data.lead_import import prepare, read_table
from data.models import PushRecord

NA_SAAS = "Demo: North America SaaS decision-makers"  # 102 leads, all fine for HubSpot
FINTECH = "Demo: Fintech webinar attendees"  # 88 leads, one with an invalid email
DACH = "Demo: DACH manufacturing trade-fair leads"  # 85 leads
SUMMARY_KEYS = {
    "run_id", "provider", "dry_run", "total", "created", "updated", "skipped", "failed", "api_calls",
    "seconds", "errors",
}  # fmt: skip
HISTORY_KEYS = {
    "id", "started_at", "finished_at", "provider", "object", "campaign", "state", "dry_run", "total",
    "created", "updated", "skipped", "failed",
}  # fmt: skip
# A file as they come: BOM, CRLF, odd headers, quoted commas and line breaks, any-case tiers, an invalid
# and a missing email, a repeated address (the later row wins), a score out of range, a formula.
MESSY_CSV = (
    "\ufeffE-Mail Address,First,Surname,Organisation,Job Title,Lead Score,Lead Tier\r\n"
    'alice@messy.example,Alice,Able,"Able, Inc.",CEO,88,hot\r\n'
    "not-an-email,Bob,Broken,Broken Co,CTO,70,WARM\r\n"
    ",Nobody,Noemail,None Co,CFO,10,COOL\r\n"
    'carol@messy.example,Carol,"Multi\r\nLine",Carol Co,VP,55,warm\r\n'
    'ALICE@messy.example,Alice,Again,"Able, Inc.",CEO,90,HOT\r\n'
    "dave@messy.example,Dave,Digits,Dave Co,Eng,150,COOL\r\n"
    'erin@messy.example,Erin,Equals,"=HYPERLINK(""x"")",Ops,40,COOL\r\n'
    "frank@messy.example,Frank,Fine,Frank Co,Sales,61,\r\n"
)
CONTACT_MAPPING = {
    "fields": {
        "email": "Email",
        "first_name": "FirstName",
        "last_name": "LastName",
        "city": "MailingCity",
        "title": "Title",
    }
}
TIERS = ("HOT", "WARM", "COOL")


def clean_csv(count: int) -> str:
    lines = ["Email,First Name,Last Name,Company,Lead Score,Lead Tier"]
    lines += [f"c{i}@filters.example,C{i},L{i},Co {i},{i * 7 % 100},{TIERS[i % 3]}" for i in range(count)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def files(module_cli: Cli) -> dict[str, Path]:
    paths = {
        "messy": module_cli.home / "messy export.csv",
        "clean": module_cli.home / "clean.csv",
        "mapping": module_cli.home / "contact-mapping.json",
    }
    paths["messy"].write_bytes(MESSY_CSV.encode("utf-8"))
    paths["clean"].write_text(clean_csv(30), encoding="utf-8")
    paths["mapping"].write_text(json.dumps(CONTACT_MAPPING), encoding="utf-8")
    return paths


@pytest.fixture(scope="module")
def runs(module_cli: Cli, files: dict[str, Path]) -> dict[str, Result]:
    contact = ("--object", "Contact", "--campaign", DACH, "--mapping", str(files["mapping"]))
    filtered = ("--min-score", "50", "--tier", "HOT", "--tier", "warm", "--dry-run")
    first = module_cli.run_many(
        call("push", "hubspot", "--campaign", NA_SAAS, "--json", env={"CRM_LOG_LEVEL": "DEBUG"}),
        call("push", "hubspot", "--campaign", FINTECH, "--json"),
        call("push", "hubspot", "--csv", str(files["messy"]), "--json"),
        call("push", "hubspot", "--csv", str(files["clean"]), *filtered, "--json"),
        call("push", "salesforce", *contact, "--set", "Department=Hannover Messe 2025", "--json"),
        call("fields", "salesforce", "--object", "Contact", "--json"),
    )
    names = ["na", "fintech", "messy", "filtered", "contact", "fields"]
    done = dict(zip(names, first, strict=True))
    na_run = str(done["na"].json()["run_id"])
    second = module_cli.run_many(
        call("status", "hubspot", "--run", na_run, "--json"),
        call("history", "--json"),
        call("push", "salesforce", *contact, "--mode", "create-only", "--force-full"),  # no --json
    )
    done.update(zip(["status", "history", "create_only"], second, strict=True))
    return done


def stored_records(cli: Cli, run_id: int) -> list[PushRecord]:
    ctx = cli.context()
    try:
        with ctx.db.session() as session:
            stmt = select(PushRecord).where(PushRecord.run_id == run_id).order_by(PushRecord.row_index)
            return list(session.scalars(stmt))
    finally:
        ctx.close()


def test_push_prints_one_json_summary_and_exits_0(
    runs: dict[str, Result], cli_servers: dict[str, SandboxHTTPServer]
) -> None:
    result = runs["na"]
    assert result.code == 0, result.show()
    summary = result.json()
    assert set(summary) >= SUMMARY_KEYS
    assert summary["provider"] == "hubspot" and summary["dry_run"] is False and summary["errors"] == []
    assert (summary["total"], summary["created"], summary["failed"]) == (102, 102, 0)
    assert summary["api_calls"] > 0 and summary["seconds"] >= 0
    emails = {c["properties"]["email"].split("@")[1] for c in cli_servers["hubspot"].app.dump()}
    assert "bluefin-logistics.example" in emails


def test_no_output_ever_shows_a_token_even_at_debug_level(runs: dict[str, Result]) -> None:
    assert "DEBUG" in runs["na"].stderr  # debug logging really was on
    assert_no_token(*runs.values())
    assert all("Traceback" not in r.stderr for r in runs.values())


def test_some_rows_failing_exits_1_and_lists_them(runs: dict[str, Result]) -> None:
    result = runs["fintech"]
    assert result.code == 1, result.show()
    summary = result.json()
    assert summary["total"] == 88 and summary["failed"] == 1 and summary["created"] == 87
    [error] = summary["errors"]
    assert error["code"] == "INVALID_EMAIL" and "is not a valid email address" in error["message"]


def test_csv_counts_every_data_row_and_refused_rows_carry_the_import_reason(
    runs: dict[str, Result], module_cli: Cli
) -> None:
    result = runs["messy"]
    summary = result.json()
    data_rows = len(list(csv.reader(io.StringIO(MESSY_CSV.lstrip("\ufeff"))))) - 1
    assert data_rows == 8
    assert (
        summary["created"] + summary["updated"] + summary["skipped"] + summary["failed"] == summary["total"]
    )
    assert summary["total"] == data_rows
    parsed = read_table(MESSY_CSV.encode("utf-8"), "messy export.csv")
    problems = prepare(parsed, parsed.column_map).problems
    assert {p.code for p in problems} >= {"INVALID_EMAIL", "MISSING_EMAIL", "MERGED", "SCORE_OUT_OF_RANGE"}
    failed = {(e["code"], e["message"]) for e in summary["errors"]}
    assert failed == {(p.code, p.message) for p in problems if p.code != "MERGED"}
    assert summary["created"] == data_rows - len(problems) == 4
    merged = [r for r in stored_records(module_cli, summary["run_id"]) if r.error_code == "MERGED"]
    assert [(r.action, r.email) for r in merged] == [("skipped", "alice@messy.example")]
    assert result.code == 1, result.show()  # the refused rows are failures


def test_filters_and_dry_run(runs: dict[str, Result], cli_servers: dict[str, SandboxHTTPServer]) -> None:
    result = runs["filtered"]
    assert result.code == 0, result.show()  # rows left out by a filter are not failures
    summary = result.json()
    kept = [i for i in range(30) if i * 7 % 100 >= 50 and TIERS[i % 3] in ("HOT", "WARM")]
    assert summary["dry_run"] is True and summary["total"] == 30
    assert summary["created"] == len(kept) and summary["skipped"] == 30 - len(kept) and summary["failed"] == 0
    stored = [c["properties"]["email"] for c in cli_servers["hubspot"].app.dump()]
    assert not [e for e in stored if e.endswith("@filters.example")]  # a dry run writes nothing


def test_salesforce_contact_with_a_mapping_file_a_constant_and_modes(
    runs: dict[str, Result], cli_servers: dict[str, SandboxHTTPServer], module_cli: Cli
) -> None:
    first = runs["contact"].json()
    assert runs["contact"].code == 0, runs["contact"].show()
    assert (first["provider"], first["total"], first["created"]) == ("salesforce", 85, 85)
    contacts = cli_servers["salesforce"].app.dump()["Contact"]
    assert len(contacts) == 85
    mueller = next(c for c in contacts if c["Email"] == "juergen.mueller@kesselwerk-schmidt.example")
    assert (mueller["FirstName"], mueller["LastName"], mueller["MailingCity"]) == (
        "Jürgen",
        "Müller",
        "München",
    )
    assert mueller["Department"] == "Hannover Messe 2025"  # --set
    assert mueller["Phone"] is None  # not in the mapping file, though the lead has one

    again = runs["create_only"]  # without --json: a report for people, a progress line on stderr
    assert again.code == 0, again.show()
    assert "to salesforce Contact: completed" in again.stdout and "skipped 85" in again.stdout
    assert "85/85 rows" in again.stderr
    run_id = int(again.stdout.split("#")[1].split()[0])
    codes = Counter(r.error_code for r in stored_records(module_cli, run_id))
    assert codes == {"EXISTS": 85}  # forced past change detection, create-only leaves them


def test_fields_lists_the_objects_fields(runs: dict[str, Result]) -> None:
    assert runs["fields"].code == 0, runs["fields"].show()
    fields = {f["name"]: f for f in runs["fields"].json()}
    assert set(fields["Email"]) == {
        "name", "label", "type", "required", "read_only", "max_length", "options", "unique",
    }  # fmt: skip
    assert fields["Email"]["type"] == "email" and fields["LastName"]["required"] is True
    assert "Department" in fields and "Company" not in fields  # a Contact, not a Lead


def test_status_reads_the_run_back(runs: dict[str, Result]) -> None:
    result = runs["status"]
    assert result.code == 0, result.show()
    assert result.json() == {
        "run_id": runs["na"].json()["run_id"],
        "checked": 102,
        "by_state": {"exists": 102},
        "changed": 0,
    }


def test_history_lists_runs_newest_first(runs: dict[str, Result]) -> None:
    result = runs["history"]
    assert result.code == 0, result.show()
    items = result.json()
    assert all(set(item) >= HISTORY_KEYS for item in items)
    started = [item["started_at"] for item in items]
    assert started == sorted(started, reverse=True)
    first_pushes = {runs[name].json()["run_id"] for name in ("na", "fintech", "messy", "filtered", "contact")}
    assert first_pushes <= {item["id"] for item in items}
    na = next(item for item in items if item["id"] == runs["na"].json()["run_id"])
    assert (na["state"], na["campaign"], na["object"], na["created"]) == (
        "completed",
        NA_SAAS,
        "contacts",
        102,
    )
