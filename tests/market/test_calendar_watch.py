"""The calendar tables' watch: a warning within 60 days of a table's end, critical after it, at
start-up and daily, for the exchange calendars configured symbols use."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.daemon import Daemon
from peaktrade_daemon.events import AlertRaised, RunState, RunStateChanged
from peaktrade_daemon.market.calendar_watch import CalendarWatch, ending_tables
from peaktrade_daemon.market.exchange_table import load_table
from peaktrade_daemon.runtime import DaemonOptions, Plugins, Runtime
from peaktrade_daemon.settings import DaemonSettings, load_settings
from peaktrade_daemon.snapshot import SnapshotSpec

LAST = load_table("XNAS").last_day


def test_only_tables_ending_within_60_days_of_used_calendars(project_root: Path) -> None:
    settings = load_settings(project_root)  # GOOG on nasdaq = XNAS
    assert ending_tables(settings, LAST - timedelta(days=61)) == []
    (soon,) = ending_tables(settings, LAST - timedelta(days=60))
    assert (soon.calendar, soon.exchange, soon.last_day, soon.days_left) == (
        "nasdaq",
        "XNAS",
        LAST,
        60,
    )
    (ended,) = ending_tables(settings, LAST + timedelta(days=3))
    assert ended.days_left == -3
    # A calendar no symbol uses raises nothing, however close its end.
    unused = {"calendars": {"london": {"kind": "exchange", "exchange": "XLON"}}}
    with_london = load_settings(project_root, cli_overrides=unused)
    assert [e.calendar for e in ending_tables(with_london, LAST)] == ["nasdaq"]
    no_goog = {"symbols": {"GOOG": {"calendar": "crypto"}}}
    assert ending_tables(load_settings(project_root, cli_overrides=no_goog), LAST) == []


async def _running(daemon: Daemon) -> None:
    await daemon.bus.next_event(
        RunStateChanged, timeout_s=10, predicate=lambda e: e.current is RunState.RUNNING
    )


def _from_watch(event: AlertRaised) -> bool:
    return event.alert.source == "calendar"


def _daemon(root: Path, clock: ManualClock) -> Daemon:
    """A dry-run daemon whose only part is the watch."""
    options = DaemonOptions(
        spec=SnapshotSpec(root=root, cli_overrides={"alerts": {"console": False}}),
        dry_run=True,
    )

    def watch(rt: Runtime) -> CalendarWatch:
        return CalendarWatch(rt.snapshot().settings, rt.clock, rt.alerts)

    return Daemon(options, plugins=Plugins(components=(watch,)), clock=clock)


async def test_the_running_daemon_warns_at_start_up_then_daily(project_root: Path) -> None:
    start = datetime.combine(LAST - timedelta(days=30), time(12), tzinfo=UTC)
    clock = ManualClock(start)
    daemon = _daemon(project_root, clock)
    first = daemon.bus.expect(AlertRaised, _from_watch)
    running = asyncio.ensure_future(_running(daemon))
    task = asyncio.create_task(daemon.run())
    try:
        alert = (await asyncio.wait_for(first, 10)).alert
        await asyncio.wait_for(running, 10)
        assert str(alert.level) == "warning"
        assert alert.context == {
            "calendar": "nasdaq",
            "exchange": "XNAS",
            "last_day": LAST.isoformat(),
            "days_left": 30,
        }
        # An hour at a time: however late the watch went back to sleep, its next check is the
        # next day's (it sleeps a day from each check).
        daily = daemon.bus.expect(AlertRaised, _from_watch)
        for _ in range(36):
            await clock.advance(3600)
            if daily.done():
                break
        assert (await asyncio.wait_for(daily, 10)).alert.context["days_left"] == 29
        assert clock.now() - start >= timedelta(days=1)
    finally:
        daemon.request_stop("test over")
        assert await asyncio.wait_for(task, 10) == 0


async def test_a_table_that_ended_is_a_critical_alert(project_root: Path) -> None:
    clock = ManualClock(datetime.combine(LAST + timedelta(days=1), time(12), tzinfo=UTC))
    daemon = _daemon(project_root, clock)
    first = daemon.bus.expect(AlertRaised, _from_watch)
    task = asyncio.create_task(daemon.run())
    try:
        alert = (await asyncio.wait_for(first, 10)).alert
        assert str(alert.level) == "critical" and alert.context["days_left"] == -1
        assert "market hours are unknown" in alert.message
    finally:
        daemon.request_stop("test over")
        assert await asyncio.wait_for(task, 10) == 0


async def test_reload_adopts_the_new_symbols(project_root: Path) -> None:
    settings = load_settings(project_root)
    recorded: list[tuple[str, str]] = []

    class Alerts:
        async def emit(
            self, level: object, source: str, message: str, context: object = None
        ) -> None:
            recorded.append((str(level), message))

    clock = ManualClock(datetime.combine(LAST, time(0), tzinfo=UTC))
    watch = CalendarWatch(settings, clock, Alerts())
    assert len(await watch.check()) == 1
    crypto_only: DaemonSettings = load_settings(
        project_root, cli_overrides={"symbols": {"GOOG": {"calendar": "crypto"}}}
    )
    await watch.reload(crypto_only)
    assert await watch.check() == []
    assert recorded == [
        (
            "warning",
            f"trading calendar table XNAS ends on {LAST} (0 days); "
            "install a release with newer tables",
        )
    ]
