"""The dispatcher: log line, console streams, database rows, bus event, de-duplication summary."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from peaktrade_daemon.alerts.console import ConsoleSink
from peaktrade_daemon.alerts.dispatcher import AlertDispatcher
from peaktrade_daemon.alerts.log import AlertLog, parse_line
from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.bus import EventBus
from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.events import AlertRaised
from peaktrade_daemon.metrics import DaemonMetrics
from peaktrade_daemon.settings import AlertSinkSettings, AlertsSection
from peaktrade_daemon.storage.alert_store import AlertStore
from peaktrade_daemon.storage.db import open_database

SINK = AlertSinkSettings(
    name="hook", kind="webhook", url="http://127.0.0.1:9/x", min_level="warning"
)


async def test_emit_writes_everywhere_and_dedups_with_summary(tmp_path: Path) -> None:
    db = await open_database(f"sqlite+aiosqlite:///{tmp_path / 's.db'}")
    clock = ManualClock(datetime(2025, 5, 1, tzinfo=UTC))
    out, err = io.StringIO(), io.StringIO()
    bus = EventBus()
    metrics = DaemonMetrics()
    store = AlertStore(db)
    queued: list[int] = []
    d = AlertDispatcher(
        AlertsSection(dedup_window_s=60, sinks=(SINK,)),
        clock,
        AlertLog(tmp_path / "alerts.log"),
        console=ConsoleSink(out, err),
        store=store,
        bus=bus,
        metrics=metrics,
        on_queued=lambda: queued.append(1),
    )
    try:
        raised = bus.expect(AlertRaised)
        await d.emit(AlertLevel.CRITICAL, "risk", "drawdown 12%", {"symbol": "BTC"})
        event = await raised
        assert event.alert.message == "drawdown 12%" and event.alert_id is not None
        await d.emit(AlertLevel.INFO, "cycle", "cycle done")
        for pct in (13, 14, 15):
            await clock.advance(1)
            await d.emit(AlertLevel.CRITICAL, "risk", f"drawdown {pct}%", {"symbol": "BTC"})
        assert err.getvalue() == "[2025-05-01T00:00:00.000Z] [CRITICAL] [risk] drawdown 12%\n"
        assert out.getvalue() == "[2025-05-01T00:00:00.000Z] [INFO] [cycle] cycle done\n"
        assert queued == [1]  # the info alert is below the sink's min level
        await clock.advance(60)
        await d.emit(AlertLevel.INFO, "cycle", "cycle done")  # closes the window on the way
        lines = [parse_line(x) for x in (tmp_path / "alerts.log").read_text().splitlines()]
        assert [a.message for a in lines] == [
            "drawdown 12%",
            "cycle done",
            "drawdown #% (repeated 3 more times within 60s)",
            "cycle done",
        ]
        assert lines[2].context["suppressed"] == 3
        rows = await store.recent(limit=10)
        assert len(rows) == 4
        assert (await store.outbox_counts()) == {("hook", "pending"): 2}
        assert metrics.alerts.labels(level="critical").value == 2
        assert metrics.alerts_suppressed.labels(level="critical").value == 3
    finally:
        await d.stop()
        await bus.close()
        await db.close()


async def test_no_store_and_no_delivery_still_logs(tmp_path: Path) -> None:
    clock = ManualClock()
    d = AlertDispatcher(
        AlertsSection(console=False, sinks=(SINK,)),
        clock,
        AlertLog(tmp_path / "a.log"),
        deliver=False,
    )
    await d.emit(AlertLevel.WARNING, "x", "dry run alert")
    await d.emit(AlertLevel.WARNING, "x", "dry run alert")
    await d.stop()
    lines = [parse_line(x).message for x in (tmp_path / "a.log").read_text().splitlines()]
    assert lines == ["dry run alert", "dry run alert (repeated 1 more time within 300s)"]
