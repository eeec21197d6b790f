"""One-shot CLI alerts: log line and console always, database rows and outbox when the state
database exists and it is not a dry run; a running daemon's outbox delivers what another
process queued."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from peaktrade_daemon.alerts.console import ConsoleSink
from peaktrade_daemon.alerts.log import parse_line
from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.alerts.oneshot import OneShotAlerts
from peaktrade_daemon.alerts.outbox import OutboxWorker
from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.settings import DaemonSettings, load_settings
from peaktrade_daemon.storage.alert_store import AlertStore
from peaktrade_daemon.storage.db import open_database
from tests.alerts.receiver import Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


def settings_for(root: Path, url: str) -> DaemonSettings:
    sink = {"name": "hook", "kind": "webhook", "url": url, "min_level": "warning"}
    return load_settings(root, cli_overrides={"alerts": {"sinks": [sink], "dedup_window_s": 0}})


def log_lines(settings: DaemonSettings) -> list[str]:
    path = settings.path(settings.paths.alert_log)
    return [parse_line(x).message for x in path.read_text().splitlines()]


async def test_without_a_database_only_the_log_and_console_and_nothing_is_created(
    project_root: Path, receiver: Receiver
) -> None:
    settings = settings_for(project_root, receiver.url)
    err = io.StringIO()
    async with asyncio.timeout(10), OneShotAlerts(settings, console=ConsoleSink(stderr=err)) as a:
        await a.emit(AlertLevel.CRITICAL, "promotion", "policy missing", {"file": "x"})
    assert log_lines(settings) == ["policy missing"]
    assert "[CRITICAL] [promotion] policy missing" in err.getvalue()
    assert not (project_root / "state" / "peaktrade.db").exists()


async def test_rows_queued_by_a_command_are_delivered_by_the_daemons_outbox(
    project_root: Path, receiver: Receiver
) -> None:
    settings = settings_for(project_root, receiver.url)
    async with asyncio.timeout(30):
        database = await open_database(settings.database_url)
        clock = ManualClock(datetime(2026, 3, 2, 10, tzinfo=UTC))
        store = AlertStore(database)
        worker = OutboxWorker(store, settings.alerts, clock, report=OneShotAlerts(settings).emit)
        await worker.start()
        task = asyncio.create_task(worker.run())
        try:
            # Yield until the sink loop found nothing and sleeps on the clock (ManualClock has
            # no event for that), so the row below can only arrive through the poll.
            while clock.pending_sleepers == 0:  # noqa: ASYNC110
                await asyncio.sleep(0)
            # "Another process": its own emitter and database connection, waking nobody (on the
            # same clock, so the row is due at the outbox's "now").
            quiet = ConsoleSink(io.StringIO())
            async with OneShotAlerts(settings, clock=clock, console=quiet) as cli:
                await cli.emit(AlertLevel.WARNING, "scheduler", "job failed", {"job": "x"})
            [stored] = await store.recent()
            assert stored.alert.message == "job failed"
            assert await store.outbox_counts() == {("hook", "pending"): 1}
            await clock.advance(30)  # the outbox's poll for rows other processes queued
            await receiver.wait_until(lambda r: len(r.accepted) == 1)
            assert receiver.accepted[0]["message"] == "job failed"
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await worker.stop()
            await database.close()


async def test_dry_run_records_nothing_and_emit_sync_works_inside_a_loop(
    project_root: Path, receiver: Receiver
) -> None:
    settings = settings_for(project_root, receiver.url)
    async with asyncio.timeout(30):
        database = await open_database(settings.database_url)
        try:
            dry = OneShotAlerts(settings, dry_run=True, console=ConsoleSink(io.StringIO()))
            dry.emit_sync(AlertLevel.CRITICAL, "promotion", "refused in a dry run")
            live = OneShotAlerts(settings, console=ConsoleSink(io.StringIO(), io.StringIO()))
            live.emit_sync(AlertLevel.CRITICAL, "promotion", "refused for real")
            stored = [s.alert.message for s in await AlertStore(database).recent()]
        finally:
            await database.close()
    assert log_lines(settings) == ["refused in a dry run", "refused for real"]
    assert stored == ["refused for real"]
