"""The promotion worker: the daemon component that runs the promotion pipeline whenever patches
arrive, keeps taking the remaining bounded steps as cooldowns expire, and runs the rollback guard
over every bounded apply to auto.toml, its own and other processes' (``promote``,
``proposals approve``).

Patches come in through :meth:`PromotionWorker.submit` (the composition root subscribes it to
``PatchesPublished`` on the bus). File work (policy, auto.toml, audit, proposals) runs in a
thread, one run at a time. Time comes from the injected clock: cooldowns, the rate limit and
bake windows all move with ``ManualClock`` in tests. Every check interval the worker scans the
audit trail for applies to watch, judges the watches, then steps what is pending.

Pending steps (:mod:`~peaktrade_daemon.promotion.pending`) and watches
(:mod:`~peaktrade_daemon.promotion.observation`) are kept in the state database, so a restart
resumes them. Killswitch: when the mode becomes ``disabled`` (policy reload or
``mode_override``; the policy's ``disabled`` wins over any override), pending steps are dropped,
not applied later; watches go on (a revert is always allowed).

A batch is acknowledged (``Batch.done``: the inbox then marks it seen) only after it was
processed, so a batch the daemon did not get to is promoted after a restart. A batch the worker
refused whole (no valid policy, a file it could not read or write) was not processed either: it
stays unacknowledged, and the inbox, which publishes its current set again when that set is not
the one acknowledged, offers it again after the next reload (an operator fixes the file and sends
SIGHUP) or restart; a newer set published meanwhile replaces it. The killswitch drops batches on
purpose. auto.toml is compared with the audit trail at start, on reload and at every check: a
hand edit raises a critical alert at once (and again when it changes), without waiting for a
write.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from peaktrade_daemon.alerts.model import AlertEmitter, AlertLevel
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.errors import PeakTradeError, PolicyError
from peaktrade_daemon.events import Event
from peaktrade_daemon.governance.guard import PerformanceSource, RollbackGuard
from peaktrade_daemon.governance.holds import effective_mode
from peaktrade_daemon.governance.plans import ApplyOutcome, awaiting_evidence
from peaktrade_daemon.governance.policy import AutoApplyMode, AutoApplyPolicy
from peaktrade_daemon.governance.verdicts import PromotionDecision
from peaktrade_daemon.learning.models import ConfigPatch
from peaktrade_daemon.promotion.engine import (
    PromotionRun,
    apply_proposals_to_live_overrides,
    build_promotion_candidates_from_patches,
    filter_candidates_for_live,
    run_promotion,
)
from peaktrade_daemon.promotion.evidence import CandidateEvidence, EvidenceRunner
from peaktrade_daemon.promotion.file_check import FileCheck
from peaktrade_daemon.promotion.guarding import GuardDuty
from peaktrade_daemon.promotion.models import OverridesChanged, PromotionProposal
from peaktrade_daemon.promotion.observation import Observation
from peaktrade_daemon.promotion.outlets import Outlets
from peaktrade_daemon.promotion.pending import PendingSteps
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.promotion.writer import OverridesWriter
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.storage.db import Database
from peaktrade_daemon.storage.promotion_progress import ProgressStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Batch:
    """A patch set to promote, and what to call once it was processed."""

    patches: tuple[ConfigPatch, ...]
    done: Callable[[], Awaitable[None]] | None = None

    async def acknowledge(self) -> None:
        """Tell the producer the batch was processed (the inbox marks it seen)."""
        if self.done is not None:
            try:
                await self.done()
            except Exception as exc:  # not seen means promoted again after a restart: safe
                logger.warning("promotion: batch acknowledgement failed: %s", exc)


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
        evidence: EvidenceRunner | None = None,
    ) -> None:
        self._workspace = PromotionWorkspace.from_settings(settings)
        self._kept_writer: tuple[PromotionWorkspace, OverridesWriter] | None = None
        self._charts = settings.promotion.evidence_charts
        # The daemon hands in its validated snapshot's policy; alone, the worker reads the file.
        self._policy_source = policy_source
        self._clock = clock
        self._out = Outlets(alerts, publish, database)
        self._mode_override = mode_override
        # §9: without a runner (and evidence on in the policy) nothing is auto-applied.
        self._evidence = evidence
        self._queue: asyncio.Queue[Batch] = asyncio.Queue(queue_size)
        self._file_alerted: str | None = None
        self._busy = asyncio.Lock()
        self._accepting = True
        self.policy: AutoApplyPolicy | None = None
        store = ProgressStore(database) if database is not None else None
        self._store = store
        self.pending = PendingSteps(store)
        self.duty = GuardDuty(Observation(store), self.pending, self._out, clock, metrics, evidence)
        self.dropped = 0
        #: Set while the run loop waits for patches or its next check (nothing in flight).
        self.idle = asyncio.Event()

    @property
    def mode(self) -> AutoApplyMode:
        """The effective mode: the override, else the policy's; the policy's ``disabled`` is the
        killswitch no override lifts; no policy means disabled."""
        if self.policy is None:
            return AutoApplyMode.DISABLED
        return effective_mode(self.policy, self._mode_override)

    @property
    def guard(self) -> RollbackGuard:
        """The rollback guard and its watches."""
        return self.duty.observation.guard

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume the pending steps and watches a previous run left, then load the policy (a
        bad policy is alerted and leaves promotion disabled, fail closed, without stopping the
        daemon; a disabled mode drops the resumed steps)."""
        if self._store is not None:
            await self._store.ensure_tables()
        await self.pending.load()
        await self.duty.observation.load(self._clock.now())
        await self._load_policy(keep_old=False)
        await self.check_file()

    async def run(self) -> None:
        """Wait for patches or the next check (audit scan, guard, pending steps) and act."""
        while True:
            timeout = self._next_timer_s()
            batch = await self._next_batch(timeout)
            if batch is not None:
                processed, _ = await self._promote(batch.patches)
                if processed:  # else the inbox offers its set again (module docstring)
                    await batch.acknowledge()
            await self.tick()

    async def reload(self, settings: DaemonSettings) -> None:
        """New paths and a re-read policy; an invalid policy keeps the old one (alerted)."""
        self._workspace = PromotionWorkspace.from_settings(settings)
        self._charts = settings.promotion.evidence_charts
        await self._load_policy(keep_old=True)
        self._file_alerted = None
        await self.check_file()

    async def drain(self) -> None:
        """Stop accepting patches and wait for the run in progress."""
        self._accepting = False
        async with self._busy:
            return

    async def stop(self) -> None:
        """Nothing to release beyond intake; idempotent."""
        self._accepting = False

    # -- intake ------------------------------------------------------------------------------

    def submit(
        self,
        patches: Sequence[ConfigPatch],
        done: Callable[[], Awaitable[None]] | None = None,
    ) -> bool:
        """Queue a patch set for the next run (``done`` is awaited once it was processed);
        False (and counted) when full or draining."""
        if not self._accepting or not patches:
            return False
        try:
            self._queue.put_nowait(Batch(tuple(patches), done))
        except asyncio.QueueFull:
            self.dropped += 1
            logger.warning("promotion queue full: dropped a set of %d patch(es)", len(patches))
            return False
        return True

    async def _next_batch(self, wait_s: float | None) -> Batch | None:
        getter = asyncio.ensure_future(self._queue.get())
        if wait_s is None:
            self.idle.set()
            try:
                return await getter
            finally:
                self.idle.clear()
        sleeper = asyncio.ensure_future(self._clock.sleep(wait_s))
        self.idle.set()
        try:
            await asyncio.wait({getter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.idle.clear()
            sleeper.cancel()
            if not getter.done():
                getter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sleeper
        return getter.result() if getter.done() and not getter.cancelled() else None

    def _next_timer_s(self) -> float | None:
        # The audit scan needs a timer even with nothing pending: another process may apply.
        if self.policy is None:
            return None
        return self.policy.rollback.check_interval_seconds

    # -- the work ----------------------------------------------------------------------------

    async def process(self, patches: Sequence[ConfigPatch]) -> PromotionRun | None:
        """One pipeline run over ``patches`` (proposal, verdicts, bounded steps); None when
        promotion is disabled or the run was refused (alerted)."""
        return (await self._promote(patches))[1]

    async def _promote(self, patches: Sequence[ConfigPatch]) -> tuple[bool, PromotionRun | None]:
        """``process``, and whether the patches were processed (False: refused whole)."""
        async with self._busy:
            policy, mode = self.policy, self.mode
            if policy is None:
                await self._out.alert(
                    AlertLevel.CRITICAL,
                    "promotion policy unavailable: patches not promoted (offered again after "
                    "the next reload or restart)",
                    {},
                )
                return False, None
            if mode is AutoApplyMode.DISABLED:
                logger.info("promotion disabled: %d patch(es) not promoted", len(patches))
                return True, None
            hold = await self.duty.hold_function()
            now = self._clock.now()
            try:
                base = await asyncio.to_thread(self._workspace.base)
                evidence = await self._evidence_for(patches, policy, base)
                run = await asyncio.to_thread(
                    functools.partial(
                        run_promotion,
                        list(patches),
                        policy=policy,
                        mode=mode,
                        base=base,
                        writer=self._writer(),
                        audit=self._workspace.audit(),
                        proposals_dir=self._workspace.proposals_dir,
                        now=now,
                        actor="worker",
                        hold=hold,
                        evidence=evidence,
                        charts=self._charts,
                    )
                )
            except (PeakTradeError, OSError) as exc:
                # OSError: a file planted where a proposal directory goes, a full disk. The
                # worker task must survive it, and say so.
                await self._out.alert(
                    AlertLevel.CRITICAL,
                    f"promotion refused (offered again after the next reload or restart): {exc}",
                    {"error": type(exc).__name__},
                )
                return False, None
            if run.proposals:
                await self._after_apply(run.proposals[0], run.outcomes)
            await self._out.mirror(self._workspace.audit(), run.proposals)
            return True, run

    async def tick(self) -> None:
        """Compare auto.toml with the trail, find applies to watch, judge the watches, then
        take the pending steps now due."""
        await self.check_file()
        async with self._busy:
            if self.policy is not None:
                await self.duty.discover(self._workspace, self.policy)
                await self.duty.check(self._workspace, self.policy, self.mode.value)
            await self._step_pending()

    async def _after_apply(
        self, proposal: PromotionProposal, outcomes: Sequence[ApplyOutcome]
    ) -> None:
        now = self._clock.now()
        await self.pending.remember(proposal, outcomes, now)
        held = [o for o in outcomes if not o.applied]
        for outcome in held:
            logger.info("promotion: %s not applied: %s", outcome.key, outcome.reason)
        applied = [o for o in outcomes if o.applied]
        if not applied or self.policy is None:
            return
        keys = [o.key for o in applied]
        records = await self.duty.watch_applied(self._workspace, keys, self.policy)
        for outcome in applied:
            await self._out.alert(
                AlertLevel.INFO,
                f"auto-applied {outcome.key}: {outcome.before} -> {outcome.after}",
                {"key": outcome.key, "proposal_id": records[outcome.key].get("proposal_id")},
            )
        await self._out.emit(
            OverridesChanged(
                actor="auto",
                proposal_id=proposal.proposal_id,
                changes=tuple((o.key, o.before, o.after) for o in applied),
                time=now,
            )
        )

    async def _step_pending(self) -> None:
        if not self.pending or self.policy is None:
            return
        if self.mode is not AutoApplyMode.BOUNDED_AUTO:
            await self.pending.clear(f"mode {self.mode.value}", self._clock.now())
            return
        hold = await self.duty.hold_function()
        for proposal in self.pending.proposals(self.mode):
            try:
                base = await asyncio.to_thread(self._workspace.base)
                live = await asyncio.to_thread(self._writer().read)
                # Fresh evidence for each pending step that can be taken now (the live value
                # and the data moved), none for a step held anyway: most checks of a pending
                # step fall in its cooldown or its key's bake window.
                due = awaiting_evidence(
                    proposal.decisions,
                    self.policy,
                    self.mode,
                    base,
                    self._clock.now(),
                    live,
                    hold=hold,
                )
                evidence = (
                    await self._evidence_of(due, self.policy, base, live.values) if due else {}
                )
                outcomes = await asyncio.to_thread(
                    functools.partial(
                        apply_proposals_to_live_overrides,
                        [proposal],
                        self.policy,
                        self.mode,
                        self._writer(),
                        base,
                        self._clock.now(),
                        hold=hold,
                        evidence=evidence,
                    )
                )
            except (PeakTradeError, OSError) as exc:
                await self._out.alert(
                    AlertLevel.CRITICAL,
                    f"pending step refused: {exc}",
                    {"error": type(exc).__name__},
                )
                return
            await self._after_apply(proposal, outcomes)
        await self._out.mirror(self._workspace.audit())

    async def check_file(self) -> FileCheck | None:
        """Compare auto.toml with the audit trail; a hand edit (or an unreadable file or trail)
        is a critical alert, repeated only when what is found changes."""
        writer = self._workspace.writer()
        try:
            check = await asyncio.to_thread(writer.check)
        except (PeakTradeError, ValueError, OSError) as exc:
            found, message, context = f"error:{exc}", f"auto.toml check failed: {exc}", {}
        else:
            if check.status != "hand_edit":
                self._file_alerted = None
                return check
            found = check.content_sha256
            message = check.describe(writer.path)
            context = {"file": str(writer.path), "differences": list(check.differences)}
        if found != self._file_alerted:
            self._file_alerted = found
            await self._out.alert(AlertLevel.CRITICAL, message, context)
        return None

    async def _evidence_for(
        self, patches: Sequence[ConfigPatch], policy: AutoApplyPolicy, base: Mapping[str, Any]
    ) -> dict[str, CandidateEvidence]:
        live = (await asyncio.to_thread(self._workspace.writer().read)).values
        decisions = filter_candidates_for_live(
            build_promotion_candidates_from_patches(patches, policy), policy, base, live
        )
        return await self._evidence_of(decisions, policy, base, live)

    async def _evidence_of(
        self,
        decisions: Sequence[PromotionDecision],
        policy: AutoApplyPolicy,
        base: Mapping[str, Any],
        live: Mapping[str, Any] | None = None,
    ) -> dict[str, CandidateEvidence]:
        if self._evidence is None or not policy.evidence.enabled:
            return {}
        if live is None:
            live = (await asyncio.to_thread(self._workspace.writer().read)).values
        return await self._evidence.evaluate(decisions, live, policy, base)

    # -- plumbing ----------------------------------------------------------------------------

    def _writer(self) -> OverridesWriter:
        """The writer of the current workspace, kept from one check to the next (used under
        ``_busy`` only): while auto.toml holds the bytes it last parsed or wrote, it does not
        parse them again."""
        if self._kept_writer is None or self._kept_writer[0] is not self._workspace:
            self._kept_writer = (self._workspace, self._workspace.writer())
        return self._kept_writer[1]

    async def _load_policy(self, *, keep_old: bool) -> None:
        try:
            if self._policy_source is not None:
                policy = self._policy_source()
            else:
                policy = await asyncio.to_thread(self._workspace.policy)
        except PolicyError as exc:
            await self._out.alert(
                AlertLevel.CRITICAL, str(exc), {"file": str(self._workspace.policy_file)}
            )
            if not keep_old:
                self.policy = None
            return
        if policy is None:  # promotion.worker_enabled turned off by a reload: stand still
            logger.info("promotion worker turned off in the settings: nothing promoted")
        self.policy = policy
        if self.mode is AutoApplyMode.DISABLED:
            await self.pending.clear("promotion disabled", self._clock.now())
