"""Every key the learning loop tunes changes the paper book (SPEC §9), on the bundled samples with
the shipped config, each checked against the rule computed here independently."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from peaktrade_daemon.config import load_config
from peaktrade_daemon.market.bars import Bars
from peaktrade_daemon.market.metrics import MarketParams, market_metrics
from peaktrade_daemon.market.ohlcv_csv import read_ohlcv_csv
from peaktrade_daemon.portfolio.paper import PaperBook, paper_book, simulate
from peaktrade_daemon.portfolio.params import PaperParams
from peaktrade_daemon.portfolio.signals import book_signals
from peaktrade_daemon.strategies.registry import enabled_strategies
from tests.conftest import PROJECT_ROOT
from tests.market.samples import SAMPLES_DIR

CONFIG = load_config(PROJECT_ROOT / "config/config.toml")
SHIPPED = PaperParams.from_config(CONFIG)
STRATEGIES = enabled_strategies(CONFIG)
MARKET = MarketParams()
EURUSD = read_ohlcv_csv(SAMPLES_DIR / "EURUSD.csv", symbol="EUR/USD", timeframe="1h").tail(1500)
GOOG = read_ohlcv_csv(SAMPLES_DIR / "GOOG.csv", symbol="GOOG", timeframe="1d").tail(1000)


def _book(bars: Bars, **changes: float) -> PaperBook:
    return paper_book(bars, STRATEGIES, dataclasses.replace(SHIPPED, **changes), MARKET)


def _entries(bars: Bars, book: PaperBook) -> list[tuple[int, int, float]]:
    """(bar, direction, notional) of every closed trade's entry."""
    return [
        (
            int(np.searchsorted(bars.timestamps, t.opened_ns)),
            t.direction,
            t.quantity * t.entry_price,
        )
        for t in book.trades
    ]


def test_the_shipped_config_sets_both_tuned_keys() -> None:
    assert (SHIPPED.trigger_delay_h, SHIPPED.regime_weight) == (10.0, 0.25)


def test_leverage_scales_the_first_position_and_changes_the_book() -> None:
    one, step = _book(EURUSD, leverage=1.0), _book(EURUSD, leverage=1.25)
    assert one.trades[0].opened_ns == step.trades[0].opened_ns
    assert step.trades[0].quantity == pytest.approx(1.25 * one.trades[0].quantity)
    assert not np.array_equal(one.equity, step.equity)


@pytest.mark.parametrize("hours", [3.0, 9.0, 15.0])
def test_trigger_delay_positions_open_only_where_the_vote_persisted(hours: float) -> None:
    book = _book(EURUSD, trigger_delay_h=hours, stop_loss=0.0)
    vote = book_signals(EURUSD, STRATEGIES, MARKET).vote.tolist()
    d = int(np.ceil(hours))  # hours on hourly bars: that many bars
    entries = _entries(EURUSD, book)
    assert len(entries) > 10
    for bar, direction, _ in entries:
        assert bar >= d and vote[bar - d : bar + 1] == [direction] * (d + 1), bar


def test_trigger_delay_within_the_policy_bounds_changes_an_hourly_book() -> None:
    low, high = _book(EURUSD, trigger_delay_h=3.0), _book(EURUSD, trigger_delay_h=15.0)
    assert len(high.trades) < len(low.trades)  # fewer, later entries: short runs are filtered
    assert not np.array_equal(low.equity, high.equity)


def test_trigger_delay_rounds_up_to_whole_daily_bars() -> None:
    # GOOG trades daily: 3 h and 15 h are both one bar (the same book), 48 h two bars.
    three, fifteen, two_days = (_book(GOOG, trigger_delay_h=h) for h in (3.0, 15.0, 48.0))
    np.testing.assert_array_equal(three.equity, fifteen.equity)
    assert not np.array_equal(three.equity, two_days.equity)


def _score(bars: Bars, bar: int, direction: int) -> float:
    """The regime score of the SPEC table, from the monitor's regime of bars[: bar + 1]."""
    window = bars.slice(0, bar + 1)
    regime = market_metrics(
        window.high[None, :],
        window.low[None, :],
        window.close[None, :],
        window.volume[None, :],
        window.timestamps,
        timeframe_s=3600.0,
        bars_per_year=6000.0,
        params=MARKET,
    )["regime"][0]
    if np.isnan(regime) or regime == 0:
        return 0.5
    return 1.0 if regime == direction else 0.0


@pytest.mark.parametrize("weight", [0.25, 0.8])
def test_regime_weight_sizes_each_entry_by_the_regime_at_it(weight: float) -> None:
    params = dataclasses.replace(SHIPPED, regime_weight=weight)
    book = simulate(EURUSD, book_signals(EURUSD, STRATEGIES, MARKET), params)
    entries = _entries(EURUSD, book)
    scores = [_score(EURUSD, bar, direction) for bar, direction, _ in entries]
    assert {0.0, 0.5, 1.0} <= set(scores)  # every row of the table occurs on these bars
    fee = params.fee_bps / 1e4
    for (bar, _, notional), score in zip(entries, scores, strict=True):
        fraction = params.max_position_pct * params.leverage * (1 - weight + weight * score)
        # notional = cash x fraction, and the bar's equity is that cash less the entry fee.
        assert notional * (1 - fee * fraction) == pytest.approx(book.equity[bar] * fraction)


def test_regime_weight_within_the_policy_bounds_changes_the_book() -> None:
    none, most = _book(EURUSD, regime_weight=0.0), _book(EURUSD, regime_weight=0.8)
    assert not np.array_equal(none.equity, most.equity)
    # The same entries, sized differently: the weight moves size, not timing.
    assert [t.opened_ns for t in none.trades] == [t.opened_ns for t in most.trades]
