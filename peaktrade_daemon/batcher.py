"""Many small blocking jobs of one kind, coalesced into one worker-thread call.

A cycle asks each monitor about every symbol at once. Handing each symbol's few hundred
microseconds of numpy to the thread pool on its own cost more than the work: with 500 symbols,
2,000 hand-offs in a cycle, and the event loop and the workers took turns at the GIL for every
one. A :class:`Batcher` collects the items submitted while the loop runs the coroutines that are
ready now (the cycle starts every check before any of them waits) and passes them to the
blocking function in one call, in one worker thread; each caller awaits its own item's outcome.

- Batches run one at a time, in submission order: the function never runs concurrently with
  itself, so per-item state it updates (a signal history) needs no lock of its own.
- The function returns one outcome per item, a value or that item's exception; an exception
  raised by the function itself fails every item of its batch.
- A caller cancelled while it waits (a timeout) gives up its own item only; an item whose
  caller is gone before its batch starts is left out.
- With a :class:`~peaktrade_daemon.lane.ComputeLane` the batch runs on that lane's thread
  (shared by a composition's batchers) with the batcher's ``priority``, else on the loop's
  default executor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from peaktrade_daemon.lane import LATER, ComputeLane

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """Runs ``work(items) -> outcomes`` in a worker thread over the items submitted together."""

    def __init__(
        self,
        work: Callable[[list[T]], Sequence[R | Exception]],
        name: str,
        lane: ComputeLane | None = None,
        priority: int = LATER,
    ) -> None:
        self._work = work
        self.name = name
        self._lane = lane
        self._priority = priority
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._flush_scheduled = False
        self._drain: asyncio.Task[None] | None = None
        self.batches = 0

    async def submit(self, item: T) -> R:
        """The outcome of ``item``, computed in the next batch (raises the item's exception)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if not self._flush_scheduled:
            # call_soon runs after every callback already queued: the checks the cycle started
            # together all submit before the batch is cut.
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._drain is None and self._pending:
            self._drain = asyncio.get_running_loop().create_task(
                self._run(), name=f"batcher-{self.name}"
            )

    async def _run(self) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._pending:
                batch = [(item, f) for item, f in self._pending if not f.done()]
                self._pending = []
                if not batch:
                    continue
                self.batches += 1
                items = [item for item, _ in batch]
                try:
                    outcomes = await (
                        asyncio.to_thread(self._work, items)
                        if self._lane is None
                        else self._lane.run(self._work, items, self._priority)
                    )
                    if len(outcomes) != len(items):
                        raise RuntimeError(
                            f"batcher {self.name}: {len(outcomes)} outcomes for {len(items)} items"
                        )
                except Exception as exc:  # the work itself failed: so did each of its items
                    logger.debug("batcher %s: batch of %s failed: %s", self.name, len(items), exc)
                    outcomes = [exc] * len(items)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue  # its caller gave up waiting
                    if isinstance(outcome, Exception):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
                batch = []
        except asyncio.CancelledError:
            for _, future in [*batch, *self._pending]:
                future.cancel()
            self._pending = []
            raise
        finally:
            self._drain = None


def each(work: Callable[[T], R]) -> Callable[[list[T]], list[R | Exception]]:
    """A batch function applying ``work`` to every item, an exception failing only its item."""

    def run(items: list[T]) -> list[R | Exception]:
        outcomes: list[R | Exception] = []
        for item in items:
            try:
                outcomes.append(work(item))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    return run
