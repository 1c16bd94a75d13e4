"""RedisGovernor: the rolling window and the pause of one CRM account live in Redis, so every thread of
every worker process shares them."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from queue_support import REPO
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from service.redis_governor import OUTAGE_RETRY_SECONDS, RedisGovernor

pytestmark = pytest.mark.redis

LIMIT, WINDOW, MARGIN = 4, 0.3, 0.3  # the governor holds 4 sends per 0.6 s; checked against 0.3 s
OTHER_PROCESS = textwrap.dedent(
    """
    import sys, time
    from redis import Redis
    from service.redis_governor import RedisGovernor

    url, key, go, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    redis = Redis.from_url(url)
    governor = RedisGovernor(redis, key, {limit}, {window}, margin={margin})
    print("ready", flush=True)
    redis.blpop([go], timeout=60)
    for _ in range(count):
        governor.acquire()
        print(time.time(), flush=True)
    """
).format(limit=LIMIT, window=WINDOW, margin=MARGIN)


class _Asked(Exception):
    """Raised by a sleep stand-in: the governor asked to wait."""


def _record_and_stop(asked: list[float]) -> object:
    def sleep(seconds: float) -> None:
        asked.append(seconds)
        raise _Asked

    return sleep


def test_never_more_than_the_limit_in_any_window_across_threads_and_processes(
    redis_url: str, redis_conn: Redis, queue_name: str
) -> None:
    key, go = f"{queue_name}:hubspot:1", f"{queue_name}:go"
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_PROCESS, redis_url, key, go, "8"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "ready"
        governor = RedisGovernor(redis_conn, key, LIMIT, WINDOW, margin=MARGIN)
        stamps: list[float] = []
        lock = threading.Lock()

        def send(times: int) -> None:
            for _ in range(times):
                governor.acquire()
                with lock:
                    stamps.append(time.time())

        threads = [threading.Thread(target=send, args=(4,)) for _ in range(3)]
        redis_conn.rpush(go, 1)  # both processes start together
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        out, _ = other.communicate(timeout=60)
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
    stamps += [float(line) for line in out.split()]

    assert len(stamps) == 12 + 8
    stamps.sort()
    busiest = max(sum(1 for t in stamps if start <= t < start + WINDOW) for start in stamps)
    assert busiest <= LIMIT
    assert busiest == LIMIT  # and the window was used, not merely avoided


def test_a_full_window_makes_every_worker_wait_and_other_accounts_not(
    redis_conn: Redis, queue_name: str
) -> None:
    asked: list[float] = []
    key = f"{queue_name}:hubspot:1"
    mine = RedisGovernor(redis_conn, key, 3, 60.0, margin=0.5, sleep=_record_and_stop(asked))  # type: ignore[arg-type]
    theirs = RedisGovernor(redis_conn, key, 3, 60.0, margin=0.5, sleep=_record_and_stop(asked))  # type: ignore[arg-type]
    assert [mine.acquire(), theirs.acquire(), mine.acquire()] == [0.0, 0.0, 0.0]
    with pytest.raises(_Asked):
        theirs.acquire()
    assert 30.0 < asked[0] <= 60.5  # until the first send leaves the window (60 s + margin)
    other_account = RedisGovernor(
        redis_conn, f"{queue_name}:hubspot:2", 3, 60.0, sleep=_record_and_stop(asked)
    )  # type: ignore[arg-type]
    assert other_account.acquire() == 0.0
    assert len(asked) == 1


def test_release_restamps_the_send_with_the_answers_time(redis_conn: Redis, queue_name: str) -> None:
    key = f"{queue_name}:hubspot:1"
    governor = RedisGovernor(redis_conn, key, 3, 60.0)
    governor.acquire()
    sent_key = f"{{{key}}}:sent"
    [(member, sent_ms)] = redis_conn.zrange(sent_key, 0, -1, withscores=True)
    time.sleep(0.2)  # the call takes a while: the CRM may have counted it as late as its answer
    governor.release()
    [(same, answered_ms)] = redis_conn.zrange(sent_key, 0, -1, withscores=True)
    assert same == member
    assert answered_ms - sent_ms >= 150
    governor.release()  # nothing open any more: changes nothing
    assert redis_conn.zcard(sent_key) == 1


def test_a_backoff_holds_every_worker_on_the_account(redis_conn: Redis, queue_name: str) -> None:
    asked: list[float] = []
    key = f"{queue_name}:hubspot:1"
    mine = RedisGovernor(redis_conn, key, 100, 10.0, sleep=_record_and_stop(asked))  # type: ignore[arg-type]
    theirs = RedisGovernor(redis_conn, key, 100, 10.0, sleep=_record_and_stop(asked))  # type: ignore[arg-type]
    mine.backoff(30.0)  # the CRM answered 429 to one worker
    with pytest.raises(_Asked):
        theirs.acquire()
    assert 20.0 < asked[0] <= 30.0
    mine.backoff(1.0)  # a shorter pause does not cut the longer one short
    assert redis_conn.pttl(f"{{{key}}}:pause") > 20_000
    assert RedisGovernor(redis_conn, f"{queue_name}:hubspot:2", 100, 10.0).acquire() == 0.0


def test_without_redis_the_governor_limits_this_process_alone(caplog: pytest.LogCaptureFixture) -> None:
    asked: list[float] = []
    now = [0.0]
    governor = RedisGovernor(
        Redis(host="127.0.0.1", port=1),  # never reached: the scripts below stand in for it
        "crm-push:hubspot:1",
        2,
        60.0,
        sleep=_record_and_stop(asked),  # type: ignore[arg-type]
        clock=lambda: now[0],
    )
    tries: list[str] = []

    def down(**_kwargs: object) -> int:
        tries.append("redis")
        raise RedisConnectionError("Connection refused")

    governor._acquire = governor._backoff = down  # type: ignore[assignment]
    with caplog.at_level(logging.INFO, logger="service.redis_governor"):
        assert [governor.acquire(), governor.acquire()] == [0.0, 0.0]  # a push keeps going
        with pytest.raises(_Asked):
            governor.acquire()  # and stays under the limit, counted in this process
        assert asked[0] > 30.0
        governor.backoff(5.0)
        assert tries == ["redis"]  # asked once: not a connection timeout per call

        now[0] += OUTAGE_RETRY_SECONDS
        governor._acquire = lambda **_kwargs: 0  # type: ignore[assignment]
        assert governor.acquire() == 0.0  # Redis is asked again, and shares the limit again
    assert caplog.text.count("Redis unreachable") == 1
    assert "Redis is back" in caplog.text
