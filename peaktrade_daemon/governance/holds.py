"""Holds (§8.3, §8.5, §8.8): why an accepted change must not be applied *now*.

An accepted verdict says a change may exist; a hold says whether this apply may happen at this
moment: the mode and the killswitch, the global lock, the whitelist, the confidence bar for
auto-apply, a freeze, the rate limit, the per-key cooldown (bake time). Operators' approvals
have fewer holds (no whitelist or auto-apply bar) but the same bake time.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from peaktrade_daemon.governance.evidence import EvidenceVerdict
from peaktrade_daemon.governance.firewall import firewall_reasons, is_numeric
from peaktrade_daemon.governance.policy import AutoApplyMode, AutoApplyPolicy
from peaktrade_daemon.governance.verdicts import NO_BOUNDS, PromotionDecision
from peaktrade_daemon.learning.models import Scalar

#: The reason a hold gives when the value is already where the proposal wants it.
AT_TARGET = "already at the proposed value"
#: Evidence holds start with "held" so a pending step waits for fresh evidence (§9).
NO_EVIDENCE = "held: no evidence for this step"


def evidence_hold(
    enabled: bool, verdict: EvidenceVerdict | None, evaluated_step: float | None, step: float
) -> str | None:
    """Why bounded auto-apply must not take ``step`` on the evidence (None: PASS for exactly
    this step, or evidence is off). INCONCLUSIVE waits for an operator (or for more data); FAIL
    never auto-applies; evidence for another step than the one the writer would take (the live
    value moved since it was computed) is no evidence."""
    if not enabled:
        return None
    if verdict is None or evaluated_step is None:
        return NO_EVIDENCE
    if not math.isclose(evaluated_step, step, rel_tol=0.0, abs_tol=1e-12):
        return f"held: the evidence was for the step to {evaluated_step}, not {step}"
    if verdict is EvidenceVerdict.INCONCLUSIVE:
        return "held: evidence INCONCLUSIVE: waits for an operator"
    if verdict is EvidenceVerdict.FAIL:
        return (
            "evidence FAIL: never auto-applied (an operator may approve with --override-evidence)"
        )
    return None


def effective_mode(policy: AutoApplyPolicy, requested: AutoApplyMode | None) -> AutoApplyMode:
    """The mode a run uses: the request (CLI flag, daemon option) else the policy's, except that
    ``mode = "disabled"`` in the policy is the killswitch no request lifts (§8.1, §8.8)."""
    if policy.mode is AutoApplyMode.DISABLED:
        return AutoApplyMode.DISABLED
    return requested or policy.mode


def _cooldown(
    policy: AutoApplyPolicy, last_change_at: datetime | None, now: datetime
) -> datetime | None:
    # cooldown 0 means no bake time (and must not trip over a few ms of clock skew between
    # processes whose "now" was taken before the lock).
    if last_change_at is None or policy.cooldown_minutes <= 0:
        return None
    ready = last_change_at + timedelta(minutes=policy.cooldown_minutes)
    return ready if now < ready else None


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
    if mode is not AutoApplyMode.BOUNDED_AUTO or policy.mode is AutoApplyMode.DISABLED:
        return f"mode {effective_mode(policy, mode).value}: no automatic change"
    if policy.global_promotion_lock:
        return "global_promotion_lock is set"
    if not decision.accepted:
        return f"verdict {decision.verdict.value}"
    if key not in policy.auto_apply_whitelist:
        return "key not in auto_apply_whitelist: manual review"
    bounds = policy.bounds.get(key)
    if bounds is None:
        return f"key has {NO_BOUNDS}"
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
        return AT_TARGET
    if applies_in_last_day >= policy.max_auto_applies_per_day:
        return f"rate limit: {applies_in_last_day} auto-applies in the last 24h"
    ready = _cooldown(policy, last_change_at, now)
    if ready is not None:
        return (
            f"cooldown: key changed at {last_change_at.isoformat()}, "  # type: ignore[union-attr]
            f"next step after {ready.isoformat()}"
        )
    return None


def manual_apply_block(
    decision: PromotionDecision,
    policy: AutoApplyPolicy,
    current: Scalar | None,
    *,
    last_change_at: datetime | None = None,
    now: datetime | None = None,
) -> str | None:
    """Why an operator-approved decision still may not be written (firewall, bounds, lock,
    and the per-key bake time: an approval does not shorten the observation of a change)."""
    value = decision.candidate.patch.new_value
    if policy.global_promotion_lock:
        return "global_promotion_lock is set"
    if not decision.accepted:
        return f"verdict {decision.verdict.value}: {'; '.join(decision.reasons)}"
    if firewall_reasons(decision.target, value):
        return "; ".join(firewall_reasons(decision.target, value))
    if current is None:
        return "key not in the base config"
    bounds = policy.bounds.get(decision.target)
    if bounds is None:
        return f"key has {NO_BOUNDS}"
    if not is_numeric(value) or not bounds.contains(float(value)):
        return "proposed value outside bounds"
    if not is_numeric(current) or not bounds.contains(float(current)):
        return f"current live value {current} outside bounds: change the base config instead"
    if current == value and type(current) is type(value):
        return AT_TARGET
    ready = _cooldown(policy, last_change_at, now) if now is not None else None
    if ready is not None:
        return f"cooldown: changed at {last_change_at.isoformat()}, approve after {ready:%H:%M}"  # type: ignore[union-attr]
    return None


def approval_evidence_hold(
    enabled: bool,
    verdict: EvidenceVerdict | None,
    evaluated_step: float | None,
    step: float,
    *,
    override: bool,
) -> str | None:
    """Why an operator's approval must not take ``step`` on the evidence (§9): only a FAIL for
    exactly this step stops it, and ``--override-evidence`` lifts that (recorded as such). An
    INCONCLUSIVE or missing verdict is the operator's call."""
    if not enabled or override or verdict is not EvidenceVerdict.FAIL or evaluated_step is None:
        return None
    if not math.isclose(evaluated_step, step, rel_tol=0.0, abs_tol=1e-12):
        return None
    return f"evidence FAIL for the step to {step}: approve with --override-evidence to apply it"
