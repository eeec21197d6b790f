"""Bounded steps (§8.3): how far one apply may move a key, and the steps to a proposed value."""

from __future__ import annotations

import math

from peaktrade_daemon.governance.policy import AutoApplyBounds

#: Steps are rounded to this many decimals so 0.25 + 0.1 lands on 0.35, not 0.35000000000000003.
STEP_DECIMALS = 10
MAX_PLANNED_STEPS = 1000
#: Relative slack of the step comparison: decimal steps do not add up exactly in binary.
STEP_TOLERANCE = 1e-12


def next_step(current: float, target: float, bounds: AutoApplyBounds) -> float:
    """One step from ``current`` toward ``target``: at most ``max_step``, never past the target.

    The caller guarantees both ends lie within the bounds, so every value between them does too.
    """
    delta = float(target) - float(current)
    if abs(delta) <= bounds.max_step:
        return float(target)
    moved = round(float(current) + math.copysign(bounds.max_step, delta), STEP_DECIMALS)
    # Rounding must never make the step longer than max_step (the gate allows float error;
    # the planner itself never uses that slack).
    if abs(moved - float(current)) > bounds.max_step:
        moved = float(current) + math.copysign(bounds.max_step, delta)
    return moved


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


def within_step(before: float, after: float, max_step: float) -> bool:
    """``|after - before| <= max_step``, allowing the float error of decimal steps
    (0.45 - 0.35 is 0.10000000000000003)."""
    return abs(after - before) <= max_step + STEP_TOLERANCE * max(1.0, abs(max_step))
