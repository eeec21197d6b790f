"""The compute lane runs a composition's batches on one thread, by priority and in submission
order, in the caller's context; the components build_components makes all use one lane."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from peaktrade_daemon.batcher import Batcher, each
from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.lane import FIRST, LATER, ComputeLane
from peaktrade_daemon.monitors.defaults import trading_config
from peaktrade_daemon.settings import load_settings
from peaktrade_daemon.workflows.components import build_components

REQUEST = contextvars.ContextVar("REQUEST", default="none")
START = datetime(2017, 12, 1, 9, 0, tzinfo=UTC)  # inside EURUSD.csv


async def test_work_runs_on_one_thread_in_order_and_in_the_callers_context() -> None:
    lane = ComputeLane("test")
    seen: list[tuple[int, str, str]] = []

    def work(i: int) -> int:
        seen.append((i, threading.current_thread().name, REQUEST.get()))
        return i * 2

    REQUEST.set("cycle-1")
    async with asyncio.timeout(10):
        results = await asyncio.gather(*(lane.run(work, i) for i in range(5)))
    assert results == [0, 2, 4, 6, 8]
    assert [i for i, _, _ in seen] == [0, 1, 2, 3, 4]
    assert len({name for _, name, _ in seen}) == 1 and seen[0][1].startswith("lane-test")
    assert {request for _, _, request in seen} == {"cycle-1"}
    lane.close()
    async with asyncio.timeout(10):
        assert await lane.run(work, 7) == 14  # closed is not broken: a new thread starts
    lane.close()


async def test_batchers_on_one_lane_share_its_thread() -> None:
    lane = ComputeLane()
    threads: set[str] = set()

    def record(item: int) -> int:
        threads.add(threading.current_thread().name)
        return item

    first = Batcher(each(record), "first", lane)
    second = Batcher(each(record), "second", lane)
    async with asyncio.timeout(10):
        both = await asyncio.gather(first.submit(1), second.submit(2), first.submit(3))
    assert both == [1, 2, 3]
    assert len(threads) == 1 and next(iter(threads)).startswith("lane-compute")
    lane.close()


async def test_the_components_batches_run_on_their_lane(project_root: Path) -> None:
    settings = load_settings(project_root, cli_overrides={"replay": {"start": START.isoformat()}})
    components = build_components(
        settings, clock=ManualClock(START), config=trading_config(settings)
    )
    assert components.lane is not None
    batches: list[int] = []
    original = components.lane.run

    async def spying(work, items, priority):  # type: ignore[no-untyped-def]
        batches.append(len(items))
        return await original(work, items, priority)

    components.lane.run = spying  # type: ignore[method-assign]
    try:
        async with asyncio.timeout(60):
            for monitor in (components.market, components.signals, components.performance):
                result = await monitor.check_conditions("EUR/USD")
                assert result.metrics, monitor.name
    finally:
        await components.close()
    # The file's parse, the market metrics, the scan, the paper book and its metrics: five
    # batches of one item, all on the lane.
    assert batches == [1] * 5
    assert components.lane._executor is None  # closed with the components


async def test_first_work_goes_before_later_work_waiting_with_it() -> None:
    lane = ComputeLane("test")
    order: list[str] = []
    gate = threading.Event()

    def work(name: str) -> str:
        if name == "running":
            gate.wait(10)
        order.append(name)
        return name

    running = asyncio.ensure_future(lane.run(work, "running"))
    await asyncio.sleep(0)
    waiting = [
        asyncio.ensure_future(lane.run(work, name, priority))
        for name, priority in (("later-1", LATER), ("first-1", FIRST), ("later-2", LATER))
    ]
    gone = asyncio.ensure_future(lane.run(work, "cancelled", FIRST))
    await asyncio.sleep(0)
    gone.cancel()
    waiting.append(asyncio.ensure_future(lane.run(work, "first-2", FIRST)))
    gate.set()
    async with asyncio.timeout(10):
        outcomes = await asyncio.gather(running, *waiting)
    assert outcomes == [
        "running",
        "later-1",
        "first-1",
        "later-2",
        "first-2",
    ]
    assert order == ["running", "first-1", "first-2", "later-1", "later-2"]
    lane.close()


async def test_closing_cancels_work_still_waiting() -> None:
    lane = ComputeLane("test")
    gate = threading.Event()
    running = asyncio.ensure_future(lane.run(gate.wait, 10))
    waiting = asyncio.ensure_future(lane.run(str, 1))
    await asyncio.sleep(0.01)
    lane.close()
    gate.set()
    async with asyncio.timeout(10):
        assert await running is True
        with pytest.raises(asyncio.CancelledError):  # work waiting at close never runs
            await waiting
        assert await lane.run(str, 2) == "2"
    lane.close()
