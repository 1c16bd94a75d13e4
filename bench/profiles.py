"""The run profiles: ``full`` (the published figures), ``quick`` (one run, small N) and ``smoke`` (tiny N,
short windows: what ``tests/bench/test_bench_smoke.py`` runs through the same harness)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Profile:
    name: str
    sizes: tuple[int, ...]  # N for H1, H2, S1, P(b), P(c)
    latency_ms: float
    # HubSpot tier given to our adapter -> the sandbox's (requests per window, window seconds)
    tiers: dict[str, tuple[int, float]] = field(default_factory=dict)
    per_contact_n: int = 200  # P(a): the per-contact flow is slow by design, so a smaller N
    import_n: int = 100_000  # A: CSV import rows
    page_sizes: tuple[int, ...] = (10_000, 100_000)  # A: Push page rerun hook
    repeat: int = 3
    repeat_large: int | None = None  # runs for N >= LARGE_N; None: same as repeat
    peer_wait: float | None = None  # simple-salesforce bulk2 ``wait``; None: the library's default (5 s)
    child_timeout: float = 1800.0

    def repeats_for(self, n: int) -> int:
        return self.repeat_large if (n >= LARGE_N and self.repeat_large is not None) else self.repeat

    def with_(self, **changes: Any) -> Profile:
        return replace(self, **changes)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sizes": list(self.sizes),
            "latency_ms": self.latency_ms,
            "tiers": {k: {"limit": v[0], "window_s": v[1]} for k, v in self.tiers.items()},
            "per_contact_n": self.per_contact_n,
            "import_n": self.import_n,
            "page_sizes": list(self.page_sizes),
            "repeat": self.repeat,
            "repeat_large": self.repeat_large if self.repeat_large is not None else self.repeat,
            "peer_wait": self.peer_wait,
        }


LARGE_N = 100_000
# HubSpot private-app burst limits (crm-api-notes-hubspot.md, "Rate limits").
HUBSPOT_TIERS = {"professional": (190, 10.0), "starter": (100, 10.0)}

PROFILES: dict[str, Profile] = {
    "full": Profile("full", (1_000, 10_000, 100_000), 50.0, HUBSPOT_TIERS),
    "quick": Profile(
        "quick",
        (1_000,),
        50.0,
        HUBSPOT_TIERS,
        per_contact_n=50,
        import_n=10_000,
        page_sizes=(10_000,),
        repeat=1,
    ),
    "smoke": Profile(
        "smoke",
        (300,),
        5.0,
        {"professional": (50, 1.0), "starter": (25, 1.0)},
        per_contact_n=20,
        import_n=300,
        page_sizes=(300,),
        repeat=1,
        peer_wait=1.0,
        child_timeout=120.0,
    ),
}
