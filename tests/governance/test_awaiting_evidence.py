"""Which pending steps get a paired evaluation: only those the bounded planner would take but
for the evidence (a step held by its cooldown, a freeze, the rate limit or a watch costs none),
and the probe changes nothing about what the writer then does."""

from __future__ import annotations

from datetime import timedelta

from peaktrade_daemon.governance.live_state import LiveState
from peaktrade_daemon.governance.plans import awaiting_evidence, plan_bounded_apply
from peaktrade_daemon.governance.policy import AutoApplyMode
from peaktrade_daemon.governance.verdicts import PromotionDecision
from peaktrade_daemon.promotion.engine import (
    build_promotion_candidates_from_patches,
    filter_candidates_for_live,
)
from tests.promotion.conftest import T0, make_patch, shipped_gate

BOUNDED = AutoApplyMode.BOUNDED_AUTO


def _decisions() -> list[PromotionDecision]:
    gate = shipped_gate()
    patches = [make_patch("portfolio.leverage", 1.75), make_patch("macro.regime_weight", 0.45)]
    candidates = build_promotion_candidates_from_patches(patches, gate.policy)
    decisions = filter_candidates_for_live(candidates, gate.policy, gate.base, {})
    assert all(d.accepted for d in decisions)
    return decisions


def _state(**last_change: timedelta) -> LiveState:
    changed = {key.replace("_", "."): T0 - ago for key, ago in last_change.items()}
    return LiveState({}, {}, changed, [])


def _due(state: LiveState, hold=lambda key: None) -> list[str]:  # type: ignore[no-untyped-def]
    gate = shipped_gate()
    found = awaiting_evidence(_decisions(), gate.policy, BOUNDED, gate.base, T0, state, hold=hold)
    return [d.target for d in found]


def test_every_step_free_to_move_needs_evidence() -> None:
    assert _due(_state()) == ["portfolio.leverage", "macro.regime_weight"]


def test_a_step_in_its_cooldown_needs_none() -> None:
    # The shipped cooldown is 60 minutes: leverage changed 20 minutes ago, regime weight 61.
    state = LiveState(
        {},
        {},
        {
            "portfolio.leverage": T0 - timedelta(minutes=20),
            "macro.regime_weight": T0 - timedelta(minutes=61),
        },
        [],
    )
    assert _due(state) == ["macro.regime_weight"]


def test_a_frozen_key_a_held_key_and_a_spent_rate_limit_need_none() -> None:
    frozen = LiveState({}, {"portfolio.leverage": "reverted by the guard"}, {}, [])
    assert _due(frozen) == ["macro.regime_weight"]
    watched = _due(
        _state(), hold=lambda key: "held: under observation" if "leverage" in key else None
    )
    assert watched == ["macro.regime_weight"]
    spent = LiveState({}, {}, {}, [T0 - timedelta(hours=h) for h in (1, 2, 3)])  # 3 a day shipped
    assert _due(spent) == []


def test_the_probe_leaves_the_plan_as_the_writer_makes_it() -> None:
    gate = shipped_gate()
    state = _state()
    decisions = _decisions()
    before = plan_bounded_apply(decisions, gate.policy, BOUNDED, gate.base, T0)(state)
    awaiting_evidence(decisions, gate.policy, BOUNDED, gate.base, T0, state)
    after = plan_bounded_apply(decisions, gate.policy, BOUNDED, gate.base, T0)(state)
    assert before == after
    assert state == _state()
