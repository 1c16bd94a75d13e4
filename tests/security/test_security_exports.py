"""The results downloads of a real run are formula-safe: no cell of either CSV (the Push page's results,
the History page's records) starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, however
the lead values begin; such values come out with a leading apostrophe, otherwise unchanged.

``service.exports.safe_cell`` itself is unit-tested in tests/service/test_service_exports.py; this is the
end-to-end check, from leads through a push to the bytes a spreadsheet opens.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from cryptography.fernet import Fernet

from crm import sandbox
from crm.mapping import default_mapping
from data.crypto import SecretBox
from data.db import Database
from service import connections, history, push_results, runs
from service.auth import SYSTEM
from service.context import AppContext
from service.exports import FORMULA_PREFIXES
from service.settings import Settings

SECRET_KEY = Fernet.generate_key().decode()
# Legal addresses that a spreadsheet would take for formulas, and values that are no address at all.
VALID = ["=1+1@formula.example", "+15551230000@formula.example", "-2+3@formula.example"]
INVALID = ['=HYPERLINK("http://evil.example","x")', "@SUM(A1:A9)", "+cmd|' /C calc'!A0", "-1+2"]


@pytest.fixture
def ctx(sqlite_database: Database) -> AppContext:
    settings = Settings(
        database_url=sqlite_database.url.render_as_string(hide_password=False),
        secret_key=SECRET_KEY,
        cookie_key="k" * 32,
    )
    return AppContext(settings=settings, db=sqlite_database, box=SecretBox(SECRET_KEY), cookie_key="k" * 32)


def parse(data: bytes) -> list[dict[str, str]]:
    text = data.decode("utf-8")
    assert text.startswith("\ufeff")  # a BOM, so Excel reads UTF-8
    return list(csv.DictReader(io.StringIO(text[1:])))


@pytest.mark.parametrize("provider", ["hubspot", "salesforce"])
def test_both_results_downloads_of_a_real_run_are_formula_safe(ctx: AppContext, provider: str) -> None:
    assert connections.connect_sandbox(ctx, SYSTEM, provider).ok
    object_name = "contacts" if provider == "hubspot" else "Lead"
    rows: list[dict[str, Any]] = [
        {"email": email, "first_name": "=cmd", "last_name": "-Minus", "company": "@Acme", "title": "+T"}
        for email in VALID + INVALID
    ]
    request = runs.PushRequest(
        provider=provider, object_name=object_name, rows=rows, connection_name=provider,
        mapping=default_mapping(provider, object_name), source_label="formulas", actor=SYSTEM,
    )  # fmt: skip
    run_id = runs.create(ctx, request)
    runs.execute(ctx, run_id)
    landed = sandbox.shared(provider).dump()
    assert len(landed if provider == "hubspot" else landed["Lead"]) == len(VALID)  # the real values went

    downloads = {
        "push results": parse(push_results.results_csv(push_results.results_frame(ctx, run_id))),
        "history records": parse(history.records_csv(ctx, run_id, history.RecordQuery(), None)),
    }

    for name, table in downloads.items():
        assert len(table) == len(rows), name
        cells = [cell for row in table for cell in [*row.keys(), *row.values()] if cell]
        assert [cell for cell in cells if cell.startswith(FORMULA_PREFIXES)] == [], name
        assert [row["email"] for row in table] == ["'" + email for email in VALID + INVALID], name
        actions = {row["email"][1:]: row["action"] for row in table}
        assert actions == {**dict.fromkeys(VALID, "created"), **dict.fromkeys(INVALID, "failed")}, name
