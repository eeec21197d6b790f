"""The promotion worker: the daemon component that runs the promotion pipeline whenever patches
arrive, keeps taking the remaining bounded steps as cooldowns expire, and runs the rollback guard
over every key it auto-applied.

Patches come in through :meth:`PromotionWorker.submit` (the composition root subscribes it to
``PatchesPublished`` on the bus). File work (policy, auto.toml, audit, proposals) runs in a
thread, one run at a time. Time comes from the injected clock: cooldowns, the rate limit and
bake windows all move with ``ManualClock`` in tests.

Killswitch: when the mode becomes ``disabled`` (policy reload or ``mode_override``), pending
steps are dropped, not applied later. Pending steps live in memory: after a restart the next
published patch set (or ``promote``) picks the work up again from the live values.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from peaktrade_daemon.alerts.model import AlertEmitter, AlertLevel
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.errors import PeakTradeError, PolicyError
from peaktrade_daemon.events import Event
from peaktrade_daemon.learning.models import ConfigPatch
from peaktrade_daemon.promotion.changes import plan_guard_revert
from peaktrade_daemon.promotion.engine import (
    PromotionRun,
    apply_proposals_to_live_overrides,
    run_promotion,
)
from peaktrade_daemon.promotion.models import (
    ApplyOutcome,
    AutoApplyMode,
    AutoApplyPolicy,
    GuardTripped,
    OverridesChanged,
    PromotionDecision,
    PromotionProposal,
)
from peaktrade_daemon.promotion.rollback import (
    GuardAction,
    PerformanceSource,
    RollbackGuard,
    baseline_complete,
)
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.storage.db import Database
from peaktrade_daemon.storage.promotion_store import record_promotion

logger = logging.getLogger(__name__)

SOURCE = "promotion"
#: Blocks that clear with time; decisions blocked by these stay pending.
TRANSIENT = ("cooldown", "rate limit", "held")


class PromotionWorker:
    """Component (see ``component.py``) owning the automatic side of promotion."""

    name = "promotion"

    def __init__(
        self,
        settings: DaemonSettings,
        *,
        clock: Clock,
        alerts: AlertEmitter,
        metrics: PerformanceSource | None,
        database: Database | None = None,
        publish: Callable[[Event], object] | None = None,
        mode_override: AutoApplyMode | None = None,
        queue_size: int = 64,
        policy_source: Callable[[], AutoApplyPolicy | None] | None = None,
    ) -> None:
        self._workspace = PromotionWorkspace.from_settings(settings)
        # The daemon hands in its validated snapshot's policy; alone, the worker reads the file.
        self._policy_source = policy_source
        self._clock = clock
        self._alerts = alerts
        self._metrics = metrics
        self._database = database
        self._publish = publish
        self._mode_override = mode_override
        self._queue: asyncio.Queue[tuple[ConfigPatch, ...]] = asyncio.Queue(queue_size)
        self._busy = asyncio.Lock()
        self._accepting = True
        self.policy: AutoApplyPolicy | None = None
        self.guard = RollbackGuard()
        self.pending: dict[str, PromotionDecision] = {}
        self._pending_proposal: PromotionProposal | None = None
        self.dropped = 0
        self._baseline: Mapping[str, float] = {}

    @property
    def mode(self) -> AutoApplyMode:
        """The effective mode: the override, else the policy's; no policy means disabled."""
        if self.policy is None:
            return AutoApplyMode.DISABLED
        return self._mode_override or self.policy.mode

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the policy; a bad policy is alerted and leaves promotion disabled (fail closed),
        without stopping the daemon."""
        await self._load_policy(keep_old=False)

    async def run(self) -> None:
        """Wait for patches or the next timer (pending steps, guard checks) and act."""
        while True:
            timeout = self._next_timer_s()
            batch = await self._next_batch(timeout)
            if batch is not None:
                await self.process(batch)
            await self.tick()

    async def reload(self, settings: DaemonSettings) -> None:
        """New paths and a re-read policy; an invalid policy keeps the old one (alerted)."""
        self._workspace = PromotionWorkspace.from_settings(settings)
        await self._load_policy(keep_old=True)

    async def drain(self) -> None:
        """Stop accepting patches and wait for the run in progress."""
        self._accepting = False
        async with self._busy:
            return

    async def stop(self) -> None:
        """Nothing to release beyond intake; idempotent."""
        self._accepting = False

    # -- intake ------------------------------------------------------------------------------

    def submit(self, patches: Sequence[ConfigPatch]) -> bool:
        """Queue a patch set for the next run; False (and counted) when full or draining."""
        if not self._accepting or not patches:
            return False
        try:
            self._queue.put_nowait(tuple(patches))
        except asyncio.QueueFull:
            self.dropped += 1
            logger.warning("promotion queue full: dropped a set of %d patch(es)", len(patches))
            return False
        return True

    async def _next_batch(self, wait_s: float | None) -> tuple[ConfigPatch, ...] | None:
        getter = asyncio.ensure_future(self._queue.get())
        if wait_s is None:
            return await getter
        sleeper = asyncio.ensure_future(self._clock.sleep(wait_s))
        try:
            await asyncio.wait({getter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            if not getter.done():
                getter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sleeper
        return getter.result() if getter.done() and not getter.cancelled() else None

    def _next_timer_s(self) -> float | None:
        if self.policy is None or not (self.pending or self.guard.watches):
            return None
        return self.policy.rollback.check_interval_seconds

    # -- the work ----------------------------------------------------------------------------

    async def process(self, patches: Sequence[ConfigPatch]) -> PromotionRun | None:
        """One pipeline run over ``patches`` (proposal, verdicts, bounded steps)."""
        async with self._busy:
            policy, mode = self.policy, self.mode
            if policy is None:
                await self._alert(
                    AlertLevel.CRITICAL, "promotion policy unavailable: patches not promoted", {}
                )
                return None
            if mode is AutoApplyMode.DISABLED:
                logger.info("promotion disabled: %d patch(es) not promoted", len(patches))
                return None
            hold = await self._hold_function()
            now = self._clock.now()
            try:
                base = await asyncio.to_thread(self._workspace.base)
                run = await asyncio.to_thread(
                    run_promotion,
                    list(patches),
                    policy=policy,
                    mode=mode,
                    base=base,
                    writer=self._workspace.writer(),
                    audit=self._workspace.audit(),
                    proposals_dir=self._workspace.proposals_dir,
                    now=now,
                    actor="worker",
                    hold=hold,
                )
            except PeakTradeError as exc:
                await self._alert(
                    AlertLevel.CRITICAL, f"promotion refused: {exc}", {"error": type(exc).__name__}
                )
                return None
            await self._after_apply(run.outcomes, run.proposals[0] if run.proposals else None)
            await self._mirror(run.proposals)
            return run

    async def tick(self) -> None:
        """Guard checks, then the next bounded step of pending decisions whose wait is over."""
        async with self._busy:
            await self._check_guard()
            await self._step_pending()

    async def _hold_function(self) -> Callable[[str], str | None]:
        baseline = await self._read_metrics()
        self._baseline = baseline
        if self._metrics is None:
            return lambda key: "held: no performance source to guard auto-applies"
        if not baseline_complete(baseline):
            return lambda key: "held: performance baseline unknown"
        return self.guard.hold_reason

    async def _read_metrics(self) -> Mapping[str, float]:
        if self._metrics is None:
            return {}
        try:
            return dict(await self._metrics.performance_metrics())
        except Exception as exc:  # a failing monitor is unknown data, never healthy data
            logger.warning("performance metrics unavailable: %s", exc)
            return {}

    async def _after_apply(
        self, outcomes: Sequence[ApplyOutcome], proposal: PromotionProposal | None
    ) -> None:
        applied = [o for o in outcomes if o.applied]
        if proposal is not None:
            self._remember_pending(proposal, outcomes)
        if not applied or self.policy is None:
            return
        records = await asyncio.to_thread(self._workspace.audit().records)
        now = self._clock.now()
        for outcome in applied:
            record = next(
                r
                for r in reversed(records)
                if r.get("event") == "change" and r.get("key") == outcome.key
            )
            if self.policy.rollback.enabled:
                self.guard.watch(record, self._baseline, now, self.policy.rollback)
            await self._alert(
                AlertLevel.INFO,
                f"auto-applied {outcome.key}: {outcome.before} -> {outcome.after}",
                {"key": outcome.key, "proposal_id": record.get("proposal_id")},
            )
        await self._emit(
            OverridesChanged(
                actor="auto",
                proposal_id=proposal.proposal_id if proposal else None,
                changes=tuple((o.key, o.before, o.after) for o in applied),
                time=now,
            )
        )

    def _remember_pending(
        self, proposal: PromotionProposal, outcomes: Sequence[ApplyOutcome]
    ) -> None:
        by_key = {d.target: d for d in proposal.accepted}
        for outcome in outcomes:
            transient = outcome.reason.startswith(TRANSIENT)
            if (outcome.applied and not outcome.reached_target) or (
                not outcome.applied and transient
            ):
                self.pending[outcome.key] = by_key[outcome.key]
            else:
                self.pending.pop(outcome.key, None)
        self._pending_proposal = proposal

    async def _step_pending(self) -> None:
        if not self.pending or self.policy is None or self._pending_proposal is None:
            return
        if self.mode is not AutoApplyMode.BOUNDED_AUTO:
            logger.info("mode %s: %d pending step(s) dropped", self.mode.value, len(self.pending))
            self.pending.clear()
            return
        proposal = PromotionProposal(
            self._pending_proposal.proposal_id,
            self._pending_proposal.created_at,
            self.mode,
            tuple(self.pending.values()),
            "worker",
        )
        hold = await self._hold_function()
        try:
            base = await asyncio.to_thread(self._workspace.base)
            outcomes = await asyncio.to_thread(
                apply_proposals_to_live_overrides,
                [proposal],
                self.policy,
                self.mode,
                self._workspace.writer(),
                base,
                self._clock.now(),
                hold=hold,
            )
        except PeakTradeError as exc:
            await self._alert(
                AlertLevel.CRITICAL, f"pending step refused: {exc}", {"error": type(exc).__name__}
            )
            return
        await self._after_apply(outcomes, proposal)
        await self._mirror(())

    async def _check_guard(self) -> None:
        if not self.guard.watches or self.policy is None:
            return
        current = await self._read_metrics()
        for action in self.guard.check(current, self._clock.now(), self.policy.rollback):
            if action.action == "revert":
                await self._revert(action)
            else:
                logger.info("rollback guard: %s passed its bake window", action.watch.key)

    async def _revert(self, action: GuardAction) -> None:
        record, now = action.watch.record, self._clock.now()
        self.pending.pop(action.watch.key, None)
        try:
            result = await asyncio.to_thread(
                self._workspace.writer().transact,
                plan_guard_revert(record, action.reasons),
                actor="rollback-guard",
                mode=self.mode.value,
                proposal_id=record.get("proposal_id"),
                now=now,
            )
        except PeakTradeError as exc:
            await self._alert(
                AlertLevel.CRITICAL,
                f"rollback guard could not revert {action.watch.key}: {exc}",
                {},
            )
            return
        await self._alert(
            AlertLevel.CRITICAL,
            f"rollback guard reverted and froze {action.watch.key}: {'; '.join(action.reasons)}",
            {
                "key": action.watch.key,
                "reverted_to": result.outcome,
                "change_seq": record.get("seq"),
            },
        )
        await self._emit(
            GuardTripped(
                key=action.watch.key, reverted_to=result.outcome, reasons=action.reasons, time=now
            )
        )
        await self._mirror(())

    # -- plumbing ----------------------------------------------------------------------------

    async def _load_policy(self, *, keep_old: bool) -> None:
        try:
            if self._policy_source is not None:
                policy = self._policy_source()
            else:
                policy = await asyncio.to_thread(self._workspace.policy)
        except PolicyError as exc:
            await self._alert(
                AlertLevel.CRITICAL, str(exc), {"file": str(self._workspace.policy_file)}
            )
            if not keep_old:
                self.policy = None
            return
        if policy is None:  # promotion.worker_enabled turned off by a reload: stand still
            logger.info("promotion worker turned off in the settings: nothing promoted")
        self.policy = policy
        if self.mode is AutoApplyMode.DISABLED and self.pending:
            logger.info("promotion disabled: %d pending step(s) dropped", len(self.pending))
            self.pending.clear()

    async def _alert(self, level: AlertLevel, message: str, context: dict[str, Any]) -> None:
        await self._alerts.emit(level, SOURCE, message, context)

    async def _emit(self, event: Event) -> None:
        if self._publish is None:
            return
        result = self._publish(event)
        if inspect.isawaitable(result):
            await result

    async def _mirror(self, proposals: Sequence[PromotionProposal]) -> None:
        if self._database is None:
            return
        try:
            await record_promotion(self._database, self._workspace.audit(), proposals)
        except Exception as exc:  # the files are the record; a DB hiccup must not stop promotion
            logger.warning("promotion: state database mirror failed: %s", exc)
