"""``python -m crm sandbox hubspot`` as a real process: one ready line, real answers, clean SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[4]


def test_cli_serves_until_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crm", "sandbox", "hubspot", "--port", "0", "--token", "cli-token"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        match = re.fullmatch(r"hubspot sandbox listening on (http://127\.0\.0\.1:\d+)\n", ready)
        assert match, ready
        base_url = match.group(1)
        created = httpx.post(
            f"{base_url}/crm/v3/objects/contacts",
            json={"properties": {"email": "cli@example.com"}},
            headers={"Authorization": "Bearer cli-token"},
            timeout=10,
        )
        assert created.status_code == 201
        assert created.json()["properties"]["email"] == "cli@example.com"
        refused = httpx.get(f"{base_url}/crm/v3/objects/contacts", timeout=10)
        assert refused.status_code == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
