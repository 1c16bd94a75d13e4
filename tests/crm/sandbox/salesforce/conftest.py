"""Fixtures for the Salesforce sandbox: an in-process httpx client, and simple-salesforce over HTTP.

simple-salesforce always builds ``https://`` URLs, so its ``requests`` session gets an adapter
that forwards ``https://<fake instance host>`` to the plain-HTTP sandbox server on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from salesforce_helpers import INSTANCE_HOST, TOKEN, forwarding_session
from simple_salesforce import Salesforce

from crm.sandbox import SandboxTransport, create
from crm.sandbox.core import SandboxOptions
from crm.sandbox.salesforce import DEFAULT_API_VERSION, SalesforceSandbox
from crm.sandbox.server import SandboxHTTPServer, start_in_thread


@pytest.fixture(scope="module")
def sf_server() -> Iterator[SandboxHTTPServer]:
    """One HTTP sandbox per test module (stopping a server costs its poll interval)."""
    server = start_in_thread(create("salesforce", SandboxOptions(seed=11)))
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def served_app(sf_server: SandboxHTTPServer) -> SalesforceSandbox:
    """The served app, emptied and back to default options for each test."""
    app = sf_server.app
    assert isinstance(app, SalesforceSandbox)
    app.configure(**{name: getattr(SandboxOptions(seed=11), name) for name in SandboxOptions.field_names()})
    app.reset()
    return app


@pytest.fixture
def sf(sf_server: SandboxHTTPServer, served_app: SalesforceSandbox) -> Salesforce:
    return Salesforce(
        instance_url=INSTANCE_HOST,
        session_id=TOKEN,
        version=DEFAULT_API_VERSION,
        session=forwarding_session(sf_server),
    )


@pytest.fixture
def app() -> SalesforceSandbox:
    sandbox = create("salesforce", SandboxOptions(seed=7))
    assert isinstance(sandbox, SalesforceSandbox)
    return sandbox


@pytest.fixture
def client(app: SalesforceSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(
        transport=SandboxTransport(app), base_url=app.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as c:
        yield c
