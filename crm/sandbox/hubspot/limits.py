"""HubSpot's request limits: the rolling burst window, the search API's own secondly limit, the daily
allowance, and the ``X-HubSpot-RateLimit-*`` headers that report them.

Sources: the notes (limits table, header names, 429 bodies), the usage-guidelines page (search: five
requests per second per account, exempt from the burst limit, no rate-limit headers) and
HGData/mk-node-hubspot#84 (the ``SECONDLY`` body). ``Retry-After`` is not sent: the notes could not
verify that HubSpot sends it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from crm.sandbox.core import RollingWindow, SandboxOptions
from crm.sandbox.hubspot.errors import HubSpotError, rate_limited
from crm.sandbox.hubspot.registry import iso

# Shown in the headers when the sandbox runs unthrottled: a Professional private app (notes' table).
DISPLAY_BURST_LIMIT = 190
DISPLAY_DAILY_LIMIT = 650_000
SEARCH_PER_SECOND = 5  # usage guidelines: search is limited to 5 requests per second per account
SEARCH_WINDOW_SECONDS = 1.0

TEN_SECONDLY_MESSAGE = "You have reached your ten_secondly_rolling limit."
SECONDLY_MESSAGE = "You have reached your secondly limit."
DAILY_MESSAGE = "You have reached your daily limit."


class RateLimits:
    """Counts data calls and decides whether one may pass. The caller holds the app lock."""

    def __init__(self, portal_id: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.portal_id = portal_id
        self.clock = clock
        self._burst: RollingWindow | None = None
        self._burst_shape: tuple[int, float] | None = None
        self.search = RollingWindow(SEARCH_PER_SECOND, SEARCH_WINDOW_SECONDS, clock=self._now)
        self.daily_used = 0
        self._day = self._today()

    def _now(self) -> float:
        return self.clock()

    @staticmethod
    def _today() -> str:
        return datetime.now(UTC).date().isoformat()

    def burst(self, options: SandboxOptions) -> RollingWindow:
        """The burst window for the current options (``configure()`` may change them mid-run)."""
        shape = (options.rate_limit or DISPLAY_BURST_LIMIT, options.rate_window)
        if self._burst is None or shape != self._burst_shape:
            self._burst = RollingWindow(shape[0], shape[1], clock=self._now)
            self._burst_shape = shape
        return self._burst

    def daily_limit(self, options: SandboxOptions) -> int:
        return options.daily_limit or DISPLAY_DAILY_LIMIT

    def _roll_day(self) -> None:
        today = self._today()
        if today != self._day:
            self._day, self.daily_used = today, 0

    def admit(self, options: SandboxOptions, *, search: bool, app_key: str) -> HubSpotError | None:
        """Count one call, or return the 429 that refuses it (refused calls are not counted)."""
        self._roll_day()
        if options.daily_limit is not None and self.daily_used >= options.daily_limit:
            group = f"publicapi:{app_key}-api-calls-daily:{self.portal_id}"
            return rate_limited(DAILY_MESSAGE, "DAILY", group)
        if search:
            if not self.search.hit(str(self.portal_id)):
                group = f"publicapi:crm-search-secondly:{self.portal_id}"
                return rate_limited(SECONDLY_MESSAGE, "SECONDLY", group)
        else:
            allowed = self.burst(options).hit(app_key)
            if not allowed and options.rate_limit is not None:
                group = f"publicapi:{app_key}-api-calls-ten-secondly:{self.portal_id}"
                return rate_limited(TEN_SECONDLY_MESSAGE, "TEN_SECONDLY_ROLLING", group)
        self.daily_used += 1
        return None

    def headers(self, options: SandboxOptions, app_key: str) -> dict[str, str]:
        window = self.burst(options)
        daily = self.daily_limit(options)
        return {
            "X-HubSpot-RateLimit-Max": str(window.limit),
            "X-HubSpot-RateLimit-Remaining": str(window.remaining(app_key)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(window.window * 1000)),
            "X-HubSpot-RateLimit-Daily": str(daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(daily - self.daily_used, 0)),
        }

    def usage(self, options: SandboxOptions) -> dict[str, Any]:
        """``GET /account-info/v3/api-usage/daily/private-apps`` (shape from the notes)."""
        self._roll_day()
        now = datetime.now(UTC)
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
        return {
            "results": [
                {
                    "name": "private-apps-api-calls-daily",
                    "usageLimit": self.daily_limit(options),
                    "currentUsage": self.daily_used,
                    "collectedAt": iso(now),
                    "resetsAt": iso(midnight),
                    "fetchStatus": "SUCCESS",
                }
            ]
        }
