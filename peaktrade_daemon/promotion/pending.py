"""Pending bounded steps (§8.3): accepted decisions whose key has not reached the proposed value
yet, or whose step waits for a block that clears with time (cooldown, rate limit, a hold).

The promotion worker takes the next step of each when its wait is over. With a state database
the set is kept in ``promotion_pending_steps`` (storage/promotion_progress.py), so a restart
during a bake window or between two steps resumes where it stood; each step stays attributed
to the proposal that accepted it. The killswitch (``disabled``) clears the set: frozen, never
applied later.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peaktrade_daemon.governance.plans import ApplyOutcome
from peaktrade_daemon.governance.policy import AutoApplyMode
from peaktrade_daemon.governance.verdicts import PromotionDecision
from peaktrade_daemon.promotion.models import PromotionProposal
from peaktrade_daemon.promotion.proposals import decision_dict, decision_from_dict
from peaktrade_daemon.storage.promotion_progress import ProgressStore

logger = logging.getLogger(__name__)

#: Blocks that clear with time; decisions blocked by these stay pending.
TRANSIENT = ("cooldown", "rate limit", "held")


@dataclass(frozen=True, slots=True)
class PendingStep:
    """One key's remaining steps toward the proposal that accepted it."""

    proposal_id: str
    created_at: datetime
    decision: PromotionDecision


class PendingSteps:
    """The pending steps by key, mirrored to the state database when there is one."""

    def __init__(self, store: ProgressStore | None = None) -> None:
        self._store = store
        self.steps: dict[str, PendingStep] = {}
        # What the database holds (as last written or read): a check that changes nothing
        # writes nothing (the worker remembers the outcomes of every check of a pending step).
        self._saved: dict[str, tuple[str, datetime, dict[str, Any]]] | None = None

    def __len__(self) -> int:
        return len(self.steps)

    def __contains__(self, key: object) -> bool:
        return key in self.steps

    async def load(self) -> None:
        """Read the steps a previous run left (a damaged row is dropped with a warning)."""
        if self._store is None:
            return
        for row in await self._store.pending():
            try:
                decision = decision_from_dict(json.loads(row.decision_json))
            except (ValueError, TypeError, KeyError) as exc:
                logger.warning("pending step of %s unreadable, dropped: %s", row.key, exc)
                continue
            self.steps[row.key] = PendingStep(row.proposal_id, row.proposal_created_at, decision)
        self._saved = self._rows()
        if self.steps:
            logger.info("promotion: %d pending step(s) resumed: %s", len(self), sorted(self.steps))

    async def remember(
        self, proposal: PromotionProposal, outcomes: Sequence[ApplyOutcome], now: datetime
    ) -> None:
        """After an apply of ``proposal``: keys that moved but did not arrive, or were blocked
        by something that clears with time, stay pending; every other key is done."""
        by_key = {d.target: d for d in proposal.accepted}
        for outcome in outcomes:
            transient = outcome.reason.startswith(TRANSIENT)
            if (outcome.applied and not outcome.reached_target) or (
                not outcome.applied and transient
            ):
                step = PendingStep(proposal.proposal_id, proposal.created_at, by_key[outcome.key])
                self.steps[outcome.key] = step
            else:
                self.steps.pop(outcome.key, None)
        await self._save(now)

    async def discard(self, key: str, now: datetime) -> None:
        """Forget ``key`` (its change was reverted by the guard)."""
        if self.steps.pop(key, None) is not None:
            await self._save(now)

    async def clear(self, why: str, now: datetime) -> None:
        """Drop every pending step (the killswitch), logged with ``why``."""
        if not self.steps:
            return
        logger.info("%s: %d pending step(s) dropped", why, len(self))
        self.steps.clear()
        await self._save(now)

    def proposals(self, mode: AutoApplyMode) -> list[PromotionProposal]:
        """One proposal per source proposal id, holding its keys' pending decisions."""
        grouped: dict[str, list[PendingStep]] = {}
        for step in self.steps.values():
            grouped.setdefault(step.proposal_id, []).append(step)
        return [
            PromotionProposal(
                proposal_id,
                steps[0].created_at,
                mode,
                tuple(s.decision for s in steps),
                "worker",
            )
            for proposal_id, steps in sorted(grouped.items())
        ]

    def _rows(self) -> dict[str, tuple[str, datetime, dict[str, Any]]]:
        return {
            key: (step.proposal_id, step.created_at, decision_dict(step.decision))
            for key, step in self.steps.items()
        }

    async def _save(self, now: datetime) -> None:
        if self._store is None:
            return
        rows = self._rows()
        if rows == self._saved:
            return
        try:
            await self._store.replace_pending(rows, now)
        except Exception as exc:  # memory still holds them; only a restart would lose them
            logger.warning("pending steps not saved to the state database: %s", exc)
            self._saved = None  # unknown: the next save writes whatever it has
            return
        self._saved = rows
