"""SPEC §8.8: in the daemon a batch is marked seen only after it was processed.

A batch the worker could not process (no valid policy, a base config it cannot read, a file it
cannot write) is not acknowledged, so the inbox, which publishes its current set again when that
set is not the one acknowledged, offers it again after the next reload or restart instead of
marking it seen and losing it. The killswitch is different: ``disabled`` drops automated changes
on purpose.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.learning.models import PatchesPublished, patches_to_json
from peaktrade_daemon.promotion.inbox import PatchInbox
from peaktrade_daemon.promotion.worker import PromotionWorker
from peaktrade_daemon.settings import load_settings
from tests.promotion.conftest import T0, make_patch, worker_on
from tests.promotion.test_rollback import BASE, Recorder, Series


class Alerted(Recorder):
    """A recorder that counts alerts by their text."""

    def count(self, text: str) -> int:
        """How many alerts so far contain ``text``."""
        return sum(text in message for _, message, _ in self.alerts)


@dataclass
class Desk:
    """A running worker fed by a real inbox, as the daemon wires them (the bus left out)."""

    worker: PromotionWorker
    inbox: PatchInbox
    recorder: Alerted
    root: Path

    def seen(self) -> str | None:
        """The digest the inbox recorded as processed."""
        try:
            return self.inbox.seen_file.read_text().strip()
        except FileNotFoundError:
            return None

    def proposals(self) -> int:
        """Proposals written so far."""
        return len(list((self.root / "reports/live_promotion").glob("*/proposal_meta.json")))

    async def publish(self, *patches: Any) -> str:
        """Write a published set, let the inbox hand it over and the worker finish with it;
        the set's digest."""
        text = patches_to_json(list(patches))
        self.inbox.path.parent.mkdir(parents=True, exist_ok=True)
        self.inbox.path.write_text(text)
        await self.settle(self.inbox.check())
        return hashlib.sha256(text.encode()).hexdigest()

    async def reload(self) -> None:
        """SIGHUP: both components reload, then the inbox's next check runs."""
        settings = load_settings(self.root)
        async with asyncio.timeout(10):
            await self.inbox.reload(settings)
            await self.worker.reload(settings)
        await self.settle(self.inbox.check())

    async def settle(self, handing: Any) -> int:
        """Await ``handing`` (an inbox check); if it handed a batch over, wait until the worker
        processed or refused it (it acknowledges, or alerts, while busy, then goes idle)."""
        async with asyncio.timeout(10):
            handed = await handing
            if handed:
                self.worker.idle.clear()
                await self.worker.idle.wait()
        return int(handed)


@asynccontextmanager
async def desk(root: Path, before: Callable[[], object] = lambda: None) -> AsyncIterator[Desk]:
    """A worker (its policy as the root says, manual_only by default) and its inbox."""
    recorder = Alerted()
    worker = worker_on(root, ManualClock(T0), Series(BASE), recorder)
    worker._mode_override = None
    await worker.start()
    before()

    def handed(event: PatchesPublished) -> None:
        worker.submit(event.patches, event.done)

    settings = load_settings(root)
    inbox = PatchInbox(settings, clock=ManualClock(T0), alerts=recorder, publish=handed)
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(5):
            await worker.idle.wait()
        yield Desk(worker, inbox, recorder, root)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def leverage(value: float, pid: str = "p") -> Any:
    return make_patch("portfolio.leverage", value, old=1.0, pid=pid)


async def test_a_batch_without_a_valid_policy_is_not_marked_seen(project_root: Path) -> None:
    (project_root / "config/promotion.toml").write_text("mode = [broken\n")
    async with desk(project_root) as d:
        await d.publish(leverage(1.5))
        assert d.recorder.count("patches not promoted") == 1
        assert d.seen() is None and d.proposals() == 0


async def test_a_batch_over_an_unreadable_base_config_is_not_marked_seen(
    project_root: Path,
) -> None:
    base = project_root / "config/config.toml"
    async with desk(project_root, lambda: base.write_text("[portfolio\n")) as d:
        await d.publish(leverage(1.5))
        assert d.recorder.count("promotion refused") == 1
        assert d.seen() is None and d.proposals() == 0


async def test_a_processed_batch_is_marked_seen(project_root: Path) -> None:
    async with desk(project_root) as d:
        digest = await d.publish(leverage(1.5))
        assert d.seen() == digest and d.proposals() == 1


async def test_the_killswitch_drops_a_batch_on_purpose(project_root: Path) -> None:
    policy = project_root / "config/promotion.toml"
    policy.write_text(policy.read_text().replace('mode = "manual_only"', 'mode = "disabled"'))
    async with desk(project_root) as d:
        digest = await d.publish(leverage(1.5))
        assert d.seen() == digest and d.proposals() == 0


async def test_a_refused_batch_is_promoted_after_the_fixing_reload(project_root: Path) -> None:
    policy = project_root / "config/promotion.toml"
    good = policy.read_text()
    policy.write_text("mode = [broken\n")
    async with desk(project_root) as d:
        digest = await d.publish(leverage(1.5))
        assert d.seen() is None
        assert await d.settle(d.inbox.check()) == 0  # no re-offer, no loop, until a reload
        policy.write_text(good)
        await d.reload()
        assert d.seen() == digest and d.proposals() == 1
        await d.reload()  # promoted once, never again
        assert d.proposals() == 1


async def test_a_newer_set_replaces_a_refused_one(project_root: Path) -> None:
    """Set A refused (config.toml half-written for a moment), set B published and processed:
    no reload brings A back, and B is not promoted twice."""
    base = project_root / "config/config.toml"
    good = base.read_text()
    async with desk(project_root) as d:
        base.write_text("[portfolio\n")
        await d.publish(leverage(1.5, "a"))
        assert d.seen() is None
        base.write_text(good)
        digest = await d.publish(leverage(1.25, "b"))
        assert d.seen() == digest and d.proposals() == 1
        await d.reload()
        assert d.seen() == digest and d.proposals() == 1


async def test_a_refused_batch_dropped_by_the_killswitch_stays_dropped(
    project_root: Path,
) -> None:
    """Refused, then ``mode = "disabled"`` and a reload: the re-offered set is dropped
    (acknowledged, no proposal), and lifting the killswitch does not bring it back."""
    base = project_root / "config/config.toml"
    policy = project_root / "config/promotion.toml"
    good = base.read_text()
    async with desk(project_root) as d:
        base.write_text("[portfolio\n")
        digest = await d.publish(leverage(1.5))
        base.write_text(good)
        policy.write_text(policy.read_text().replace('mode = "manual_only"', 'mode = "disabled"'))
        await d.reload()
        assert d.seen() == digest and d.proposals() == 0
        policy.write_text(policy.read_text().replace('mode = "disabled"', 'mode = "manual_only"'))
        await d.reload()
        assert d.proposals() == 0
