"""SPEC §8.8: in the daemon a batch is marked seen only after it was processed.

A batch the worker could not process (no valid policy, a base config it cannot read) is not
acknowledged, so the inbox offers it again after a restart instead of marking it seen and
losing it. The killswitch is different: ``disabled`` drops automated changes on purpose.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.settings import load_settings
from tests.promotion.conftest import T0, make_patch, worker_on
from tests.promotion.test_rollback import BASE, Recorder, Series


class Alerted(Recorder):
    """A recorder that signals each alert."""

    def __init__(self) -> None:
        super().__init__()
        self.alerted = asyncio.Event()

    async def emit(self, *args: Any, **kwargs: Any) -> None:
        await super().emit(*args, **kwargs)
        self.alerted.set()


async def run_one_batch(
    root: Path, recorder: Alerted, before_submit: Callable[[], object] = lambda: None
) -> bool:
    """Submit one batch to a running worker; True when it was acknowledged."""
    worker = worker_on(root, ManualClock(T0), Series(BASE), recorder)
    await worker.start()
    before_submit()
    recorder.alerted.clear()  # a broken policy is alerted at the start already
    acknowledged = asyncio.Event()

    async def done() -> None:
        acknowledged.set()

    task = asyncio.create_task(worker.run())
    try:
        assert worker.submit([make_patch("portfolio.leverage", 1.5)], done)
        async with asyncio.timeout(10):
            await next_of(acknowledged, recorder.alerted)
            # Both fire while the worker is busy with the batch (idle cleared): idle is set
            # again once it finished with it, acknowledged or not.
            await worker.idle.wait()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return acknowledged.is_set()


async def next_of(*events: asyncio.Event) -> None:
    """Wait until one of ``events`` is set."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def test_a_batch_without_a_valid_policy_is_not_marked_seen(project_root: Path) -> None:
    (project_root / "config/promotion.toml").write_text("mode = [broken\n")
    recorder = Alerted()
    assert not await run_one_batch(project_root, recorder)
    assert any("patches not promoted" in a[1] for a in recorder.alerts)


async def test_a_batch_over_an_unreadable_base_config_is_not_marked_seen(
    project_root: Path,
) -> None:
    recorder = Alerted()
    base = project_root / "config/config.toml"
    assert not await run_one_batch(project_root, recorder, lambda: base.write_text("[portfolio\n"))
    assert any("promotion refused" in a[1] for a in recorder.alerts)


async def test_a_processed_batch_is_marked_seen(project_root: Path) -> None:
    assert await run_one_batch(project_root, Alerted())


async def test_the_killswitch_drops_a_batch_on_purpose(project_root: Path) -> None:
    policy = project_root / "config/promotion.toml"
    policy.write_text(policy.read_text().replace('mode = "manual_only"', 'mode = "disabled"'))
    assert await run_one_batch(project_root, Alerted())


async def test_a_refused_batch_is_promoted_after_the_fixing_reload(project_root: Path) -> None:
    policy = project_root / "config/promotion.toml"
    good = policy.read_text()
    policy.write_text("mode = [broken\n")
    recorder = Alerted()
    worker = worker_on(project_root, ManualClock(T0), Series(BASE), recorder)
    await worker.start()
    recorder.alerted.clear()
    acknowledged = asyncio.Event()

    async def done() -> None:
        acknowledged.set()

    task = asyncio.create_task(worker.run())
    try:
        assert worker.submit([make_patch("portfolio.leverage", 1.5)], done)
        async with asyncio.timeout(10):
            await recorder.alerted.wait()
            await worker.idle.wait()
        assert any("patches not promoted" in a[1] for a in recorder.alerts)
        assert not acknowledged.is_set()
        policy.write_text(good)
        await worker.reload(load_settings(project_root))
        async with asyncio.timeout(10):
            await acknowledged.wait()
        assert list((project_root / "reports/live_promotion").glob("*/proposal_meta.json"))
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
