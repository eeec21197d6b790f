"""Injected time: every component reads the clock it was given, never the wall clock directly.

``SystemClock`` is the real one. ``ManualClock`` only moves when told (``advance``/``set``), which
makes tests and replay deterministic: sleepers wake exactly when simulated time reaches their
deadline, in deadline order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What components need from time."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for durations)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``; cancellable."""
        ...


class SystemClock:
    """The wall clock and ``asyncio.sleep``."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when the test (or replay driver) says so.

    ``sleep`` registers a deadline and waits; ``advance`` moves time forward and wakes every sleeper
    whose deadline has been reached, earliest first, yielding to the loop between wake-ups so the
    woken tasks run at their own simulated instant.
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2024, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._epoch = self._now
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return (self._now - self._epoch).total_seconds()

    @property
    def pending_sleepers(self) -> int:
        """Number of tasks currently waiting in ``sleep``."""
        return sum(1 for _, _, fut in self._sleepers if not fut.done())

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(
            self._sleepers, (self._now + timedelta(seconds=seconds), next(self._seq), fut)
        )
        await fut

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking due sleepers in order."""
        if seconds < 0:
            raise ValueError("ManualClock cannot go backwards")
        await self.set(self._now + timedelta(seconds=seconds))

    async def set(self, when: datetime) -> None:
        """Move time forward to ``when`` (aware), waking due sleepers in order."""
        target = when.astimezone(UTC)
        if target < self._now:
            raise ValueError("ManualClock cannot go backwards")
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not fut.done():
                fut.set_result(None)
                # Let the woken task run at its own instant before time moves on.
                for _ in range(3):
                    await asyncio.sleep(0)
        self._now = target
