"""Planners: pure functions from the locked live state to the changes one write makes.

Each ``plan_*`` returns a function ``LiveState -> WritePlan`` for
:meth:`~peaktrade_daemon.promotion.writer.OverridesWriter.transact`. They read no file and no
clock (``now`` is an argument), so the invariants of §8.3/§8.4 can be property-tested on them
directly, and the writer stays the only code that touches auto.toml. A plan is a proposal, not
a permission: the writer applies it to the file's table and hands the complete result to the
gate (:mod:`peaktrade_daemon.governance.gate`) before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from peaktrade_daemon.audit_records import changes_since
from peaktrade_daemon.config.overrides import is_missing, lookup
from peaktrade_daemon.errors import StateError
from peaktrade_daemon.governance.firewall import firewall_reasons
from peaktrade_daemon.governance.gate import KeyRefusal, admissible
from peaktrade_daemon.governance.holds import NO_EVIDENCE, auto_apply_block, manual_apply_block
from peaktrade_daemon.governance.live_state import LiveState
from peaktrade_daemon.governance.policy import AutoApplyMode, AutoApplyPolicy
from peaktrade_daemon.governance.steps import next_step
from peaktrade_daemon.governance.verdicts import PromotionDecision
from peaktrade_daemon.learning.models import Scalar


class WriteKind(StrEnum):
    """What a write does, which decides the writer's and the gate's rules for it.

    ``advance`` (auto-apply, approval) and ``retreat`` (rollback, restore, guard revert) need a
    file that matches the audit trail and pass the gate with the step rule; ``retreat`` and the
    emergency ``clear`` also work past a damaged trail tail (moved aside first); ``clear`` and
    ``adopt`` are how an operator resolves a hand edit (``adopt`` checks without the step rule);
    ``bookkeeping`` (unfreeze) changes no value.
    """

    ADVANCE = "advance"
    RETREAT = "retreat"
    CLEAR = "clear"
    ADOPT = "adopt"
    BOOKKEEPING = "bookkeeping"


@dataclass(frozen=True, slots=True)
class ApplyOutcome:
    """What happened to one key when applying: a change, or why not."""

    key: str
    applied: bool
    before: Scalar | None = None
    after: Scalar | None = None
    reason: str = ""
    reached_target: bool = False


#: ``PlannedChange.before`` default: the record's ``before`` is the file's value.
FROM_FILE: Any = object()


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """Set ``key`` to ``after`` in ``[auto_applied]`` (``None`` removes it). ``before`` overrides
    the recorded previous value (adopt records against the audit trail, not the edited file)."""

    key: str
    after: Scalar | None
    reasons: tuple[str, ...]
    auto: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    before: Any = FROM_FILE


@dataclass(slots=True)
class WritePlan:
    """What a planner wants written; ``outcome`` is passed back to the caller unchanged."""

    changes: list[PlannedChange] = field(default_factory=list)
    freeze: dict[str, str] = field(default_factory=dict)
    unfreeze: list[str] = field(default_factory=list)
    outcome: Any = None

    @property
    def empty(self) -> bool:
        """Nothing to write."""
        return not (self.changes or self.freeze or self.unfreeze)


Planner = Callable[[LiveState], WritePlan]


def live_value(state: LiveState, base: Mapping[str, Any], key: str) -> Scalar | None:
    """auto.toml's value when present, else the base config's (None when neither has it)."""
    if key in state.values:
        found: Scalar | None = state.values[key]
        return found
    value = lookup(base, key)
    return None if is_missing(value) or isinstance(value, dict | list) else value


def _latest_per_key(
    decisions: Sequence[PromotionDecision], *, accepted_only: bool = True
) -> list[PromotionDecision]:
    latest: dict[str, PromotionDecision] = {}
    for decision in decisions:
        if decision.accepted or not accepted_only:
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
    step_hold: Callable[[PromotionDecision, float], str | None] = lambda decision, step: None,
) -> Planner:
    """One bounded step per accepted decision that passes every auto-apply gate (§8.3).

    ``hold`` lets the caller add a reason of its own (the worker holds keys still under
    observation); ``step_hold`` judges the step itself once it is known under the lock (the
    evidence must be for exactly this step, §9). Later decisions for the same key replace
    earlier ones.
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
            blocked = _step_blocked(key, after) or step_hold(decision, after)
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


def awaiting_evidence(
    decisions: Sequence[PromotionDecision],
    policy: AutoApplyPolicy,
    mode: AutoApplyMode,
    base: Mapping[str, Any],
    now: datetime,
    state: LiveState,
    *,
    hold: Callable[[str], str | None] = lambda key: None,
) -> list[PromotionDecision]:
    """The decisions whose next bounded step :func:`plan_bounded_apply` would take on ``state``
    but for the evidence: the only ones whose evidence the step can use. Every other decision
    is held before its step is judged (cooldown, rate limit, a freeze, a watch), so evaluating
    it would only cost a paired run.

    Advisory: the writer plans again under its lock, and a decision that reaches the evidence
    there without any (the state moved in between) gets :data:`NO_EVIDENCE`, a hold, and waits
    for the next check. Each decision is probed as if the ones before it were held, so with
    several keys and one slot of the rate limit left this may name more than will step.
    """
    reached: list[PromotionDecision] = []

    def probe(decision: PromotionDecision, step: float) -> str:
        reached.append(decision)
        return NO_EVIDENCE

    plan_bounded_apply(decisions, policy, mode, base, now, hold=hold, step_hold=probe)(state)
    return reached


def plan_approved_apply(
    decisions: Sequence[PromotionDecision],
    policy: AutoApplyPolicy,
    base: Mapping[str, Any],
    operator: str,
    now: datetime,
    *,
    step_hold: Callable[[PromotionDecision, float], str | None] = lambda decision, step: None,
    step_extra: Callable[[PromotionDecision, float], Mapping[str, Any]] = lambda d, s: {},
) -> Planner:
    """An operator's approval: one bounded step per key (every accepted key has bounds); the
    firewall, bounds and bake time always hold (§8.7). ``decisions`` are the proposal's
    candidates re-judged now: a key the current policy rejects is an outcome "not applied"
    with the verdict's reasons, never silently left out. ``step_hold`` and ``step_extra`` judge
    and annotate the step once it is known (the evidence, §9)."""

    def planner(state: LiveState) -> WritePlan:
        plan = WritePlan(outcome=[])
        for decision in _latest_per_key(decisions, accepted_only=False):
            key = decision.target
            current = live_value(state, base, key)
            reason = manual_apply_block(
                decision, policy, current, last_change_at=state.last_change.get(key), now=now
            )
            if reason is not None:
                plan.outcome.append(ApplyOutcome(key, False, current, current, reason))
                continue
            target = decision.candidate.patch.new_value
            # manual_apply_block passed: the key has bounds, both values are numbers in them.
            after = next_step(float(current), float(target), policy.bounds[key])  # type: ignore[arg-type]
            blocked = _step_blocked(key, after) or step_hold(decision, after)
            if blocked is not None:
                plan.outcome.append(ApplyOutcome(key, False, current, current, blocked))
                continue
            why = f"approved by {operator}: {current} -> {after} toward {target}"
            extra = {**_step_extra(decision), **step_extra(decision, after)}
            plan.changes.append(PlannedChange(key, after, (why,), extra=extra))
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
    """Make ``[auto_applied]`` equal ``target`` (the gate judges the result as a whole)."""

    def planner(state: LiveState) -> WritePlan:
        plan = WritePlan(outcome=[])
        for key in sorted(set(state.values) | set(target)):
            after = target.get(key)
            if key in state.values and after is not None and _same(state.values[key], after):
                continue
            reason = f"{why} by {operator}"
            plan.changes.append(PlannedChange(key, after, (reason,)))
            plan.outcome.append(ApplyOutcome(key, True, state.values.get(key), after, reason))
        return plan

    return planner


def _same(a: Any, b: Any) -> bool:
    return bool(a == b) and type(a) is type(b)


def plan_adopt(
    base: Mapping[str, Any],
    policy: AutoApplyPolicy,
    operator: str,
    recorded: Mapping[str, Any],
    refusal: Callable[[Mapping[str, Any]], str | None] = lambda live: None,
) -> Planner:
    """``overrides adopt``: record the hand-edited file as it is, keeping what the gate passes
    without the step rule (the values are already there) and dropping, by name, what it
    refuses. ``refusal`` names a kept key the components refuse (``trading_config.
    live_table_refusal``): it is dropped too, one at a time until the rest is accepted. Each
    key whose value differs from the audit trail's last recorded table (``recorded``) becomes
    a change from the recorded value. ``outcome``: (kept, dropped)."""

    def planner(state: LiveState) -> WritePlan:
        kept, gate_dropped = admissible(state.values, base, policy)
        dropped = list(gate_dropped)
        while (key := refusal(kept)) is not None and key in kept:
            reason = "refused by the component that reads it"
            dropped.append(KeyRefusal(key, kept.pop(key), (reason,)))
        plan = WritePlan(outcome=(kept, tuple(dropped)))
        refused = {r.key: r for r in dropped}
        for key in sorted(set(recorded) | set(state.values)):
            after, before = kept.get(key), recorded.get(key)
            if key in refused:
                why = f"adopt by {operator}: dropped, {'; '.join(refused[key].reasons)}"
            elif _same(before, after):
                continue
            else:
                why = f"adopt by {operator}: the value found in the file"
            plan.changes.append(PlannedChange(key, after, (why,), before=before))
        return plan

    return planner


def plan_unfreeze(key: str) -> Planner:
    """Clear the guard's freeze of ``key`` (an operator decision)."""

    def planner(state: LiveState) -> WritePlan:
        if key not in state.frozen:
            return WritePlan(outcome=False)
        return WritePlan(unfreeze=[key], outcome=True)

    return planner
