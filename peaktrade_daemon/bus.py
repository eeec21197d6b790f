"""The in-process event bus (§3.5): typed events, one bounded queue and one task per subscriber.

``publish`` is synchronous and never waits: it appends the event to the queue of every
subscription whose event class matches (``isinstance``, so subscribing to a base class receives
its subclasses) and wakes that subscription's task. A slow or failing handler therefore only
delays its own queue; the publisher and the other subscribers carry on. When a queue is full the
subscription's :class:`OverflowPolicy` decides which event is lost, and ``dropped`` counts it, so
an overloaded subscriber is visible in ``/metrics`` instead of silently lagging or blocking.

Handlers may be plain functions or coroutine functions. They must not block the loop: CPU or file
heavy work belongs in ``asyncio.to_thread``. A handler that raises is logged with the
subscription's name and counted; the subscription keeps running.

Tests wait for an event with :meth:`EventBus.expect` (register first, then trigger) or
:meth:`EventBus.next_event`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from peaktrade_daemon.errors import present
from peaktrade_daemon.events import Event

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)

DEFAULT_MAXSIZE = 1000
# A subscriber with synchronous handlers and a long backlog yields to the loop this often, so it
# cannot starve the publisher or its sibling subscribers.
_YIELD_EVERY = 256


class OverflowPolicy(StrEnum):
    """What a full subscriber queue does with one more event."""

    DROP_OLDEST = "drop_oldest"  # keep the freshest state (monitor results, prices)
    DROP_NEWEST = "drop_newest"  # keep what was queued first (ordered work items)


@dataclass(frozen=True, slots=True)
class SubscriptionStats:
    """A point-in-time view of one subscription, for metrics and health."""

    name: str
    event_type: str
    depth: int
    maxsize: int
    delivered: int
    dropped: int
    failed: int


class Subscription(Generic[E]):
    """One subscriber: its queue, task and counters; made by :meth:`EventBus.subscribe`."""

    def __init__(
        self,
        name: str,
        event_type: type[E],
        handler: Callable[[E], Awaitable[None] | None],
        *,
        maxsize: int,
        policy: OverflowPolicy,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"subscription {name!r}: maxsize must be >= 1, got {maxsize}")
        self.name = name
        self.event_type = event_type
        self.maxsize = maxsize
        self.policy = policy
        self.delivered = 0
        self.dropped = 0
        self.failed = 0
        self._handler = handler
        self._is_async = asyncio.iscoroutinefunction(handler)
        self._queue: deque[E] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._idle: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        """Events queued and not yet handled."""
        return len(self._queue)

    def stats(self) -> SubscriptionStats:
        """Counters as a frozen snapshot."""
        return SubscriptionStats(
            name=self.name,
            event_type=self.event_type.__name__,
            depth=len(self._queue),
            maxsize=self.maxsize,
            delivered=self.delivered,
            dropped=self.dropped,
            failed=self.failed,
        )

    def _offer(self, event: E) -> bool:
        queue = self._queue
        if len(queue) >= self.maxsize:
            self.dropped += 1
            if self.policy is OverflowPolicy.DROP_NEWEST:
                return False
            queue.popleft()
        queue.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return True

    def _start(self) -> None:
        if self._task is None:
            self._idle = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(
                self._consume(), name=f"bus:{self.name}"
            )

    async def _consume(self) -> None:
        queue = self._queue
        handler = self._handler
        loop = asyncio.get_running_loop()
        idle = present(self._idle, "the bus's idle event")
        while True:
            handled = 0
            while queue:
                idle.clear()
                event = queue.popleft()
                try:
                    if self._is_async:
                        await handler(event)  # type: ignore[misc]
                    else:
                        handler(event)
                except Exception:
                    self.failed += 1
                    logger.exception(
                        "bus subscriber %s failed on %s", self.name, type(event).__name__
                    )
                self.delivered += 1
                handled += 1
                if handled % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            idle.set()
            self._waiter = loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def _wait_idle(self) -> None:
        # Idle is set only with the queue empty and no handler running: an empty queue alone
        # is not enough, the last event may still be in its handler (drain, then act on it).
        if self._idle is None or self._task is None:
            return
        if self._queue:
            self._idle.clear()
        if not self._idle.is_set():
            await self._idle.wait()

    async def _cancel(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class _Expectation(Generic[E]):
    def __init__(
        self, event_type: type[E], predicate: Callable[[E], bool] | None, future: asyncio.Future[E]
    ) -> None:
        self.event_type = event_type
        self.predicate = predicate
        self.future = future


class EventBus:
    """Routes published events by class to per-subscriber bounded queues (see module docstring)."""

    def __init__(
        self,
        *,
        default_maxsize: int = DEFAULT_MAXSIZE,
        default_policy: OverflowPolicy = OverflowPolicy.DROP_OLDEST,
    ) -> None:
        self._default_maxsize = default_maxsize
        self._default_policy = default_policy
        self._subscriptions: list[Subscription[Any]] = []
        self._routes: dict[type[Event], tuple[Subscription[Any], ...]] = {}
        self._expectations: list[_Expectation[Any]] = []
        self._closed = False
        self.published = 0

    def subscribe(
        self,
        event_type: type[E],
        handler: Callable[[E], Awaitable[None] | None],
        *,
        name: str,
        maxsize: int | None = None,
        policy: OverflowPolicy | None = None,
    ) -> Subscription[E]:
        """Deliver every published ``event_type`` (and subclass) to ``handler`` on its own task.

        Must be called from within the running loop. ``name`` appears in logs and metrics.
        """
        if self._closed:
            raise RuntimeError("the event bus is closed")
        sub: Subscription[E] = Subscription(
            name,
            event_type,
            handler,
            maxsize=maxsize or self._default_maxsize,
            policy=policy or self._default_policy,
        )
        sub._start()
        self._subscriptions.append(sub)
        self._routes.clear()
        return sub

    async def unsubscribe(self, subscription: Subscription[Any]) -> None:
        """Stop delivering to ``subscription``; its queued events are discarded."""
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
            self._routes.clear()
        await subscription._cancel()

    def _route(self, event_type: type[Event]) -> tuple[Subscription[Any], ...]:
        subs = tuple(s for s in self._subscriptions if issubclass(event_type, s.event_type))
        self._routes[event_type] = subs
        return subs

    def publish(self, event: Event) -> int:
        """Queue ``event`` for every matching subscriber; never blocks. Returns how many took it."""
        if self._closed:
            logger.debug("bus closed, %s not published", type(event).__name__)
            return 0
        self.published += 1
        event_type = type(event)
        subs = self._routes.get(event_type)
        if subs is None:
            subs = self._route(event_type)
        taken = 0
        for sub in subs:
            if sub._offer(event):
                taken += 1
        if self._expectations:
            self._resolve_expectations(event)
        return taken

    def _resolve_expectations(self, event: Event) -> None:
        keep: list[_Expectation[Any]] = []
        for exp in self._expectations:
            if exp.future.done():
                continue
            if isinstance(event, exp.event_type) and (
                exp.predicate is None or exp.predicate(event)
            ):
                exp.future.set_result(event)
            else:
                keep.append(exp)
        self._expectations = keep

    def expect(
        self, event_type: type[E], predicate: Callable[[E], bool] | None = None
    ) -> asyncio.Future[E]:
        """A future resolved by the next published ``event_type`` matching ``predicate``.

        Register it *before* triggering the event, then await it with a timeout.
        """
        future: asyncio.Future[E] = asyncio.get_running_loop().create_future()
        self._expectations.append(_Expectation(event_type, predicate, future))
        return future

    async def next_event(
        self,
        event_type: type[E],
        *,
        timeout_s: float,
        predicate: Callable[[E], bool] | None = None,
    ) -> E:
        """Wait up to ``timeout_s`` for the next matching event (raises ``TimeoutError``)."""
        future = self.expect(event_type, predicate)
        try:
            return await asyncio.wait_for(future, timeout_s)
        finally:
            future.cancel()

    def stats(self) -> list[SubscriptionStats]:
        """One snapshot per subscription, in subscription order."""
        return [s.stats() for s in self._subscriptions]

    async def drain(self, timeout_s: float) -> bool:
        """Wait until every queue is empty and every handler has returned, up to
        ``timeout_s``; True when all drained."""
        try:
            async with asyncio.timeout(timeout_s):
                for sub in list(self._subscriptions):
                    await sub._wait_idle()
        except TimeoutError:
            return False
        return True

    async def close(self, timeout_s: float = 5.0) -> None:
        """Refuse new events, give queued ones ``timeout_s`` to be handled, then stop every task."""
        if self._closed:
            return
        drained = await self.drain(timeout_s)
        self._closed = True
        if not drained:
            left = {s.name: s.depth for s in self._subscriptions if s.depth}
            logger.warning("bus closed with undelivered events: %s", left)
        for sub in self._subscriptions:
            await sub._cancel()
        for exp in self._expectations:
            exp.future.cancel()
        self._expectations.clear()
