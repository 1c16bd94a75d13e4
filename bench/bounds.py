"""The bound a workload's wall time is compared with, and medians over repeated runs.

Bound (also in README, "The bound"): with C calls counted by the sandbox, latency λ, concurrency K (calls
in flight at once: the adapter's setting; 1 for a sequential loop or a bulk job), and, where the sandbox
throttles, at most L calls in any rolling window of W seconds:

* rate-limit bound  R = (⌈C / L⌉ − 1) × W + λ — the calls fill ⌈C/L⌉ windows; the last window cannot open
  before (⌈C/L⌉ − 1) × W seconds after the first call, and its last call then takes one latency;
* latency bound     T = C × λ / K — every call takes at least one latency, K at a time;
* bound             B = max(R, T)  (T alone where nothing throttles, i.e. Salesforce).
"""

from __future__ import annotations

import math
import statistics
from typing import Any


def bound(
    calls: float, latency_s: float, concurrency: int, limit: int | None = None, window_s: float | None = None
) -> dict[str, Any]:
    latency_bound = calls * latency_s / max(concurrency, 1)
    rate_bound = None
    if limit and window_s and calls > 0:
        rate_bound = (math.ceil(calls / limit) - 1) * window_s + latency_s
    value = max(latency_bound, rate_bound or 0.0)
    kind = "rate" if rate_bound is not None and rate_bound >= latency_bound else "latency"
    return {"bound_s": value, "kind": kind, "rate_bound_s": rate_bound, "latency_bound_s": latency_bound}


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per field: the median of numbers, recursively for dicts; other values taken from the first run."""
    if not runs:
        return {}
    out: dict[str, Any] = {}
    for key, first in runs[0].items():
        values = [r.get(key) for r in runs]
        if isinstance(first, bool) or not all(isinstance(v, type(first)) for v in values):
            out[key] = first
        elif isinstance(first, int | float):
            out[key] = statistics.median(values)  # type: ignore[type-var]
        elif isinstance(first, dict) and all(isinstance(v, dict) for v in values):
            out[key] = median_of(values)  # type: ignore[arg-type]
        else:
            out[key] = first
    return out
