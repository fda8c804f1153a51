"""Long jobs in short steps that let the shop's own writes in between.

SQLite hands the write lock to whoever asks first after it is free; a waiting writer
polls (its busy handler sleeps 1, 2, 5 ... 25 ms, then longer). A job that takes the lock
again at once would starve checkouts (measured: a back-to-back sweep made one wait 4.6 s).
So each step is one short transaction, and the job pauses longer than those early polls
before the next; a step refused as busy is retried, so the job itself does not fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shop.errors import Busy

PAUSE_SECONDS = 0.03  # longer than the first polls of a waiting writer's busy handler
BUSY_RETRIES = 20


def run(step: Callable[[], int], batch: int, *,
        on_batch: Callable[[int], None] | None = None) -> int:
    """Call ``step`` (one short transaction doing at most ``batch`` rows, returning how
    many) until it does less than a full batch; returns the total."""
    total = 0
    while True:
        for attempt in range(BUSY_RETRIES):
            try:
                done = step()
                break
            except Busy:
                if attempt == BUSY_RETRIES - 1:
                    raise
                time.sleep(PAUSE_SECONDS)
        total += done
        if on_batch is not None and done:
            on_batch(done)
        if done < batch:
            return total
        time.sleep(PAUSE_SECONDS)
