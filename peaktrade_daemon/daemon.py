"""The Daemon: the one composition root, owner of the run state, start-up and shutdown (§3.3, §3.4).

Start-up, in order: load and validate the full configuration snapshot (:mod:`snapshot`), win the
single-instance lock in ``state/`` (exit 3 if another daemon holds it), remove stale temp files
left by a crash, attach the daemon log, open (create or migrate) the state database, build the
core components (alerts, outbox, retention, HTTP, heartbeat) and then every registered plugin
component, start them in order (returning from ``start()`` is the readiness handshake), supervise
their ``run()``, report ``READY=1`` to systemd, and from then on send ``WATCHDOG=1`` only while
cycles finish and the component tasks live (:mod:`peaktrade_daemon.watchdog`). ``--dry-run``
skips everything that writes outside ``logs/``: no lock, no temp clean-up, no database, no
heartbeat, no deliveries.

Run states: ``starting → running ⇄ reloading → stopping → stopped``; every transition is checked
against :data:`~peaktrade_daemon.events.RUN_STATE_TRANSITIONS` and published on the bus.

Signal handlers only record intent (:meth:`Daemon.request_stop`, :meth:`Daemon.request_reload`);
the main coroutine acts on it. SIGTERM/SIGINT: stop intake (no new cycle, components'
``drain()``), wait for in-flight work up to ``daemon.drain_timeout_s``, cancel the rest with the
reason logged and alerted, stop components in reverse order, exit 0. A second signal cuts the drain
short. SIGHUP: reopen log files, load a new snapshot through the same path as start-up, and either
swap it in and call every component's ``reload()`` or keep the old one and raise a critical alert.

What plugs in (monitors, workflows, scheduler, promotion worker, review page) is registered in
:func:`default_plugins`, the one place the product is wired together (the parts are built in
:mod:`peaktrade_daemon.wiring`).

Promotion policy at start-up (§8.1 "missing or invalid policy file: nothing is written, exit 3, a
critical alert"): the daemon *refuses to start*. An invalid ``promotion.toml`` is a
:class:`~peaktrade_daemon.errors.PolicyError` from the snapshot loader; before anything else
(no lock, no database) a critical alert goes to the alert log and the console, and the process
exits 3. Running on with the worker frozen was the alternative; it was not chosen because a
daemon that looks healthy while promotion is silently off is the failure an operator notices
last, and the SPEC's wording is exit 3. With ``promotion.worker_enabled = false`` the policy is
not needed and not checked. On SIGHUP an invalid policy (like an invalid ``jobs.toml``, which
exits 2 at start-up) keeps the old snapshot, alerted, like every reload error.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from peaktrade_daemon import early_signals
from peaktrade_daemon.alerts.console import ConsoleSink
from peaktrade_daemon.alerts.dispatcher import AlertDispatcher
from peaktrade_daemon.alerts.log import AlertLog
from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.alerts.oneshot import OneShotAlerts
from peaktrade_daemon.alerts.outbox import OutboxWorker
from peaktrade_daemon.bus import EventBus
from peaktrade_daemon.bytecode import compile_hint, missing_bytecode
from peaktrade_daemon.clock import Clock, SystemClock
from peaktrade_daemon.component import Component
from peaktrade_daemon.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    SafetyRefusal,
    present,
)
from peaktrade_daemon.events import (
    RUN_STATE_TRANSITIONS,
    ComponentFailed,
    ConfigReloaded,
    ConfigReloadFailed,
    CycleFinished,
    RunState,
    RunStateChanged,
)
from peaktrade_daemon.heartbeat import Heartbeat
from peaktrade_daemon.http.health import HealthReport
from peaktrade_daemon.instance import InstanceLock
from peaktrade_daemon.logfile import (
    ReopenableFileHandler,
    attach_daemon_log,
    check_writable,
    detach,
)
from peaktrade_daemon.metrics import DaemonMetrics
from peaktrade_daemon.runtime import CycleRunner, DaemonOptions, Plugins, Runtime
from peaktrade_daemon.settings import load_settings
from peaktrade_daemon.snapshot import Snapshot, load_snapshot
from peaktrade_daemon.storage.alert_store import AlertStore
from peaktrade_daemon.storage.atomic import clean_stale_temp_files
from peaktrade_daemon.storage.db import Database, open_database
from peaktrade_daemon.storage.retention import RetentionWorker
from peaktrade_daemon.supervisor import Supervisor, sleep_unless
from peaktrade_daemon.systemd import SystemdNotifier
from peaktrade_daemon.watchdog import Verdict, Watchdog, grace_s, judge
from peaktrade_daemon.wiring import LOADERS, Assembly, check_options

if TYPE_CHECKING:
    from peaktrade_daemon.http.app import HttpServer, RouteModule

logger = logging.getLogger(__name__)

SOURCE = "daemon"
_STOP_TIMEOUT_S = 10.0


def review_routes(rt: Runtime) -> RouteModule:
    """The proposal review page's routes. Route factories run only when the HTTP listener is
    on, so the HTTP stack (aiohttp, about 20 MiB of RSS) is imported only then."""
    from peaktrade_daemon.http import review

    return review.routes(rt)


def default_plugins() -> Plugins:
    """The product's parts wired into the daemon (see :mod:`peaktrade_daemon.wiring`).

    Loaders ``jobs.toml`` and ``promotion.toml``; components in start order: the workflow side
    (feeds, monitors, decision and workflow engines), the calendar tables' watch, the
    scheduler, the promotion worker and its patch inbox; the autonomous cycle; the proposal
    review page; retention of the history tables and of the run directories under
    ``reports/``.
    """
    parts = Assembly()
    return Plugins(
        loaders=LOADERS,
        components=(
            parts.workflows,
            parts.calendars,
            parts.scheduler,
            parts.promotion,
            parts.inbox,
        ),
        cycle_runner=parts.cycle,
        routes=(review_routes,),
        retention_rules=(parts.retention, parts.report_retention),
        preflight=(check_options,),
    )


class Daemon:
    """One daemon process (see the module docstring)."""

    def __init__(
        self,
        options: DaemonOptions,
        *,
        plugins: Plugins | None = None,
        clock: Clock | None = None,
        notifier: SystemdNotifier | None = None,
    ) -> None:
        self.options = options
        self.plugins = plugins or default_plugins()
        self.clock = clock or SystemClock()
        self.notifier = notifier or SystemdNotifier()
        self.spec = dataclasses.replace(options.spec, loaders=self.plugins.loaders)
        self.bus = EventBus()
        #: Recorded with or without the HTTP listener, which serves them on /metrics.
        self.metrics = DaemonMetrics()
        self.metrics.watch_bus(self.bus)
        self.state = RunState.STARTING
        self.stop_reason = ""
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._reload = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._intake_closed = asyncio.Event()
        self._snapshot: Snapshot | None = None
        self._components: list[Component] = []
        self._started: list[Component] = []
        self._supervisor: Supervisor | None = None
        self._dispatcher: AlertDispatcher | None = None
        self._heartbeat: Heartbeat | None = None
        self._http: HttpServer | None = None
        self._log_handler: ReopenableFileHandler | None = None
        self._runner: CycleRunner | None = None
        self._cycle_loop: asyncio.Task[None] | None = None
        self._once_cycle: asyncio.Task[bool] | None = None
        self._last_cycle: dict[str, Any] = {}
        self._started_at: datetime | None = None
        self._progress_at: float | None = None
        self._beats: set[asyncio.Future[None]] = set()

    # -- intent (signal handlers and tests call these; the main coroutine acts) ---------------

    def request_stop(self, reason: str = "stop requested") -> None:
        """Ask for a graceful stop; a second request forces cancellation of the drain."""
        if self._stop.is_set():
            logger.warning("second stop request (%s): forcing shutdown", reason)
            self._force.set()
        else:
            self.stop_reason = reason
            self._stop.set()
        self._wakeup.set()

    def request_reload(self) -> None:
        """Ask for a configuration reload (SIGHUP)."""
        self._reload.set()
        self._wakeup.set()

    @property
    def snapshot(self) -> Snapshot:
        """The configuration snapshot in force."""
        if self._snapshot is None:
            raise RuntimeError("the daemon has not loaded its configuration yet")
        return self._snapshot

    @property
    def _alerts(self) -> AlertDispatcher:
        """The alert dispatcher ``_build`` made (every alert after start-up goes through it)."""
        return present(self._dispatcher, "the alert dispatcher")

    # -- state, health ------------------------------------------------------------------------

    def _transition(self, new: RunState, reason: str = "") -> None:
        old = self.state
        if new not in RUN_STATE_TRANSITIONS[old]:
            raise RuntimeError(f"illegal run state transition {old} -> {new}")
        self.state = new
        self.metrics.set_run_state(new)
        logger.info("run state %s -> %s%s", old, new, f" ({reason})" if reason else "")
        self.bus.publish(RunStateChanged(previous=old, current=new, reason=reason))
        if self._heartbeat is not None and new is not RunState.STOPPED:
            beat = asyncio.ensure_future(self._safe_beat())
            self._beats.add(beat)  # keep a reference until done (the loop only holds weak ones)
            beat.add_done_callback(self._beats.discard)

    async def _safe_beat(self) -> None:
        if self._heartbeat is None:
            return
        try:
            await self._heartbeat.beat()
        except OSError as exc:
            logger.warning("heartbeat not written: %s", exc)

    def _status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "run_state": str(self.state),
            "started_at": self._started_at.isoformat() if self._started_at else None,
            "http_url": self._http.url if self._http else None,
            "last_cycle": self._last_cycle or None,
            "config_generation": self._snapshot.generation if self._snapshot else None,
        }

    def health(self) -> HealthReport:
        """The ``/healthz`` answer: healthy while running with no component in restart backoff."""
        components = self._supervisor.health if self._supervisor else {}
        serving = self.state in (RunState.RUNNING, RunState.RELOADING)
        healthy = serving and all(h.healthy for h in components.values())
        body = {
            **self._status(),
            "status": "ok" if healthy else ("degraded" if serving else str(self.state)),
            "mode": "once" if self.options.once else "continuous",
            "dry_run": self.options.dry_run,
            "components": {name: h.as_dict() for name, h in components.items()},
        }
        return HealthReport(healthy, body)

    # -- the process ----------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until stopped; returns the process exit code. Start-up errors raise (CLI maps)."""
        # Handlers first, then deliver what the entry point held (early_signals): a stop
        # requested at any point of the start-up is a request like any other, never a kill.
        self._install_signals()
        try:
            early_signals.release()
            return await self._run()
        finally:
            self._remove_signals()

    async def _run(self) -> int:
        try:
            self._snapshot = await asyncio.to_thread(load_snapshot, self.spec)
        except SafetyRefusal as exc:
            await self._refused(exc)
            raise
        for check in self.plugins.preflight:
            check(self.options, self._snapshot)
        if self._stop.is_set():  # nothing is locked, opened or written yet: just leave
            logger.warning("stop requested (%s) before start-up; exiting", self.stop_reason)
            return self._interrupted_code()
        settings = self._snapshot.settings
        check_writable(settings.path(settings.paths.alert_log), "paths.alert_log")
        check_writable(settings.path(settings.paths.daemon_log), "paths.daemon_log")
        with contextlib.ExitStack() as stack:
            if not self.options.dry_run:
                stack.enter_context(InstanceLock(settings.path(settings.paths.state_dir)))
            # Attached before the clean-up, so daemon.log names what it removed.
            self._log_handler = attach_daemon_log(
                settings.path(settings.paths.daemon_log),
                max_bytes=settings.logs.max_bytes,
                backups=settings.logs.backups,
            )
            stack.callback(detach, self._log_handler)
            for source in missing_bytecode():
                logger.warning(
                    "no bytecode for python -O level %d next to %s: every start compiles these "
                    "modules from source (slower, and more memory than -OO saves); run: %s",
                    sys.flags.optimize,
                    source,
                    compile_hint(source),
                )
            if not self.options.dry_run:
                removed = clean_stale_temp_files(
                    settings.root / "config",
                    settings.path(settings.paths.state_dir),
                    settings.path(settings.paths.reports_dir),
                    settings.path(settings.paths.logs_dir),
                )
                if removed:
                    logger.warning(
                        "removed %d stale temp files from an earlier crash", len(removed)
                    )
            database = None
            if not self.options.dry_run:
                database = await open_database(settings.database_url)
            try:
                return await self._serve(database)
            finally:
                if database is not None:
                    await database.close()

    async def _refused(self, exc: SafetyRefusal) -> None:
        """Start-up refused for safety (invalid promotion policy): a critical alert in the log
        and on the console, nothing else written."""
        try:
            settings = await asyncio.to_thread(
                load_settings,
                self.spec.root,
                settings_file=self.spec.settings_file,
                cli_overrides=self.spec.cli_overrides,
            )
        except Exception:  # the settings themselves are broken: the CLI reports the refusal
            return
        async with OneShotAlerts(settings, dry_run=True) as alerts:
            await alerts.emit(
                AlertLevel.CRITICAL,
                SOURCE,
                "daemon refused to start",
                {"error": str(exc), "kind": type(exc).__name__},
            )

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.request_stop, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)

    def _remove_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)

    def _build(self, database: Database | None) -> Runtime:
        settings = self.snapshot.settings
        store = AlertStore(database) if database is not None else None
        dispatcher = AlertDispatcher(
            settings.alerts,
            self.clock,
            AlertLog(
                settings.path(settings.paths.alert_log),
                max_bytes=settings.logs.max_bytes,
                backups=settings.logs.backups,
            ),
            console=ConsoleSink(),
            store=store,
            bus=self.bus,
            metrics=self.metrics,
            deliver=not self.options.no_alerts,
        )
        self._dispatcher = dispatcher
        self._components = [dispatcher]
        if store is not None and not self.options.no_alerts:
            outbox = OutboxWorker(
                store,
                settings.alerts,
                self.clock,
                report=dispatcher.emit_local,
                metrics=self.metrics,
            )
            dispatcher.set_on_queued(outbox.notify)
            self._components.append(outbox)
        runtime = Runtime(
            options=self.options,
            clock=self.clock,
            bus=self.bus,
            alerts=dispatcher,
            metrics=self.metrics,
            database=database,
            snapshot=lambda: self.snapshot,
        )
        if store is not None:
            rules = [store.prune, *(factory(runtime) for factory in self.plugins.retention_rules)]
            self._components.append(RetentionWorker(settings, self.clock, rules))
        if settings.http.enabled:
            # aiohttp and prometheus_client (about 20 MiB of RSS): only when serving.
            from peaktrade_daemon.http.app import HttpServer

            self._http = HttpServer(
                settings.http,
                health_provider=self.health,
                metrics=self.metrics,
                routes=tuple(factory(runtime) for factory in self.plugins.routes),
            )
            self._components.append(self._http)
        if not self.options.dry_run:
            self._heartbeat = Heartbeat(settings, self.clock, self._status)
            self._components.append(self._heartbeat)
        for factory in self.plugins.components:
            component = factory(runtime)
            if component is not None:
                self._components.append(component)
        if self.plugins.cycle_runner is not None:
            self._runner = self.plugins.cycle_runner(runtime)
        return runtime

    async def _on_component_failure(
        self, name: str, exc: BaseException, restarts: int, backoff_s: float
    ) -> None:
        self.metrics.component_restarts.labels(component=name).inc()
        error = f"{type(exc).__name__}: {exc}"
        self.bus.publish(
            ComponentFailed(component=name, error=error, restarts=restarts, backoff_s=backoff_s)
        )
        await self._alerts.emit(
            AlertLevel.CRITICAL,
            SOURCE,
            f"component {name} failed; restarting",
            {"component": name, "error": error, "restarts": restarts, "backoff_s": backoff_s},
        )

    async def _start_components(self) -> None:
        settings = self.snapshot.settings.daemon
        self._supervisor = Supervisor(
            self.clock,
            backoff_initial_s=settings.restart_backoff_initial_s,
            backoff_max_s=settings.restart_backoff_max_s,
            on_failure=self._on_component_failure,
        )
        for component in self._components:
            self._supervisor.register(component)
            logger.info("starting component %s", component.name)
            await component.start()
            self._started.append(component)
        for component in self._started:
            self._supervisor.supervise(component)

    async def _serve(self, database: Database | None) -> int:
        self._build(database)
        code = EXIT_FAILED
        try:
            await self._start_components()
            self._started_at = self.clock.now()
            self._progress_at = self.clock.monotonic()  # on time until the grace has passed
            self._transition(RunState.RUNNING, "started")
            await self._alerts.emit(
                AlertLevel.INFO,
                SOURCE,
                "daemon started",
                {
                    "pid": os.getpid(),
                    "root": str(self.snapshot.settings.root),
                    "mode": "once" if self.options.once else "continuous",
                    "dry_run": self.options.dry_run,
                },
            )
            await self._report_config_warnings(self.snapshot)
            # READY last: whoever waits for it (systemd, tests) finds start-up fully recorded.
            self.notifier.ready(status=f"running (generation {self.snapshot.generation})")
            watchdog = self._start_watchdog()
            try:
                code = await (self._run_once() if self.options.once else self._run_continuous())
            finally:
                if watchdog is not None:
                    watchdog.cancel()
                    await asyncio.gather(watchdog, return_exceptions=True)
        except Exception as exc:
            logger.exception("daemon failed")
            await self._alerts.emit(
                AlertLevel.CRITICAL,
                SOURCE,
                "daemon failed",
                {"error": f"{type(exc).__name__}: {exc}"},
            )
            raise
        finally:
            await self._shutdown()
        cycle = self._once_cycle
        finished = cycle is not None and cycle.done() and not cycle.cancelled()
        if self.options.once and cycle is not None and finished and cycle.exception() is None:
            # The cycle may have completed during the drain after a stop request.
            return EXIT_OK if cycle.result() else EXIT_FAILED
        return code

    def _start_watchdog(self) -> asyncio.Task[None] | None:
        interval = self.notifier.watchdog_interval_s
        if interval is None:
            return None
        watchdog = Watchdog(self.notifier, self.clock, interval, self._progress, self._withheld)
        return asyncio.create_task(watchdog.run(), name="systemd-watchdog")

    def _progress(self) -> Verdict:
        """The watchdog's verdict: cycles finishing within the grace, component tasks alive."""
        since = None
        if self._runner is not None and self._progress_at is not None:
            since = self.clock.monotonic() - self._progress_at
        ended = self._supervisor.ended() if self._supervisor is not None else []
        return judge(since_progress_s=since, grace_s=grace_s(self.snapshot.settings), ended=ended)

    async def _withheld(self, reason: str) -> None:
        await self._alerts.emit(
            AlertLevel.CRITICAL,
            SOURCE,
            "systemd watchdog withheld: the daemon is not making progress",
            {"reason": reason, "watchdog_interval_s": self.notifier.watchdog_interval_s},
        )

    async def _run_continuous(self) -> int:
        if self._runner is not None:
            self._cycle_loop = asyncio.create_task(self._cycles(), name="cycle-loop")
        else:
            logger.info("no cycle runner registered: running alerts, outbox and HTTP only")
        while not self._stop.is_set():
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._reload.is_set() and not self._stop.is_set():
                self._reload.clear()
                await self._do_reload()
        return EXIT_OK

    async def _run_once(self) -> int:
        if self._runner is None:
            logger.error("--once: no cycle runner is registered in this build")
            print(
                "peaktrade-daemon: error: --once has no autonomous cycle to run "
                "(no cycle runner is registered in this build)",
                file=sys.stderr,
                flush=True,
            )
            return EXIT_FAILED
        self._once_cycle = asyncio.create_task(self._one_cycle(), name="once-cycle")
        while not self._once_cycle.done() and not self._stop.is_set():
            waker = asyncio.ensure_future(self._wakeup.wait())
            await asyncio.wait({self._once_cycle, waker}, return_when=asyncio.FIRST_COMPLETED)
            waker.cancel()
            self._wakeup.clear()
            if self._reload.is_set() and not self._stop.is_set():
                self._reload.clear()
                await self._do_reload()
        if self._once_cycle.done():
            return EXIT_OK if self._once_cycle.result() else EXIT_FAILED
        return self._interrupted_code()

    def _interrupted_code(self) -> int:
        """Exit code of a stop before the work was done: 0 for the daemon (§3.2); for
        ``--once`` the cycle did not run, 130 after Ctrl-C, else 1."""
        if not self.options.once:
            return EXIT_OK
        return EXIT_INTERRUPTED if self.stop_reason == "SIGINT" else EXIT_FAILED

    async def _cycles(self) -> None:
        while not self._intake_closed.is_set():
            await self._one_cycle()
            interval = self.snapshot.settings.daemon.poll_interval_s
            await sleep_unless(self._intake_closed, self.clock, interval)

    async def _one_cycle(self) -> bool:
        runner = present(self._runner, "the cycle runner")
        started = self.clock.monotonic()
        summary = ""
        try:
            result = await runner.run_cycle()
            success = bool(result.success)
            line = getattr(result, "line", None)
            summary = str(line() if callable(line) else result)
        except (Exception, asyncio.CancelledError) as exc:
            this = asyncio.current_task()
            if isinstance(exc, asyncio.CancelledError) and this is not None and this.cancelling():
                raise  # the daemon is stopping this cycle
            # A CancelledError nobody asked for (a library's shared future cancelled by another
            # caller) is a failed cycle; letting it through ended the cycle loop silently.
            success = False
            summary = f"{type(exc).__name__}: {exc}"
            logger.exception("autonomous cycle failed")
            await self._alerts.emit(
                AlertLevel.CRITICAL, SOURCE, "autonomous cycle failed", {"error": summary}
            )
        self._progress_at = self.clock.monotonic()  # a finished cycle, failed or not
        duration = self._progress_at - started
        finished_at = self.clock.now()
        self.metrics.record_cycle(success=success, duration_s=duration, finished_at=finished_at)
        self._last_cycle = {
            "at": finished_at.isoformat(),
            "success": success,
            "duration_s": round(duration, 3),
        }
        self.bus.publish(CycleFinished(success=success, duration_s=duration, summary=summary))
        return success

    async def _report_config_warnings(self, snapshot: Snapshot) -> None:
        for warning in snapshot.warnings:
            critical = warning.key is None or warning.critical
            await self._alerts.emit(
                AlertLevel.CRITICAL if critical else AlertLevel.WARNING,
                "config",
                f"override not applied: {warning.reason}",
                {"file": warning.file, "key": warning.key, "generation": snapshot.generation},
            )

    async def _do_reload(self) -> None:
        self._transition(RunState.RELOADING, "SIGHUP")
        self.notifier.reloading()
        if self._log_handler is not None:
            self._log_handler.reopen()
        old = self.snapshot
        try:
            new = await asyncio.to_thread(load_snapshot, self.spec, generation=old.generation + 1)
        except Exception as exc:
            self._alerts.reopen_log()
            self.metrics.reloads.labels(outcome="failed").inc()
            logger.error("reload refused, keeping generation %d: %s", old.generation, exc)
            await self._alerts.emit(
                AlertLevel.CRITICAL,
                SOURCE,
                "configuration reload failed; keeping the previous configuration",
                {
                    "error": str(exc),
                    "file": getattr(exc, "file", None),
                    "generation": old.generation,
                },
            )
            self.bus.publish(ConfigReloadFailed(error=str(exc), generation=old.generation))
        else:
            self._snapshot = new
            self._alerts.reopen_log(new.settings)
            if self._log_handler is not None:
                self._log_handler.reopen(new.settings.path(new.settings.paths.daemon_log))
                self._log_handler.rotate_at(new.settings.logs.max_bytes, new.settings.logs.backups)
            changed = new.changed_from(old)
            refused: list[str] = []
            for component in self._started:
                try:
                    await component.reload(new.settings)
                except Exception as exc:
                    refused.append(component.name)
                    # One line for the journal; the traceback only with --verbose.
                    logger.error(
                        "component %s refused the reload: %s: %s",
                        component.name,
                        type(exc).__name__,
                        exc,
                    )
                    logger.debug("component %s reload traceback", component.name, exc_info=True)
                    await self._alerts.emit(
                        AlertLevel.CRITICAL,
                        SOURCE,
                        f"component {component.name} failed to reload",
                        {"component": component.name, "error": f"{type(exc).__name__}: {exc}"},
                    )
            await self._report_config_warnings(new)
            later = new.restart_only_changes(old)
            if later:
                await self._alerts.emit(
                    AlertLevel.WARNING,
                    SOURCE,
                    "changed settings take effect only at the next restart",
                    {"settings": list(later), "generation": new.generation},
                )
            self.metrics.reloads.labels(outcome="ok").inc()
            logger.log(
                logging.ERROR if refused else logging.INFO,
                "reloaded configuration generation %d (changed: %s)%s",
                new.generation,
                ", ".join(changed) or "nothing",
                f"; refused by component(s) {', '.join(refused)} (see the error above)"
                if refused
                else "",
            )
            self.bus.publish(ConfigReloaded(generation=new.generation, changed=changed))
        finally:
            self._transition(RunState.RUNNING, "reload done")
            self.notifier.ready(status=f"running (generation {self.snapshot.generation})")

    async def _drain(self, timeout_s: float) -> list[str]:
        """Drain components and in-flight cycles; returns what had to be cancelled."""
        work: dict[asyncio.Future[Any], str] = {
            asyncio.ensure_future(c.drain()): f"drain:{c.name}" for c in self._started
        }
        cycles: list[asyncio.Task[Any] | None] = [self._cycle_loop, self._once_cycle]
        for cycle in cycles:
            if cycle is not None and not cycle.done():
                work[cycle] = "cycle"
        if not work:
            return []
        forced = asyncio.ensure_future(self._force.wait())
        await asyncio.sleep(0)  # drains with nothing in flight finish here, even when forced
        try:
            async with asyncio.timeout(timeout_s):
                pending = set(work)
                while pending and not self._force.is_set():
                    _, pending = await asyncio.wait(
                        pending | {forced}, return_when=asyncio.FIRST_COMPLETED
                    )
                    pending.discard(forced)
        except TimeoutError:
            pass
        finally:
            forced.cancel()
        unfinished = [t for t in work if not t.done()]
        reason = "forced by a second signal" if self._force.is_set() else "drain timeout"
        for task in unfinished:
            task.cancel(f"daemon stopping: {reason}")
        await asyncio.gather(*work, return_exceptions=True)
        return [f"{work[t]} ({reason})" for t in unfinished]

    async def _shutdown(self) -> None:
        if self.state in (RunState.STOPPING, RunState.STOPPED):
            return
        reason = self.stop_reason or ("cycle finished" if self.options.once else "shutdown")
        self._transition(RunState.STOPPING, reason)
        self.notifier.stopping()
        self._intake_closed.set()
        # Emitted before the drain so the outbox's final pass can still deliver it.
        await self._alerts.emit(AlertLevel.INFO, SOURCE, "daemon stopping", {"reason": reason})
        timeout_s = self.snapshot.settings.daemon.drain_timeout_s
        cancelled = await self._drain(timeout_s)
        if cancelled:
            logger.warning("shutdown cancelled: %s", ", ".join(cancelled))
            await self._alerts.emit(
                AlertLevel.WARNING,
                SOURCE,
                "shutdown cancelled unfinished work",
                {"cancelled": cancelled, "drain_timeout_s": timeout_s},
            )
        if self._supervisor is not None:
            await self._supervisor.cancel_all(f"daemon stopping ({reason})")
        for component in reversed(self._started):
            try:
                await asyncio.wait_for(component.stop(), _STOP_TIMEOUT_S)
            except Exception:
                logger.exception("component %s did not stop cleanly", component.name)
            if self._supervisor is not None:
                self._supervisor.mark_stopped(component.name)
        await self.bus.drain(2.0)
        self._transition(RunState.STOPPED, reason)
        # The last heartbeat says "stopped": a file left saying "stopping" reads like a hang.
        await self._safe_beat()
        await self.bus.close(1.0)
