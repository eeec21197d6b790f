"""Value types of the promotion adapters (§8): a proposal as materialised, and the bus events
of live changes. The policy, candidates and verdicts are the governance core's
(:mod:`peaktrade_daemon.governance`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from peaktrade_daemon.events import Event
from peaktrade_daemon.governance.policy import AutoApplyMode
from peaktrade_daemon.governance.verdicts import PromotionDecision
from peaktrade_daemon.learning.models import Scalar

if TYPE_CHECKING:
    from peaktrade_daemon.promotion.evidence import CandidateEvidence


@dataclass(frozen=True, slots=True)
class PromotionProposal:
    """One run's verdicts, materialised under ``reports/live_promotion/<proposal_id>/``."""

    proposal_id: str
    created_at: datetime
    mode: AutoApplyMode
    decisions: tuple[PromotionDecision, ...]
    source: str = "promote"
    #: SHA-256 of the judged candidates as written (set once materialised; §8.8).
    seal: str | None = None
    #: §9: the evidence per patch id, and whether the policy had evidence on at all.
    evidence: Mapping[str, CandidateEvidence] = field(default_factory=dict)
    evidence_enabled: bool = False

    @property
    def accepted(self) -> tuple[PromotionDecision, ...]:
        """The decisions an operator (or bounded auto-apply) may act on."""
        return tuple(d for d in self.decisions if d.accepted)

    @property
    def mode_value(self) -> str:
        """The mode's name (as the proposals table records it)."""
        return self.mode.value

    @property
    def candidate_count(self) -> int:
        """How many candidates were judged."""
        return len(self.decisions)

    @property
    def accepted_count(self) -> int:
        """How many were accepted for proposal."""
        return len(self.accepted)


@dataclass(frozen=True, slots=True, kw_only=True)
class OverridesChanged(Event):
    """auto.toml changed (apply, approval, rollback, guard); ``changes``: (key, before, after)."""

    actor: str
    proposal_id: str | None
    changes: tuple[tuple[str, Scalar | None, Scalar | None], ...]
    time: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardTripped(Event):
    """The rollback guard reverted and froze a key."""

    key: str
    reverted_to: Scalar | None
    reasons: tuple[str, ...]
    time: datetime
    metrics: dict[str, float] = field(default_factory=dict)
