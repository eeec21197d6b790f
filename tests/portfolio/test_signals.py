"""The book's signal rules: the trigger delay in whole bars, the persistence filter, the regime
score table."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_daemon.market.bars import timeframe_seconds
from peaktrade_daemon.market.metrics import MarketParams
from peaktrade_daemon.portfolio.params import PaperParams
from peaktrade_daemon.portfolio.signals import (
    BookSignals,
    book_signals,
    book_signals_many,
    effective_target,
    held_bars,
    net_direction,
    regime_score,
)
from peaktrade_daemon.strategies.breakout import Breakout
from peaktrade_daemon.strategies.evaluations import StrategyEvaluations
from peaktrade_daemon.strategies.ma_crossover import MaCrossover
from peaktrade_daemon.strategies.rsi_reversion import RsiReversion
from tests.market.test_stacks import sample_windows


@pytest.mark.parametrize(
    ("hours", "timeframe", "bars"),
    [
        (0.0, "1h", 0),
        (10.0, "1h", 10),
        (3.0, "1h", 3),
        (15.0, "1h", 15),
        (2.5, "1h", 3),  # rounded up
        (10.0, "15m", 40),
        (0.1, "6m", 1),  # 0.1 h is one 6-minute bar, not two (float rounding)
        (0.7, "6m", 7),
        (3.0, "1d", 1),  # every delay in the policy's bounds (3..15 h) is one daily bar
        (15.0, "1d", 1),
        (48.0, "1d", 2),
        (10.0, "1M", 1),
    ],
)
def test_the_delay_in_whole_bars_of_the_timeframe(hours: float, timeframe: str, bars: int) -> None:
    params = PaperParams(trigger_delay_h=hours)
    assert params.delay_bars(timeframe_seconds(timeframe)) == bars


def _loop_target(vote: list[int], delay: list[int]) -> list[int]:
    """The rule read literally: act at t when the vote was the same on bars t-d..t."""
    out, current = [], 0
    for t in range(len(vote)):
        d = delay[t]
        if t - d >= 0 and all(vote[s] == vote[t] for s in range(t - d, t + 1)):
            current = vote[t]
        out.append(current)
    return out


def test_a_signal_acts_after_it_persisted_by_hand() -> None:
    vote = np.array([0, 1, 1, 1, -1, 1, 1, 0, 0, 0], dtype=np.int8)
    held = held_bars(vote)
    assert held.tolist() == [1, 1, 2, 3, 1, 1, 2, 1, 2, 3]
    assert effective_target(vote, held, 0).tolist() == vote.tolist()
    # d = 2: the long acts at bar 3 (bars 1..3 long); the lone short never does; the second
    # long run (bars 5, 6) is too short, so the book stays long until flat has held 3 bars.
    assert effective_target(vote, held, 2).tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1, 0]


@settings(max_examples=200, deadline=None)
@given(
    vote=st.lists(st.sampled_from([-1, 0, 1]), min_size=1, max_size=60),
    delays=st.lists(st.integers(0, 6), min_size=1, max_size=4),
)
def test_the_vectorised_filter_is_the_rule(vote: list[int], delays: list[int]) -> None:
    # A per-bar delay (a scheduled change) in segments of equal length.
    per_bar = [delays[min(t * len(delays) // len(vote), len(delays) - 1)] for t in range(len(vote))]
    array = np.array(vote, dtype=np.int8)
    got = effective_target(array, held_bars(array), np.array(per_bar))
    assert got.tolist() == _loop_target(vote, per_bar)


def test_held_counts_bars_before_the_window() -> None:
    signals = BookSignals.of([1, 1, 1, 1, -1, -1])
    window = signals.tail(3)
    assert window.vote.tolist() == [1, -1, -1] and window.held.tolist() == [4, 1, 2]
    # The long has persisted for 4 bars when the window starts: with d = 3 it acts at once.
    assert effective_target(window.vote, window.held, 3).tolist() == [1, 1, 1]


@pytest.mark.parametrize(
    ("regime", "direction", "score"),
    [
        (1.0, 1, 1.0),  # trending up, long: with the trend
        (-1.0, -1, 1.0),  # trending down, short
        (-1.0, 1, 0.0),  # against the trend
        (1.0, -1, 0.0),
        (0.0, 1, 0.5),  # ranging
        (0.0, -1, 0.5),
        (math.nan, 1, 0.5),  # unknown: no view, as ranging
        (math.nan, -1, 0.5),
        (2.0, 1, 0.0),  # volatile
        (2.0, -1, 0.0),
    ],
)
def test_the_regime_score_table(regime: float, direction: int, score: float) -> None:
    assert regime_score(np.array([regime]), direction).tolist() == [score]


@pytest.mark.parametrize("shared", [False, True])
def test_signals_of_a_batch_are_each_windows_own(shared: bool) -> None:
    """Stacked (the strategies, the regime) or alone, every window's signals are the same, bit
    for bit; with a shared memo the outputs are the ones it then holds."""
    windows = sample_windows()
    strategies = (MaCrossover(), RsiReversion(), Breakout(confirm_bars=2))
    market = MarketParams(lookback=10, long_lookback=40)
    evaluations = StrategyEvaluations() if shared else None
    batch = book_signals_many(windows, strategies, market, evaluations)
    assert len(batch) == len(windows)
    for window, got in zip(windows, batch, strict=True):
        alone = book_signals(window, strategies, market)
        np.testing.assert_array_equal(got.vote, alone.vote)
        np.testing.assert_array_equal(got.held, alone.held)
        assert got.regime is not None and alone.regime is not None
        np.testing.assert_array_equal(got.regime, alone.regime)
        assert got.regime.base is None  # its own array, not a row of the stack
    if evaluations is not None:
        again = evaluations.outputs(windows[0], strategies)
        np.testing.assert_array_equal(net_direction([o.direction[0] for o in again]), batch[0].vote)
