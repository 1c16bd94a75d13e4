"""Fixtures for the HubSpot sandbox: an in-process app with an httpx client, a shared HTTP server with the
official ``hubspot-api-client`` pointed at it, and checkers for HubSpot's bodies."""

from __future__ import annotations

import inspect
import json
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from hubspot import HubSpot

from crm.sandbox import SandboxOptions, SandboxTransport, create
from crm.sandbox.hubspot import HubSpotSandbox
from crm.sandbox.server import SandboxHTTPServer, start_in_thread

TOKEN = "sandbox-token"
V3 = "/crm/v3/objects/contacts"
V2026 = "/crm/objects/2026-03/contacts"


class FakeClock:
    """Drives the sandbox's rate windows without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_app(**options: Any) -> HubSpotSandbox:
    app = create("hubspot", SandboxOptions(**{"seed": 11, **options}))
    assert isinstance(app, HubSpotSandbox)
    return app


def make_http(app: HubSpotSandbox, token: str | None = TOKEN) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(transport=SandboxTransport(app), base_url=app.base_url, headers=headers)


@pytest.fixture
def app_factory() -> Callable[..., HubSpotSandbox]:
    """``app_factory(rate_limit=3, ...)``: a fresh sandbox with those options."""
    return make_app


@pytest.fixture
def client_for() -> Callable[..., httpx.Client]:
    """``client_for(app, token=...)``: an in-process httpx client (token None: no Authorization)."""
    return make_http


@pytest.fixture
def app() -> HubSpotSandbox:
    return make_app()


@pytest.fixture
def http(app: HubSpotSandbox) -> Iterator[httpx.Client]:
    with make_http(app) as client:
        yield client


@pytest.fixture
def clock(app: HubSpotSandbox) -> FakeClock:
    fake = FakeClock()
    app.clock = fake
    return fake


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxHTTPServer]:
    srv = start_in_thread(create("hubspot", SandboxOptions(seed=3)))
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def hs(server: SandboxHTTPServer) -> HubSpot:
    """The official client against the HTTP server, on an emptied portal."""
    server.app.reset()
    return HubSpot(access_token=TOKEN, host=server.base_url)


# ----- checkers ------------------------------------------------------------------------------------------
def check_envelope(body: str | bytes | dict[str, Any], category: str) -> dict[str, Any]:
    """HubSpot's error envelope (the spec's Error schema: category, correlationId uuid, message)."""
    data = json.loads(body) if isinstance(body, str | bytes) else body
    assert data["status"] == "error"
    assert data["category"] == category
    assert isinstance(data["message"], str) and data["message"]
    uuid.UUID(data["correlationId"])
    for detail in data.get("errors", []):
        assert isinstance(detail["message"], str)
        for values in detail.get("context", {}).values():
            assert all(isinstance(v, str) for v in values)
    return data


def _required(klass: type) -> set[str]:
    """The attributes whose setter refuses None: the spec's required fields."""
    return set(re.findall(r"client_side_validation and (\w+) is None", inspect.getsource(klass)))


def conforms(data: Any, type_name: str, models: Any, path: str = "$") -> None:
    """Assert ``data`` (parsed JSON) fits the client's generated type ``type_name``."""
    if type_name.startswith("list["):
        assert isinstance(data, list), f"{path}: expected a list"
        for i, item in enumerate(data):
            conforms(item, type_name[5:-1], models, f"{path}[{i}]")
        return
    if type_name.startswith("dict["):
        assert isinstance(data, dict), f"{path}: expected an object"
        inner = type_name[type_name.index(",") + 1 : -1].strip()
        for key, value in data.items():
            if value is not None or inner != "str":  # HubSpot sends null for requested empty properties
                conforms(value, inner, models, f"{path}.{key}")
        return
    simple: dict[str, Callable[[Any], bool]] = {
        "str": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "object": lambda v: True,
        "datetime": lambda v: isinstance(v, str) and bool(datetime.fromisoformat(v.replace("Z", "+00:00"))),
    }
    if type_name in simple:
        assert simple[type_name](data), f"{path}: {data!r} is not a {type_name}"
        return
    klass = getattr(models, type_name)
    assert isinstance(data, dict), f"{path}: expected a {type_name} object"
    for attr in _required(klass):
        key = klass.attribute_map[attr]
        assert key in data and data[key] is not None, f"{path}: {type_name} lacks required {key!r}"
    for attr, attr_type in klass.openapi_types.items():
        key = klass.attribute_map[attr]
        if data.get(key) is not None:
            conforms(data[key], attr_type, models, f"{path}.{key}")


@pytest.fixture
def envelope() -> Callable[[str | bytes | dict[str, Any], str], dict[str, Any]]:
    return check_envelope


@pytest.fixture
def shape() -> Callable[[Any, str, Any], None]:
    return conforms
