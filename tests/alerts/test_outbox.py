"""Outbox delivery against a real HTTP server on 127.0.0.1 that fails, then recovers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.alerts.dispatcher import AlertDispatcher
from peaktrade_daemon.alerts.log import AlertLog, parse_line
from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.alerts.outbox import OutboxWorker
from peaktrade_daemon.clock import SystemClock
from peaktrade_daemon.metrics import DaemonMetrics
from peaktrade_daemon.settings import AlertSinkSettings, AlertsSection
from peaktrade_daemon.storage.alert_store import AlertStore
from peaktrade_daemon.storage.db import Database, open_database
from tests.alerts.receiver import Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'state.db'}")
    yield db
    await db.close()


def _settings(*sinks: AlertSinkSettings, **kw: Any) -> AlertsSection:
    base: dict[str, Any] = dict(
        console=False, dedup_window_s=0, retry_initial_s=0.05, retry_max_s=0.2, max_attempts=1000
    )
    base.update(kw)
    return AlertsSection(sinks=sinks, **base)


class Harness:
    def __init__(self, db: Database, settings: AlertsSection, log_path: Path) -> None:
        clock = SystemClock()
        self.store = AlertStore(db)
        self.dispatcher = AlertDispatcher(settings, clock, AlertLog(log_path), store=self.store)
        self.metrics = DaemonMetrics()
        self.worker = OutboxWorker(
            self.store, settings, clock, report=self.dispatcher.emit_local, metrics=self.metrics
        )
        self.dispatcher.set_on_queued(self.worker.notify)
        self.task: asyncio.Task[None] | None = None

    async def until_counts(self, predicate: Any, timeout_s: float = 10.0) -> dict[Any, int]:
        """Await worker progress until the outbox counts satisfy ``predicate``."""
        async with asyncio.timeout(timeout_s):
            while True:
                self.worker.progress.clear()
                counts = await self.store.outbox_counts()
                if predicate(counts):
                    return counts
                await self.worker.progress.wait()

    async def __aenter__(self) -> Harness:
        await self.worker.start()
        self.task = asyncio.create_task(self.worker.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.worker.stop()
        await self.dispatcher.stop()


async def test_fails_then_recovers_every_alert_delivered_exactly_once(
    receiver: Receiver, database: Database, tmp_path: Path
) -> None:
    sink = AlertSinkSettings(name="hook", kind="webhook", url=receiver.url, min_level="info")
    log_path = tmp_path / "alerts.log"
    receiver.failing = True
    async with Harness(database, _settings(sink), log_path) as h:
        for i in range(5):
            await h.dispatcher.emit(AlertLevel.WARNING, "test", f"alert number {i}", {"i": i})
        await receiver.wait_until(lambda r: r.failed >= 6)  # retries are happening
        receiver.failing = False
        await h.until_counts(lambda c: c.get(("hook", "delivered")) == 5)
    messages = sorted(b["message"] for b in receiver.accepted)
    assert messages == [f"alert number {i}" for i in range(5)]
    assert len(set(receiver.keys)) == 5
    assert [b["id"] for b in receiver.accepted] == receiver.keys
    counts = await AlertStore(database).outbox_counts()
    assert counts == {("hook", "delivered"): 5}
    lines = [parse_line(x) for x in log_path.read_text().splitlines()]
    reports = [a for a in lines if a.source == "alert-outbox"]
    # Rate-limited: one "failing" report for the whole outage, one "recovered".
    assert [a.message for a in reports] == [
        "alert sink hook is failing",
        "alert sink hook recovered",
    ]


async def test_pending_rows_survive_a_restart_and_are_delivered_once(
    receiver: Receiver, database: Database, tmp_path: Path
) -> None:
    sink = AlertSinkSettings(name="hook", kind="webhook", url=receiver.url, min_level="info")
    settings = _settings(sink, retry_initial_s=30, retry_max_s=60)
    receiver.failing = True
    async with Harness(database, settings, tmp_path / "a.log") as h:
        for i in range(3):
            await h.dispatcher.emit(AlertLevel.CRITICAL, "test", f"before restart {i}")
        await receiver.wait_until(lambda r: r.failed >= 1)
    assert (await AlertStore(database).outbox_counts())[("hook", "pending")] == 3
    receiver.failing = False
    async with Harness(database, settings, tmp_path / "a.log") as h:
        await h.until_counts(lambda c: c.get(("hook", "delivered")) == 3)
    assert sorted(b["message"] for b in receiver.accepted) == [
        f"before restart {i}" for i in range(3)
    ]
    assert len(set(receiver.keys)) == 3
    assert await AlertStore(database).outbox_counts() == {("hook", "delivered"): 3}


async def test_dead_sink_does_not_block_a_healthy_one_and_levels_route(
    receiver: Receiver, database: Database, tmp_path: Path
) -> None:
    dead = AlertSinkSettings(
        name="dead", kind="webhook", url="http://127.0.0.1:9/never", min_level="info", timeout_s=0.5
    )
    slack = AlertSinkSettings(name="slack", kind="slack", url=receiver.url, min_level="warning")
    async with Harness(database, _settings(dead, slack, max_attempts=2), tmp_path / "a.log") as h:
        await h.dispatcher.emit(AlertLevel.INFO, "test", "only for the dead sink")
        await h.dispatcher.emit(AlertLevel.CRITICAL, "test", "page someone", {"symbol": "GOOG"})
        await h.until_counts(
            lambda c: c.get(("dead", "dead")) == 2 and c.get(("slack", "delivered"))
        )
        store = AlertStore(database)
    body = receiver.accepted[0]
    assert body["text"].startswith(":rotating_light: *[CRITICAL]* `test` page someone")
    assert {"type": "mrkdwn", "text": "*symbol*: GOOG"} in body["blocks"][1]["fields"]
    assert len(receiver.accepted) == 1  # the info alert never went to the warning-level sink
    assert (await store.outbox_counts())[("slack", "delivered")] == 1
    deliveries = h.metrics.alert_deliveries
    assert deliveries.labels(sink="dead", outcome="dead").value == 2
    assert deliveries.labels(sink="slack", outcome="delivered").value == 1
