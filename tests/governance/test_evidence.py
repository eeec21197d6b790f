"""The evidence rule on constructed books: the verdict table, the policy's validation, the
bootstrap's figures, and properties (identical books never FAIL, a strictly worse candidate never
PASSes)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from peaktrade_daemon.governance.evidence import (
    RESAMPLES,
    TEST_NAME,
    EvidencePolicy,
    EvidenceVerdict,
    block_length,
    bootstrap_upper_bound,
    judge,
)

POLICY = EvidencePolicy(
    enabled=True,
    lookback_bars=500,
    min_periods=100,
    min_trades=5,
    confidence_level=0.95,
    tolerance=0.0005,
    max_drawdown_increase=0.02,
)
RISK = 0.20


def _drawdown(returns: np.ndarray) -> float:
    curve = np.concatenate([[1.0], np.cumprod(1.0 + returns)])
    peak = np.maximum.accumulate(curve)
    return float(((peak - curve) / peak).max())


@dataclass(frozen=True)
class Series:
    """A book built from per-symbol returns: its metrics follow from them."""

    by_symbol: Mapping[str, np.ndarray]
    trades: int = 20
    drawdown_override: dict[str, float] = field(default_factory=dict)

    @property
    def returns(self) -> np.ndarray:
        return np.concatenate(list(self.by_symbol.values()))

    @property
    def max_drawdowns(self) -> Mapping[str, float]:
        return {s: self.drawdown_override.get(s, _drawdown(r)) for s, r in self.by_symbol.items()}

    @property
    def total_return(self) -> float:
        return float(np.mean([np.prod(1 + r) - 1 for r in self.by_symbol.values()]))

    @property
    def sharpe(self) -> float:
        std = float(np.std(self.returns, ddof=1))
        return float(np.mean(self.returns) / std * math.sqrt(252)) if std > 0 else math.nan

    @property
    def turnover(self) -> float:
        return 3.0


def noise(n: int, seed: int = 1, scale: float = 0.01) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, scale, n)


# A rising book with small noise: a steady loss of a few bps per period shows in the mean
# difference before it shows in the drawdown.
BASE = 0.002 + noise(300, scale=0.002)


def book(returns: np.ndarray = BASE, **extra: Any) -> Series:
    return Series({"GOOG": returns}, **extra)


def shifted(by: float, returns: np.ndarray = BASE) -> Series:
    return book(returns + by)


CASES = [
    # (name, incumbent, candidate, stale, verdict, a reason contains)
    ("identical books", book(), book(), False, EvidenceVerdict.PASS, "not worse"),
    ("better candidate", book(), shifted(0.001), False, EvidenceVerdict.PASS, "not worse"),
    ("worse within tolerance", book(), shifted(-0.0002), False, EvidenceVerdict.PASS, "not worse"),
    (
        "worse beyond tolerance",
        book(),
        shifted(-0.0008),
        False,
        EvidenceVerdict.FAIL,
        "beyond tolerance",
    ),
    (
        "pushes drawdown past the risk limit",
        book(drawdown_override={"GOOG": 0.19}),
        book(drawdown_override={"GOOG": 0.205}),
        False,
        EvidenceVerdict.FAIL,
        "above risk.max_drawdown 0.2",
    ),
    (
        "both past the limit alike: not the candidate's doing",
        book(drawdown_override={"GOOG": 0.3}),
        book(drawdown_override={"GOOG": 0.3}),
        False,
        EvidenceVerdict.PASS,
        "in both books",
    ),
    (
        "both past the limit, the candidate a little worse: the increase rule judges",
        book(drawdown_override={"GOOG": 0.3}),
        book(drawdown_override={"GOOG": 0.31}),
        False,
        EvidenceVerdict.PASS,
        "in both books (incumbent 0.3000, candidate 0.3100)",
    ),
    (
        "both past the limit, the candidate worse beyond the increase",
        book(drawdown_override={"GOOG": 0.3}),
        book(drawdown_override={"GOOG": 0.33}),
        False,
        EvidenceVerdict.FAIL,
        "max_drawdown_increase",
    ),
    (
        "less drawdown while past the limit: a step toward safety",
        book(drawdown_override={"GOOG": 0.3}),
        book(drawdown_override={"GOOG": 0.25}),
        False,
        EvidenceVerdict.PASS,
        "in both books",
    ),
    (
        "back under the limit",
        book(drawdown_override={"GOOG": 0.21}),
        book(drawdown_override={"GOOG": 0.15}),
        False,
        EvidenceVerdict.PASS,
        "in the incumbent's book only",
    ),
    (
        "from exactly the limit to above it",
        book(drawdown_override={"GOOG": 0.2}),
        book(drawdown_override={"GOOG": 0.2001}),
        False,
        EvidenceVerdict.FAIL,
        "above risk.max_drawdown 0.2 (incumbent 0.2000)",
    ),
    (
        "drawdown up by more than max_drawdown_increase",
        book(drawdown_override={"GOOG": 0.05}),
        book(drawdown_override={"GOOG": 0.0701}),
        False,
        EvidenceVerdict.FAIL,
        "above the incumbent's 0.0500 (max_drawdown_increase 0.02)",
    ),
    (
        "drawdown up by exactly max_drawdown_increase",
        book(drawdown_override={"GOOG": 0.05}),
        book(drawdown_override={"GOOG": 0.0699}),
        False,
        EvidenceVerdict.PASS,
        "not worse",
    ),
    (
        "too few periods",
        book(BASE[:50]),
        book(BASE[:50]),
        False,
        EvidenceVerdict.INCONCLUSIVE,
        "50 paired",
    ),
    ("too few trades", book(trades=4), book(), False, EvidenceVerdict.INCONCLUSIVE, "4 trades"),
    (
        "an undefined return",
        book(np.where(np.arange(300) == 7, np.nan, BASE)),
        book(),
        False,
        EvidenceVerdict.INCONCLUSIVE,
        "undefined",
    ),
    ("stale data never passes", book(), book(), True, EvidenceVerdict.INCONCLUSIVE, "stale"),
    (
        "stale and worse: still a FAIL",
        book(),
        shifted(-0.0008),
        True,
        EvidenceVerdict.FAIL,
        "beyond",
    ),
    (
        "a breach seen on little data is a breach",
        book(BASE[:50], drawdown_override={"GOOG": 0.05}),
        book(BASE[:50], drawdown_override={"GOOG": 0.21}),
        True,
        EvidenceVerdict.FAIL,
        "above risk.max_drawdown",
    ),
]


@pytest.mark.parametrize(
    ("incumbent", "candidate", "stale", "expected", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_verdict_table(
    incumbent: Series, candidate: Series, stale: bool, expected: EvidenceVerdict, reason: str
) -> None:
    evidence = judge(
        incumbent, candidate, risk_max_drawdown=RISK, policy=POLICY, stale=stale, seed=11
    )
    assert evidence.verdict is expected, evidence.reasons
    assert any(reason in r for r in evidence.reasons), evidence.reasons


def test_the_record_names_the_test_and_carries_both_books() -> None:
    evidence = judge(
        book(), shifted(-0.0008), risk_max_drawdown=RISK, policy=POLICY, stale=False, seed=3
    )
    assert evidence.test == TEST_NAME and "bootstrap" in evidence.test
    assert (evidence.seed, evidence.resamples, evidence.periods) == (3, RESAMPLES, 300)
    assert evidence.block_periods == block_length(300) == 7
    assert evidence.mean_difference == pytest.approx(-0.0008)
    assert evidence.upper_bound < -0.0005
    assert evidence.candidate.max_drawdowns == {"GOOG": _drawdown(BASE - 0.0008)}
    assert evidence.incumbent.total_return == pytest.approx(np.prod(1 + BASE) - 1)
    assert evidence.incumbent.trades == 20 and evidence.candidate.turnover == 3.0
    dumped = evidence.model_dump(mode="json")
    assert dumped["verdict"] == "FAIL" and dumped["incumbent"]["max_drawdown"] > 0


def test_same_inputs_same_evidence() -> None:
    args: dict[str, Any] = {"risk_max_drawdown": RISK, "policy": POLICY, "stale": False}
    candidate = book(BASE - 0.0004 + noise(300, seed=9, scale=0.001))
    first = judge(book(), candidate, seed=5, **args)
    assert judge(book(), candidate, seed=5, **args) == first
    other = judge(book(), candidate, seed=6, **args)
    assert other.verdict is first.verdict and other.upper_bound != first.upper_bound


def test_the_bound_matches_the_normal_approximation_for_independent_differences() -> None:
    d = noise(4000, seed=2, scale=0.002)
    bound = bootstrap_upper_bound(d, 0.95, seed=0)
    normal = d.mean() + 1.6449 * d.std(ddof=1) / math.sqrt(len(d))
    assert bound == pytest.approx(normal, rel=0.1)


def test_a_long_window_is_resampled_in_chunks_with_the_same_figures() -> None:
    d = noise(300_000, seed=8, scale=0.002)
    bound = bootstrap_upper_bound(d, 0.95, seed=0)
    normal = d.mean() + 1.6449 * d.std(ddof=1) / math.sqrt(len(d))
    assert bound == pytest.approx(normal, rel=0.15)
    assert bootstrap_upper_bound(d, 0.95, seed=0) == bound


def test_blocks_widen_the_bound_for_serially_dependent_differences() -> None:
    # AR(1) with phi 0.8: the mean's standard error is sqrt((1 + phi) / (1 - phi)) = 3x the
    # independent one; resampling single periods would understate it threefold.
    shocks = noise(4000, seed=4, scale=0.001)
    d = np.empty_like(shocks)
    d[0] = shocks[0]
    for t in range(1, len(d)):
        d[t] = 0.8 * d[t - 1] + shocks[t]
    naive = 1.6449 * d.std(ddof=1) / math.sqrt(len(d))
    width = bootstrap_upper_bound(d, 0.95, seed=0) - d.mean()
    assert 2.0 * naive < width < 3.5 * naive


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"confidence_level": "0.95"}, "confidence_level"),
        ({"tolerance": True}, "tolerance"),
        ({"tolerance": math.nan}, "tolerance"),
        ({"max_drawdown_increase": math.inf}, "max_drawdown_increase"),
        ({"min_periods": 100.0}, "min_periods"),
        ({"enabled": "yes"}, "enabled"),
        ({"confidence_level": 1.0}, "confidence_level"),
        ({"confidence_level": 0.4}, "confidence_level"),
        ({"tolerance": -0.001}, "tolerance"),
        ({"lookback_bars": 5}, "lookback_bars"),
        ({"min_trades": -1}, "min_trades"),
        ({"seed": 1}, "seed"),  # unknown keys are refused
    ],
)
def test_the_policy_table_is_strict(change: dict[str, Any], message: str) -> None:
    table = POLICY.model_dump() | change
    with pytest.raises(ValidationError, match=message):
        EvidencePolicy.model_validate(table)


@pytest.mark.parametrize("missing", ["enabled", "lookback_bars", "min_periods", "tolerance"])
def test_a_missing_policy_key_is_invalid(missing: str) -> None:
    table = POLICY.model_dump()
    del table[missing]
    with pytest.raises(ValidationError, match=missing):
        EvidencePolicy.model_validate(table)
    assert (
        EvidencePolicy.model_validate(
            {k: v for k, v in POLICY.model_dump().items() if k != "confidence_level"}
        ).confidence_level
        == 0.95
    )


def test_books_that_are_not_a_pair_are_refused() -> None:
    with pytest.raises(ValueError, match="not a pair"):
        judge(book(), book(BASE[:-1]), risk_max_drawdown=RISK, policy=POLICY, stale=False, seed=0)
    with pytest.raises(ValueError, match="not a pair"):
        judge(
            book(),
            Series({"EUR/USD": BASE}),
            risk_max_drawdown=RISK,
            policy=POLICY,
            stale=False,
            seed=0,
        )
    with pytest.raises(ValueError, match=r"risk\.max_drawdown"):
        judge(book(), book(), risk_max_drawdown=math.nan, policy=POLICY, stale=False, seed=0)


policies = st.builds(
    EvidencePolicy,
    enabled=st.just(True),
    lookback_bars=st.just(500),
    min_periods=st.integers(2, 80),
    min_trades=st.integers(0, 30),
    confidence_level=st.floats(0.5, 0.999),
    tolerance=st.floats(0.0, 0.01),
    max_drawdown_increase=st.floats(0.0, 0.2),
)
returns_lists = st.lists(st.floats(-0.2, 0.2), min_size=2, max_size=80)


@settings(max_examples=150, deadline=None)
@given(
    returns=returns_lists,
    policy=policies,
    risk=st.floats(0.01, 1.0),
    stale=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_identical_books_are_never_fail(
    returns: list[float], policy: EvidencePolicy, risk: float, stale: bool, seed: int
) -> None:
    same = book(np.array(returns))
    evidence = judge(same, same, risk_max_drawdown=risk, policy=policy, stale=stale, seed=seed)
    assert evidence.verdict is not EvidenceVerdict.FAIL, evidence.reasons


@settings(max_examples=150, deadline=None)
@given(
    returns=returns_lists,
    policy=policies,
    margin=st.floats(1e-6, 0.05),
    stale=st.booleans(),
    seed=st.integers(0, 2**32),
    data=st.data(),
)
def test_a_candidate_worse_beyond_tolerance_in_every_period_never_passes(
    returns: list[float],
    policy: EvidencePolicy,
    margin: float,
    stale: bool,
    seed: int,
    data: st.DataObject,
) -> None:
    base = np.array(returns)
    extra = np.array(
        data.draw(st.lists(st.floats(0.0, 0.05), min_size=len(base), max_size=len(base)))
    )
    worse = base - (policy.tolerance + margin + extra)
    evidence = judge(
        book(base), book(worse), risk_max_drawdown=0.5, policy=policy, stale=stale, seed=seed
    )
    assert evidence.verdict is not EvidenceVerdict.PASS, evidence.reasons


@pytest.mark.parametrize("periods", [POLICY.min_periods - 1, POLICY.min_periods, 300])
def test_a_reader_of_the_verdict_alone_may_skip_the_bound_of_too_few_periods(periods: int) -> None:
    """The canary reads only the verdict: below min_periods the bound decides nothing, so it
    may be left out (NaN); every other figure and the verdict stay the same, and from
    min_periods on nothing is left out."""
    args: dict[str, Any] = {"risk_max_drawdown": RISK, "policy": POLICY, "stale": False, "seed": 3}
    incumbent, candidate = book(BASE[:periods]), book(BASE[:periods] - 0.0004)
    full = judge(incumbent, candidate, **args)
    lean = judge(incumbent, candidate, bound_when_short=False, **args)
    if periods < POLICY.min_periods:
        assert math.isfinite(full.upper_bound) and math.isnan(lean.upper_bound)
        assert lean.model_copy(update={"upper_bound": full.upper_bound}) == full
    else:
        assert lean == full
