"""The HTTP sandboxes as the benchmark's own subprocesses: ``python -m crm sandbox … --port 0``.

Each sandbox prints one ready line with its URL; we read it, then drive the sandbox only through its
public HTTP endpoints: ``POST /__sandbox/reset`` between runs and ``GET /__sandbox/stats`` to count the
calls a workload made (every data call, throttled ones included) and the 429s it received.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from crm.sandbox.core import SandboxOptions

ROOT = Path(__file__).resolve().parents[1]
TOKEN = SandboxOptions().token  # the static bearer token every sandbox accepts by default
READY = re.compile(r"(\w+) sandbox listening on (http://[^\s]+)")
# A cheap authenticated GET per vendor, for measuring the round trip of one call.
PING = {"hubspot": "/account-info/v3/details", "salesforce": "/services/data/v68.0/limits"}


@dataclass(frozen=True)
class SandboxConfig:
    vendor: str  # "hubspot" | "salesforce"
    latency_ms: float
    rate_limit: int | None = None  # HubSpot burst limit per window; None: unthrottled
    rate_window: float = 10.0
    seed: int = 7

    def argv(self) -> list[str]:
        args = [sys.executable, "-m", "crm", "sandbox", self.vendor, "--port", "0"]
        args += ["--latency-ms", f"{self.latency_ms:g}", "--seed", str(self.seed)]
        if self.rate_limit is not None:
            args += ["--rate-limit", str(self.rate_limit), "--rate-window", f"{self.rate_window:g}"]
        return args

    def describe(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "latency_ms": self.latency_ms,
            "rate_limit": self.rate_limit,
            "rate_window_s": self.rate_window if self.rate_limit is not None else None,
        }


class Sandbox:
    """One running sandbox process; a context manager that stops it (SIGTERM, then kill) on exit."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            config.argv(),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until ready (or the process died: empty line)
        match = READY.search(line)
        if not match:
            self.stop()
            raise RuntimeError(f"sandbox {config.vendor} did not start: {line!r}")
        self.url = match.group(2)
        self.http = httpx.Client(base_url=self.url, timeout=60.0)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        self.http.post("/__sandbox/reset").raise_for_status()

    def stats(self) -> dict[str, Any]:
        return stats(self.url)

    def calibrate(self, count: int = 20) -> dict[str, Any]:
        """Median round trip of ``count`` sequential GETs on one keep-alive connection, against the
        configured latency: what one call really costs here. Resets the sandbox afterwards."""
        path = PING[self.config.vendor]
        headers = {"Authorization": f"Bearer {TOKEN}"}
        times = []
        with httpx.Client(base_url=self.url, headers=headers, timeout=30.0) as client:
            client.get(path).raise_for_status()  # open the connection
            for _ in range(count):
                started = time.perf_counter()
                client.get(path).raise_for_status()
                times.append(time.perf_counter() - started)
        self.reset()
        return {
            "vendor": self.config.vendor,
            "path": path,
            "configured_latency_ms": self.config.latency_ms,
            "round_trip_ms_median": round(statistics.median(times) * 1000, 1),
            "round_trip_ms_min": round(min(times) * 1000, 1),
            "count": count,
        }

    def stop(self) -> None:
        if getattr(self, "http", None) is not None:
            self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def stats(url: str) -> dict[str, Any]:
    """The sandbox's counters (``requests``, ``throttled``, ``by_route``, ``by_status``)."""
    response = httpx.get(f"{url}/__sandbox/stats", timeout=30.0)
    response.raise_for_status()
    return dict(response.json())


def stats_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What happened between two snapshots of :func:`stats`."""
    routes = Counter(after.get("by_route", {}))
    routes.subtract(before.get("by_route", {}))
    statuses = Counter(after.get("by_status", {}))
    statuses.subtract(before.get("by_status", {}))
    return {
        "requests": after["requests"] - before["requests"],
        "throttled": after["throttled"] - before["throttled"],
        "by_route": {k: v for k, v in sorted(routes.items()) if v},
        "by_status": {k: v for k, v in sorted(statuses.items()) if v},
    }
