"""The alert dispatcher: the daemon's :class:`~peaktrade_daemon.alerts.model.AlertEmitter`.

``emit`` stamps the alert with the injected clock, runs it through de-duplication, then writes it
in this order: the TSV log line (always, also under ``--dry-run``), the console, the database with
one outbox row per sink that takes its level (skipped under ``--dry-run``; no rows for sinks under
``--no-alerts``), an :class:`~peaktrade_daemon.events.AlertRaised` event on the bus, and the
metrics. Nothing in that chain can make ``emit`` raise: a database error is logged and the log line
is still there.

As a component, its ``run()`` closes de-duplication windows on time and writes their summaries;
``stop()`` writes the summaries of windows still open, so no suppressed count is lost at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from peaktrade_daemon.alerts.console import ConsoleSink
from peaktrade_daemon.alerts.dedup import Deduplicator
from peaktrade_daemon.alerts.log import AlertLog
from peaktrade_daemon.alerts.model import Alert, AlertLevel
from peaktrade_daemon.alerts.webhook import level_at_least
from peaktrade_daemon.bus import EventBus
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.events import AlertRaised
from peaktrade_daemon.settings import AlertsSection, DaemonSettings
from peaktrade_daemon.storage.alert_store import AlertStore
from peaktrade_daemon.supervisor import sleep_unless

if TYPE_CHECKING:
    from peaktrade_daemon.metrics import DaemonMetrics

logger = logging.getLogger(__name__)


class AlertDispatcher:
    """Records and routes alerts (see module docstring); also a daemon component."""

    name = "alerts"

    def __init__(
        self,
        settings: AlertsSection,
        clock: Clock,
        log: AlertLog,
        *,
        console: ConsoleSink | None = None,
        store: AlertStore | None = None,
        bus: EventBus | None = None,
        metrics: DaemonMetrics | None = None,
        deliver: bool = True,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self.log = log
        self._console = console
        self._store = store
        self._bus = bus
        self._metrics = metrics
        self._deliver = deliver
        self._on_queued = on_queued
        self._dedup = Deduplicator(settings.dedup_window_s)
        self._window_opened = asyncio.Event()

    def set_on_queued(self, callback: Callable[[], None] | None) -> None:
        """Who to wake after outbox rows were queued (the outbox worker)."""
        self._on_queued = callback

    def _sinks_for(self, level: AlertLevel) -> list[str]:
        if not self._deliver or self._store is None:
            return []
        return [
            s.name for s in self._settings.sinks if s.enabled and level_at_least(level, s.min_level)
        ]

    async def emit(
        self, level: AlertLevel, source: str, message: str, context: dict[str, Any] | None = None
    ) -> None:
        """Record and deliver one alert; never raises because a sink or the database is down."""
        await self._emit(level, source, message, context, to_sinks=True)

    async def emit_local(
        self, level: AlertLevel, source: str, message: str, context: dict[str, Any] | None = None
    ) -> None:
        """Like :meth:`emit` but never queued to the sinks (reports about the sinks themselves)."""
        await self._emit(level, source, message, context, to_sinks=False)

    async def _emit(
        self,
        level: AlertLevel,
        source: str,
        message: str,
        context: dict[str, Any] | None,
        *,
        to_sinks: bool,
    ) -> None:
        try:
            now = self._clock.now()
            alert = Alert(now, AlertLevel(level), source, message, dict(context or {}))
            await self._write_summaries(self._dedup.expire(now))
            emit, fingerprint = self._dedup.offer(alert, now)
            if not emit:
                if self._metrics is not None:
                    self._metrics.alerts_suppressed.labels(level=str(alert.level)).inc()
                return
            self._window_opened.set()
            await self._record(alert, fingerprint, to_sinks=to_sinks)
        except Exception:
            logger.exception("alert from %s could not be processed: %s", source, message)

    async def _record(self, alert: Alert, fingerprint: str, *, to_sinks: bool) -> None:
        self.log.write(alert)
        if self._settings.console and self._console is not None:
            self._console.write(alert)
        alert_id: int | None = None
        if self._store is not None:
            sinks = self._sinks_for(alert.level) if to_sinks else []
            try:
                alert_id, _ = await self._store.record(alert, fingerprint=fingerprint, sinks=sinks)
            except Exception:
                logger.exception("alert not recorded in the state database: %s", alert.message)
            else:
                if sinks and self._on_queued is not None:
                    self._on_queued()
        if self._bus is not None:
            self._bus.publish(AlertRaised(alert=alert, alert_id=alert_id))
        if self._metrics is not None:
            self._metrics.alerts.labels(level=str(alert.level)).inc()

    async def _write_summaries(self, closed: list[Any]) -> None:
        for item in closed:
            await self._record(item.summary(self._clock.now()), item.fingerprint, to_sinks=True)

    def reopen_log(self, settings: DaemonSettings | None = None) -> None:
        """Reopen the alert log (SIGHUP; a reload may also have moved it or changed its
        rotation)."""
        self.log.reopen(settings.path(settings.paths.alert_log) if settings else None)
        if settings is not None:
            self.log.rotate_at(settings.logs.max_bytes, settings.logs.backups)

    async def start(self) -> None:
        """Nothing to acquire: the log opens on first write."""

    async def run(self) -> None:
        """Close de-duplication windows when they end and write their summaries."""
        while True:
            self._window_opened.clear()
            next_close = self._dedup.next_close_at()
            delay = None
            if next_close is not None:
                delay = max(0.0, (next_close - self._clock.now()).total_seconds())
            if delay is None or delay > 0:
                await sleep_unless(self._window_opened, self._clock, delay)
            await self._write_summaries(self._dedup.expire(self._clock.now()))

    async def reload(self, settings: DaemonSettings) -> None:
        """Adopt new alert settings; open windows keep counting under the new length."""
        self._settings = settings.alerts
        self._dedup.window_s = settings.alerts.dedup_window_s
        self._window_opened.set()

    async def drain(self) -> None:
        """Alerts are written synchronously; nothing in flight to wait for."""

    async def stop(self) -> None:
        """Write the summaries of windows still open, then close the log file."""
        await self._write_summaries(self._dedup.flush())
        self.log.close()
