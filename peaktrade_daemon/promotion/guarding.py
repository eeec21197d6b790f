"""The rollback guard's duty inside the promotion worker (§8.5): find the applies to watch in
the audit trail, judge the watches against the performance monitor, and revert, freeze and
alert when a change degraded performance.

A revert is a recorded change (actor ``rollback-guard``) published as ``OverridesChanged`` so the
monitors follow auto.toml back, then ``GuardTripped``. Watch bookkeeping and persistence are
:mod:`~peaktrade_daemon.promotion.observation`; the rules are
:mod:`~peaktrade_daemon.promotion.rollback`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.errors import PeakTradeError
from peaktrade_daemon.governance.guard import (
    GuardAction,
    Health,
    PerformanceSource,
    baseline_complete,
)
from peaktrade_daemon.governance.plans import WriteKind, plan_guard_revert
from peaktrade_daemon.governance.policy import AutoApplyPolicy
from peaktrade_daemon.promotion.evidence import EvidenceRunner
from peaktrade_daemon.promotion.models import GuardTripped, OverridesChanged
from peaktrade_daemon.promotion.observation import GUARD_ACTOR, Observation
from peaktrade_daemon.promotion.outlets import Outlets
from peaktrade_daemon.promotion.pending import PendingSteps
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.promotion.writer import GateContext

logger = logging.getLogger(__name__)


class GuardDuty:
    """Discover, check, revert; called by the worker under its run lock."""

    def __init__(
        self,
        observation: Observation,
        pending: PendingSteps,
        outlets: Outlets,
        clock: Clock,
        metrics: PerformanceSource | None,
        evidence: EvidenceRunner | None = None,
    ) -> None:
        self.observation = observation
        self._pending = pending
        self._out = outlets
        self._clock = clock
        self._metrics = metrics
        self._evidence = evidence
        #: The reading taken just before the last apply (the baseline of its watches).
        self.baseline: Mapping[str, float] = {}

    async def read_metrics(self) -> Mapping[str, float]:
        """The performance reading now; empty (unknown) when there is no source or it fails."""
        if self._metrics is None:
            return {}
        try:
            return dict(await self._metrics.performance_metrics())
        except Exception as exc:  # a failing monitor is unknown data, never healthy data
            logger.warning("performance metrics unavailable: %s", exc)
            return {}

    async def hold_function(self) -> Callable[[str], str | None]:
        """Take the pre-apply baseline and say which keys auto-apply must hold: all of them
        without a performance source or with an unknown baseline, else those still baking."""
        self.baseline = await self.read_metrics()
        if self._metrics is None:
            return lambda key: "held: no performance source to guard auto-applies"
        if not baseline_complete(self.baseline):
            return lambda key: "held: performance baseline unknown"
        return self.observation.guard.hold_reason

    async def watch_applied(
        self, workspace: PromotionWorkspace, keys: Sequence[str], policy: AutoApplyPolicy
    ) -> dict[str, Mapping[str, Any]]:
        """Watch the changes just applied to ``keys`` (baseline: the reading before the apply);
        returns their audit records by key."""
        records = await asyncio.to_thread(workspace.audit().records)
        now, found = self._clock.now(), {}
        for key in keys:
            found[key] = next(
                r for r in reversed(records) if r.get("event") == "change" and r.get("key") == key
            )
            if policy.rollback.enabled:
                await self.observation.watch(found[key], self.baseline, now, policy.rollback)
        return found

    async def discover(self, workspace: PromotionWorkspace, policy: AutoApplyPolicy) -> None:
        """Watch the bounded applies other processes recorded since the last scan."""
        if not policy.rollback.enabled:
            return
        audit = workspace.audit()
        latest = await asyncio.to_thread(audit.head_seq)
        if latest is not None and latest <= self.observation.scanned_seq:
            return
        records = await asyncio.to_thread(audit.records)
        now = self._clock.now()
        found = self.observation.unseen(records, now, policy.rollback)
        if not found:
            return
        # Read before the monitors adopt the change (OverridesChanged below).
        baseline = await self.read_metrics()
        for record in found:
            key = str(record["key"])
            await self.observation.watch(record, baseline, now, policy.rollback)
            await self._out.alert(
                AlertLevel.INFO,
                f"watching {key}: {record.get('before')} -> {record.get('after')} "
                f"applied by {record.get('actor')}",
                {"key": key, "change_seq": record["seq"]},
            )
            await self._out.emit(
                OverridesChanged(
                    actor=str(record.get("actor")),
                    proposal_id=record.get("proposal_id"),
                    changes=((key, record.get("before"), record.get("after")),),
                    time=now,
                )
            )
        await self._out.mirror(audit)

    async def check(
        self, workspace: PromotionWorkspace, policy: AutoApplyPolicy, mode: str
    ) -> None:
        """Judge every watch against a fresh reading, or with evidence on as a canary against
        its shadow book (§9); revert the degraded ones."""
        if not self.observation.guard.watches:
            return
        current = await self.read_metrics()
        now = self._clock.now()
        canary = await self._canary(workspace, policy, now)
        for action in await self.observation.check(current, now, policy.rollback, canary):
            if action.action == "revert":
                await self._revert(workspace, action, mode, policy)
            else:
                logger.info("rollback guard: %s passed its bake window", action.watch.key)

    async def _canary(
        self, workspace: PromotionWorkspace, policy: AutoApplyPolicy, now: datetime
    ) -> dict[str, tuple[Health, tuple[str, ...]]] | None:
        """The shadow-book readings of the watches; None (the before/after rule) with evidence
        off; every watch unknown without an evidence runner (fail closed)."""
        if not policy.evidence.enabled:
            return None
        records = [w.record for w in self.observation.guard.watches.values()]
        if self._evidence is None:
            return {str(r["key"]): (Health.UNKNOWN, ("no evidence runner",)) for r in records}
        try:
            base = await asyncio.to_thread(workspace.base)
            live = (await asyncio.to_thread(workspace.writer().read)).values
        except PeakTradeError as exc:
            return {str(r["key"]): (Health.UNKNOWN, (str(exc),)) for r in records}
        return await self._evidence.canary(records, policy, base, live, now)

    async def _revert(
        self,
        workspace: PromotionWorkspace,
        action: GuardAction,
        mode: str,
        policy: AutoApplyPolicy,
    ) -> None:
        record, now = action.watch.record, self._clock.now()
        key = action.watch.key
        await self._pending.discard(key, now)
        try:
            base = await asyncio.to_thread(workspace.base)
            result = await asyncio.to_thread(
                workspace.writer().transact,
                plan_guard_revert(record, action.reasons),
                kind=WriteKind.RETREAT,
                gate=GateContext(base, policy),
                actor=GUARD_ACTOR,
                mode=mode,
                proposal_id=record.get("proposal_id"),
                now=now,
            )
        except PeakTradeError as exc:
            await self._out.alert(
                AlertLevel.CRITICAL, f"rollback guard could not revert {key}: {exc}", {}
            )
            return
        if result.repaired is not None:
            await self._out.alert(
                AlertLevel.CRITICAL,
                f"audit trail: a damaged tail was moved aside to {result.repaired}",
                {"file": str(result.repaired)},
            )
        await self._out.alert(
            AlertLevel.CRITICAL,
            f"rollback guard reverted and froze {key}: {'; '.join(action.reasons)}",
            {"key": key, "reverted_to": result.outcome, "change_seq": record.get("seq")},
        )
        if any(r.get("event") == "change" for r in result.records):
            # The monitors (the paper book's leverage) must follow auto.toml back.
            await self._out.emit(
                OverridesChanged(
                    actor=GUARD_ACTOR,
                    proposal_id=record.get("proposal_id"),
                    changes=((key, record.get("after"), result.outcome),),
                    time=now,
                )
            )
        await self._out.emit(
            GuardTripped(key=key, reverted_to=result.outcome, reasons=action.reasons, time=now)
        )
        await self._out.mirror(workspace.audit())
