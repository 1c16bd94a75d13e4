"""Client-side rate governors: keep a push under the CRM's published limit, so it normally sees no 429.

A governor is shared by every call to one CRM account (``governor_for``), whatever thread or push makes
the call, because the vendors count per account, not per push. Across processes (queue workers), the
service layer swaps in a Redis-backed governor with the same methods.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

# The CRM counts a call when it arrives, somewhere between our send and its answer. So a call's slot is
# held from the send and, once answered, re-stamped with the answer's time: the CRM counted it no later.
# The margin on top covers clock granularity and scheduling jitter on a busy machine.
DEFAULT_MARGIN = 0.5


class Governor(Protocol):
    def acquire(self) -> float:
        """Block until one call may be sent; return the seconds waited."""
        ...

    def release(self) -> None:
        """The call this thread's last ``acquire`` admitted has its answer (or failed)."""
        ...

    def backoff(self, seconds: float) -> None:
        """The CRM throttled us anyway: hold every caller for ``seconds``."""
        ...


class Unlimited:
    """For CRMs without a per-second limit (Salesforce counts a daily allocation instead)."""

    def acquire(self) -> float:
        return 0.0

    def release(self) -> None:
        return None

    def backoff(self, seconds: float) -> None:
        # Nothing to pause: the caller's retry already waits ``retry_after`` (sleeping here too doubled it).
        return None


class RollingWindowGovernor:
    """At most ``limit`` sends in any ``window`` (+ margin) seconds: HubSpot's TEN_SECONDLY_ROLLING."""

    def __init__(
        self,
        limit: int,
        window: float,
        margin: float = DEFAULT_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window + margin
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()  # every call's stamp, ascending: its send, or its answer
        self._open: deque[float] = deque()  # the send stamps of calls not yet answered
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def _delay(self) -> float:
        """Seconds to wait before a slot is free; takes the slot when it is 0. Caller holds the lock."""
        now = self._clock()
        if self._paused_until > now:
            return self._paused_until - now
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()
        if len(self._sent) < self.limit:
            self._sent.append(now)
            self._open.append(now)
            return 0.0
        return self._sent[0] + self.window - now

    def acquire(self) -> float:
        waited = 0.0
        while True:
            with self._lock:
                delay = self._delay()
            if delay <= 0:
                return waited
            self._sleep(delay)
            waited += delay

    def release(self) -> None:
        with self._lock:
            if not self._open:
                return
            sent = self._open.popleft()  # any open stamp will do: the window only counts stamps
            with contextlib.suppress(ValueError):  # a call slower than the window was trimmed already
                self._sent.remove(sent)
            self._sent.append(self._clock())

    def backoff(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


_registry: dict[str, Governor] = {}
_registry_lock = threading.Lock()


def governor_for(key: str, factory: Callable[[], Governor]) -> Governor:
    """The process-wide governor of one CRM account (``key``), created on first use."""
    with _registry_lock:
        if key not in _registry:
            _registry[key] = factory()
        return _registry[key]


def forget_governors() -> None:
    """Drop every shared governor (tests, or after the tier setting of an account changes)."""
    with _registry_lock:
        _registry.clear()
