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
import concurrent.futures
import contextlib
import contextvars
import functools
import heapq
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Priorities: the files' parse batches before the monitors' (see ComputeLane).
FIRST, LATER = 0, 1


class ComputeLane:
    """One worker thread, started on first use; work submitted runs one at a time, by
    ``priority`` (lower first), in submission order within a priority.

    The replay feed's parse batches go first (``FIRST``): while files are still being read, a
    monitor's batch waits, and the windows that become ready meanwhile join it, so the
    monitors compute on large stacks (:mod:`peaktrade_daemon.market.stacks`) instead of the
    eight or so windows each parse batch frees. At 500 symbols a first cycle's 60-odd small
    batches per monitor became two. The parsing itself is never held up by computing.
    """

    def __init__(self, name: str = "compute") -> None:
        self.name = name
        self._executor: ThreadPoolExecutor | None = None
        self._queue: list[tuple[int, int, Callable[[], Any], asyncio.Future[Any]]] = []
        self._order = itertools.count()
        self._busy = False
        self._running: concurrent.futures.Future[Any] | None = None

    async def run(self, work: Callable[[T], R], item: T, priority: int = LATER) -> R:
        """``work(item)`` on the lane's thread, in the caller's context (as ``to_thread``)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[R] = loop.create_future()
        call = functools.partial(contextvars.copy_context().run, work, item)
        entry: tuple[int, int, Callable[[], Any], asyncio.Future[Any]] = (
            priority,
            next(self._order),
            call,
            done,
        )
        heapq.heappush(self._queue, entry)
        if not self._busy:
            self._start_next(loop)
        return await done

    def _start_next(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._queue:
            _, _, call, done = heapq.heappop(self._queue)
            if done.done():
                continue  # its caller gave up waiting
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"lane-{self.name}")
            self._busy = True
            self._running = running = self._executor.submit(call)
            running.add_done_callback(functools.partial(self._ran, loop, done))
            return
        self._busy, self._running = False, None

    def _ran(
        self,
        loop: asyncio.AbstractEventLoop,
        done: asyncio.Future[Any],
        running: concurrent.futures.Future[Any],
    ) -> None:
        """(The lane's thread) Hand the outcome to the loop, which starts the next work."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(self._finish, loop, done, running)

    def _finish(
        self,
        loop: asyncio.AbstractEventLoop,
        done: asyncio.Future[Any],
        running: concurrent.futures.Future[Any],
    ) -> None:
        if not done.done():
            if running.cancelled():
                done.cancel()
            elif (error := running.exception()) is not None:
                done.set_exception(error)
            else:
                done.set_result(running.result())
        if running is self._running:  # not work of a thread closed since
            self._start_next(loop)

    def close(self) -> None:
        """Let the thread finish what it runs and end (a later ``run`` starts a new one); work
        still waiting is cancelled."""
        executor, self._executor = self._executor, None
        queue, self._queue = self._queue, []
        self._busy, self._running = False, None
        for _, _, _, done in queue:
            done.cancel()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
