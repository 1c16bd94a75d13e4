"""Every setting the app and CLI read, from the environment or ``st.secrets`` (the UI passes it in).

The environment wins, so a deployment or the CLI can override a checked-in secrets file. A missing
setting never crashes anything: each consumer says what to configure when it needs it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from data.db import resolve_database_url

# name -> what it is for (also the README's configuration table)
KEYS: dict[str, str] = {
    "DATABASE_URL": "PostgreSQL URL for teams; the embedded default is SQLite at data/crm.db",
    "CRM_SECRET_KEY": "Fernet key(s) encrypting credentials at rest; generated into data/secret.key if unset",  # nosec B105 - a description, not a secret
    "CRM_COOKIE_KEY": "key signing the login cookie; generated into data/cookie.key if unset",
    "CRM_QUEUE_URL": "redis://… to run push jobs on RQ workers instead of the app's worker thread",
    "HUBSPOT_CLIENT_ID": "HubSpot OAuth app client id",
    "HUBSPOT_CLIENT_SECRET": "HubSpot OAuth app client secret",  # nosec B105 - a description, not a secret
    "HUBSPOT_REDIRECT_URI": "the app's own URL registered as the HubSpot redirect URI",
    "HUBSPOT_BASE_URL": "HubSpot API host (default https://api.hubapi.com); tests point it at a sandbox",
    "HUBSPOT_APP_URL": "HubSpot app host serving the OAuth consent page (default https://app.hubspot.com)",
    "HUBSPOT_TIER": "free | starter | professional | enterprise | api-limit-increase: sets the rate governor",
    "SALESFORCE_CLIENT_ID": "Salesforce connected app consumer key",
    "SALESFORCE_CLIENT_SECRET": "Salesforce connected app consumer secret (optional with PKCE)",  # nosec B105 - a description, not a secret
    "SALESFORCE_REDIRECT_URI": "the app's own URL registered as the connected app's callback URL",
    "SALESFORCE_LOGIN_HOST": "https://login.salesforce.com (production) or https://test.salesforce.com",
    "CRM_SANDBOX_HUBSPOT_URL": "base URL of a `python -m crm sandbox hubspot` server for Sandbox connections",
    "CRM_SANDBOX_SALESFORCE_URL": "base URL of a `python -m crm sandbox salesforce` server",
    "CRM_BULK_THRESHOLD": "rows from which Salesforce pushes use Bulk API 2.0 (default 2000)",
    "CRM_CONCURRENCY": "batches in flight at once per push (default 4 HubSpot, 8 Salesforce)",
}


def _lookup(name: str, env: Mapping[str, str], secrets: Mapping[str, Any] | None) -> str | None:
    value = env.get(name)
    if value is None and secrets is not None:
        try:
            raw = secrets.get(name)
        except (FileNotFoundError, KeyError):  # st.secrets raises when there is no secrets.toml
            raw = None
        value = None if raw is None else str(raw)
    value = value.strip() if value else None
    return value or None


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str | None = None
    cookie_key: str | None = None
    queue_url: str | None = None
    hubspot_client_id: str | None = None
    hubspot_client_secret: str | None = None
    hubspot_redirect_uri: str | None = None
    hubspot_tier: str = "professional"
    hubspot_base_url: str = "https://api.hubapi.com"
    hubspot_app_url: str = "https://app.hubspot.com"
    salesforce_client_id: str | None = None
    salesforce_client_secret: str | None = None
    salesforce_redirect_uri: str | None = None
    salesforce_login_host: str = "https://login.salesforce.com"
    sandbox_hubspot_url: str | None = None
    sandbox_salesforce_url: str | None = None
    bulk_threshold: int = 2000
    concurrency: int | None = None

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            return _lookup(name, env, secrets)

        return cls(
            database_url=resolve_database_url(env, secrets),
            secret_key=get("CRM_SECRET_KEY"),
            cookie_key=get("CRM_COOKIE_KEY"),
            queue_url=get("CRM_QUEUE_URL"),
            hubspot_client_id=get("HUBSPOT_CLIENT_ID"),
            hubspot_client_secret=get("HUBSPOT_CLIENT_SECRET"),
            hubspot_redirect_uri=get("HUBSPOT_REDIRECT_URI"),
            hubspot_tier=get("HUBSPOT_TIER") or "professional",
            hubspot_base_url=get("HUBSPOT_BASE_URL") or "https://api.hubapi.com",
            hubspot_app_url=get("HUBSPOT_APP_URL") or "https://app.hubspot.com",
            salesforce_client_id=get("SALESFORCE_CLIENT_ID"),
            salesforce_client_secret=get("SALESFORCE_CLIENT_SECRET"),
            salesforce_redirect_uri=get("SALESFORCE_REDIRECT_URI"),
            salesforce_login_host=get("SALESFORCE_LOGIN_HOST") or "https://login.salesforce.com",
            sandbox_hubspot_url=get("CRM_SANDBOX_HUBSPOT_URL"),
            sandbox_salesforce_url=get("CRM_SANDBOX_SALESFORCE_URL"),
            bulk_threshold=int(get("CRM_BULK_THRESHOLD") or 2000),
            concurrency=int(c) if (c := get("CRM_CONCURRENCY")) else None,
        )

    def missing_oauth(self, provider: str) -> list[str]:
        """The settings an OAuth connection to ``provider`` still needs (empty when it can start)."""
        if provider == "hubspot":
            wanted = {
                "HUBSPOT_CLIENT_ID": self.hubspot_client_id,
                "HUBSPOT_CLIENT_SECRET": self.hubspot_client_secret,
                "HUBSPOT_REDIRECT_URI": self.hubspot_redirect_uri,
            }
        else:
            wanted = {
                "SALESFORCE_CLIENT_ID": self.salesforce_client_id,
                "SALESFORCE_REDIRECT_URI": self.salesforce_redirect_uri,
            }
        return [name for name, value in wanted.items() if not value]
