"""Rate governors: the rolling window under a simulated clock, backoff, and one shared governor per key."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator

import pytest

from crm import governor as governor_module
from crm.governor import (
    DEFAULT_MARGIN,
    Governor,
    RollingWindowGovernor,
    Unlimited,
    forget_governors,
    governor_for,
)

# Dyadic fractions keep the simulated clock exact, so the window arithmetic has no rounding slack.
TICK = 1 / 1024
WORK = (0.0, 3 * TICK, 1 / 32, 1 / 8, 5 / 16)  # simulated seconds a call takes between two acquires


class FakeClock:
    """Simulated time: ``sleep`` advances it; every read also ticks a little, so sends spread out.

    Each thread remembers the last time it read, which, right after ``acquire`` returns, is the instant the
    governor granted its slot (the governor reads the clock under its lock and grants at that reading).
    """

    def __init__(self, tick: float = TICK) -> None:
        self.now = 0.0
        self.tick = tick
        self.sleeps: list[float] = []
        self._lock = threading.Lock()
        self._local = threading.local()

    def __call__(self) -> float:
        with self._lock:
            self.now += self.tick
            self._local.last = self.now
            return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    @property
    def last_read(self) -> float:
        return float(self._local.last)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def max_in_any_span(times: list[float], span: float) -> int:
    """The largest number of sends that fall in one half-open interval [t, t + span)."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - span:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_max_in_any_span_counts_sends_in_half_open_intervals() -> None:
    assert max_in_any_span([0.0, 1.0, 2.0], 1.0) == 1
    assert max_in_any_span([0.0, 0.5, 0.9, 1.0], 1.0) == 3
    assert max_in_any_span([], 1.0) == 0


def test_rejects_a_limit_that_cannot_be_kept() -> None:
    with pytest.raises(ValueError, match="limit >= 1"):
        RollingWindowGovernor(0, 10)
    with pytest.raises(ValueError, match="window > 0"):
        RollingWindowGovernor(5, 0)


def test_a_burst_up_to_the_limit_goes_at_once_then_the_next_waits_out_the_window(clock: FakeClock) -> None:
    governor = RollingWindowGovernor(5, window=1.0, margin=0.5, clock=clock, sleep=clock.sleep)
    grants = []
    for _ in range(5):
        assert governor.acquire() == 0.0
        grants.append(clock.last_read)
    waited = governor.acquire()
    sixth = clock.last_read
    assert waited > 0
    assert sixth - grants[0] >= 1.5  # window + margin after the oldest send in the window
    assert clock.sleeps and sum(clock.sleeps) == waited


def test_a_slow_answer_holds_its_slot_until_a_window_after_the_answer(clock: FakeClock) -> None:
    # The CRM counts a call when it arrives, which may be as late as its answer: a call that took 0.9 s
    # must still count a full window after it was answered, not after it was sent.
    governor = RollingWindowGovernor(2, window=1.0, margin=0.0, clock=clock, sleep=clock.sleep)
    governor.acquire()
    sent = clock.last_read
    clock.sleep(0.9)
    governor.release()
    answered = clock.now
    governor.acquire()
    governor.release()
    governor.acquire()  # the third call waits for the first slot: the one stamped at its answer
    assert clock.last_read - answered >= 1.0
    assert clock.last_read - sent >= 1.9


def test_release_without_an_open_call_changes_nothing(clock: FakeClock) -> None:
    governor = RollingWindowGovernor(1, window=1.0, margin=0.0, clock=clock, sleep=clock.sleep)
    governor.release()
    assert governor.acquire() == 0.0


def test_default_margin_lengthens_the_window() -> None:
    governor = RollingWindowGovernor(3, window=10.0)
    assert governor.window == 10.0 + DEFAULT_MARGIN


@pytest.mark.parametrize(("limit", "window", "margin"), [(10, 1.0, 0.5), (3, 0.25, 0.125), (100, 10.0, 0.5)])
def test_never_more_than_limit_sends_in_any_window_across_threads(
    clock: FakeClock, limit: int, window: float, margin: float
) -> None:
    governor = RollingWindowGovernor(limit, window=window, margin=margin, clock=clock, sleep=clock.sleep)
    threads_n, per_thread = 6, 500
    grants: list[float] = []
    grants_lock = threading.Lock()
    start = threading.Barrier(threads_n)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        for _ in range(per_thread):
            governor.acquire()
            granted = clock.last_read
            with grants_lock:
                grants.append(granted)
            clock.sleep(rng.choice(WORK))  # the call itself takes a while, so callers come back out of phase

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(grants) == threads_n * per_thread
    span = window + margin
    assert max_in_any_span(grants, span) <= limit
    # The governor throttles, it does not starve: over the run, it lets a full window's worth through.
    assert max_in_any_span(grants, span) == limit


def test_backoff_holds_every_caller_until_the_pause_ends(clock: FakeClock) -> None:
    governor = RollingWindowGovernor(1000, window=10.0, clock=clock, sleep=clock.sleep)
    governor.acquire()
    paused_at = clock()
    governor.backoff(7.0)
    grants: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        governor.acquire()
        granted = clock.last_read
        with lock:
            grants.append(granted)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(grants) == 4
    assert min(grants) >= paused_at + 7.0


def test_a_shorter_backoff_never_cuts_a_longer_pause(clock: FakeClock) -> None:
    governor = RollingWindowGovernor(10, window=1.0, clock=clock, sleep=clock.sleep)
    start = clock()
    governor.backoff(30.0)
    governor.backoff(2.0)
    governor.acquire()
    assert clock.last_read >= start + 30.0


def test_unlimited_never_waits_and_leaves_a_backoff_to_the_callers_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(governor_module.time, "sleep", slept.append)
    governor = Unlimited()
    assert all(governor.acquire() == 0.0 for _ in range(1000))
    governor.backoff(30.0)
    assert slept == []


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    forget_governors()
    yield
    forget_governors()


@pytest.mark.usefixtures("fresh_registry")
def test_governor_for_shares_one_instance_per_key_even_when_threads_race() -> None:
    made: list[Governor] = []
    made_lock = threading.Lock()

    def factory() -> Governor:
        governor = RollingWindowGovernor(10, 10.0)
        with made_lock:
            made.append(governor)
        return governor

    got: list[Governor] = []
    got_lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        governor = governor_for("hubspot:portal-1", factory)
        with got_lock:
            got.append(governor)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1
    assert all(g is made[0] for g in got)
    assert governor_for("hubspot:portal-1", Unlimited) is made[0]


@pytest.mark.usefixtures("fresh_registry")
def test_governor_for_keeps_accounts_apart_and_forget_drops_them() -> None:
    first = governor_for("hubspot:1", Unlimited)
    other = governor_for("hubspot:2", Unlimited)
    assert first is not other
    forget_governors()
    assert governor_for("hubspot:1", Unlimited) is not first
