"""Paired evaluation: the same bars and signals, two books; metrics against pandas on the real
samples; windows from the feeds with their warm-up and staleness."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.config import load_config
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.market.bars import to_ns
from peaktrade_daemon.market.feeds import Feeds
from peaktrade_daemon.market.metrics import MarketParams
from peaktrade_daemon.market.ohlcv_csv import read_ohlcv_csv
from peaktrade_daemon.portfolio.paired import (
    ScopeRun,
    Window,
    evaluable,
    paired_evaluation,
    paired_run,
    recent_windows,
)
from peaktrade_daemon.portfolio.paper import simulate
from peaktrade_daemon.portfolio.params import PaperParams
from peaktrade_daemon.portfolio.signals import book_signals
from peaktrade_daemon.settings import load_settings
from peaktrade_daemon.strategies.registry import enabled_strategies
from tests.conftest import PROJECT_ROOT
from tests.market.samples import SAMPLES_DIR

CONFIG = load_config(PROJECT_ROOT / "config/config.toml")
STRATEGIES = enabled_strategies(CONFIG)
MARKET = MarketParams()
EURUSD = read_ohlcv_csv(SAMPLES_DIR / "EURUSD.csv", symbol="EUR/USD", timeframe="1h").tail(900)
GOOG = read_ohlcv_csv(SAMPLES_DIR / "GOOG.csv", symbol="GOOG", timeframe="1d").tail(900)
WINDOWS = [Window.recent(EURUSD, 600, 6000.0), Window.recent(GOOG, 600, 252.0)]


def _expected(scope: ScopeRun, capital: float, bars_per_year: float) -> dict[str, float]:
    """The metrics with pandas from the scope's own equity curve."""
    curve = pd.Series([capital, *scope.equity])
    r = curve.pct_change().dropna()
    return {
        "total_return": curve.iloc[-1] / capital - 1,
        "max_drawdown": ((curve.cummax() - curve) / curve.cummax()).max(),
        "sharpe": r.mean() / r.std() * np.sqrt(bars_per_year),
    }


def test_metrics_of_each_scope_match_pandas() -> None:
    run = paired_run(WINDOWS, STRATEGIES, MARKET, CONFIG, "portfolio.leverage", 1.5)
    capital = CONFIG.get("portfolio.initial_capital")
    for side in (run.incumbent, run.candidate):
        assert [s.symbol for s in side.scopes] == ["EUR/USD", "GOOG"]
        for scope, window in zip(side.scopes, WINDOWS, strict=True):
            assert len(scope.equity) == len(scope.returns) == 600
            expected = _expected(scope, capital, window.bars_per_year)
            for name, value in expected.items():
                assert getattr(scope, name) == pytest.approx(value, rel=1e-9), name
            assert scope.trades > 5
        assert side.total_return == pytest.approx(np.mean([s.total_return for s in side.scopes]))
        assert side.max_drawdown == max(s.max_drawdown for s in side.scopes)
        assert side.trades == sum(s.trades for s in side.scopes)
        np.testing.assert_array_equal(
            side.returns, np.concatenate([s.returns for s in side.scopes])
        )
    # Compounding the returns gives the total return: the first bar's fill is a period too.
    for scope in run.candidate.scopes:
        assert np.prod(1 + scope.returns) - 1 == pytest.approx(scope.total_return, rel=1e-9)
    np.testing.assert_array_equal(run.differences, run.candidate.returns - run.incumbent.returns)


def test_turnover_is_the_traded_notional_over_the_capital() -> None:
    run = paired_run(WINDOWS[:1], STRATEGIES, MARKET, CONFIG, "portfolio.leverage", 2.0)
    params = run.candidate.params
    bars = EURUSD.slice(WINDOWS[0].start, len(EURUSD))
    book = simulate(bars, book_signals(EURUSD, STRATEGIES, MARKET).tail(WINDOWS[0].start), params)
    notional = sum(t.quantity * (t.entry_price + t.exit_price) for t in book.trades)
    if book.position is not None:
        notional += abs(book.position.quantity) * book.position.entry_price
    scope = run.candidate.scopes[0]
    assert scope.turnover == pytest.approx(notional / params.initial_capital)
    # Twice the leverage, about twice the traded notional (the same entries, larger sizes).
    assert scope.turnover / run.incumbent.scopes[0].turnover == pytest.approx(2.0, rel=0.1)


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("portfolio.leverage", 1.25, "leverage"),
        ("strategy.trigger_delay", 15.0, "trigger_delay_h"),
        ("macro.regime_weight", 0.8, "regime_weight"),
    ],
)
def test_everything_but_the_key_is_equal(key: str, value: float, field: str) -> None:
    run = paired_run(WINDOWS, STRATEGIES, MARKET, CONFIG, key, value)
    live = PaperParams.from_config(CONFIG)
    assert run.incumbent.params == live and run.incumbent_value == CONFIG.get(key)
    assert run.candidate.params == dataclasses.replace(live, **{field: value})
    # Each side is the plain book of its params on the window, with the signals of all bars.
    for window, scope in zip(WINDOWS, run.candidate.scopes, strict=True):
        signals = book_signals(window.bars, STRATEGIES, MARKET).tail(window.start)
        bars = window.bars.slice(window.start, len(window.bars))
        alone = simulate(bars, signals, run.candidate.params)
        np.testing.assert_array_equal(scope.equity, alone.equity)
    assert not np.array_equal(run.incumbent.returns, run.candidate.returns)


def test_the_live_value_as_candidate_gives_identical_books() -> None:
    run = paired_run(WINDOWS, STRATEGIES, MARKET, CONFIG, "portfolio.leverage", 1.0)
    assert not run.differences.any()
    assert run.incumbent.max_drawdowns == run.candidate.max_drawdowns


def test_the_same_inputs_give_the_same_run() -> None:
    first = paired_run(WINDOWS, STRATEGIES, MARKET, CONFIG, "macro.regime_weight", 0.35)
    again = paired_run(WINDOWS, STRATEGIES, MARKET, CONFIG, "macro.regime_weight", 0.35)
    np.testing.assert_array_equal(first.differences, again.differences)
    for a, b in zip(first.candidate.scopes, again.candidate.scopes, strict=True):
        np.testing.assert_array_equal(a.equity, b.equity)
        assert (a.total_return, a.max_drawdown, a.sharpe, a.turnover, a.trades) == (
            b.total_return,
            b.max_drawdown,
            b.sharpe,
            b.turnover,
            b.trades,
        )


def test_the_window_warm_up_lets_the_books_trade_from_its_first_bars() -> None:
    # The strategies need up to 30 bars and the regime 101: with the bars before the window
    # they have a view at its first bar; cut at the window, no strategy has one before bar 15.
    warm = paired_run(WINDOWS[1:], STRATEGIES, MARKET, CONFIG, "portfolio.leverage", 1.25)
    cold_window = Window.recent(GOOG.tail(600), 600, 252.0)
    cold = paired_run([cold_window], STRATEGIES, MARKET, CONFIG, "portfolio.leverage", 1.25)
    first_warm = int(np.flatnonzero(warm.incumbent.scopes[0].returns)[0])
    first_cold = int(np.flatnonzero(cold.incumbent.scopes[0].returns)[0])
    assert first_warm < 15 <= first_cold == min(s.warmup_bars for s in STRATEGIES)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("strategy.ma_crossover.fast_window", 5, "does not read"),
        ("risk.max_drawdown", 0.1, "does not read"),
        ("portfolio.leverage", 0.0, "must be > 0"),
        ("macro.regime_weight", 1.5, "<= 1"),
        ("strategy.trigger_delay", "soon", "must be a number"),
    ],
)
def test_keys_the_book_does_not_read_and_unusable_values_are_config_errors(
    key: str, value: object, message: str
) -> None:
    assert evaluable(key) is (key.startswith(("portfolio.", "macro.", "strategy.trigger")))
    with pytest.raises(ConfigError, match=message) as error:
        paired_run(WINDOWS, STRATEGIES, MARKET, CONFIG, key, value)
    assert error.value.key == key


def test_a_window_the_strategies_cannot_trade_on_is_left_out_and_named() -> None:
    short = Window.recent(GOOG.tail(25), 600, 252.0)
    empty = Window.since(GOOG, int(GOOG.timestamps[-1]), 252.0)
    run = paired_run(
        [short, WINDOWS[0], empty], STRATEGIES, MARKET, CONFIG, "portfolio.leverage", 1.25
    )
    assert [s.symbol for s in run.incumbent.scopes] == ["EUR/USD"]
    assert run.skipped == (
        "GOOG: 25 bars (25 in the window), the strategies need 30",
        "GOOG: 900 bars (0 in the window), the strategies need 30",
    )
    assert len(run.differences) == 600


def test_a_canary_window_holds_the_bars_after_the_apply() -> None:
    applied = int(GOOG.timestamps[-40]) + 1
    window = Window.since(GOOG, applied, 252.0)
    assert window.start == len(GOOG) - 39 and int(GOOG.timestamps[window.start]) > applied
    run = paired_run([window], STRATEGIES, MARKET, CONFIG, "portfolio.leverage", 1.25)
    assert len(run.incumbent.returns) == 39


async def test_recent_windows_from_the_feeds(project_root: Path) -> None:
    settings = load_settings(project_root)
    feeds = Feeds(settings, ManualClock(datetime(2030, 1, 1, tzinfo=UTC)))
    try:
        async with asyncio.timeout(30):
            windows = await recent_windows(
                feeds, ["EUR/USD", "GOOG", "BTC/USD"], STRATEGIES, MARKET, 400
            )
            run = await paired_evaluation(
                feeds,
                ["EUR/USD", "GOOG"],
                STRATEGIES,
                MARKET,
                CONFIG,
                "portfolio.leverage",
                1.25,
                lookback_bars=400,
            )
    finally:
        await feeds.close()
    eur, goog, btc = windows
    # 400 bars plus the regime's 101 warm-up bars before them; BTC's monthly file has 156 in all.
    assert (len(eur.bars), eur.start) == (501, 101)
    assert (len(goog.bars), goog.start) == (501, 101)
    assert (len(btc.bars), btc.start) == (156, 0)
    assert (eur.bars_per_year, goog.bars_per_year) == (
        feeds.calendar("EUR/USD").bars_per_year(3600.0),
        feeds.calendar("GOOG").bars_per_year(86_400.0),
    )
    assert all(not w.stale_reason for w in windows)  # replay at each file's end: fresh
    assert run.stale_reasons == () and len(run.differences) == 800
    assert run.incumbent.scopes[0].timestamps[0] == eur.bars.timestamps[101]


async def test_stale_feeds_are_named_in_the_run(project_root: Path) -> None:
    settings = load_settings(
        project_root, cli_overrides={"replay": {"start": "2030-01-01T00:00:00Z"}}
    )
    feeds = Feeds(settings, ManualClock(datetime(2030, 1, 1, tzinfo=UTC)))
    try:
        async with asyncio.timeout(30):
            run = await paired_evaluation(
                feeds,
                ["GOOG"],
                STRATEGIES,
                MARKET,
                CONFIG,
                "portfolio.leverage",
                1.25,
                lookback_bars=400,
            )
    finally:
        await feeds.close()
    assert len(run.stale_reasons) == 1 and run.stale_reasons[0].startswith("GOOG: stale data")
    assert to_ns(datetime(2030, 1, 1, tzinfo=UTC)) > int(run.incumbent.scopes[0].timestamps[-1])
