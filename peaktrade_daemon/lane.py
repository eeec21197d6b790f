"""A compute lane: one worker thread running a composition's CPU-bound batches one after another.

Numpy gives up the GIL around its larger loops and takes it back after, so worker threads that
crunch numpy at the same time hand the GIL to each other at almost every operation, and each
hand-over costs a wake-up and cold caches. A first cycle over 500 symbols runs four kinds of
batches (:mod:`peaktrade_daemon.batcher`: the files to parse, market metrics, signal scans,
paper books), each on its own thread of the loop's default executor: about a fifth of that
cycle's CPU went on the hand-overs (``bench/scale.py``, same-run A/B: 2.8-3.2 s of CPU on one
thread against 3.6-3.8 s on four). The batches hold the GIL almost throughout, so running
them on a single thread costs no parallelism. Blocking I/O (file reads, the database) stays
on the default executor and the connections' own threads, so it never queues behind a batch.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


class ComputeLane:
    """One worker thread, started on first use; work submitted runs in submission order."""

    def __init__(self, name: str = "compute") -> None:
        self.name = name
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, work: Callable[[T], R], item: T) -> R:
        """``work(item)`` on the lane's thread, in the caller's context (as ``to_thread``)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"lane-{self.name}")
        call = functools.partial(contextvars.copy_context().run, work, item)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self) -> None:
        """Let the thread finish what it runs and end (a later ``run`` starts a new one)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
