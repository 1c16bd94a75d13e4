"""A wire-faithful HubSpot emulator (contacts, properties, account info, OAuth) for tests, benchmarks and
sales demos; ``hubspot-api-client`` works against it unchanged. ``crm.sandbox.create("hubspot")`` builds one.
"""

from crm.sandbox.hubspot.app import OBJECT_PREFIXES, PORTAL_ID, PROPERTY_PREFIXES, HubSpotSandbox
from crm.sandbox.hubspot.oauth import CLIENT_ID, CLIENT_SECRET

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "OBJECT_PREFIXES",
    "PORTAL_ID",
    "PROPERTY_PREFIXES",
    "HubSpotSandbox",
]
