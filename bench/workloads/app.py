"""A: the app-side costs — importing a large CSV, and (hook) rerunning the Push page on a large campaign.

``csv_import`` times ``data.lead_import.read_table`` + ``prepare`` + ``import_campaign`` on a fresh,
migrated SQLite database. ``push_page_rerun`` times ``streamlit.testing.v1.AppTest`` reruns of
``views/push.py`` with a campaign of N leads and a HubSpot sandbox connection picked.
"""

from __future__ import annotations

import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.leads import generate_leads, to_csv

ROOT = Path(__file__).resolve().parents[2]
PUSH_PAGE = "views/push.py"


def _database(tmp: str) -> Any:
    from data.db import Database

    db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
    db.upgrade()
    return db


def _import(db: Any, data: bytes, name: str) -> dict[str, Any]:
    from data.lead_import import import_campaign, prepare, read_table

    started = time.perf_counter()
    parsed = read_table(data, "leads.csv")
    read_at = time.perf_counter()
    prepared = prepare(parsed, parsed.column_map)
    prepared_at = time.perf_counter()
    with db.begin() as session:
        report = import_campaign(session, name=name, prepared=prepared)
    finished = time.perf_counter()
    return {
        "wall_s": finished - started,
        "read_s": read_at - started,
        "prepare_s": prepared_at - read_at,
        "insert_s": finished - prepared_at,
        "imported": report.imported,
        "problems": len(report.problems),
        "campaign_id": report.campaign_id,
    }


def csv_import(spec: dict[str, Any]) -> dict[str, Any]:
    """Import ``n`` rows from a CSV export into a new campaign."""
    n = int(spec["n"])
    data = to_csv(generate_leads(n, spec.get("seed", 2024)))
    with tempfile.TemporaryDirectory(prefix="crm-bench-import-") as tmp:
        db = _database(tmp)
        try:
            figures = _import(db, data, "Bench import")
        finally:
            db.dispose()
    return {**figures, "csv_bytes": len(data), "calls": 0}


CAMPAIGN_SELECT_KEY = "push_campaign"
PROVIDER_SELECT_KEY = "push_provider"
MIN_SCORE_KEY = "push_min_score"
EDITOR_KEY_PREFIX = "push_editor_"
RERUNS = 3
RUN_TIMEOUT = 300.0


def push_page_rerun(spec: dict[str, Any]) -> dict[str, Any]:
    """Time AppTest reruns of the Push page with a campaign of ``n`` leads selected (or skip)."""
    n = int(spec["n"])
    from cryptography.fernet import Fernet
    from streamlit.testing.v1 import AppTest

    from data import users
    from data.crypto import SecretBox
    from service.auth import SYSTEM
    from service.connections import connect_sandbox
    from service.context import AppContext
    from service.settings import Settings
    from ui import auth

    with tempfile.TemporaryDirectory(prefix="crm-bench-page-") as tmp:
        os.environ.update(
            DATABASE_URL=f"sqlite:///{Path(tmp) / 'bench.db'}",
            CRM_SECRET_KEY=Fernet.generate_key().decode("ascii"),
            CRM_COOKIE_KEY=secrets.token_urlsafe(32),
        )
        db = _database(tmp)
        name = f"Bench {n} leads"
        _import(db, to_csv(generate_leads(n, spec.get("seed", 2024))), name)
        password = secrets.token_urlsafe(16)
        with db.begin() as session:
            users.create_user(session, username="bench", password=password, role="admin")
        ctx = AppContext(
            settings=Settings.load(),
            db=db,
            box=SecretBox(os.environ["CRM_SECRET_KEY"]),
            cookie_key=os.environ["CRM_COOKIE_KEY"],
        )
        connected = connect_sandbox(ctx, SYSTEM, "hubspot")
        if not connected.ok:
            raise RuntimeError(connected.message)
        db.dispose()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=RUN_TIMEOUT)
        at.secrets = {"crm_bench": "isolated"}  # keeps a developer's secrets.toml out
        at.run()
        login = {f.label: f for f in at.text_input if f.form_id == auth.LOGIN_FORM_KEY}
        login["Username"].input("bench")
        login["Password"].input(password)
        next(b for b in at.button if b.label == auth.LOGIN_FIELDS["Login"]).click().run()
        at.switch_page(PUSH_PAGE).run()
        at.selectbox(key=PROVIDER_SELECT_KEY).select("hubspot").run()
        started = time.perf_counter()
        at.selectbox(key=CAMPAIGN_SELECT_KEY).select(name).run()
        first = time.perf_counter() - started
        shown = [df.key for df in at.dataframe if df.key and df.key.startswith(EDITOR_KEY_PREFIX)]
        if len(shown) != 1:  # time the real page, never an error message
            raise RuntimeError(f"the Push page shows no lead table: {[e.value for e in at.error]}")
        reruns, filtered = [], []
        for i in range(RERUNS):
            started = time.perf_counter()
            at.run()  # a rerun with nothing changed (a click elsewhere, a progress refresh)
            reruns.append(time.perf_counter() - started)
            started = time.perf_counter()
            at.slider(key=MIN_SCORE_KEY).set_value(10 * (i + 1)).run()  # the analyst moves the filter
            filtered.append(time.perf_counter() - started)
        errors = [str(e.value) for e in at.exception]
    return {"skipped": False, "n": n, "wall_s": statistics.median(reruns), "select_s": first,
            "reruns_s": reruns, "filter_s": statistics.median(filtered), "filters_s": filtered,
            "exceptions": errors, "calls": 0}  # fmt: skip
