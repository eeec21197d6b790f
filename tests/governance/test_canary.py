"""The rollback guard as a canary (§9): readings from the shadow-book comparison, table-driven,
and what the guard does with them inside and past the bake window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from peaktrade_daemon.governance.evidence import EvidenceVerdict
from peaktrade_daemon.governance.guard import Health, RollbackGuard, canary_health
from peaktrade_daemon.governance.policy import RollbackGuardPolicy

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
POLICY = RollbackGuardPolicy(
    bake_window_minutes=60, max_drawdown_increase=0.02, max_sharpe_drop=0.5
)


@pytest.mark.parametrize(
    ("verdict", "enough", "stale", "health"),
    [
        (EvidenceVerdict.FAIL, False, False, Health.DEGRADED),
        (EvidenceVerdict.FAIL, True, True, Health.DEGRADED),  # a break is a break, stale or not
        (EvidenceVerdict.PASS, True, False, Health.HEALTHY),
        (EvidenceVerdict.INCONCLUSIVE, False, False, Health.INCONCLUSIVE),  # wait for bars
        (EvidenceVerdict.INCONCLUSIVE, True, False, Health.HEALTHY),  # enough bars, few trades
        (EvidenceVerdict.INCONCLUSIVE, False, True, Health.UNKNOWN),  # stale: bars may not come
        (EvidenceVerdict.PASS, True, True, Health.UNKNOWN),
        (None, False, False, Health.UNKNOWN),
    ],
)
def test_canary_readings(
    verdict: EvidenceVerdict | None, enough: bool, stale: bool, health: Health
) -> None:
    assert canary_health(verdict, ("why",), enough_periods=enough, stale=stale)[0] is health


def _guard() -> RollbackGuard:
    guard = RollbackGuard()
    guard.watch({"key": "portfolio.leverage", "seq": 1}, {}, T0, POLICY)
    return guard


def test_an_inconclusive_canary_keeps_the_key_watched_and_held_past_the_window() -> None:
    guard = _guard()
    reading = {"portfolio.leverage": (Health.INCONCLUSIVE, ("12 periods",))}
    assert guard.check({}, T0 + timedelta(hours=5), POLICY, reading) == []
    assert "until its canary can judge it" in (guard.hold_reason("portfolio.leverage") or "")
    assert guard.hold_reason("macro.regime_weight") is None  # inconclusive holds only its key
    (action,) = guard.check(
        {}, T0 + timedelta(hours=6), POLICY, {"portfolio.leverage": (Health.HEALTHY, ())}
    )
    assert action.action == "passed" and not guard.watches


@pytest.mark.parametrize(
    ("health", "inside", "action"),
    [
        (Health.DEGRADED, True, "revert"),
        (Health.HEALTHY, True, None),
        (Health.UNKNOWN, True, None),
        (Health.HEALTHY, False, "passed"),
        (Health.UNKNOWN, False, "revert"),  # unproven at the end: fail closed
    ],
)
def test_what_the_guard_does_with_a_canary_reading(
    health: Health, inside: bool, action: str | None
) -> None:
    guard = _guard()
    now = T0 + (timedelta(minutes=30) if inside else timedelta(minutes=61))
    actions = guard.check({}, now, POLICY, {"portfolio.leverage": (health, ("r",))})
    assert [a.action for a in actions] == ([action] if action else [])
