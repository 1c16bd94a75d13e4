"""Measuring one timed section: wall time, our CPU, the sandbox's CPU, the sandbox's counters, and our
resident memory when the section starts (the leads already generated), to set against the peak.

The sandbox's CPU seconds (read from ``/proc/<pid>/stat``) are a diagnostic, not part of the bound: the
sandbox handles every call under one lock on one interpreter, so its CPU time is a floor under the wall
time that the bound does not see (the bound assumes the CRM answers in exactly one latency).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from bench.sandboxes import stats, stats_delta


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (Linux ``/proc``); None when unavailable."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def current_rss_mb() -> float | None:
    """This process's resident set now (``VmRSS``), MiB; None when unavailable."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            line = next(line for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[1]) / 1024.0


@dataclass
class Section:
    """``with Section(url, sandbox_pid) as s: …`` then ``s.result()``: the figures of the block."""

    url: str
    sandbox_pid: int | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    def __enter__(self) -> Section:
        self._rss_before = current_rss_mb()
        self._stats = stats(self.url)
        self._sandbox_cpu = process_cpu_seconds(self.sandbox_pid)
        self._cpu = time.process_time()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._wall
        cpu = time.process_time() - self._cpu
        sandbox_cpu = process_cpu_seconds(self.sandbox_pid)
        delta = stats_delta(self._stats, stats(self.url))
        self.figures = {
            "wall_s": wall,
            "client_cpu_s": cpu,
            "sandbox_cpu_s": (
                None if sandbox_cpu is None or self._sandbox_cpu is None else sandbox_cpu - self._sandbox_cpu
            ),
            "rss_before_mb": self._rss_before,
            "calls": delta["requests"],
            "throttled": delta["throttled"],
            "by_route": delta["by_route"],
            "by_status": delta["by_status"],
        }

    def result(self) -> dict[str, Any]:
        return dict(self.figures)
