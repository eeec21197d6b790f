"""Pure promotion rules (§8.1–§8.3): eligibility, verdicts, the hard firewall, bounded steps.

Nothing here reads a file or a clock: callers pass the policy, the base config, the live value
and ``now``, and get back verdicts with reasons. The hard firewall is code, not policy: no
setting can turn it off.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from peaktrade_daemon.config.overrides import is_missing, lookup, value_kind
from peaktrade_daemon.learning.models import ConfigPatch, PatchStatus, Scalar
from peaktrade_daemon.promotion.models import (
    AutoApplyBounds,
    AutoApplyMode,
    AutoApplyPolicy,
    PromotionCandidate,
    PromotionDecision,
    Verdict,
)

#: Patches in these states have been validated offline and may be considered for live.
CANDIDATE_STATUSES = frozenset({PatchStatus.APPLIED_OFFLINE, PatchStatus.PROMOTED})
#: Leverage above this is never written to overrides, whatever the policy says.
HARD_MAX_LEVERAGE = 3.0
#: A key segment containing any of these names a secret; secrets never go through overrides.
SECRET_MARKERS = (
    "secret",
    "password",
    "passwd",
    "passphrase",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "credential",
)
#: Steps are rounded to this many decimals so 0.25 + 0.1 lands on 0.35, not 0.35000000000000003.
STEP_DECIMALS = 10
MAX_PLANNED_STEPS = 1000


def segments_match(key: str, entry: str) -> bool:
    """True when ``entry`` is ``key`` or a whole-segment prefix of it (``risk`` blocks
    ``risk.stop_loss`` but not ``risky.x``)."""
    return key == entry or key.startswith(entry + ".")


def blacklist_entry(key: str, blacklist: Sequence[str]) -> str | None:
    """The blacklist entry that blocks ``key``, if any."""
    return next((entry for entry in blacklist if segments_match(key, entry)), None)


def is_numeric(value: Any) -> TypeGuard[int | float]:
    """A finite int or float; bool is not numeric."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def firewall_reasons(key: str, value: Any) -> list[str]:
    """Why the hard firewall forbids writing ``key = value`` (empty when it allows it)."""
    reasons: list[str] = []
    if segments_match(key, "environment"):
        reasons.append("FIREWALL: environment.* is never written to overrides")
    lowered = [part.lower() for part in key.split(".")]
    if any(marker in part for part in lowered for marker in SECRET_MARKERS):
        reasons.append("FIREWALL: key holds a secret; secrets are never written to overrides")
    if "leverage" in lowered[-1] and is_numeric(value) and float(value) > HARD_MAX_LEVERAGE:
        reasons.append(f"FIREWALL: leverage {value} above the hard maximum {HARD_MAX_LEVERAGE}")
    if isinstance(value, float) and not math.isfinite(value):
        reasons.append("FIREWALL: non-finite number")
    return reasons


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


def plan_steps(current: float, target: float, bounds: AutoApplyBounds) -> tuple[float, ...]:
    """The successive live values one bounded apply at a time would write, ending at ``target``
    (listing at most the first ``MAX_PLANNED_STEPS``: the plan is for display, not a limit)."""
    steps: list[float] = []
    value = float(current)
    while (
        not math.isclose(value, target, rel_tol=0.0, abs_tol=1e-12)
        and len(steps) < MAX_PLANNED_STEPS
    ):
        value = next_step(value, target, bounds)
        steps.append(value)
    return tuple(steps)


def next_step(current: float, target: float, bounds: AutoApplyBounds) -> float:
    """One step from ``current`` toward ``target``: at most ``max_step``, never past the target.

    The caller guarantees both ends lie within the bounds, so every value between them does too.
    """
    delta = float(target) - float(current)
    if abs(delta) <= bounds.max_step:
        return float(target)
    moved = round(float(current) + math.copysign(bounds.max_step, delta), STEP_DECIMALS)
    # Rounding must never make the step longer than max_step.
    if abs(moved - float(current)) > bounds.max_step:
        moved = float(current) + math.copysign(bounds.max_step, delta)
    return moved


def decide(
    candidate: PromotionCandidate,
    policy: AutoApplyPolicy,
    base: Mapping[str, Any],
    live_value: Scalar | None,
) -> PromotionDecision:
    """The verdict for one candidate (§8.2.2), checks in the SPEC's order.

    Every failing check adds its reason; the first failing check decides the verdict.
    ``live_value`` is auto.toml's value for the key when present, else ``None`` (the base value
    is then the live value).
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
    base_value = lookup(base, key)
    if is_missing(base_value):
        found.append(
            (Verdict.REJECTED_BY_SANITY_CHECK, "SANITY: unknown key (not in the base config)")
        )
    elif value_kind(base_value) != value_kind(value):
        found.append(
            (
                Verdict.REJECTED_BY_SANITY_CHECK,
                f"SANITY: type mismatch: base is {value_kind(base_value)}, "
                f"patch is {value_kind(value)}",
            )
        )
    found.extend((Verdict.REJECTED_BY_SANITY_CHECK, r) for r in firewall_reasons(key, value))
    bounds = policy.bounds.get(key)
    if bounds is not None and is_numeric(value) and not bounds.contains(float(value)):
        found.append(
            (
                Verdict.REJECTED_BY_POLICY,
                f"P0_BOUNDS: {value} outside [{bounds.min_value}, {bounds.max_value}]",
            )
        )
    current = (
        live_value if live_value is not None else (None if is_missing(base_value) else base_value)
    )
    flags = _safety_flags(key, value, current, policy)
    if found:
        return PromotionDecision(candidate, found[0][0], tuple(r for _, r in found), flags, current)
    steps: tuple[float, ...] = ()
    if (
        bounds is not None
        and is_numeric(value)
        and is_numeric(current)
        and bounds.contains(float(current))
    ):
        steps = plan_steps(float(current), float(value), bounds)
    reasons = ["passed blacklist, eligibility, sanity, firewall and bounds checks"]
    return PromotionDecision(
        candidate, Verdict.ACCEPTED_FOR_PROPOSAL, tuple(reasons), flags, current, steps
    )


def _safety_flags(key: str, value: Any, current: Any, policy: AutoApplyPolicy) -> tuple[str, ...]:
    flags: list[str] = []
    if key in policy.auto_apply_whitelist:
        flags.append("whitelisted")
    if key in policy.bounds:
        flags.append("bounded")
    else:
        flags.append("no_bounds_manual_review_only")
    if not is_numeric(value):
        flags.append("non_numeric_manual_review_only")
    if "leverage" in key.split(".")[-1]:
        flags.append("touches_leverage")
    if is_numeric(current) and is_numeric(value) and float(value) > float(current):
        flags.append("increases_value")
    return tuple(flags)


def auto_apply_block(
    decision: PromotionDecision,
    policy: AutoApplyPolicy,
    mode: AutoApplyMode,
    *,
    live_value: Scalar | None,
    frozen: bool,
    applies_in_last_day: int,
    last_change_at: datetime | None,
    now: datetime,
) -> str | None:
    """Why an accepted decision must not be auto-applied now (None: apply one step).

    ``live_value`` is the current live value (auto.toml, else base) read under the writer's lock.
    """
    key = decision.target
    value = decision.candidate.patch.new_value
    if mode is not AutoApplyMode.BOUNDED_AUTO:
        return f"mode {mode.value}: no automatic change"
    if policy.global_promotion_lock:
        return "global_promotion_lock is set"
    if not decision.accepted:
        return f"verdict {decision.verdict.value}"
    if key not in policy.auto_apply_whitelist:
        return "key not in auto_apply_whitelist: manual review"
    bounds = policy.bounds.get(key)
    if bounds is None:
        return "key has no bounds: manual review"
    if not is_numeric(value) or not is_numeric(live_value):
        return "only numeric values are auto-applied: manual review"
    if firewall_reasons(key, value) or not bounds.contains(float(value)):
        return "proposed value fails the firewall or bounds"
    if not bounds.contains(float(live_value)):
        return f"current live value {live_value} outside bounds: manual review"
    score = decision.candidate.patch.confidence_score or 0.0
    if score < policy.min_confidence_for_auto_apply:
        return f"confidence {score:.2f} below min_confidence_for_auto_apply"
    if frozen:
        return "key is frozen by the rollback guard until an operator clears it"
    if math.isclose(float(live_value), float(value), rel_tol=0.0, abs_tol=1e-12):
        return "already at the proposed value"
    if applies_in_last_day >= policy.max_auto_applies_per_day:
        return f"rate limit: {applies_in_last_day} auto-applies in the last 24h"
    # cooldown 0 means no bake time (and must not trip over a few ms of clock skew between
    # processes whose "now" was taken before the lock).
    if last_change_at is not None and policy.cooldown_minutes > 0:
        ready = last_change_at + timedelta(minutes=policy.cooldown_minutes)
        if now < ready:
            return (
                f"cooldown: key changed at {last_change_at.isoformat()}, "
                f"next step after {ready.isoformat()}"
            )
    return None
