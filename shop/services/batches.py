"""Long jobs in short steps that let the shop's own writes in between.

A job that took the write lock again the moment it let go would keep checkouts out
(measured, before writers queued: a back-to-back sweep made one wait 4.6 s). So each step
is one short transaction, and the job pauses before the next: far longer than a queued
writer takes to notice the lock is free (it polls the writer queue every 0.2 ms, see
``shop.db``), and long enough that a job holds the lock for a small share of the time.
A step refused as busy is retried, so the job itself does not fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shop.errors import Busy

PAUSE_SECONDS = 0.03  # a job with s-ms steps holds the lock s/(s+30) of its time
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
