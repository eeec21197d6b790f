"""Supervised components: restart with capped exponential backoff, health, interruptible waits."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.supervisor import Supervisor, sleep_unless


async def _until_sleeping(clock: ManualClock) -> None:
    """Yield to the loop (bounded) until some task waits on the manual clock."""
    for _ in range(1000):
        if clock.pending_sleepers:
            return
        await asyncio.sleep(0)
    raise AssertionError("nothing started sleeping on the clock")


class Flaky:
    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.runs = 0
        self.finished = asyncio.Event()

    async def start(self) -> None: ...

    async def run(self) -> None:
        self.runs += 1
        if self.runs <= self.failures:
            raise RuntimeError(f"crash {self.runs}")
        self.finished.set()

    async def reload(self, settings: DaemonSettings) -> None: ...

    async def drain(self) -> None: ...

    async def stop(self) -> None: ...


async def test_restarts_with_backoff_and_reports_each_failure() -> None:
    clock = ManualClock()
    reports: list[tuple[str, str, int, float]] = []
    reported = asyncio.Event()

    async def on_failure(name: str, exc: BaseException, restarts: int, backoff: float) -> None:
        reports.append((name, str(exc), restarts, backoff))
        reported.set()

    sup = Supervisor(clock, backoff_initial_s=1, backoff_max_s=4, on_failure=on_failure)
    comp = Flaky(failures=4)
    task = sup.supervise(comp)
    for expected_backoff in (1, 2, 4, 4):
        async with asyncio.timeout(2):
            await reported.wait()
        reported.clear()
        assert reports[-1][3] == expected_backoff
        assert sup.health["flaky"].state == "backoff" and not sup.health["flaky"].healthy
        await _until_sleeping(clock)  # the supervisor parks in its backoff
        await clock.advance(expected_backoff)
    async with asyncio.timeout(2):
        await comp.finished.wait()
        await task
    assert [r[1] for r in reports] == ["crash 1", "crash 2", "crash 3", "crash 4"]
    health = sup.health["flaky"]
    assert (health.state, health.restarts, health.last_error) == (
        "serving",
        4,
        "RuntimeError: crash 4",
    )
    assert health.last_error_at == clock.now() - timedelta(seconds=4)  # the last crash


async def test_cancel_all_names_what_was_running() -> None:
    clock = ManualClock()

    class Forever(Flaky):
        name = "forever"

        async def run(self) -> None:
            await asyncio.Event().wait()

    async def on_failure(*_: object) -> None: ...

    sup = Supervisor(clock, backoff_initial_s=1, backoff_max_s=2, on_failure=on_failure)
    sup.supervise(Forever(0))
    await asyncio.sleep(0)
    assert await sup.cancel_all("test over") == ["forever"]
    assert sup.health["forever"].state == "cancelled"


async def test_sleep_unless_returns_on_event_or_time() -> None:
    clock = ManualClock()
    event = asyncio.Event()
    waiter = asyncio.ensure_future(sleep_unless(event, clock, 3600))
    await asyncio.sleep(0)
    event.set()
    assert await asyncio.wait_for(waiter, 2) is True
    event.clear()
    waiter = asyncio.ensure_future(sleep_unless(event, clock, 10))
    await _until_sleeping(clock)
    await clock.advance(10)
    assert await asyncio.wait_for(waiter, 2) is False
    assert clock.pending_sleepers == 0


class Returns:
    name = "returns"

    async def start(self) -> None: ...

    async def run(self) -> None: ...

    async def reload(self, settings: DaemonSettings) -> None: ...

    async def drain(self) -> None: ...

    async def stop(self) -> None: ...


class CancelledInside(Returns):
    name = "cancelled-inside"

    async def run(self) -> None:
        raise asyncio.CancelledError("a library cancelled it")


async def test_ended_names_tasks_gone_other_than_by_returning() -> None:
    async def no_report(name: str, exc: BaseException, restarts: int, backoff_s: float) -> None:
        raise AssertionError("not a failure")

    supervisor = Supervisor(
        ManualClock(), backoff_initial_s=1, backoff_max_s=8, on_failure=no_report
    )
    tasks = [supervisor.supervise(Returns()), supervisor.supervise(CancelledInside())]
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
    assert supervisor.health["returns"].state == "serving"
    assert supervisor.ended() == ["cancelled-inside"]
