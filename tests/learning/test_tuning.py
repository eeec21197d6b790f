"""The walk-forward learner's pure rule: the grid, the train score, the choice, the confidence
(tables for the documented cases, hypothesis for the invariants)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from peaktrade_daemon.governance.policy import AutoApplyBounds
from peaktrade_daemon.learning.tuning import (
    MAX_GRID_POINTS,
    choose,
    confidence,
    grid,
    train_score,
)
from peaktrade_daemon.portfolio.paired import BookRun, ScopeRun
from peaktrade_daemon.portfolio.params import PaperParams


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ((1.0, 2.0, 0.25), (1.0, 1.25, 1.5, 1.75, 2.0)),
        ((3.0, 15.0, 2.0), (3.0, 5.0, 7.0, 9.0, 11.0, 13.0, 15.0)),
        ((0.0, 0.8, 0.1), (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)),
        ((0.0, 1.0, 0.3), (0.0, 0.3, 0.6, 0.9, 1.0)),  # max itself last when steps miss it
        ((2.0, 2.0, 0.5), (2.0,)),
        ((0.0, 1.0, 5.0), (0.0, 1.0)),
    ],
)
def test_grid_of_the_bounds_in_max_steps(
    bounds: tuple[float, float, float], expected: tuple[float, ...]
) -> None:
    assert grid(AutoApplyBounds(*bounds)) == expected


def test_a_grid_finer_than_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match=f"more than {MAX_GRID_POINTS} points"):
        grid(AutoApplyBounds(0.0, 1000.0, 0.001))
    with pytest.raises(ValueError, match="points"):
        grid(AutoApplyBounds(-1e308, 1e308, 1e-300))  # the ratio overflows to inf
    assert len(grid(AutoApplyBounds(0.0, 200.0, 1.0))) == MAX_GRID_POINTS


@pytest.mark.parametrize(
    ("values", "scores", "incumbent", "incumbent_score", "chosen"),
    [
        ((1.0, 1.5, 2.0), (0.1, 0.2, 0.3), 1.0, 0.1, 2.0),  # the best point
        ((1.0, 1.5, 2.0), (0.3, 0.2, 0.1), 1.5, 0.2, 1.0),  # downwards too
        ((1.0, 1.5, 2.0), (0.1, 0.2, 0.3), 2.0, 0.3, 2.0),  # the incumbent is best
        ((1.0, 2.0), (0.2, 0.2), 1.5, 0.2, 1.5),  # equal to the incumbent: no change
        ((1.0, 2.0), (0.3, 0.3), 1.75, 0.1, 2.0),  # a tie goes to the nearest point
        ((1.0, 2.0), (0.3, 0.3), 1.5, 0.1, 1.0),  # equally near: the lower one
        ((1.0, 2.0), (math.nan, 0.1), 1.5, math.nan, 2.0),  # an infeasible incumbent loses
        ((1.0, 2.0), (math.nan, math.nan), 1.5, 0.0, 1.5),  # nothing feasible
        ((1.0, 2.0), (math.nan, math.nan), 1.5, math.nan, 1.5),
        ((1.0, 2.0), (0.5, math.nan), 1.5, 0.4, 1.0),  # the infeasible point never wins
        ((3.0, 9.0), (0.1, 0.2), 10.0, 0.15, 9.0),  # an incumbent off the grid
    ],
)
def test_choose_follows_the_rule(
    values: tuple[float, ...],
    scores: tuple[float, ...],
    incumbent: float,
    incumbent_score: float,
    chosen: float,
) -> None:
    assert choose(values, scores, incumbent, incumbent_score) == chosen


def _run(returns: list[float], drawdowns: list[float] | None = None) -> BookRun:
    """A one- or many-symbol run with these per-period returns (split evenly across symbols)."""
    drawdowns = drawdowns or [0.0]
    parts = np.array_split(np.asarray(returns, dtype=np.float64), len(drawdowns))
    scopes = tuple(
        ScopeRun(
            symbol=f"S{i}",
            timestamps=np.arange(len(part), dtype=np.int64),
            equity=np.ones(len(part)),
            returns=part,
            total_return=0.0,
            max_drawdown=dd,
            sharpe=math.nan,
            turnover=0.0,
            trades=1,
        )
        for i, (part, dd) in enumerate(zip(parts, drawdowns, strict=True))
    )
    return BookRun(PaperParams(), scopes)


def test_train_score_is_the_pooled_mean_return_when_feasible() -> None:
    assert train_score(_run([0.01, 0.03, -0.01, 0.01], [0.05, 0.1]), 0.2) == pytest.approx(0.01)
    assert math.isnan(train_score(_run([0.01, 0.02], [0.05, 0.25]), 0.2))  # one symbol too deep
    assert math.isnan(train_score(_run([0.01, math.nan]), 0.2))  # a blown book
    assert math.isnan(train_score(_run([]), 0.2))
    assert train_score(_run([0.01], [0.9]), math.inf) == pytest.approx(0.01)  # no limit


def test_confidence_is_the_share_of_resamples_where_the_candidate_wins() -> None:
    rng = np.random.default_rng(3)
    noise = rng.normal(0.0, 0.01, 400)
    assert confidence(noise + 0.01, seed=0, resamples=2000) == 1.0
    assert confidence(noise - 0.01, seed=0, resamples=2000) == 0.0
    middling = confidence(noise + 0.0005, seed=0, resamples=2000)
    assert 0.0 < middling < 1.0
    assert confidence(noise + 0.0005, seed=0, resamples=2000) == middling  # same seed, same
    assert confidence(np.zeros(400), seed=0, resamples=2000) == 0.0  # equal books never win
    assert confidence(np.array([0.01]), seed=0, resamples=2000) == 0.0
    assert confidence(np.array([0.01, math.nan, 0.02]), seed=0, resamples=2000) == 0.0
    # Exactly k / resamples: the share is counted, not estimated.
    assert (middling * 2000) == pytest.approx(round(middling * 2000))


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def bounds(draw: st.DrawFn) -> AutoApplyBounds:
    low = draw(finite)
    high = draw(st.floats(low, low + 1e4, allow_nan=False, allow_infinity=False))
    step = draw(st.floats(1e-6, 1e5, allow_nan=False, allow_infinity=False))
    assume((high - low) / step + 1 <= MAX_GRID_POINTS)
    return AutoApplyBounds(low, high, step)


@settings(max_examples=300, deadline=None)
@given(bounds())
def test_grid_spans_the_bounds_in_steps_no_longer_than_max_step(b: AutoApplyBounds) -> None:
    points = grid(b)
    assert points[0] == b.min_value
    assert points[-1] == pytest.approx(b.max_value, abs=1e-9)
    assert all(b.contains(p) for p in points)
    assert list(points) == sorted(set(points))
    slack = 1e-9 * max(1.0, abs(b.max_value), abs(b.min_value))
    assert all(
        later - earlier <= b.max_step + slack for earlier, later in itertools.pairwise(points)
    )


scores = st.one_of(st.just(math.nan), st.floats(-1.0, 1.0, allow_nan=False))


@settings(max_examples=300, deadline=None)
@given(bounds(), st.data())
def test_the_choice_lies_on_the_grid_inside_the_bounds_or_is_the_incumbent(
    b: AutoApplyBounds, data: st.DataObject
) -> None:
    values = grid(b)
    point_scores = data.draw(st.lists(scores, min_size=len(values), max_size=len(values)))
    incumbent = data.draw(finite)
    incumbent_score = data.draw(scores)
    chosen = choose(values, point_scores, incumbent, incumbent_score)
    if chosen != incumbent:
        assert chosen in values and b.contains(chosen)
        score = point_scores[values.index(chosen)]
        assert math.isfinite(score)
        assert not math.isfinite(incumbent_score) or score > incumbent_score
        assert all(not s > score for s in point_scores)  # nothing feasible scored higher


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.floats(-0.1, 0.1, allow_nan=False), min_size=0, max_size=300),
    st.integers(0, 2**32),
)
def test_confidence_is_a_share(differences: list[float], seed: int) -> None:
    share = confidence(np.asarray(differences, dtype=np.float64), seed=seed, resamples=200)
    assert 0.0 <= share <= 1.0
    # Block sums come from a running sum, so a difference far below the others' rounding is
    # lost: "all positive" is claimed for differences of a measurable size.
    if len(differences) >= 2 and all(d >= 1e-9 for d in differences):
        assert share == 1.0
    if all(d <= 0 for d in differences):
        assert share == 0.0
