"""EventBus: routing by class, isolation of slow and failing subscribers, overflow accounting."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import pytest
import uvloop
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_daemon.bus import EventBus, OverflowPolicy
from peaktrade_daemon.events import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick(Event):
    n: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SpecialTick(Tick):
    tag: str = "special"


@dataclass(frozen=True, slots=True, kw_only=True)
class Other(Event):
    text: str


async def test_routes_by_class_including_subclasses() -> None:
    bus = EventBus()
    ticks: list[int] = []
    others: list[str] = []
    done = asyncio.Event()

    def on_tick(e: Tick) -> None:
        ticks.append(e.n)
        if len(ticks) == 2:
            done.set()

    bus.subscribe(Tick, on_tick, name="ticks")
    bus.subscribe(Other, lambda e: others.append(e.text), name="others")
    assert bus.publish(Tick(n=1)) == 1
    assert bus.publish(SpecialTick(n=2)) == 1
    async with asyncio.timeout(2):
        await done.wait()
    assert ticks == [1, 2]
    assert others == []
    await bus.close()


async def test_slow_subscriber_does_not_slow_publisher_or_others() -> None:
    bus = EventBus(default_maxsize=10_000)
    release = asyncio.Event()
    fast_seen: list[int] = []
    fast_done = asyncio.Event()
    slow_seen: list[int] = []

    async def slow(e: Tick) -> None:
        await release.wait()  # stuck until the test lets it go
        slow_seen.append(e.n)

    def fast(e: Tick) -> None:
        fast_seen.append(e.n)
        if len(fast_seen) == 500:
            fast_done.set()

    slow_sub = bus.subscribe(Tick, slow, name="slow")
    bus.subscribe(Tick, fast, name="fast")
    for n in range(500):
        bus.publish(Tick(n=n))  # synchronous: would deadlock here if the slow one blocked publish
    async with asyncio.timeout(2):
        await fast_done.wait()
    assert fast_seen == list(range(500))
    assert slow_seen == []
    assert slow_sub.depth >= 499  # all still queued behind the stuck handler
    release.set()
    assert await bus.drain(2.0)
    assert slow_seen == list(range(500))
    await bus.close()


async def test_overflow_drop_oldest_counts_and_keeps_newest() -> None:
    bus = EventBus()
    gate = asyncio.Event()
    seen: list[int] = []

    async def handler(e: Tick) -> None:
        await gate.wait()
        seen.append(e.n)

    sub = bus.subscribe(Tick, handler, name="bounded", maxsize=5, policy=OverflowPolicy.DROP_OLDEST)
    bus.publish(Tick(n=0))
    await asyncio.sleep(0)  # the consumer takes event 0 and parks on the gate
    for n in range(1, 21):
        bus.publish(Tick(n=n))
    assert sub.dropped == 15
    gate.set()
    assert await bus.drain(2.0)
    assert seen == [0, 16, 17, 18, 19, 20]
    stats = bus.stats()[0]
    assert (stats.name, stats.dropped, stats.delivered, stats.depth) == ("bounded", 15, 6, 0)
    await bus.close()


async def test_overflow_drop_newest_keeps_first_queued() -> None:
    bus = EventBus()
    gate = asyncio.Event()
    seen: list[int] = []

    async def handler(e: Tick) -> None:
        await gate.wait()
        seen.append(e.n)

    sub = bus.subscribe(Tick, handler, name="fifo", maxsize=3, policy=OverflowPolicy.DROP_NEWEST)
    accepted = [bus.publish(Tick(n=n)) for n in range(10)]
    assert accepted == [1, 1, 1] + [0] * 7
    assert sub.dropped == 7
    gate.set()
    assert await bus.drain(2.0)
    assert seen == [0, 1, 2]
    await bus.close()


async def test_failing_handler_is_logged_with_name_and_keeps_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    seen: list[int] = []

    def flaky(e: Tick) -> None:
        if e.n == 1:
            raise ValueError("boom")
        seen.append(e.n)

    sub = bus.subscribe(Tick, flaky, name="flaky-sub")
    with caplog.at_level(logging.ERROR, logger="peaktrade_daemon.bus"):
        for n in range(3):
            bus.publish(Tick(n=n))
        assert await bus.drain(2.0)
    assert seen == [0, 2]
    assert sub.failed == 1
    assert any("flaky-sub" in r.getMessage() for r in caplog.records)
    await bus.close()


async def test_next_event_with_predicate_and_timeout() -> None:
    bus = EventBus()
    waiter = asyncio.ensure_future(bus.next_event(Tick, timeout_s=2, predicate=lambda e: e.n == 3))
    await asyncio.sleep(0)
    for n in range(5):
        bus.publish(Tick(n=n))
    got = await asyncio.wait_for(waiter, 2)
    assert got.n == 3
    with pytest.raises(TimeoutError):
        await bus.next_event(Other, timeout_s=0.05)
    await bus.close()


async def test_closed_bus_refuses_events() -> None:
    bus = EventBus()
    bus.subscribe(Tick, lambda e: None, name="x")
    await bus.close()
    assert bus.publish(Tick(n=1)) == 0
    with pytest.raises(RuntimeError):
        bus.subscribe(Tick, lambda e: None, name="y")


@settings(max_examples=60, deadline=None)
@given(
    maxsize=st.integers(min_value=1, max_value=8),
    bursts=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=6),
    policy=st.sampled_from(list(OverflowPolicy)),
)
def test_every_event_is_delivered_or_counted_dropped_in_order(
    maxsize: int, bursts: list[int], policy: OverflowPolicy
) -> None:
    async def scenario() -> None:
        bus = EventBus()
        seen: list[int] = []
        sub = bus.subscribe(
            Tick, lambda e: seen.append(e.n), name="p", maxsize=maxsize, policy=policy
        )
        n = 0
        for burst in bursts:
            for _ in range(burst):
                bus.publish(Tick(n=n))
                n += 1
            assert await bus.drain(2.0)
        assert len(seen) + sub.dropped == n
        assert seen == sorted(seen)  # order is preserved whatever is dropped
        await bus.close()

    uvloop.run(asyncio.wait_for(scenario(), 10))


async def test_drain_waits_for_the_handler_of_the_last_event() -> None:
    # The queue is empty as soon as the handler took the event; drain must still wait for it,
    # or whoever drains (shutdown, replay) acts before the handler's work is done.
    bus = EventBus()
    release = asyncio.Event()
    handled: list[int] = []

    async def handler(e: Tick) -> None:
        await release.wait()
        handled.append(e.n)

    sub = bus.subscribe(Tick, handler, name="in-flight")
    bus.publish(Tick(n=1))
    await asyncio.sleep(0)  # the consumer pops the event and parks in the handler
    assert sub.depth == 0
    assert not await bus.drain(0.05)
    release.set()
    assert await bus.drain(2.0)
    assert handled == [1]
    await bus.close()
