"""The alert path of one-shot CLI commands (``jobs run``, ``learn``, ``promote``, ``proposals``,
``overrides``): the daemon's own :class:`~peaktrade_daemon.alerts.dispatcher.AlertDispatcher`,
so a command's alert looks and travels exactly like the daemon's.

Every alert goes to the TSV alert log and the console. When the state database exists (it is
never created for an alert) and the command is not a dry run, the alert is also recorded in the
alerts table with one outbox row per configured sink; a running daemon's outbox worker picks
those rows up (it polls for rows other processes queued) and delivers them, and a daemon started
later delivers them at start. De-duplication works within the command; its open windows'
summaries are written when the emitter closes.

Synchronous command code raises alerts through :meth:`OneShotAlerts.emit_sync`, which runs the
emission to completion on a private event loop in a worker thread (so it also works from code
that happens to run inside the CLI's own loop).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import uvloop

from peaktrade_daemon.alerts.console import ConsoleSink
from peaktrade_daemon.alerts.dispatcher import AlertDispatcher
from peaktrade_daemon.alerts.log import AlertLog
from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.clock import Clock, SystemClock
from peaktrade_daemon.errors import present
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.storage.alert_store import AlertStore
from peaktrade_daemon.storage.db import Database, database_missing, open_database

logger = logging.getLogger(__name__)


class OneShotAlerts:
    """An ``AlertEmitter`` for a command that runs without the daemon (see module docstring).

    Use as ``async with OneShotAlerts(settings) as alerts`` (or ``await open()`` / ``close()``);
    pass ``database`` to record into a database the command already has open.
    """

    def __init__(
        self,
        settings: DaemonSettings,
        *,
        dry_run: bool = False,
        database: Database | None = None,
        clock: Clock | None = None,
        console: ConsoleSink | None = None,
    ) -> None:
        self.settings = settings
        self.dry_run = dry_run
        self._database = database
        self._owns_database = False
        self._clock = clock or SystemClock()
        self._console = console or ConsoleSink()
        self._dispatcher: AlertDispatcher | None = None

    async def open(self) -> OneShotAlerts:
        """Build the dispatcher; opens the state database only if it already exists."""
        if self._dispatcher is not None:
            return self
        url = self.settings.database_url
        if self._database is None and not self.dry_run and not database_missing(url):
            try:
                self._database = await open_database(url)
                self._owns_database = True
            except Exception as exc:  # the log line must still be written
                logger.warning("alerts: state database unavailable: %s", exc)
        store = None
        if self._database is not None and not self.dry_run:
            store = AlertStore(self._database)
        self._dispatcher = AlertDispatcher(
            self.settings.alerts,
            self._clock,
            AlertLog(self.settings.path(self.settings.paths.alert_log)),
            console=self._console,
            store=store,
        )
        return self

    async def emit(
        self, level: AlertLevel, source: str, message: str, context: dict[str, Any] | None = None
    ) -> None:
        """Record one alert (log line, console, database and outbox when available)."""
        if self._dispatcher is None:
            await self.open()
        await present(self._dispatcher, "the alert dispatcher").emit(
            level, source, message, context
        )

    async def close(self) -> None:
        """Write de-duplication summaries, close the log and a database opened here."""
        if self._dispatcher is not None:
            await self._dispatcher.stop()
            self._dispatcher = None
        if self._owns_database and self._database is not None:
            await self._database.close()
            self._database = None
            self._owns_database = False

    async def __aenter__(self) -> OneShotAlerts:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def emit_sync(
        self, level: AlertLevel, source: str, message: str, context: dict[str, Any] | None = None
    ) -> None:
        """Emit one alert from synchronous code, to completion, on a private loop."""

        async def once() -> None:
            alerts = OneShotAlerts(
                self.settings, dry_run=self.dry_run, clock=self._clock, console=self._console
            )
            try:
                await alerts.emit(level, source, message, context)
            finally:
                await alerts.close()

        with ThreadPoolExecutor(1, thread_name_prefix="oneshot-alert") as pool:
            pool.submit(uvloop.run, once()).result()
