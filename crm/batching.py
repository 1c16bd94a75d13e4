"""Send independent batches concurrently, with a bound, and stop cleanly.

Both adapters hand their batches to :func:`run_batches`. It keeps at most ``concurrency`` batches in
flight and yields each batch's results as it completes. When the caller asks to stop, or the CRM says
its daily allocation is used up, it sends nothing new, lets the batches in flight finish (their results
are real and must be recorded), and returns every unsent op as failed with code ``NOT_SENT``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from crm.adapter import CancelCheck
from crm.errors import AuthError, CRMError, ForbiddenError, LimitExceeded
from crm.model import Action, RecordResult, WriteOp

log = logging.getLogger("crm.batching")

NOT_SENT = "NOT_SENT"
UNEXPECTED = "UNEXPECTED_ERROR"  # a bug of ours, logged with its traceback
SendBatch = Callable[[Sequence[WriteOp]], list[RecordResult]]


def failed(ops: Sequence[WriteOp], code: str | None, message: str) -> list[RecordResult]:
    """The same failure for every op of a batch."""
    return [RecordResult(op.key, op.email, Action.FAILED, op.crm_id, code, message) for op in ops]


def run_batches(
    batches: Sequence[Sequence[WriteOp]],
    send: SendBatch,
    *,
    concurrency: int = 4,
    should_stop: CancelCheck | None = None,
) -> Iterator[list[RecordResult]]:
    stop_reason: str | None = None
    next_index = 0
    in_flight: dict[Future[list[RecordResult]], Sequence[WriteOp]] = {}
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="crm-batch") as pool:

        def fill() -> None:
            nonlocal next_index
            while stop_reason is None and len(in_flight) < concurrency and next_index < len(batches):
                batch = batches[next_index]
                next_index += 1
                in_flight[pool.submit(send, batch)] = batch

        if should_stop is not None and should_stop():  # cancelled before the first send: send nothing
            stop_reason = "The push was cancelled."
        fill()
        while in_flight:
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                batch = in_flight.pop(future)
                try:
                    results = future.result()
                except LimitExceeded as exc:
                    stop_reason = stop_reason or f"The CRM's API limit was reached: {exc.message}"
                    results = failed(batch, NOT_SENT, f"Not sent: {stop_reason}")
                except (AuthError, ForbiddenError) as exc:
                    # Every later batch would fail the same way: stop, and say why on every row.
                    stop_reason = stop_reason or f"The CRM refused the connection: {exc.message}"
                    results = failed(batch, exc.code or type(exc).__name__, exc.message)
                except CRMError as exc:
                    log.warning("batch of %d failed: %r", len(batch), exc)
                    results = failed(batch, exc.code or type(exc).__name__, exc.message)
                except Exception as exc:  # a bug of ours in one batch must not cost the other batches
                    log.exception("batch of %d failed unexpectedly", len(batch))
                    results = failed(
                        batch, UNEXPECTED, f"An unexpected error ({type(exc).__name__}); see the log."
                    )
                yield results
            if stop_reason is None and should_stop is not None and should_stop():
                stop_reason = "The push was cancelled."
            fill()
    if next_index < len(batches):
        reason = stop_reason or "The push stopped."
        for batch in batches[next_index:]:
            yield failed(batch, NOT_SENT, f"Not sent: {reason}")
