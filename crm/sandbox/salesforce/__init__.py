"""A wire-faithful Salesforce emulator (REST, sObject Collections, SOQL, Bulk API 2.0, OAuth).

``crm.sandbox.create("salesforce", options, base_url)`` builds one; see :mod:`.app` for the org-wide
rules and the other modules for each API family.
"""

from crm.sandbox.salesforce.app import DEFAULT_DAILY_LIMIT, SalesforceSandbox
from crm.sandbox.salesforce.common import DEFAULT_API_VERSION
from crm.sandbox.salesforce.ids import ORG_ID, USER_ID
from crm.sandbox.salesforce.oauth import CLIENT_ID, CLIENT_SECRET

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "DEFAULT_API_VERSION",
    "DEFAULT_DAILY_LIMIT",
    "ORG_ID",
    "USER_ID",
    "SalesforceSandbox",
]
