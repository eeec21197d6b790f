"""Supervised component tasks: ``run()`` restarted with exponential backoff, health per component.

A component whose ``run()`` raises is reported (the ``on_failure`` callback turns it into an
alert and a bus event) and restarted after ``initial * 2**(n-1)`` seconds, capped at ``max``. A run
that lasted longer than the cap counts as healthy again, so one failure a day never escalates to
the maximum backoff. ``run()`` returning normally means "nothing long-running": no restart; the
component is then "serving" through what its ``start()`` set up until it is stopped.

:func:`sleep_unless` is the interruptible wait used across the runtime: wait ``seconds`` on the
injected clock unless an event fires first (SIGTERM ends a poll-interval wait at once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from peaktrade_daemon.clock import Clock
from peaktrade_daemon.component import Component

logger = logging.getLogger(__name__)

FailureCallback = Callable[[str, BaseException, int, float], Awaitable[None]]


async def sleep_unless(event: asyncio.Event, clock: Clock, seconds: float | None) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass (None: no time limit).

    Returns True when the event fired. Both waits are cancelled on return, so nothing leaks.
    """
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    sleeper = None if seconds is None else asyncio.ensure_future(clock.sleep(seconds))
    pending = {waiter} if sleeper is None else {waiter, sleeper}
    try:
        await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    return event.is_set()


@dataclass(slots=True)
class ComponentHealth:
    """What ``/healthz`` reports per component."""

    name: str
    state: str = "starting"  # starting | running | backoff | serving | cancelled | stopped
    restarts: int = 0
    last_error: str = ""
    last_error_at: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "state": self.state,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
        }

    @property
    def healthy(self) -> bool:
        """A component in backoff after a crash is not healthy until it runs again."""
        return self.state != "backoff"


class Supervisor:
    """Runs each component's ``run()`` as a restartable task and tracks its health."""

    def __init__(
        self,
        clock: Clock,
        *,
        backoff_initial_s: float,
        backoff_max_s: float,
        on_failure: FailureCallback,
    ) -> None:
        self._clock = clock
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._on_failure = on_failure
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.health: dict[str, ComponentHealth] = {}

    def register(self, component: Component) -> None:
        """Track a component's health from start-up on (before ``run`` is supervised)."""
        self.health.setdefault(component.name, ComponentHealth(component.name))

    def supervise(self, component: Component) -> asyncio.Task[None]:
        """Start supervising ``component.run()``."""
        self.register(component)
        task = asyncio.get_running_loop().create_task(
            self._loop(component), name=f"component:{component.name}"
        )
        self._tasks[component.name] = task
        return task

    def backoff_for(self, failures: int) -> float:
        """Delay before restart number ``failures`` (1-based)."""
        return float(min(self.backoff_initial_s * 2 ** (failures - 1), self.backoff_max_s))

    async def _loop(self, component: Component) -> None:
        health = self.health[component.name]
        failures = 0
        while True:
            health.state = "running"
            started = self._clock.monotonic()
            try:
                await component.run()
            except asyncio.CancelledError:
                health.state = "cancelled"
                raise
            except Exception as exc:
                if self._clock.monotonic() - started > self.backoff_max_s:
                    failures = 0
                failures += 1
                delay = self.backoff_for(failures)
                health.state = "backoff"
                health.restarts += 1
                health.last_error = f"{type(exc).__name__}: {exc}"
                health.last_error_at = self._clock.now()
                logger.error(
                    "component %s failed (%s); restart %d in %.1fs",
                    component.name,
                    health.last_error,
                    health.restarts,
                    delay,
                    exc_info=exc,
                )
                try:
                    await self._on_failure(component.name, exc, health.restarts, delay)
                except Exception:
                    logger.exception("reporting the failure of %s failed", component.name)
                await self._clock.sleep(delay)
                continue
            # run() returned: nothing long-running of its own; it serves through what start()
            # set up (the HTTP listener, the workflow engine) until it is stopped.
            health.state = "serving"
            return

    async def cancel_all(self, reason: str) -> list[str]:
        """Cancel every supervised task still running; returns the names cancelled."""
        cancelled = [name for name, task in self._tasks.items() if not task.done()]
        for name in cancelled:
            logger.info("cancelling component %s: %s", name, reason)
            self._tasks[name].cancel(reason)
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        return cancelled

    def ended(self) -> list[str]:
        """Components whose supervised task is gone other than by ``run()`` returning (it was
        cancelled, or the supervising loop itself failed): that part no longer works."""
        return [
            name
            for name, task in self._tasks.items()
            if task.done() and self.health[name].state != "serving"
        ]

    def mark_stopped(self, name: str) -> None:
        """Record that a component's ``stop()`` completed."""
        if name in self.health:
            self.health[name].state = "stopped"
