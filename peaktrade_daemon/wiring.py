"""The product's parts, built for the Daemon; ``daemon.default_plugins`` (the composition root)
registers them. What each part is and when it runs:

* snapshot loaders ``jobs`` (``jobs.toml``, a bad job is ``JobConfigError``, exit 2) and
  ``promotion`` (the policy; missing or invalid is ``PolicyError``, exit 3, when the promotion
  worker is enabled);
* ``workflows``: one shared :class:`~peaktrade_daemon.market.feeds.Feeds` for the three real
  monitors (one replay time), the decision engine, the workflow engine and the cycle runner.
  At start it marks runs a killed daemon left ``pending``/``running`` as failed with a reason.
  On reload every part adopts the new snapshot (settings, effective config, decision criteria);
  when the promotion worker changes ``auto.toml`` the monitors re-read the effective config;
* ``scheduler`` (continuous mode, unless ``--no-scheduler``, ``scheduler.enabled = false`` or
  ``--dry-run``): jobs from the snapshot, re-synced from the new snapshot on SIGHUP;
* ``calendar-watch``: a warning alert when an exchange calendar's table ends within 60 days
  (critical once it has ended), at start-up and daily;
* ``promotion`` (continuous, not dry run, ``promotion.worker_enabled``): the worker, fed by
  ``PatchesPublished`` on the bus, reading the snapshot's policy and the performance monitor;
  and ``patch-inbox``, which turns patches ``learn`` published from another process into that
  event;
* the ``preflight`` check of ``--symbol`` and ``--strategy`` against the loaded snapshot, run
  before the daemon creates anything on disk;
* the cycle runner (``--once`` and every poll interval) honouring ``--workflow-type`` (through
  the settings), ``--symbol``, ``--strategy``, ``--tag``, ``--dry-run`` and ``--verbose``;
* retention of the runs, decisions and cycle-summary tables, and of the run directories under
  ``reports/`` (workflow reports, replay outputs) by age;
* bus subscriptions that feed the metrics (``/metrics``): decisions (``CycleCompleted``),
  workflow outcomes (``WorkflowFinished``) and live override changes (``OverridesChanged``);
* the paper book's port onto governance's record of live changes
  (:func:`audited_live_changes`, over the promotion audit trail), handed to the performance
  monitor so the book applies each change from the time it was made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.config.loader import PeakConfig
from peaktrade_daemon.errors import ConfigError, UsageError, present
from peaktrade_daemon.governance.policy import AutoApplyMode, AutoApplyPolicy
from peaktrade_daemon.learning.models import PatchesPublished
from peaktrade_daemon.market.calendar_watch import CalendarWatch
from peaktrade_daemon.monitors.defaults import trading_config
from peaktrade_daemon.monitors.signals import chosen_strategies
from peaktrade_daemon.promotion.baseline import PortfolioMetrics
from peaktrade_daemon.promotion.evidence import EvidenceRunner
from peaktrade_daemon.promotion.inbox import PatchInbox
from peaktrade_daemon.promotion.live_changes import audited_live_changes
from peaktrade_daemon.promotion.models import OverridesChanged
from peaktrade_daemon.promotion.policy_file import load_policy
from peaktrade_daemon.promotion.worker import PromotionWorker
from peaktrade_daemon.scheduling.jobs import JobsFile, load_jobs
from peaktrade_daemon.scheduling.scheduler import JobScheduler
from peaktrade_daemon.settings import DaemonSettings, RetentionSection
from peaktrade_daemon.snapshot import ConfigLoader
from peaktrade_daemon.storage.file_retention import ReportRetention
from peaktrade_daemon.storage.runs import RunStore
from peaktrade_daemon.workflows.components import WorkflowComponents, build_components
from peaktrade_daemon.workflows.cycle import CycleCompleted, CycleSummary
from peaktrade_daemon.workflows.model import WorkflowFinished
from peaktrade_daemon.workflows.runtime import WorkflowRuntime, build_runtime

if TYPE_CHECKING:
    from peaktrade_daemon.component import Component
    from peaktrade_daemon.runtime import DaemonOptions, Runtime
    from peaktrade_daemon.snapshot import Snapshot
    from peaktrade_daemon.storage.retention import RetentionRule

logger = logging.getLogger(__name__)

JOBS = "jobs"
PROMOTION = "promotion"
#: After a cut-short drain, how long cancelled runs get to kill their commands (2 s grace) and
#: record their final state.
CANCEL_GRACE_S = 5.0
INTERRUPTED = "interrupted: the daemon running it stopped before it finished (killed or crashed)"


def load_jobs_file(settings: DaemonSettings) -> JobsFile:
    """The ``jobs`` snapshot loader."""
    return load_jobs(settings.path(settings.paths.jobs_file))


def load_promotion_policy(settings: DaemonSettings) -> AutoApplyPolicy | None:
    """The ``promotion`` snapshot loader: the policy, or None when the worker is disabled (then
    nothing in the daemon promotes, and the CLI commands still check the file themselves)."""
    if not settings.promotion.worker_enabled:
        return None
    return load_policy(settings.path(settings.paths.promotion_policy_file))


def check_options(options: DaemonOptions, snapshot: Snapshot) -> None:
    """The ``preflight`` check: ``--symbol`` and ``--strategy`` must name a configured symbol
    and an enabled strategy; a usage error at start, not a cycle of failed monitors."""
    settings = snapshot.settings
    unknown = [s for s in options.symbols if s not in settings.symbols]
    if unknown:
        known = ", ".join(settings.symbols) or "none"
        raise UsageError(f"--symbol {unknown[0]!r} is not configured (configured: {known})")
    try:
        chosen_strategies(snapshot.config, options.strategy)
    except ConfigError as exc:
        raise UsageError(f"--strategy: {exc.problem}") from exc


class WorkflowSide:
    """Component ``workflows``: feeds, monitors, decision engine, workflow engine and cycle."""

    name = "workflows"

    def __init__(self, rt: Runtime, *, out: Callable[[str], None] = print) -> None:
        self._rt = rt
        snapshot = rt.snapshot()
        settings = snapshot.settings
        self.components: WorkflowComponents = build_components(
            settings,
            clock=rt.clock,
            config=snapshot.config,
            strategy=rt.options.strategy,
            live_changes=audited_live_changes,
        )
        self.store = RunStore(rt.database) if rt.database is not None else None
        self.runtime: WorkflowRuntime = build_runtime(
            settings,
            clock=rt.clock,
            store=self.store,
            alerts=rt.alerts,
            components=self.components,
            publish=rt.bus.publish,
            current_settings=lambda: rt.snapshot().settings,
            out=out,
        )
        rt.bus.subscribe(OverridesChanged, self._on_overrides, name="workflows.overrides")

    async def start(self) -> None:
        """Close the history of runs a killed daemon left unfinished."""
        if self.store is None:
            return
        ids = await self.store.mark_interrupted(INTERRUPTED, self._rt.clock.now())
        if ids:
            await self._rt.alerts.emit(
                AlertLevel.WARNING,
                "workflow",
                f"{len(ids)} workflow run(s) left unfinished by an earlier daemon marked failed",
                {"run_ids": ids, "reason": INTERRUPTED},
            )

    async def run(self) -> None:
        """Nothing long-running: the cycle loop and the scheduler drive the work."""

    async def reload(self, settings: DaemonSettings) -> None:
        """Every part adopts the new snapshot (the daemon swapped it before calling this)."""
        await self._adopt(settings, self._rt.snapshot().config)

    async def _adopt(self, settings: DaemonSettings, config: PeakConfig) -> None:
        decider = await self.components.reconfigure(settings, config)
        self.runtime.engine.reload(settings)
        if self.runtime.cycle is not None:
            self.runtime.cycle.reload(settings, decider)

    async def _on_overrides(self, event: OverridesChanged) -> None:
        # auto.toml changed without a reload: the paper book's leverage (in a live-like
        # environment) must follow, so re-read the effective config.
        settings = self._rt.snapshot().settings
        config = await asyncio.to_thread(trading_config, settings)
        await self._adopt(settings, config)

    async def drain(self) -> None:
        """Wait for workflow runs in flight. When the daemon cuts the drain short (drain timeout,
        second signal), cancel them with its reason and wait until each is recorded as
        cancelled and its process group is killed, before the scheduler and the database go."""
        engine = self.runtime.engine
        try:
            await engine.wait_idle()
        except asyncio.CancelledError as exc:
            reason = str(exc.args[0]) if exc.args else "daemon stopping"
            engine.cancel_all(reason)
            # Bounded: a workflow that swallows its cancellation must not hold shutdown.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(engine.wait_idle(), CANCEL_GRACE_S)
            raise

    async def stop(self) -> None:
        """Close the feeds."""
        await self.components.close()


@dataclass(frozen=True, slots=True)
class DaemonCycle:
    """The daemon's :class:`~peaktrade_daemon.daemon.CycleRunner`: one autonomous cycle with the
    command line's choices."""

    side: WorkflowSide
    rt: Runtime

    async def run_cycle(self) -> CycleSummary:
        """Run one cycle (printed, stored, published unless dry run)."""
        cycle = present(self.side.runtime.cycle, "the cycle engine")
        options = self.rt.options
        return await cycle.run_cycle(
            symbols=list(options.symbols) or None,
            dry_run=options.dry_run,
            verbose=options.verbose,
            tag=options.tag,
        )


LOADERS = (ConfigLoader(JOBS, load_jobs_file), ConfigLoader(PROMOTION, load_promotion_policy))


def _continuous(rt: Runtime) -> bool:
    """Scheduler and promotion run only in a continuous daemon that may write state."""
    return not rt.options.once and not rt.options.dry_run


class Assembly:
    """Builds the shared parts once per daemon; the plugin factories (its methods) hand them
    out, and return None for a part this process does not run.

    ``mode_override`` is the promotion worker's (a command line's ``--mode``; the policy's
    ``disabled`` still wins); ``out`` is where the cycle prints its one-line summaries (replay
    keeps them off the terminal)."""

    def __init__(
        self,
        *,
        mode_override: AutoApplyMode | None = None,
        out: Callable[[str], None] = print,
    ) -> None:
        self._rt: Runtime | None = None
        self._side: WorkflowSide | None = None
        self._mode_override = mode_override
        self._out = out

    def side(self, rt: Runtime) -> WorkflowSide:
        """The workflow side of ``rt``'s daemon (built on first use)."""
        if self._side is None or self._rt is not rt:
            self._rt, self._side = rt, WorkflowSide(rt, out=self._out)
            feed_metrics(rt)
        return self._side

    def workflows(self, rt: Runtime) -> Component:
        """Component ``workflows`` (always)."""
        return self.side(rt)

    def scheduler(self, rt: Runtime) -> Component | None:
        """The job scheduler, unless ``--once``, ``--dry-run``, ``--no-scheduler`` or
        ``scheduler.enabled = false``."""
        settings = rt.snapshot().settings
        if not _continuous(rt) or rt.options.no_scheduler or not settings.scheduler.enabled:
            return None
        side = self.side(rt)
        jobs = _jobs(rt)
        return JobScheduler(
            settings=settings,
            runner=side.runtime.runner,
            clock=rt.clock,
            jobs=jobs,
            include_tags=rt.options.include_tags,
            exclude_tags=rt.options.exclude_tags,
            jobs_source=lambda: _jobs(rt),
        )

    def promotion(self, rt: Runtime) -> Component | None:
        """The promotion worker (continuous, not dry run, ``promotion.worker_enabled``)."""
        if not _continuous(rt) or not rt.snapshot().settings.promotion.worker_enabled:
            return None
        side = self.side(rt)
        worker = PromotionWorker(
            rt.snapshot().settings,
            clock=rt.clock,
            alerts=rt.alerts,
            metrics=PortfolioMetrics(side.components.performance),
            database=rt.database,
            publish=rt.bus.publish,
            mode_override=self._mode_override,
            policy_source=lambda: _policy(rt),
            evidence=EvidenceRunner(lambda: rt.snapshot().settings, side.components.feeds),
        )

        def submit(event: PatchesPublished) -> None:
            if not worker.submit(event.patches, event.done):
                logger.warning(
                    "promotion: %d patch(es) from %s not queued", len(event.patches), event.source
                )

        rt.bus.subscribe(PatchesPublished, submit, name="promotion.patches")
        return worker

    def calendars(self, rt: Runtime) -> Component:
        """The exchange calendar tables' watch (always): alerts before a table runs out."""
        return CalendarWatch(rt.snapshot().settings, rt.clock, rt.alerts)

    def inbox(self, rt: Runtime) -> Component | None:
        """The patch inbox, wherever the promotion worker runs."""
        if not _continuous(rt) or not rt.snapshot().settings.promotion.worker_enabled:
            return None
        return PatchInbox(
            rt.snapshot().settings, clock=rt.clock, alerts=rt.alerts, publish=rt.bus.publish
        )

    def cycle(self, rt: Runtime) -> DaemonCycle:
        """The cycle runner."""
        return DaemonCycle(self.side(rt), rt)

    def retention(self, rt: Runtime) -> RetentionRule:
        """Row limits of the workflow runs, decisions and cycle summaries."""
        side = self.side(rt)

        async def prune(limits: RetentionSection) -> dict[str, int]:
            if side.store is None:
                return {}
            return await side.store.prune(
                workflow_runs=limits.workflow_runs, decisions=limits.decisions
            )

        return prune

    def report_retention(self, rt: Runtime) -> RetentionRule:
        """Age limit of the run directories under ``reports/`` (workflow reports, replay
        outputs)."""
        return ReportRetention(lambda: rt.snapshot().settings, rt.clock)


def _jobs(rt: Runtime) -> JobsFile:
    jobs = rt.snapshot().extras[JOBS]
    if not isinstance(jobs, JobsFile):
        raise TypeError(f"the snapshot's {JOBS!r} extra is a {type(jobs).__name__}, not a JobsFile")
    return jobs


def _policy(rt: Runtime) -> AutoApplyPolicy | None:
    policy = rt.snapshot().extras[PROMOTION]
    return policy if isinstance(policy, AutoApplyPolicy) else None


def feed_metrics(rt: Runtime) -> None:
    """Count decisions, workflow outcomes and live override changes from bus events (whoever
    changed auto.toml, the promotion worker or the review page, publishes ``OverridesChanged``:
    counted here once, never also by the writer)."""
    metrics = rt.metrics

    def decided(event: CycleCompleted) -> None:
        s = event.summary
        metrics.record_decision(workflow_type=s.workflow_type, action=s.action)

    def finished(event: WorkflowFinished) -> None:
        metrics.record_workflow(
            workflow_type=event.workflow_type,
            outcome=event.state.value,
            duration_s=event.duration_s,
        )

    def overrides(event: OverridesChanged) -> None:
        for key, _, _ in event.changes:
            metrics.record_override_applied(key=key)

    rt.bus.subscribe(CycleCompleted, decided, name="metrics.decisions")
    rt.bus.subscribe(WorkflowFinished, finished, name="metrics.workflows")
    rt.bus.subscribe(OverridesChanged, overrides, name="metrics.overrides")
