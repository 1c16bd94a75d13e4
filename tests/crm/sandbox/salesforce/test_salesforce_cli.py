"""``python -m crm sandbox salesforce`` as a real process: one ready line, a call, a clean SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]


def test_the_server_serves_and_stops_cleanly_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "crm", "sandbox", "salesforce", "--port", "0", "--daily-limit", "50"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline().strip()
        assert ready.startswith("salesforce sandbox listening on http://127.0.0.1:"), ready
        base_url = ready.rsplit(" ", 1)[1]
        request = urllib.request.Request(  # noqa: S310 - the loopback sandbox we just started
            f"{base_url}/services/data/v68.0/limits", headers={"Authorization": "Bearer sandbox-token"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback sandbox
            assert response.headers["Sforce-Limit-Info"] == "api-usage=1/50"
            assert json.load(response)["DailyApiRequests"] == {"Max": 50, "Remaining": 49}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
