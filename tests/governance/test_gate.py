"""The gate over a complete overrides table (§8.8), table-driven and as properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peaktrade_daemon.governance.gate import admissible, check_table, static_reasons
from peaktrade_daemon.governance.policy import AutoApplyBounds, AutoApplyPolicy

BASE = {
    "environment": {"mode": "live"},
    "portfolio": {"leverage": 1.0, "fee_bps": 5.0, "name": "main", "count": 3},
    "macro": {"regime_weight": 0.25},
    "risk": {"stop_loss": 0.02},
    "exchange": {"api_key": ""},
}
POLICY = AutoApplyPolicy(
    bounds={
        "portfolio.leverage": AutoApplyBounds(1.0, 2.0, 0.25),
        "macro.regime_weight": AutoApplyBounds(0.0, 0.8, 0.1),
        "risk.stop_loss": AutoApplyBounds(0.0, 1.0, 1.0),  # bounded, but blacklisted
        "environment.mode": AutoApplyBounds(0.0, 1.0, 1.0),
        "portfolio.count": AutoApplyBounds(0.0, 10.0, 2.0),
    },
    blacklist=("risk.stop_loss",),
    blacklist_tags=("experimental",),
    min_confidence=0.5,
    min_confidence_for_auto_apply=0.5,
    max_auto_applies_per_day=3,
    cooldown_minutes=0.0,
    rollback={"bake_window_minutes": 60, "max_drawdown_increase": 0.02, "max_sharpe_drop": 0.5},
    evidence={
        "enabled": False,
        "lookback_bars": 500,
        "min_periods": 100,
        "min_trades": 5,
        "tolerance": 0.00001,
        "max_drawdown_increase": 0.025,
    },
)


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("portfolio.leverage", 1.25, None),
        ("portfolio.count", 4, None),  # an int for an int key
        ("portfolio.leverage", 2.5, "outside [1.0, 2.0]"),
        ("portfolio.leverage", 50.0, "above the hard maximum"),
        ("portfolio.leverage", float("nan"), "non-finite"),
        ("portfolio.leverage", 1e300, "above the hard maximum"),
        ("portfolio.count", 2**63, "64-bit range"),
        ("portfolio.leverage", True, "type mismatch"),
        ("portfolio.leverage", "1.5", "type mismatch"),
        ("portfolio.fee_bps", 4.0, "no bounds in the policy"),
        ("portfolio.name", "other", "no bounds in the policy"),
        ("risk.stop_loss", 0.5, "P0 BLACKLIST"),
        ("environment.mode", "paper", "FIREWALL: environment"),
        ("exchange.api_key", "x", "holds a secret"),
        ("portfolio.nope", 1.0, "unknown key"),
        ("portfolio", 1.0, "type mismatch"),  # a table is never replaced by a scalar
        ("portfolio.leverage", [1.0], "array is never written"),
        ("a..b", 1.0, "empty or padded segment"),
    ],
)
def test_static_rules(key: str, value: object, why: str | None) -> None:
    reasons = static_reasons(key, value, BASE, POLICY)
    if why is None:
        assert reasons == []
    else:
        assert any(why in r for r in reasons), reasons


def test_every_offending_key_is_named_and_one_refusal_refuses_the_table() -> None:
    result = check_table(
        {"portfolio.leverage": 1.25, "risk.stop_loss": 0.5, "portfolio.fee_bps": 1.0},
        {},
        base=BASE,
        policy=POLICY,
    )
    assert not result.ok and result.keys == ("risk.stop_loss", "portfolio.fee_bps")


@pytest.mark.parametrize(
    ("current", "after", "recorded", "ok"),
    [
        (1.0, 1.25, (), True),  # one step
        (1.0, 1.5, (), False),  # two steps at once
        (1.75, 1.25, (), True),  # back toward the base value 1.0, by any amount
        (1.75, 1.0, (), True),  # to the base value
        (1.25, 1.75, (1.75,), True),  # a value the trail recorded (rollback, restore)
        (1.25, 1.75, (1.5,), False),
        (0.35, 0.45, (), True),  # 0.45 - 0.35 is 0.10000000000000003: float error is no step
    ],
)
def test_the_step_rule(current: float, after: float, recorded: tuple[float, ...], ok: bool) -> None:
    key = "portfolio.leverage" if current >= 1.0 else "macro.regime_weight"
    result = check_table(
        {key: after}, {key: current}, base=BASE, policy=POLICY, recorded={key: recorded}
    )
    assert result.ok is ok, result.summary()


def test_removing_a_key_and_an_unchanged_table_always_pass_the_step_rule() -> None:
    assert check_table({}, {"portfolio.leverage": 2.0}, base=BASE, policy=POLICY).ok
    same = {"portfolio.leverage": 1.75, "macro.regime_weight": 0.5}
    assert check_table(same, same, base=BASE, policy=POLICY).ok


def test_without_a_policy_only_the_empty_table_passes() -> None:
    assert check_table({}, {"portfolio.leverage": 1.5}, base=BASE, policy=None).ok
    assert not check_table({"portfolio.leverage": 1.0}, {}, base=BASE, policy=None).ok


def test_adopt_keeps_what_passes_and_names_what_it_drops() -> None:
    kept, dropped = admissible(
        {"portfolio.leverage": 1.9, "risk.stop_loss": 0.9, "portfolio.leverage2": 1.0},
        BASE,
        POLICY,
    )
    assert kept == {"portfolio.leverage": 1.9}
    assert [d.key for d in dropped] == ["risk.stop_loss", "portfolio.leverage2"]


VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
)
KEYS = st.sampled_from(
    [
        "portfolio.leverage",
        "portfolio.count",
        "portfolio.fee_bps",
        "macro.regime_weight",
        "risk.stop_loss",
        "environment.mode",
        "exchange.api_key",
        "portfolio.nope",
    ]
)


@given(table=st.dictionaries(KEYS, VALUES, max_size=6))
def test_a_table_the_gate_passes_holds_only_bounded_finite_numbers_of_known_keys(
    table: dict[str, object],
) -> None:
    if not check_table(table, table, base=BASE, policy=POLICY).ok:
        return
    for key, value in table.items():
        assert key in POLICY.bounds and key not in POLICY.blacklist
        assert not key.startswith("environment")
        assert isinstance(value, int | float) and not isinstance(value, bool)
        bounds = POLICY.bounds[key]
        assert bounds.min_value <= value <= bounds.max_value


@given(table=st.dictionaries(KEYS, VALUES, max_size=6))
def test_adopt_always_leaves_a_table_the_gate_passes(table: dict[str, object]) -> None:
    kept, dropped = admissible(table, BASE, POLICY)
    assert check_table(kept, kept, base=BASE, policy=POLICY).ok
    assert set(kept) | {d.key for d in dropped} == set(table)
