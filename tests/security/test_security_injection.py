"""SOQL (and CSV) injection through lead values, end to end: emails and names full of quotes, backslashes,
``%``, ``_`` and SOQL keywords, pushed through ``service.runs`` into the Salesforce sandbox by sObject
Collections and by Bulk API 2.0. Each changes its own record and nothing else; the sandbox's SOQL parser
never sees a malformed query.

The adapter-level cases (every injection string against ``lookup``, a hypothesis round trip through the
sandbox's SOQL parser) are in tests/crm/test_salesforce_lookup.py; here the whole push path runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from crm import sandbox
from crm.mapping import default_mapping
from crm.sandbox.core import SandboxApp, Stats
from crm.sandbox.salesforce import SalesforceSandbox
from data.crypto import SecretBox
from data.db import Database
from data.models import PushRecord
from service import connections, runs
from service.auth import SYSTEM
from service.context import AppContext
from service.settings import Settings

SECRET_KEY = Fernet.generate_key().decode()
# Records someone else made in the org: a successful injection would read, match or change them.
OTHERS = {
    "victim@example.com": "Victim",
    "y@z.com": "Zed",
    "o'brien@example.com": "O'Brien",
    "axb@example.com": "Axb",  # what "a_b" would match as a LIKE pattern
    "anything@example.com": "Anything",  # what "%" would match
}
EXISTING_INJECTION = "x'or'1'='1@evil.example"  # a legal address, already in the org: it must be updated
# (email, last name): every email is a legal address (RFC 5322 atext allows ' = ! % _ { } | ~ …).
PUSHED = [
    (EXISTING_INJECTION, "Robert'); DELETE FROM Lead;--"),
    ("y'OR'Email'!='@evil.example", "Back\\slash \\' \\\\"),
    ("a_b@example.com", "100% _sure_"),
    ("%@example.com", "Quote \"double\" and 'single'"),
    ("o'brien'--@example.com", 'Comma, "quoted", and\nnewline'),
    ("{|}~!#$&*+/=?^`@evil.example", "x' OR Email != null OR Email = 'y@z.com"),
]
INVALID = ["x' OR Email != null OR Email = 'y@z.com", "victim@example.com' OR '1'='1"]  # spaces: refused


def seed(app: SandboxApp, emails: dict[str, str]) -> dict[str, str]:
    """Records created through the org's own API: {email: id}."""
    records = [
        {"attributes": {"type": "Lead"}, "Email": email, "LastName": last, "Company": "Others Inc"}
        for email, last in emails.items()
    ]
    with httpx.Client(
        transport=sandbox.SandboxTransport(app),
        base_url=app.base_url,
        headers={"Authorization": f"Bearer {app.options.token}"},
    ) as client:
        answer = client.post(
            "/services/data/v62.0/composite/sobjects", json={"allOrNone": True, "records": records}
        )
    assert answer.status_code == 200, answer.text
    with app.lock:
        app.stats = Stats()
    return {email: result["id"] for email, result in zip(emails, answer.json(), strict=True)}


def snapshot(app: SandboxApp) -> dict[str, dict[str, Any]]:
    return {record["Id"]: record for record in app.dump()["Lead"]}


@pytest.fixture
def make_ctx(sqlite_database: Database) -> Callable[..., AppContext]:
    def build(**settings: Any) -> AppContext:
        url = sqlite_database.url.render_as_string(hide_password=False)
        config = Settings(database_url=url, secret_key=SECRET_KEY, cookie_key="c" * 32, **settings)
        return AppContext(settings=config, db=sqlite_database, box=SecretBox(SECRET_KEY), cookie_key="c" * 32)

    return build


@pytest.mark.parametrize("path", ["collections", "bulk"])
def test_injection_through_emails_and_names_changes_only_its_own_record(
    make_ctx: Callable[..., AppContext], path: str
) -> None:
    ctx = make_ctx(bulk_threshold=1 if path == "bulk" else 1_000_000)
    app = sandbox.shared("salesforce")
    assert isinstance(app, SalesforceSandbox)
    assert connections.connect_sandbox(ctx, SYSTEM, "salesforce").ok
    others = seed(app, OTHERS)
    existing = seed(app, {EXISTING_INJECTION: "Before"})[EXISTING_INJECTION]
    before = snapshot(app)
    rows = [
        {"email": email, "first_name": "Eve", "last_name": last, "company": "Evil Corp", "title": f"T{i}"}
        for i, (email, last) in enumerate(PUSHED)
    ] + [{"email": email, "last_name": "Invalid", "company": "Evil Corp"} for email in INVALID]
    request = runs.PushRequest(
        provider="salesforce", object_name="Lead", rows=rows, connection_name="salesforce",
        mapping=default_mapping("salesforce", "Lead"), source_label=f"injection {path}", actor=SYSTEM,
    )  # fmt: skip

    run_id = runs.create(ctx, request)
    runs.execute(ctx, run_id)

    after = snapshot(app)
    assert {i: after[i] for i in others.values()} == {i: before[i] for i in others.values()}, "untouched"
    assert app.stats.by_status[400] == 0, "no query or upload was malformed"
    mine = {r["Email"].lower(): r for r in after.values() if r["Id"] not in others.values()}
    assert set(mine) == {email.lower() for email, _ in PUSHED}, "exactly one record per valid row"
    for i, (email, last) in enumerate(PUSHED):
        record = mine[email.lower()]
        assert (record["LastName"], record["Title"]) == (last, f"T{i}"), email  # stored literally
    assert mine[EXISTING_INJECTION]["Id"] == existing, "the existing record was matched and updated"
    with ctx.db.session() as session:
        stored = session.scalars(select(PushRecord).where(PushRecord.run_id == run_id))
        outcome = {r.email: (r.action, r.error_code) for r in stored}
    expected = {email: ("created", None) for email, _ in PUSHED[1:]}
    expected[EXISTING_INJECTION] = ("updated", None)
    expected.update({email: ("failed", "INVALID_EMAIL") for email in INVALID})
    assert outcome == expected
