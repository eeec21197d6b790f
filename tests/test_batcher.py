"""Batcher: items submitted together run in one worker-thread call, one batch at a time, each
caller gets its own outcome, and a caller that gives up loses only its own item."""

from __future__ import annotations

import asyncio
import threading

import pytest

from peaktrade_daemon.batcher import Batcher, each


async def submitted(batcher: Batcher[int, int], item: int, noted: asyncio.Event) -> int:
    """Submit ``item``, setting ``noted`` in the same step (submit queues before it waits)."""
    noted.set()
    return await batcher.submit(item)


class Recorder:
    """Blocking work that records every batch, the thread it ran in and overlapping runs."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.batches: list[list[int]] = []
        self.threads: set[int] = set()
        self.running = 0
        self.overlapped = False
        self.gate = gate
        self.entered = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, items: list[int]) -> list[int | Exception]:
        with self._lock:
            self.running += 1
            self.overlapped |= self.running > 1
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        self.batches.append(list(items))
        self.threads.add(threading.get_ident())
        with self._lock:
            self.running -= 1
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


async def test_items_submitted_together_run_in_one_call_off_the_loop() -> None:
    work = Recorder()
    batcher: Batcher[int, int] = Batcher(work, "test")
    async with asyncio.timeout(10):
        outcomes = await asyncio.gather(
            *(batcher.submit(i) for i in range(6)), return_exceptions=True
        )
    assert work.batches == [[0, 1, 2, 3, 4, 5]]
    assert threading.get_ident() not in work.threads
    assert outcomes[0::2] == [0, 20, 40]
    assert [str(e) for e in outcomes[1::2]] == ["odd 1", "odd 3", "odd 5"]
    assert batcher.batches == 1


async def test_batches_run_one_at_a_time_and_later_items_form_the_next() -> None:
    gate = threading.Event()
    work = Recorder(gate)
    batcher: Batcher[int, int] = Batcher(work, "test")
    async with asyncio.timeout(10):
        first = asyncio.gather(batcher.submit(0), batcher.submit(2))
        await asyncio.to_thread(work.entered.wait, 10)  # the first batch is running
        noted = [asyncio.Event(), asyncio.Event()]
        second = asyncio.gather(
            *(submitted(batcher, i, e) for i, e in zip((4, 6), noted, strict=True))
        )
        for event in noted:  # both queued while the first batch still runs
            await event.wait()
        gate.set()
        assert await first == [0, 20]
        assert await second == [40, 60]
    assert work.batches == [[0, 2], [4, 6]]
    assert not work.overlapped


async def test_a_cancelled_caller_gives_up_its_own_item_only() -> None:
    gate = threading.Event()
    work = Recorder(gate)
    batcher: Batcher[int, int] = Batcher(work, "test")
    async with asyncio.timeout(10):
        kept = asyncio.ensure_future(batcher.submit(2))
        dropped = asyncio.ensure_future(batcher.submit(4))
        await asyncio.to_thread(work.entered.wait, 10)
        dropped.cancel()
        gate.set()
        assert await kept == 20
        with pytest.raises(asyncio.CancelledError):
            await dropped


async def test_an_item_whose_caller_left_before_its_batch_is_left_out() -> None:
    gate = threading.Event()
    work = Recorder(gate)
    batcher: Batcher[int, int] = Batcher(work, "test")
    async with asyncio.timeout(10):
        running = asyncio.ensure_future(batcher.submit(0))
        await asyncio.to_thread(work.entered.wait, 10)
        noted = asyncio.Event()
        gone = asyncio.ensure_future(submitted(batcher, 2, noted))
        stays = asyncio.ensure_future(batcher.submit(4))
        await noted.wait()
        gone.cancel()
        gate.set()
        assert await running == 0 and await stays == 40
    assert work.batches == [[0], [4]]


async def test_work_that_raises_fails_every_item_of_its_batch_and_the_next_batch_runs() -> None:
    calls: list[list[int]] = []

    def work(items: list[int]) -> list[int | Exception]:
        calls.append(items)
        if len(calls) == 1:
            raise RuntimeError("disk gone")
        return list(items)

    batcher: Batcher[int, int] = Batcher(work, "test")
    async with asyncio.timeout(10):
        failed = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
        assert [str(e) for e in failed] == ["disk gone", "disk gone"]
        assert await batcher.submit(3) == 3


async def test_work_returning_the_wrong_number_of_outcomes_fails_the_batch() -> None:
    batcher: Batcher[int, int] = Batcher(lambda items: items[:1], "short")
    async with asyncio.timeout(10):
        outcomes = await asyncio.gather(
            batcher.submit(1), batcher.submit(2), return_exceptions=True
        )
    assert all(isinstance(o, RuntimeError) and "1 outcomes for 2 items" in str(o) for o in outcomes)


def test_each_applies_the_function_and_keeps_exceptions_per_item() -> None:
    run = each(lambda x: 10 // x)
    outcomes = run([5, 0, 2])
    assert outcomes[0] == 2 and outcomes[2] == 5
    assert isinstance(outcomes[1], ZeroDivisionError)
