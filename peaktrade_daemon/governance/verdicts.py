"""Verdicts (§8.2): eligibility and the policy's judgement of one candidate, with every reason.

Nothing here reads a file or a clock: callers pass the policy, the base config and the live
value, and get back a verdict with its reasons. Checks run in the SPEC's order; the first
failing one decides the verdict, every failing one adds its reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from peaktrade_daemon.config.overrides import is_missing, lookup, value_kind
from peaktrade_daemon.governance.firewall import (
    blacklist_entry,
    firewall_reasons,
    is_numeric,
    segments_match,
)
from peaktrade_daemon.governance.policy import AutoApplyPolicy
from peaktrade_daemon.governance.steps import plan_steps
from peaktrade_daemon.learning.models import ConfigPatch, PatchStatus, Scalar

#: Patches in these states have been validated offline and may be considered for live.
CANDIDATE_STATUSES = frozenset({PatchStatus.APPLIED_OFFLINE, PatchStatus.PROMOTED})
NO_BOUNDS = "no bounds in the policy"


class Verdict(StrEnum):
    """The outcome of the policy (and, where on, the evidence) for one candidate (§8.2.2, §9)."""

    ACCEPTED_FOR_PROPOSAL = "ACCEPTED_FOR_PROPOSAL"
    REJECTED_BY_POLICY = "REJECTED_BY_POLICY"
    REJECTED_BY_SANITY_CHECK = "REJECTED_BY_SANITY_CHECK"
    REJECTED_BY_EVIDENCE = "REJECTED_BY_EVIDENCE"


@dataclass(frozen=True, slots=True)
class PromotionCandidate:
    """A patch considered for live, with its tags and whether it is eligible (and why not)."""

    patch: ConfigPatch
    tags: tuple[str, ...]
    eligible_for_live: bool
    eligibility_reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PromotionDecision:
    """The verdict for one candidate, with every reason found and the live context it saw."""

    candidate: PromotionCandidate
    verdict: Verdict
    reasons: tuple[str, ...]
    safety_flags: tuple[str, ...]
    current_live_value: Scalar | None
    planned_steps: tuple[float, ...] = ()

    @property
    def accepted(self) -> bool:
        """True for ``ACCEPTED_FOR_PROPOSAL``."""
        return self.verdict is Verdict.ACCEPTED_FOR_PROPOSAL

    @property
    def target(self) -> str:
        """The patch's key."""
        return self.candidate.patch.target


def candidate_tags(patch: ConfigPatch, policy: AutoApplyPolicy) -> tuple[str, ...]:
    """``patch.meta.tags`` plus the tags the policy attaches to the target (by whole segments)."""
    tags = list(patch.tags)
    for prefix, extra in policy.target_tags.items():
        if segments_match(patch.target, prefix):
            tags.extend(extra)
    return tuple(dict.fromkeys(tags))


def build_candidate(patch: ConfigPatch, policy: AutoApplyPolicy) -> PromotionCandidate:
    """Tag the patch and decide ``eligible_for_live`` (§8.2.1), keeping every reason."""
    tags = candidate_tags(patch, policy)
    reasons: list[str] = []
    score = patch.confidence_score
    if score is None:
        reasons.append("no confidence score")
    elif score < policy.min_confidence:
        reasons.append(f"confidence {score:.2f} below min_confidence {policy.min_confidence:.2f}")
    if not patch.is_live_ready:
        reasons.append("meta.is_live_ready is not true")
    blocked = [tag for tag in tags if tag in policy.blacklist_tags]
    if blocked:
        reasons.append(f"blacklisted tag(s): {', '.join(blocked)}")
    return PromotionCandidate(patch, tags, not reasons, tuple(reasons))


def _sanity(key: str, value: Any, base: Mapping[str, Any]) -> list[str]:
    base_value = lookup(base, key)
    if is_missing(base_value):
        return ["SANITY: unknown key (not in the base config)"]
    if value_kind(base_value) != value_kind(value):
        return [
            f"SANITY: type mismatch: base is {value_kind(base_value)}, patch is {value_kind(value)}"
        ]
    return []


def decide(
    candidate: PromotionCandidate,
    policy: AutoApplyPolicy,
    base: Mapping[str, Any],
    live_value: Scalar | None,
) -> PromotionDecision:
    """The verdict for one candidate (§8.2.2), checks in the SPEC's order.

    ``live_value`` is auto.toml's value for the key when present, else ``None`` (the base value
    is then the live value). A key without bounds is never written by any path (§8.8), so it is
    rejected here rather than proposed for an approval that could never apply it.
    """
    patch = candidate.patch
    key, value = patch.target, patch.new_value
    found: list[tuple[Verdict, str]] = []
    entry = blacklist_entry(key, policy.blacklist)
    if entry is not None:
        found.append(
            (Verdict.REJECTED_BY_POLICY, f"P0 BLACKLIST: key matches blacklist entry {entry!r}")
        )
    if not candidate.eligible_for_live:
        found.extend(
            (Verdict.REJECTED_BY_POLICY, f"NOT ELIGIBLE: {r}")
            for r in candidate.eligibility_reasons
        )
    found.extend((Verdict.REJECTED_BY_SANITY_CHECK, r) for r in _sanity(key, value, base))
    found.extend((Verdict.REJECTED_BY_SANITY_CHECK, r) for r in firewall_reasons(key, value))
    bounds = policy.bounds.get(key)
    if bounds is None:
        found.append((Verdict.REJECTED_BY_POLICY, f"P0_BOUNDS: {NO_BOUNDS}"))
    elif not is_numeric(value):
        found.append((Verdict.REJECTED_BY_POLICY, "P0_BOUNDS: bounded keys take numbers only"))
    elif not bounds.contains(float(value)):
        found.append(
            (
                Verdict.REJECTED_BY_POLICY,
                f"P0_BOUNDS: {value} outside [{bounds.min_value}, {bounds.max_value}]",
            )
        )
    base_value = lookup(base, key)
    current = (
        live_value if live_value is not None else (None if is_missing(base_value) else base_value)
    )
    flags = safety_flags(key, value, current, policy)
    if found:
        return PromotionDecision(candidate, found[0][0], tuple(r for _, r in found), flags, current)
    steps: tuple[float, ...] = ()
    if bounds is not None and is_numeric(current) and bounds.contains(float(current)):
        steps = plan_steps(float(current), float(value), bounds)
    reasons = ("passed blacklist, eligibility, sanity, firewall and bounds checks",)
    return PromotionDecision(
        candidate, Verdict.ACCEPTED_FOR_PROPOSAL, reasons, flags, current, steps
    )


def sanity_rejection(candidate: PromotionCandidate, why: str) -> PromotionDecision:
    """A candidate whose judging failed unexpectedly: rejected alone, never the whole batch."""
    return PromotionDecision(
        candidate, Verdict.REJECTED_BY_SANITY_CHECK, (f"SANITY: {why}",), (), None
    )


def safety_flags(key: str, value: Any, current: Any, policy: AutoApplyPolicy) -> tuple[str, ...]:
    """What an operator should notice about a change (shown in the checklist)."""
    flags: list[str] = []
    if key in policy.auto_apply_whitelist:
        flags.append("whitelisted")
    if key in policy.bounds:
        flags.append("bounded")
    if not is_numeric(value):
        flags.append("non_numeric")
    if "leverage" in key.split(".")[-1]:
        flags.append("touches_leverage")
    if is_numeric(current) and is_numeric(value) and float(value) > float(current):
        flags.append("increases_value")
    return tuple(flags)


def rejected_by_evidence(decision: PromotionDecision, reasons: Sequence[str]) -> PromotionDecision:
    """An accepted candidate whose next step the evidence FAILed (§9): ``REJECTED_BY_EVIDENCE``,
    the evidence's reasons first. The candidate stays in the proposal for the record (and for an
    operator's ``--override-evidence``)."""
    return PromotionDecision(
        decision.candidate,
        Verdict.REJECTED_BY_EVIDENCE,
        (*(f"EVIDENCE FAIL: {r}" for r in reasons), *decision.reasons),
        decision.safety_flags,
        decision.current_live_value,
        decision.planned_steps,
    )


def judged_acceptable(decision: PromotionDecision) -> bool:
    """Accepted by the policy (an evidence rejection is the evidence's, not the policy's): what
    an approval re-judges."""
    return decision.verdict in (Verdict.ACCEPTED_FOR_PROPOSAL, Verdict.REJECTED_BY_EVIDENCE)
