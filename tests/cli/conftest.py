"""Fixtures for the CLI tests: HTTP sandboxes in this process, and isolated installations to run
``python -m crm`` against (see ``cli_support``).

* ``cli_servers``: one HubSpot and one Salesforce sandbox over HTTP for the whole session, accepting the
  recognisable fake tokens of ``cli_support``; emptied whenever an installation is made.
* ``cli``: a fresh installation per test; ``module_cli``: one shared by a module's tests (for modules that
  run their commands once, in parallel, and then check the results test by test).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli_support import HUBSPOT_TOKEN, SALESFORCE_TOKEN, Cli

from crm import sandbox
from crm.sandbox.core import SandboxOptions
from crm.sandbox.server import SandboxHTTPServer, start_in_thread


@pytest.fixture(scope="session")
def cli_servers() -> Iterator[dict[str, SandboxHTTPServer]]:
    tokens = {"hubspot": HUBSPOT_TOKEN, "salesforce": SALESFORCE_TOKEN}
    servers = {
        vendor: start_in_thread(sandbox.create(vendor, SandboxOptions(token=token)))
        for vendor, token in tokens.items()
    }
    yield servers
    for server in servers.values():
        server.shutdown()
        server.server_close()


def _reset(servers: dict[str, SandboxHTTPServer]) -> None:
    for server in servers.values():
        server.app.options = SandboxOptions(token=server.app.options.token)
        server.app.reset()


@pytest.fixture
def cli(tmp_path_factory: pytest.TempPathFactory, cli_servers: dict[str, SandboxHTTPServer]) -> Iterator[Cli]:
    _reset(cli_servers)
    yield Cli(tmp_path_factory.mktemp("cli"), cli_servers)
    _reset(cli_servers)


@pytest.fixture(scope="module")
def module_cli(
    tmp_path_factory: pytest.TempPathFactory, cli_servers: dict[str, SandboxHTTPServer]
) -> Iterator[Cli]:
    _reset(cli_servers)
    yield Cli(tmp_path_factory.mktemp("cli"), cli_servers)
    _reset(cli_servers)
