"""The promotion worker inside an in-process ``Daemon`` (§8.8), on a ManualClock and a live root.

* One patch of a published batch raises while it is judged: the others are still promoted, the
  bad entry beside them is skipped with a warning, and the batch is acknowledged (seen).
* A batch published and handed to the worker, the daemon stopped before the worker processed it:
  not marked seen, so the next start promotes it.
* A hand edit of auto.toml raises a critical alert at start-up, and while running within one
  check interval of the clock, without any write.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.alerts.model import Alert
from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.daemon import Daemon, default_plugins
from peaktrade_daemon.events import AlertRaised, RunState, RunStateChanged
from peaktrade_daemon.governance.verdicts import PromotionCandidate, PromotionDecision, decide
from peaktrade_daemon.learning.models import ConfigPatch
from peaktrade_daemon.promotion import engine
from peaktrade_daemon.promotion.inbox import SEEN_FILE
from peaktrade_daemon.promotion.worker import PromotionWorker
from peaktrade_daemon.runtime import DaemonOptions, Runtime
from peaktrade_daemon.snapshot import SnapshotSpec
from peaktrade_daemon.systemd import SystemdNotifier
from peaktrade_daemon.wiring import Assembly
from tests.daemon_harness import set_toml
from tests.promotion.attacker import DELAY, LEVERAGE, WEIGHT, LiveRoot
from tests.promotion.conftest import T0, make_patch

#: The shipped rollback.check_interval_seconds: the worker compares auto.toml this often.
CHECK_INTERVAL_S = 60
#: How often the patch inbox looks at the published file (no other component sleeps this long).
INBOX_POLL_S = 1.5


class InboxClock(ManualClock):
    """A ManualClock that tells when the patch inbox has gone back to sleep (so the test moves
    time on only once the inbox waits on it)."""

    def __init__(self) -> None:
        super().__init__(T0)
        self.inbox_asleep: asyncio.Queue[None] = asyncio.Queue()

    async def sleep(self, seconds: float) -> None:
        if seconds == INBOX_POLL_S:
            self.inbox_asleep.put_nowait(None)
        await super().sleep(seconds)

    async def next_inbox_check(self) -> None:
        """Wait for the inbox to be asleep, then move time to its next check."""
        await asyncio.wait_for(self.inbox_asleep.get(), 30)
        await self.advance(INBOX_POLL_S)


HUGE = "1" + "0" * 400


@pytest.fixture
def root(project_root: Path) -> LiveRoot:
    """The shipped root, live, with the policy in bounded_auto."""
    live = LiveRoot.on(project_root)
    set_toml(
        project_root / "config" / "promotion.toml", 'mode = "manual_only"', 'mode = "bounded_auto"'
    )
    return live


def _publish(root: LiveRoot, patches: list[ConfigPatch], *raw_entries: str) -> str:
    """Write reports/learning/published_patches.json as ``learn`` does (plus ``raw_entries``,
    JSON texts no ConfigPatch could produce); returns the SHA-256 of its bytes."""
    entries = [json.dumps(p.to_dict(), sort_keys=True) for p in patches] + list(raw_entries)
    data = ('{"patches": [' + ", ".join(entries) + "]}\n").encode()
    path = root.path / "reports" / "learning" / "published_patches.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _seen(root: LiveRoot) -> str | None:
    path = root.path / "state" / SEEN_FILE
    return path.read_text().strip() if path.exists() else None


@dataclass
class Running:
    """A daemon in-process and the worker it built."""

    daemon: Daemon
    clock: InboxClock
    workers: list[PromotionWorker]

    @property
    def worker(self) -> PromotionWorker:
        """The promotion worker of this daemon."""
        [worker] = self.workers
        return worker

    def alert(self, predicate: Callable[[Alert], bool]) -> asyncio.Future[AlertRaised]:
        """A future for the next alert matching ``predicate`` (register before the cause)."""
        return self.daemon.bus.expect(AlertRaised, _on_alert(predicate))


def _on_alert(predicate: Callable[[Alert], bool]) -> Callable[[AlertRaised], bool]:
    return lambda event: predicate(event.alert)


@asynccontextmanager
async def running(
    root: LiveRoot, expectations: Mapping[str, Callable[[Alert], bool]] = {}
) -> AsyncIterator[tuple[Running, dict[str, asyncio.Future[AlertRaised]]]]:
    """A continuous daemon (workflows, the promotion worker, the patch inbox; no scheduler) on
    ``root`` with a ManualClock, started until RUNNING. ``expectations`` are registered on the
    bus before the start (alerts raised while starting), and handed back as futures."""
    assembly, workers = Assembly(), []

    def promotion(rt: Runtime) -> PromotionWorker | None:
        worker = assembly.promotion(rt)
        assert isinstance(worker, PromotionWorker)
        workers.append(worker)
        return worker

    plugins = replace(
        default_plugins(),
        components=(assembly.workflows, promotion, assembly.inbox),
        cycle_runner=assembly.cycle,
        retention_rules=(assembly.retention,),
    )
    overrides: dict[str, Any] = {
        "alerts": {"console": False},
        "daemon": {"poll_interval_s": 3600},
        "promotion": {"inbox_poll_s": INBOX_POLL_S},
    }
    options = DaemonOptions(
        spec=SnapshotSpec(root=root.path, cli_overrides=overrides), no_scheduler=True
    )
    clock = InboxClock()
    daemon = Daemon(options, plugins=plugins, clock=clock, notifier=SystemdNotifier({}))
    futures = {
        name: daemon.bus.expect(AlertRaised, _on_alert(predicate))
        for name, predicate in expectations.items()
    }
    started = daemon.bus.expect(RunStateChanged, lambda e: e.current is RunState.RUNNING)
    run = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(started, 60)
        yield Running(daemon, clock, workers), futures
        daemon.request_stop("test over")
        assert await asyncio.wait_for(run, 60) == 0
    finally:
        if not run.done():
            run.cancel()
        for future in futures.values():
            future.cancel()


def _applied(key: str, before: float, after: float) -> Callable[[Alert], bool]:
    return lambda a: a.message == f"auto-applied {key}: {before} -> {after}"


async def test_a_patch_that_raises_while_judged_rejects_only_itself(
    root: LiveRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a published batch, judging trigger_delay raises (the pure ``decide`` patched for that
    one target) and a regime_weight entry holds 10**400 (no valid patch): leverage beside them is
    still promoted and stepped, trigger_delay gets its own REJECTED_BY_SANITY_CHECK verdict, the
    bad entry a warning, and the batch is acknowledged."""

    def breaks_on_delay(candidate: PromotionCandidate, *args: Any) -> PromotionDecision:
        if candidate.patch.target == DELAY:
            raise RuntimeError("a judge that breaks on this one patch")
        return decide(candidate, *args)

    monkeypatch.setattr(engine, "decide", breaks_on_delay)
    bad = (
        f'{{"id": "huge", "target": "{WEIGHT}", "new_value": {HUGE}, "status": "APPLIED_OFFLINE"}}'
    )
    digest = _publish(
        root,
        [make_patch(LEVERAGE, 1.5, confidence=0.9), make_patch(DELAY, 6.0, confidence=0.9)],
        bad,
    )
    expected = {
        "applied": _applied(LEVERAGE, 1.0, 1.25),
        "skipped": lambda a: str(a.level) == "warning" and "entry 2" in a.message,
    }
    async with running(root, expected) as (daemon, alerts):
        await asyncio.wait_for(alerts["applied"], 60)
        await asyncio.wait_for(alerts["skipped"], 5)
        await asyncio.wait_for(daemon.worker.idle.wait(), 30)  # the batch acknowledged
    assert root.live_table() == {LEVERAGE: 1.25}
    verdicts = {r["key"]: r for r in root.audit() if r.get("event") == "verdict"}
    assert verdicts[LEVERAGE]["verdict"] == "ACCEPTED_FOR_PROPOSAL"
    assert verdicts[DELAY]["verdict"] == "REJECTED_BY_SANITY_CHECK"
    assert "judging failed unexpectedly" in verdicts[DELAY]["reasons"][0]
    assert WEIGHT not in verdicts
    assert _seen(root) == digest


async def test_a_batch_not_processed_before_a_stop_is_promoted_after_the_restart(
    root: LiveRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inbox hands a published batch to the worker; the daemon stops before the worker
    processed it (its ``_promote`` held until the stop cancels it). The batch is not marked
    seen and nothing is written; the next daemon on the same root promotes it."""
    digest = _publish(root, [make_patch(LEVERAGE, 1.5, confidence=0.9)])
    before = root.auto_bytes()
    real_promote = PromotionWorker._promote
    handed = asyncio.Event()

    async def held(self: PromotionWorker, patches: Any) -> None:
        handed.set()
        await asyncio.Event().wait()  # until the stop cancels the worker

    monkeypatch.setattr(PromotionWorker, "_promote", held)
    async with running(root):
        await asyncio.wait_for(handed.wait(), 60)
    assert _seen(root) is None
    assert root.auto_bytes() == before and not root.audit()

    monkeypatch.setattr(PromotionWorker, "_promote", real_promote)
    async with running(root, {"applied": _applied(LEVERAGE, 1.0, 1.25)}) as (daemon, alerts):
        await asyncio.wait_for(alerts["applied"], 60)
        await asyncio.wait_for(daemon.worker.idle.wait(), 30)  # the batch acknowledged
    assert root.live_table() == {LEVERAGE: 1.25}
    assert _seen(root) == digest


def _hand_edit_alert(key: str) -> Callable[[Alert], bool]:
    return lambda a: (
        str(a.level) == "critical"
        and "edited outside the promotion writer" in a.message
        and key in a.message
    )


async def test_a_hand_edit_is_alerted_at_start_and_within_one_check_interval(
    root: LiveRoot,
) -> None:
    """auto.toml edited by hand before the start (leverage 1.75, never recorded): a critical
    alert while starting, before any write. Edited again while running (stop_loss 0.9 added):
    once the clock moves one check interval, another critical alert naming the key; the daemon
    writes nothing either time."""
    root.hand_edit({LEVERAGE: 1.75})
    edited, trail = root.auto_bytes(), root.audit()
    async with running(root, {"start": _hand_edit_alert(LEVERAGE)}) as (daemon, alerts):
        await asyncio.wait_for(alerts["start"], 5)  # raised while starting
        await asyncio.wait_for(daemon.worker.idle.wait(), 30)
        root.hand_edit({"risk.stop_loss": 0.9})
        again = daemon.alert(_hand_edit_alert("risk.stop_loss"))
        try:
            await daemon.clock.advance(CHECK_INTERVAL_S)
            raised = await asyncio.wait_for(again, 30)
        finally:
            again.cancel()
        assert raised.alert.context["differences"]
        assert root.auto.read_bytes() != edited  # the second edit is there, as made
        edited = root.auto_bytes()
    assert root.auto_bytes() == edited and root.audit() == trail


async def test_editing_the_published_file_while_running_is_only_another_batch(
    root: LiveRoot,
) -> None:
    """While the daemon runs, the published file is written the way an attacker with reports/
    might: a half-written (unparseable) file, then a set with leverage 50.0 beside a valid
    trigger_delay. The first is one warning and skipped; the second is judged like any batch
    (leverage refused by the firewall, trigger_delay stepped): no crash, nothing beyond the
    learning channel's own reach."""
    async with running(root) as (daemon, _):
        await asyncio.wait_for(daemon.worker.idle.wait(), 30)
        published = root.path / "reports" / "learning" / "published_patches.json"
        published.parent.mkdir(parents=True, exist_ok=True)
        unreadable = daemon.alert(lambda a: "published patches unreadable" in a.message)
        published.write_text('{"patches": [{"target": "portfolio.lev')
        await daemon.clock.next_inbox_check()
        await asyncio.wait_for(unreadable, 30)
        applied = daemon.alert(_applied(DELAY, 10.0, 8.0))
        digest = _publish(
            root, [make_patch(LEVERAGE, 50.0, confidence=0.99), make_patch(DELAY, 6.0)]
        )
        await daemon.clock.next_inbox_check()
        await asyncio.wait_for(applied, 60)
        await asyncio.wait_for(daemon.worker.idle.wait(), 30)
    assert root.live_table() == {DELAY: 8.0}
    verdicts = {r["key"]: r["verdict"] for r in root.audit() if r.get("event") == "verdict"}
    assert verdicts == {LEVERAGE: "REJECTED_BY_SANITY_CHECK", DELAY: "ACCEPTED_FOR_PROPOSAL"}
    assert _seen(root) == digest


async def test_a_forged_seen_file_can_only_withhold_a_batch(root: LiveRoot) -> None:
    """``state/published_patches.seen`` holding the digest of the published set (state/ is
    outside what §8.8's attacker can write; an operator's mistake, say): the set is taken as
    promoted and withheld, which is all such a file can do; it moves nothing. Unreadable
    garbage there means the set is judged again."""
    digest = _publish(root, [make_patch(LEVERAGE, 1.5, confidence=0.9)])
    seen = root.path / "state" / SEEN_FILE
    seen.write_text(digest + "\n")
    async with running(root) as (daemon, _):
        await asyncio.wait_for(daemon.worker.idle.wait(), 30)
    assert not root.audit() and root.live_table() == {}
    seen.write_bytes(b"\xff\xfe not a digest")
    async with running(root, {"applied": _applied(LEVERAGE, 1.0, 1.25)}) as (daemon, alerts):
        await asyncio.wait_for(alerts["applied"], 60)
        await asyncio.wait_for(daemon.worker.idle.wait(), 30)
    assert _seen(root) == digest
