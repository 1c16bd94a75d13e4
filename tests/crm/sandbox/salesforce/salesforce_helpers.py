"""Request bodies and recorded-response readers shared by the Salesforce sandbox tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from crm.sandbox.salesforce import DEFAULT_API_VERSION
from crm.sandbox.server import SandboxHTTPServer

# Real responses recorded from Salesforce orgs (see recorded/README.md for their source and licence).
FIXTURES = Path(__file__).resolve().parent / "recorded"
API = f"/services/data/v{DEFAULT_API_VERSION}"
TOKEN = "sandbox-token"
INSTANCE_HOST = "https://orgfarm-sandbox.my.salesforce.test"


class ForwardToSandbox(HTTPAdapter):
    """Rewrites ``https://<instance host>…`` to the sandbox's ``http://127.0.0.1:<port>…``."""

    def __init__(self, https_prefix: str, http_base: str) -> None:
        super().__init__()
        self.https_prefix = https_prefix
        self.http_base = http_base

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        url = request.url or ""
        if url.startswith(self.https_prefix):
            request.url = self.http_base + url[len(self.https_prefix) :]
        return super().send(request, **kwargs)


def forwarding_session(server: SandboxHTTPServer) -> requests.Session:
    session = requests.Session()
    session.mount(INSTANCE_HOST, ForwardToSandbox(INSTANCE_HOST, server.base_url))
    return session


def lead(**fields: Any) -> dict[str, Any]:
    """A valid Lead body; keyword arguments override or add fields."""
    return {"LastName": "Lovelace", "Company": "Analytical Engines", **fields}


def collection(
    records: list[dict[str, Any]], sobject: str = "Lead", all_or_none: bool = False
) -> dict[str, Any]:
    return {"allOrNone": all_or_none, "records": [{"attributes": {"type": sobject}, **r} for r in records]}


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def exchanges(name: str) -> list[dict[str, Any]]:
    """The non-empty request/response pairs of a recorded cassette extract."""
    return [x for x in recorded(name) if x["request"]["method"]]
