"""Shared constants and helpers for the Salesforce wire tests (``test_salesforce_wire*.py``): a fake
``https://acme.my.salesforce.com`` instance, its token and fast retries, Salesforce's error array, and an
adapter on that instance (collections only).

Plain helpers only, no fixtures: import what a test needs.
"""

from __future__ import annotations

from typing import Any

from crm.http import RetryPolicy, StaticToken
from crm.salesforce import SalesforceAdapter
from crm.salesforce_wire import DEFAULT_API_VERSION

INSTANCE = "https://acme.my.salesforce.com"
DATA = f"/services/data/v{DEFAULT_API_VERSION}"
TOKEN = "00D5e000000AbCd!AQ0AQFakeSessionForTests"
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01, timeout=5.0)


def error_array(code: str, message: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    return [{"message": message, "errorCode": code, **({"fields": fields} if fields is not None else {})}]


def make(**kwargs: Any) -> SalesforceAdapter:
    settings: dict[str, Any] = {"bulk_threshold": None, "retry": FAST, **kwargs}
    return SalesforceAdapter(StaticToken(TOKEN), INSTANCE + "/", **settings)
