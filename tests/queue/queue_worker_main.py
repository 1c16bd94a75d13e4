"""``python -m crm worker`` with HubSpot's burst limit shrunk to a test sandbox's (the queue tests only).

    python tests/queue/queue_worker_main.py LIMIT WINDOW {shared,local} worker [--burst]

Every tier's limit becomes LIMIT calls per WINDOW seconds, as the sandbox is told to enforce. ``local``
is the control: each worker keeps only its own in-process governor, as without the Redis one.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def run(argv: Sequence[str]) -> int:
    limit, window, mode, *rest = argv
    from crm import hubspot, hubspot_wire

    for tier in hubspot.TIER_LIMITS:
        hubspot.TIER_LIMITS[tier] = int(limit)
    hubspot.RATE_WINDOW = hubspot_wire.RATE_WINDOW = float(window)  # the governors' and the 429 wait
    if mode == "local":
        import service.queue

        service.queue.hubspot_governor = lambda *_args, **_kwargs: None  # type: ignore[assignment]
    from crm.cli import main

    return main(rest)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
