"""The retention worker's drain waits for a pass in progress (the component contract)."""

from __future__ import annotations

import asyncio

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.settings import DaemonSettings, RetentionSection
from peaktrade_daemon.storage.retention import RetentionWorker


async def test_drain_waits_for_the_pass_in_progress_and_stops_further_passes() -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    passes: list[str] = []

    async def slow_rule(_limits: RetentionSection) -> dict[str, int]:
        entered.set()
        await release.wait()  # a transaction that is still running at shutdown
        passes.append("done")
        return {"t": 1}

    worker = RetentionWorker(DaemonSettings(), ManualClock(), [slow_rule])
    runner = asyncio.create_task(worker.run())
    async with asyncio.timeout(5):
        await entered.wait()
        drain = asyncio.create_task(worker.drain())
        await asyncio.sleep(0.05)
        assert not drain.done()  # still waiting for the transaction to end
        release.set()
        await drain
    assert passes == ["done"]
    assert await worker.prune_once() == {}  # no pass starts once draining
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
