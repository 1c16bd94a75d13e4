"""A rate governor whose rolling window lives in Redis, so every worker pushing to one CRM account shares it.

:class:`crm.governor.RollingWindowGovernor` keeps a push under HubSpot's ``TEN_SECONDLY_ROLLING`` limit
inside one process. Two queue workers pushing to the same portal would each allow the whole limit, and
together draw 429s. :class:`RedisGovernor` has the same methods (``acquire``, ``release``, ``backoff``)
with its state in Redis:

* a sorted set per account of the sends in the current window, scored by the Redis server's clock (one
  clock for every worker, whatever host it runs on), at the send and again at its answer (``release``).
  One Lua script trims the set, counts it and adds the send, atomically, or answers how long to wait, so
  no two workers can both take the last slot;
* a pause key per account: ``backoff`` (the CRM answered 429 anyway) holds every worker, not only the
  one that was refused.

Both keys carry one hash tag, so the script also runs on Redis Cluster. If Redis cannot be reached, the
governor falls back to an in-process window with the same limit (logged): a push keeps going, at worst
drawing a few 429s that the retry policy absorbs, instead of failing. It asks Redis again every
``OUTAGE_RETRY_SECONDS``, so an outage costs one connection timeout per interval, not one per call.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable

from redis import Redis
from redis.exceptions import RedisError

from crm.governor import DEFAULT_MARGIN, RollingWindowGovernor

log = logging.getLogger("service.redis_governor")

OUTAGE_RETRY_SECONDS = 10.0  # after Redis failed, ask it again this long after (not on every call)

# KEYS[1]: sorted set of sends (member: a unique id, score: server time in ms); KEYS[2]: pause-until (ms).
# ARGV[1]: limit; ARGV[2]: window in ms; ARGV[3]: this send's unique id.
# Returns 0 when the send may go (it is counted), else how many ms to wait before asking again.
ACQUIRE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then
  return paused - now
end
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
return math.max(oldest + window - now, 1)
"""

# KEYS[1]: sorted set of sends; ARGV[1]: a send's id. Re-stamps an admitted send with the time its answer
# came (the CRM counted it no later), unless the window has dropped it already.
RELEASE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
"""

# KEYS[1]: pause-until (ms). ARGV[1]: the pause in ms. A shorter pause never cuts a longer one short.
BACKOFF_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local resume_at = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if resume_at > current then
  redis.call('SET', KEYS[1], resume_at, 'PX', ARGV[1])
end
return resume_at
"""


class RedisGovernor:
    """At most ``limit`` sends in any ``window`` (+ margin) seconds per ``key``, across every process
    using the same Redis. ``key`` names the CRM account (e.g. ``crm-push:hubspot:12345678``)."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        limit: int,
        window: float,
        margin: float = DEFAULT_MARGIN,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        self.redis = redis
        self.key = key
        self.limit = limit
        self.window = window + margin
        self._window_ms = math.ceil(self.window * 1000)
        self._sleep = sleep
        self._sent_key = f"{{{key}}}:sent"  # one hash tag: both keys live on one Cluster slot
        self._pause_key = f"{{{key}}}:pause"
        self._acquire = redis.register_script(ACQUIRE_SCRIPT)
        self._backoff = redis.register_script(BACKOFF_SCRIPT)
        self._release = redis.register_script(RELEASE_SCRIPT)
        self._thread = threading.local()  # the id of this thread's admitted send, until released
        self._local = RollingWindowGovernor(limit, window, margin=margin, sleep=sleep)
        self._clock = clock
        self._degraded = False
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until one call may be sent; return the seconds waited."""
        waited = 0.0
        while True:
            if self._in_outage():
                return waited + self._local.acquire()
            send_id = uuid.uuid4().hex
            try:
                delay_ms = int(
                    self._acquire(
                        keys=[self._sent_key, self._pause_key], args=[self.limit, self._window_ms, send_id]
                    )
                )
            except RedisError as exc:
                self._note_outage(exc)
                return waited + self._local.acquire()
            self._note_recovered()
            if delay_ms <= 0:
                self._thread.send_id = send_id
                return waited
            delay = delay_ms / 1000
            self._sleep(delay)
            waited += delay

    def release(self) -> None:
        """Re-stamp this thread's admitted send with its answer's time (in Redis, or locally in an outage)."""
        send_id = getattr(self._thread, "send_id", None)
        self._thread.send_id = None
        if send_id is None:
            self._local.release()
            return
        try:
            self._release(keys=[self._sent_key], args=[send_id])
        except RedisError as exc:
            self._note_outage(exc)

    def backoff(self, seconds: float) -> None:
        """The CRM throttled a call anyway: hold every worker on this account for ``seconds``."""
        if seconds <= 0:
            return
        if self._in_outage():
            self._local.backoff(seconds)
            return
        try:
            self._backoff(keys=[self._pause_key], args=[math.ceil(seconds * 1000)])
        except RedisError as exc:
            self._note_outage(exc)
            self._local.backoff(seconds)

    def _in_outage(self) -> bool:
        with self._lock:
            return self._degraded and self._clock() < self._retry_at

    def _note_outage(self, exc: RedisError) -> None:
        with self._lock:
            first, self._degraded = not self._degraded, True
            self._retry_at = self._clock() + OUTAGE_RETRY_SECONDS
        if first:
            log.warning(
                "rate governor %s: Redis unreachable (%s); limiting this process alone until it is back",
                self.key,
                type(exc).__name__,
            )

    def _note_recovered(self) -> None:
        if self._degraded:
            with self._lock:
                self._degraded = False
            log.info("rate governor %s: Redis is back; the limit is shared again", self.key)
