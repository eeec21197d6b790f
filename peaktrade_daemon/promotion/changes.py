"""Planners: pure functions from the locked live state to the changes one write makes.

Each ``plan_*`` returns a function ``LiveState -> WritePlan`` for
:meth:`~peaktrade_daemon.promotion.writer.OverridesWriter.transact`. They read no file and no
clock (``now`` is an argument), so the invariants of §8.3/§8.4 can be property-tested on them
directly, and the writer stays the only code that touches auto.toml.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from peaktrade_daemon.config.overrides import is_missing, lookup
from peaktrade_daemon.errors import StateError
from peaktrade_daemon.learning.models import Scalar
from peaktrade_daemon.promotion.audit import changes_since
from peaktrade_daemon.promotion.models import (
    ApplyOutcome,
    AutoApplyMode,
    AutoApplyPolicy,
    PromotionDecision,
)
from peaktrade_daemon.promotion.policy import (
    auto_apply_block,
    firewall_reasons,
    is_numeric,
    next_step,
)
from peaktrade_daemon.promotion.writer import LiveState, PlannedChange, WritePlan

Planner = Callable[[LiveState], WritePlan]


def live_value(state: LiveState, base: Mapping[str, Any], key: str) -> Scalar | None:
    """auto.toml's value when present, else the base config's (None when neither has it)."""
    if key in state.values:
        return state.values[key]
    value = lookup(base, key)
    return None if is_missing(value) or isinstance(value, dict | list) else value


def _latest_per_key(decisions: Sequence[PromotionDecision]) -> list[PromotionDecision]:
    latest: dict[str, PromotionDecision] = {}
    for decision in decisions:
        if decision.accepted:
            latest.pop(decision.target, None)
            latest[decision.target] = decision
    return list(latest.values())


def _step_extra(decision: PromotionDecision) -> dict[str, Any]:
    patch = decision.candidate.patch
    return {
        "patch_id": patch.id,
        "target_value": patch.new_value,
        "confidence": patch.confidence_score,
    }


def _step_blocked(key: str, after: Scalar) -> str | None:
    """The firewall holds for every value written, not only the proposed one: from a live value
    above it (a hand edit), one bounded step down can still land above it."""
    reasons = firewall_reasons(key, after)
    if not reasons:
        return None
    return f"the next step {after} fails the firewall ({'; '.join(reasons)}): manual review"


def plan_bounded_apply(
    decisions: Sequence[PromotionDecision],
    policy: AutoApplyPolicy,
    mode: AutoApplyMode,
    base: Mapping[str, Any],
    now: datetime,
    *,
    hold: Callable[[str], str | None] = lambda key: None,
) -> Planner:
    """One bounded step per accepted decision that passes every auto-apply gate (§8.3).

    ``hold`` lets the caller add a reason of its own (the worker holds keys still under
    observation). Later decisions for the same key replace earlier ones.
    """

    def planner(state: LiveState) -> WritePlan:
        plan = WritePlan(outcome=[])
        applies = state.applies_since(now - timedelta(days=1))
        for decision in _latest_per_key(decisions):
            key = decision.target
            current = live_value(state, base, key)
            # Policy first, so a hold is only reported for keys that would otherwise move.
            reason = auto_apply_block(
                decision,
                policy,
                mode,
                live_value=current,
                frozen=key in state.frozen,
                applies_in_last_day=applies,
                last_change_at=state.last_change.get(key),
                now=now,
            ) or hold(key)
            target = decision.candidate.patch.new_value
            if reason is not None:
                plan.outcome.append(ApplyOutcome(key, False, current, current, reason))
                continue
            bounds = policy.bounds[key]
            after = next_step(float(current), float(target), bounds)  # type: ignore[arg-type]
            blocked = _step_blocked(key, after)
            if blocked is not None:
                plan.outcome.append(ApplyOutcome(key, False, current, current, blocked))
                continue
            reached = after == float(target)
            why = (
                f"bounded auto-apply: {current} -> {after} toward {target} "
                f"(max_step {bounds.max_step}, bounds [{bounds.min_value}, {bounds.max_value}])"
            )
            extra = {**_step_extra(decision), "live_before": current}
            plan.changes.append(PlannedChange(key, after, (why,), auto=True, extra=extra))
            plan.outcome.append(ApplyOutcome(key, True, current, after, why, reached))
            applies += 1
        return plan

    return planner


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
        return f"verdict {decision.verdict.value}"
    if firewall_reasons(decision.target, value):
        return "; ".join(firewall_reasons(decision.target, value))
    if current is None:
        return "key not in the base config"
    bounds = policy.bounds.get(decision.target)
    if bounds is not None and is_numeric(value):
        if not bounds.contains(float(value)):
            return "proposed value outside bounds"
        if not is_numeric(current) or not bounds.contains(float(current)):
            return f"current live value {current} outside bounds: change the base config instead"
    if current == value and type(current) is type(value):
        return "already at the proposed value"
    if last_change_at is not None and now is not None and policy.cooldown_minutes > 0:
        ready = last_change_at + timedelta(minutes=policy.cooldown_minutes)
        if now < ready:
            return f"cooldown: changed at {last_change_at.isoformat()}, approve after {ready:%H:%M}"
    return None


def plan_approved_apply(
    decisions: Sequence[PromotionDecision],
    policy: AutoApplyPolicy,
    base: Mapping[str, Any],
    operator: str,
    now: datetime,
) -> Planner:
    """An operator's approval: one bounded step per bounded numeric key, the value itself for
    keys without bounds; the firewall and bounds always hold (§8.7)."""

    def planner(state: LiveState) -> WritePlan:
        plan = WritePlan(outcome=[])
        for decision in _latest_per_key(decisions):
            key = decision.target
            current = live_value(state, base, key)
            reason = manual_apply_block(
                decision, policy, current, last_change_at=state.last_change.get(key), now=now
            )
            if reason is not None:
                plan.outcome.append(ApplyOutcome(key, False, current, current, reason))
                continue
            target = decision.candidate.patch.new_value
            bounds = policy.bounds.get(key)
            after: Scalar = target
            if bounds is not None and is_numeric(target):
                after = next_step(float(current), float(target), bounds)  # type: ignore[arg-type]
            blocked = _step_blocked(key, after)
            if blocked is not None:
                plan.outcome.append(ApplyOutcome(key, False, current, current, blocked))
                continue
            why = f"approved by {operator}: {current} -> {after} toward {target}"
            plan.changes.append(PlannedChange(key, after, (why,), extra=_step_extra(decision)))
            plan.outcome.append(ApplyOutcome(key, True, current, after, why, after == target))
        return plan

    return planner


def plan_guard_revert(record: Mapping[str, Any], reasons: Sequence[str]) -> Planner:
    """Revert the auto-apply ``record`` (to its ``before``) and freeze the key (§8.5).

    If the key no longer holds the applied value (someone changed it since), it is frozen but
    not reverted: the guard never undoes a change it did not observe.
    """
    key = str(record["key"])

    def planner(state: LiveState) -> WritePlan:
        plan = WritePlan(freeze={key: "; ".join(reasons)})
        if key in state.values and state.values[key] == record["after"]:
            plan.changes.append(
                PlannedChange(
                    key, record["before"], tuple(reasons), extra={"undoes": record["seq"]}
                )
            )
            plan.outcome = record["before"]
        else:
            plan.outcome = state.values.get(key)
        return plan

    return planner


def undo_stack(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Effective change records not yet undone, oldest first (what ``rollback`` walks back)."""
    stack: list[Mapping[str, Any]] = []
    for record in changes_since(records):
        undone = record.get("undoes")
        if undone is not None:
            stack = [r for r in stack if r.get("seq") != undone]
        else:
            stack.append(record)
    return stack


def plan_rollback(records: Sequence[Mapping[str, Any]], steps: int, operator: str) -> Planner:
    """Undo the last ``steps`` changes, newest first, each restoring its exact ``before``."""

    def planner(state: LiveState) -> WritePlan:
        plan = WritePlan(outcome=[])
        values = dict(state.values)
        for record in reversed(undo_stack(records)[-steps:] if steps > 0 else []):
            key = str(record["key"])
            if values.get(key) != record["after"]:
                raise StateError(
                    f"auto.toml: {key} is {values.get(key)!r} but audit record {record['seq']} "
                    f"left it {record['after']!r}; run `overrides verify-audit`; "
                    "nothing rolled back"
                )
            why = f"rollback by {operator} of change {record['seq']}"
            plan.changes.append(
                PlannedChange(key, record["before"], (why,), extra={"undoes": record["seq"]})
            )
            plan.outcome.append(ApplyOutcome(key, True, record["after"], record["before"], why))
            if record["before"] is None:
                values.pop(key, None)
            else:
                values[key] = record["before"]
        return plan

    return planner


def plan_restore(target: Mapping[str, Scalar], operator: str, why: str) -> Planner:
    """Make ``[auto_applied]`` equal ``target`` (firewalled keys are skipped and reported)."""

    def planner(state: LiveState) -> WritePlan:
        plan = WritePlan(outcome=[])
        for key in sorted(set(state.values) | set(target)):
            after = target.get(key)
            blocked = firewall_reasons(key, after) if after is not None else []
            if blocked:
                plan.outcome.append(
                    ApplyOutcome(key, False, state.values.get(key), after, blocked[0])
                )
                continue
            if key in state.values and after is not None and state.values[key] == after:
                continue
            reason = f"{why} by {operator}"
            plan.changes.append(PlannedChange(key, after, (reason,)))
            plan.outcome.append(ApplyOutcome(key, True, state.values.get(key), after, reason))
        return plan

    return planner


def plan_unfreeze(key: str) -> Planner:
    """Clear the guard's freeze of ``key`` (an operator decision)."""

    def planner(state: LiveState) -> WritePlan:
        if key not in state.frozen:
            return WritePlan(outcome=False)
        return WritePlan(unfreeze=[key], outcome=True)

    return planner
