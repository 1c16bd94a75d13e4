"""Wire-faithful HubSpot and Salesforce emulators, runnable in-process and as HTTP servers.

``create("hubspot")`` builds an app; wrap it in :class:`SandboxTransport` for in-process use, or hand
it to :func:`crm.sandbox.server.serve`. ``shared("hubspot")`` is the process-wide instance behind the
app's "Sandbox" connections, so a sales demo keeps its records for the life of the app process.
"""

from __future__ import annotations

import threading

from crm.sandbox.core import SandboxApp, SandboxOptions
from crm.sandbox.transport import SandboxTransport

VENDORS = ("hubspot", "salesforce")

_shared: dict[str, SandboxApp] = {}
_shared_lock = threading.Lock()


def create(vendor: str, options: SandboxOptions | None = None, base_url: str | None = None) -> SandboxApp:
    if vendor == "hubspot":
        from crm.sandbox.hubspot import HubSpotSandbox

        return HubSpotSandbox(options, base_url or "https://api.hubapi.sandbox")
    if vendor == "salesforce":
        from crm.sandbox.salesforce import SalesforceSandbox

        return SalesforceSandbox(options, base_url or "https://sandbox.my.salesforce.sandbox")
    raise ValueError(f"unknown sandbox {vendor!r}; choose one of {', '.join(VENDORS)}")


def shared(vendor: str) -> SandboxApp:
    """The process-wide sandbox of ``vendor`` (created on first use)."""
    with _shared_lock:
        if vendor not in _shared:
            _shared[vendor] = create(vendor)
        return _shared[vendor]


__all__ = ["VENDORS", "SandboxApp", "SandboxOptions", "SandboxTransport", "create", "shared"]
