"""An analyst cannot change connections, users, campaigns or the CRM's schema, even by calling the
functions behind the pages directly: each raises ``PermissionDenied`` and nothing changes, not one cell
of one table, not one record or counter in the CRM.

tests/service/test_service_connections.py and test_service_oauth.py check the refusal messages of the
connection and OAuth functions one by one; this walks every admin-only function with the whole database
and the CRM compared before and after, as the analyst they would be.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet
from security_support import database_text

from crm import sandbox
from data import users
from data.crypto import SecretBox
from data.db import Database
from data.demo import load_demo
from data.leads import list_campaigns
from service import connections, oauth_flow, push_mapping
from service.auth import Actor, PermissionDenied
from service.context import AppContext
from service.settings import Settings
from ui import campaigns
from ui import users as user_admin

SECRET_KEY = Fernet.generate_key().decode()
ADMIN = Actor("ada", "admin")
ANALYST = Actor("ann", "analyst")
PASSWORD = "correct horse battery staple"


@pytest.fixture
def ctx(sqlite_database: Database, monkeypatch: pytest.MonkeyPatch) -> AppContext:
    monkeypatch.setattr(users, "BCRYPT_ROUNDS", 4)
    settings = Settings(
        database_url=sqlite_database.url.render_as_string(hide_password=False),
        secret_key=SECRET_KEY,
        cookie_key="k" * 32,
        hubspot_client_id="sandbox-client-id",
        hubspot_client_secret="sandbox-client-secret",
        hubspot_redirect_uri="http://localhost:8501/",
    )
    context = AppContext(
        settings=settings, db=sqlite_database, box=SecretBox(SECRET_KEY), cookie_key="k" * 32
    )
    with sqlite_database.begin() as session:
        load_demo(session)
        users.create_user(session, username="ada", password=PASSWORD, role="admin", display_name="Ada")
        users.create_user(session, username="ann", password=PASSWORD, role="analyst", display_name="Ann")
    assert connections.connect_sandbox(context, ADMIN, "hubspot").ok
    return context


def admin_only_calls(ctx: AppContext) -> dict[str, Callable[[], Any]]:
    with ctx.db.session() as session:
        campaign = list_campaigns(session)[0]
    url = sandbox.shared("salesforce").base_url
    return {
        "connections.save": lambda: connections.save(
            ctx, ANALYST, "hubspot", "private_app", {"access_token": "pat-na1-x"}, {}
        ),
        "connections.connect_sandbox": lambda: connections.connect_sandbox(ctx, ANALYST, "salesforce"),
        "connections.connect_hubspot_token": lambda: connections.connect_hubspot_token(
            ctx, ANALYST, "pat-na1-0000"
        ),
        "connections.connect_salesforce_token": lambda: connections.connect_salesforce_token(
            ctx, ANALYST, url, "00Dx!token"
        ),
        "connections.connect_salesforce_client_credentials": (
            lambda: connections.connect_salesforce_client_credentials(ctx, ANALYST, url, "id", "secret")
        ),
        "connections.disconnect": lambda: connections.disconnect(ctx, ANALYST, "hubspot"),
        "oauth_flow.start": lambda: oauth_flow.start(ctx, ANALYST, "hubspot"),
        "oauth_flow.finish": lambda: oauth_flow.finish(ctx, ANALYST, "hubspot", "code", "state"),
        "push_mapping.create_score_properties": lambda: push_mapping.create_score_properties(
            ctx, ANALYST, ["score", "tier"]
        ),
        "users.list_users": lambda: user_admin.list_users(ctx, ANALYST),
        "users.add_user": lambda: user_admin.add_user(
            ctx, ANALYST, username="mallory", display_name="M", role="admin", passwords=[PASSWORD, PASSWORD]
        ),
        "users.change_role (of self, to admin)": lambda: user_admin.change_role(ctx, ANALYST, "ann", "admin"),
        "users.change_role (of the admin)": lambda: user_admin.change_role(ctx, ANALYST, "ada", "analyst"),
        "users.reset_password": lambda: user_admin.reset_password(
            ctx, ANALYST, "ada", ["pwned!!!", "pwned!!!"]
        ),
        "users.remove_user": lambda: user_admin.remove_user(ctx, ANALYST, "ada"),
        "campaigns.remove_campaign": lambda: campaigns.remove_campaign(ctx, ANALYST, campaign),
    }


def test_an_analyst_changes_nothing_whatever_they_call(ctx: AppContext) -> None:
    crm_apps = [sandbox.shared(vendor) for vendor in sandbox.VENDORS]
    for app in crm_apps:
        app.stats.requests = 0
    before = sorted(database_text(ctx.db))
    crm_before = [(app.dump(), app.stats.requests) for app in crm_apps]

    outcomes: dict[str, str] = {}
    for name, call in admin_only_calls(ctx).items():
        try:
            call()
        except PermissionDenied as refused:
            outcomes[name] = str(refused)
        else:
            outcomes[name] = "ALLOWED"

    assert {name: "Only an admin can" in said for name, said in outcomes.items()} == dict.fromkeys(
        outcomes, True
    ), outcomes
    assert all("ann is an analyst" in said for said in outcomes.values())
    assert sorted(database_text(ctx.db)) == before, "not one cell changed"
    assert [(app.dump(), app.stats.requests) for app in crm_apps] == crm_before, "no call reached a CRM"
