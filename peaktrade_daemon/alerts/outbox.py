"""The outbox worker: delivers queued alerts from the database to the configured sinks (§6).

One delivery loop per sink, so a dead or slow sink only delays its own queue. A loop sends due
rows oldest first; on a failure it records the error, schedules that row's next attempt with
exponential backoff (``retry_initial_s * 2**(attempts-1)``, capped at ``retry_max_s``), stops the
batch (the sink is evidently down) and sleeps until the earliest due row or until new alerts are
queued (and at least every 30 s, for rows other processes queued). After ``max_attempts`` a row
is marked dead. Rows survive restarts in the database; at
start every pending row becomes due at once, since a restart is usually an operator's fix.

A failing sink is reported through ``report`` (log, console, database; never queued to the sinks
again, which would feed a loop): when it starts failing, then at most once per
``sink_report_interval_s`` while it keeps failing, and once when it recovers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.alerts.webhook import DeliveryError, WebhookSink
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.settings import AlertsSection, DaemonSettings
from peaktrade_daemon.storage.alert_store import AlertStore, OutboxItem
from peaktrade_daemon.supervisor import sleep_unless

if TYPE_CHECKING:
    import aiohttp

    from peaktrade_daemon.metrics import DaemonMetrics

logger = logging.getLogger(__name__)

Reporter = Callable[[AlertLevel, str, str, dict[str, Any]], Awaitable[None]]
SOURCE = "alert-outbox"
_BATCH = 50
# After an unexpected error (database locked, disk full) a sink loop pauses this long.
_ERROR_PAUSE_S = 5.0
_POLL_S = 30.0


class _SinkState:
    def __init__(self, sink: WebhookSink) -> None:
        self.sink = sink
        self.wake = asyncio.Event()
        # One delivery pass per sink at a time: the sink loop and drain()'s final pass would
        # otherwise both pick up the same due row and send it twice.
        self.busy = asyncio.Lock()
        self.failing_since: datetime | None = None
        self.last_report_at: datetime | None = None
        self.failures_since_report = 0
        self.dead_since_report = 0


class OutboxWorker:
    """A daemon component; ``notify()`` wakes it when the dispatcher queued new rows."""

    name = "alert-outbox"

    def __init__(
        self,
        store: AlertStore,
        settings: AlertsSection,
        clock: Clock,
        *,
        report: Reporter,
        metrics: DaemonMetrics | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._report = report
        self._metrics = metrics
        self._session: aiohttp.ClientSession | None = None
        self._sinks: dict[str, _SinkState] = {}
        self._reconfigured = asyncio.Event()
        self._commits: set[asyncio.Future[Any]] = set()
        #: Set after every recorded attempt outcome; observers (tests, health) clear and await it.
        self.progress = asyncio.Event()
        self._apply(settings)

    def _apply(self, settings: AlertsSection) -> None:
        self._settings = settings
        sinks = {s.name: WebhookSink(s) for s in settings.sinks if s.enabled}
        self._sinks = {
            name: self._sinks[name]
            if name in self._sinks and self._sinks[name].sink.settings == sink.settings
            else _SinkState(sink)
            for name, sink in sinks.items()
        }
        for state in self._sinks.values():
            state.sink = sinks[state.sink.name]

    @property
    def sink_names(self) -> list[str]:
        """The sinks deliveries are currently made to."""
        return list(self._sinks)

    def notify(self) -> None:
        """New rows were queued: every sink loop looks for due rows now."""
        for state in self._sinks.values():
            state.wake.set()

    async def start(self) -> None:
        """Make pending rows due (the HTTP client session opens with the first delivery)."""
        made_due = await self._store.make_pending_due(self._clock.now())
        if made_due:
            logger.info("outbox: %d pending deliveries from before the restart are due", made_due)

    async def run(self) -> None:
        """Run one loop per sink; restart them all when a reload changed the sinks."""
        while True:
            self._reconfigured.clear()
            tasks = [
                asyncio.create_task(self._sink_loop(state), name=f"outbox:{name}")
                for name, state in self._sinks.items()
            ]
            try:
                await self._reconfigured.wait()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def reload(self, settings: DaemonSettings) -> None:
        """Adopt new sinks and retry policy."""
        if settings.alerts != self._settings:
            self._apply(settings.alerts)
            self._reconfigured.set()

    async def drain(self) -> None:
        """One last pass over due rows of every sink (bounded by the daemon's drain timeout)."""
        for state in list(self._sinks.values()):
            try:
                await self._deliver_due(state)
            except Exception:
                logger.exception("outbox: final pass for %s failed", state.sink.name)

    async def stop(self) -> None:
        """Finish recording answered deliveries, then close the HTTP session."""
        if self._commits:
            await asyncio.gather(*self._commits, return_exceptions=True)
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _sink_loop(self, state: _SinkState) -> None:
        while True:
            state.wake.clear()
            try:
                await self._deliver_due(state)
                next_at = await self._store.next_due_at(state.sink.name)
                await self._export_pending(state.sink.name)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("outbox: loop for %s hit an error", state.sink.name)
                await sleep_unless(state.wake, self._clock, _ERROR_PAUSE_S)
                continue
            # Rows queued by other processes (one-shot CLI commands) wake nobody: look again
            # at least every _POLL_S.
            delay = _POLL_S
            if next_at is not None:
                delay = min(delay, max(0.0, (next_at - self._clock.now()).total_seconds()))
            if delay == 0.0:
                continue
            await sleep_unless(state.wake, self._clock, delay)

    async def _deliver_due(self, state: _SinkState) -> None:
        async with state.busy:
            while True:
                items = await self._store.due(state.sink.name, self._clock.now(), limit=_BATCH)
                for item in items:
                    if not await self._attempt(state, item):
                        return
                if len(items) < _BATCH:
                    return

    def _backoff_s(self, attempts: int) -> float:
        s = self._settings
        return float(min(s.retry_initial_s * 2 ** (attempts - 1), s.retry_max_s))

    def _client(self) -> aiohttp.ClientSession:
        """The HTTP client session, opened on first use: a daemon without sinks (the default)
        never imports aiohttp (about 20 MiB of RSS)."""
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession()
        return self._session

    async def _attempt(self, state: _SinkState, item: OutboxItem) -> bool:
        sink = state.sink
        try:
            await sink.deliver(
                self._client(), item.alert, delivery_key=item.delivery_key, alert_id=item.alert_id
            )
        except DeliveryError as exc:
            attempts = item.attempts + 1
            dead = attempts >= self._settings.max_attempts
            now = self._clock.now()
            next_at = now + timedelta(seconds=self._backoff_s(attempts))
            await self._finish(
                self._store.mark_failed(
                    item.outbox_id, error=str(exc), next_attempt_at=next_at, dead=dead
                )
            )
            self.progress.set()
            self._count(sink.name, "dead" if dead else "failed")
            logger.warning(
                "outbox: delivery %d to %s failed (attempt %d%s): %s",
                item.outbox_id,
                sink.name,
                attempts,
                ", giving up" if dead else "",
                exc,
            )
            await self._on_failure(state, str(exc), dead=dead, now=now)
            return False
        # The sink has answered 2xx: recording that must survive a cancellation of this loop
        # (shutdown), or the row would be sent again after restart.
        await self._finish(self._store.mark_delivered(item.outbox_id, self._clock.now()))
        self.progress.set()
        self._count(sink.name, "delivered")
        logger.info("outbox: delivered alert %d to %s", item.alert_id, sink.name)
        if state.failing_since is not None:
            await self._on_recovery(state)
        return True

    async def _finish(self, write: Awaitable[Any]) -> None:
        """Await a database write that a cancellation of this loop (shutdown, reload) must not
        cut in half: it runs to its end in a task of its own, which ``stop()`` awaits. (A
        transaction abandoned mid-statement could keep SQLite's write lock from the next
        start's writers.)"""
        task = asyncio.ensure_future(write)
        self._commits.add(task)
        task.add_done_callback(self._commits.discard)
        await asyncio.shield(task)

    async def _export_pending(self, sink: str) -> None:
        if self._metrics is not None:
            counts = await self._store.outbox_counts()
            self._metrics.outbox_pending.labels(sink=sink).set(counts.get((sink, "pending"), 0))

    def _count(self, sink: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.alert_deliveries.labels(sink=sink, outcome=outcome).inc()

    async def _on_failure(
        self, state: _SinkState, error: str, *, dead: bool, now: datetime
    ) -> None:
        state.failures_since_report += 1
        state.dead_since_report += int(dead)
        first = state.failing_since is None
        if first:
            state.failing_since = now
        interval = timedelta(seconds=self._settings.sink_report_interval_s)
        if not first and state.last_report_at and now - state.last_report_at < interval:
            return
        context = {
            "sink": state.sink.name,
            "error": error,
            "failed_attempts": state.failures_since_report,
            "gave_up": state.dead_since_report,
            "failing_since": state.failing_since.isoformat() if state.failing_since else None,
        }
        state.last_report_at = now
        state.failures_since_report = 0
        state.dead_since_report = 0
        level = AlertLevel.CRITICAL if context["gave_up"] else AlertLevel.WARNING
        await self._finish(
            self._report(level, SOURCE, f"alert sink {state.sink.name} is failing", context)
        )

    async def _on_recovery(self, state: _SinkState) -> None:
        since = state.failing_since
        state.failing_since = None
        state.last_report_at = None
        state.failures_since_report = 0
        state.dead_since_report = 0
        context = {"sink": state.sink.name, "failing_since": since.isoformat() if since else None}
        await self._finish(
            self._report(
                AlertLevel.INFO, SOURCE, f"alert sink {state.sink.name} recovered", context
            )
        )
