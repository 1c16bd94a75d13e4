"""Running ``python -m crm`` as a user would: a subprocess from the repository root, with an isolated
environment (its own SQLite file and keys, credentials pointing at HTTP sandboxes in this process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from crm.sandbox.server import SandboxHTTPServer
from service.context import AppContext
from service.settings import Settings

REPO = Path(__file__).resolve().parents[2]
# Recognisable fake credentials: the sandboxes accept them, and no output may ever contain them.
HUBSPOT_TOKEN = "pat-na1-FAKE7e57-c11a-4b0b-9cafe-babe0000c0de"
SALESFORCE_TOKEN = "00DFAKE0000c11Test!ARcliTestSessionTokenNeverPrintMe"
TOKENS = (HUBSPOT_TOKEN, SALESFORCE_TOKEN)
TIMEOUT = 120  # seconds: only a hung process ever gets near it


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """The one JSON document on stdout (anything else there fails the test)."""
        lines = self.stdout.splitlines()
        assert len(lines) == 1, f"expected one line of JSON on stdout, got {self.stdout!r} ({self.stderr})"
        return json.loads(lines[0])

    def show(self) -> str:
        return f"crm {' '.join(self.args)} -> {self.code}\nstdout: {self.stdout}\nstderr: {self.stderr}"


@dataclass(frozen=True)
class Call:
    """One command line for :meth:`Cli.run_many`, with its stdin and environment changes."""

    args: tuple[str, ...]
    input: str | None = None
    env: Mapping[str, str | None] | None = None  # None as a value removes the variable


def call(*args: str, input: str | None = None, env: Mapping[str, str | None] | None = None) -> Call:
    return Call(args, input, env)


class Cli:
    """One isolated installation: a database file, keys, and credentials for the two sandboxes."""

    def __init__(self, home: Path, servers: Mapping[str, SandboxHTTPServer]) -> None:
        self.home = home
        self.db_path = home / "crm.db"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8",
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            "CRM_SECRET_KEY": Fernet.generate_key().decode(),
            "CRM_COOKIE_KEY": "cookie-key-for-cli-tests-0123456789abcdef",
            "HUBSPOT_BASE_URL": servers["hubspot"].base_url,
            "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
            "SALESFORCE_INSTANCE_URL": servers["salesforce"].base_url,
            "SALESFORCE_ACCESS_TOKEN": SALESFORCE_TOKEN,
        }
        # Migrate and load the demo once here, so parallel commands start on a ready database.
        self.context().close()

    def context(self) -> AppContext:
        """The same installation, in this process (to set up data and to check what commands stored)."""
        return AppContext.build(Settings.load(env=self.env), key_dir=self.home)

    def start(
        self, *args: str, env: Mapping[str, str | None] | None = None, stdin: bool = False
    ) -> subprocess.Popen[str]:
        merged = {**self.env, **(env or {})}
        return subprocess.Popen(
            [sys.executable, "-m", "crm", *args],
            cwd=REPO,
            env={k: v for k, v in merged.items() if v is not None},
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(
        self, *args: str, input: str | None = None, env: Mapping[str, str | None] | None = None
    ) -> Result:
        return self.run_many(Call(args, input, env))[0]

    def run_many(self, *calls: Call) -> list[Result]:
        """Run independent commands at the same time: interpreter start-up dominates each one."""
        started = [(c, self.start(*c.args, env=c.env, stdin=c.input is not None)) for c in calls]
        results = []
        for c, process in started:
            try:
                out, err = process.communicate(c.input, timeout=TIMEOUT)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            results.append(Result(c.args, process.returncode, out, err))
        return results


def assert_no_token(*results: Result) -> None:
    for result in results:
        for token in TOKENS:
            assert token not in result.stdout and token not in result.stderr, result.show()
