"""Two workers pushing to one HubSpot account at once share its burst limit through Redis: the sandbox,
set to 20 calls per rolling 2 s, throttles nothing. The control (each worker with only its own
in-process governor, the same limit) does draw 429s: proof the test can see what the governor prevents."""

from __future__ import annotations

import httpx
import pytest
from queue_support import REPO, Workers, get_run, new_run, wait_for, worker_id
from redis import Redis
from rq import Queue, Worker

from crm.sandbox.server import SandboxHTTPServer
from data.runs import FINAL_STATES
from service.context import AppContext
from service.queue import QueueRunner

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

RATE_LIMIT, RATE_WINDOW = 20, 2.0  # the sandbox's rolling window, and the workers' tier limit
ROWS = 2000  # per run: 20 batch calls and a properties read, so the two runs need 42 calls together
WRAPPER = str(REPO / "tests" / "queue" / "queue_worker_main.py")


@pytest.mark.parametrize("governor", ["shared", "local"], ids=["redis-governor", "control-per-process"])
def test_two_workers_stay_under_the_accounts_limit_only_with_the_shared_governor(
    governor: str,
    queue_ctx: AppContext,
    queue_name: str,
    redis_conn: Redis,
    hubspot_server: SandboxHTTPServer,
    workers: Workers,
) -> None:
    first, second = new_run(queue_ctx, ROWS, "a.example"), new_run(queue_ctx, ROWS, "b.example")
    hubspot_server.app.configure(rate_limit=RATE_LIMIT, rate_window=RATE_WINDOW)
    command = (WRAPPER, str(RATE_LIMIT), str(RATE_WINDOW), governor)
    procs = [workers.start(command=command, CRM_CONCURRENCY="4") for _ in range(2)]
    queue = Queue(queue_name, connection=redis_conn)

    def both_idle() -> bool:
        found = Worker.all(queue=queue)
        return len(found) == 2 and all(w.get_state() == "idle" for w in found)

    wait_for(both_idle, "two idle workers")  # so both start pushing at the same moment
    runner = QueueRunner(queue_ctx.settings.queue_url or "")
    runner.submit("push", first)
    runner.submit("push", second)
    try:
        wait_for(
            lambda: all(get_run(queue_ctx, r).state in FINAL_STATES for r in (first, second)),
            "both pushes to end",
        )
    finally:
        assert [workers.stop(p) for p in procs] == [0, 0], workers.logs()

    stats = httpx.get(f"{hubspot_server.base_url}/__sandbox/stats").json()
    done = [get_run(queue_ctx, r) for r in (first, second)]
    assert {r.worker for r in done} == {worker_id(p) for p in procs}  # one run in each worker
    if governor == "shared":
        assert stats["throttled"] == 0, workers.logs()
        assert [(r.state, r.created) for r in done] == [("completed", ROWS)] * 2
    else:
        assert stats["throttled"] > 0, workers.logs()
    assert stats["requests"] >= 2 * (ROWS // 100 + 1)
