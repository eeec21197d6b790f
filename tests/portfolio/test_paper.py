"""The paper book: hand-checked trades, accounting identities on real data, leverage and fees.

The tuned keys (trigger delay, regime weight) on the real samples: tests/portfolio/test_tuned_keys.py.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.config import load_config
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.market.bars import Bars, from_ns, to_ns
from peaktrade_daemon.market.feeds import Feeds
from peaktrade_daemon.market.metrics import MarketParams
from peaktrade_daemon.portfolio.paper import PaperPortfolio, simulate
from peaktrade_daemon.portfolio.params import PaperParams
from peaktrade_daemon.portfolio.signals import BookSignals, book_signals
from peaktrade_daemon.portfolio.timeline import LiveChange
from peaktrade_daemon.settings import load_settings
from peaktrade_daemon.strategies.registry import enabled_strategies
from tests.conftest import PROJECT_ROOT
from tests.market.samples import frame


def bars_of(
    close: np.ndarray,
    high: np.ndarray | None = None,
    low: np.ndarray | None = None,
    open_: np.ndarray | None = None,
) -> Bars:
    """Bars with the given prices (open = previous close, range = the closes by default)."""
    prev = np.concatenate([close[:1], close[:-1]])
    open_ = prev if open_ is None else open_
    high = np.maximum(open_, close) if high is None else high
    low = np.minimum(open_, close) if low is None else low
    stamps = np.arange(len(close), dtype=np.int64) * 86_400 * 10**9
    return Bars("X", "1d", stamps, open_, high, low, close, np.ones(len(close)), from_ns(0))


def test_one_long_then_one_short_by_hand() -> None:
    params = PaperParams(initial_capital=1000.0, leverage=2.0, fee_bps=10.0, max_position_pct=0.5)
    close = np.array([100.0, 110.0, 121.0, 110.0, 100.0])
    target = np.array([1, 1, -1, -1, 0], dtype=np.int8)
    book = simulate(bars_of(close), BookSignals.of(target), params)
    # Bar 0: long 1000 x 0.5 x 2 = 1000 notional = 10 units, fee 1.
    # Bar 2: close 10 @ 121 (fee 1.21): pnl 210 - 1 - 1.21 = 207.79; equity 1207.79,
    #        short 1207.79 notional = 9.9817... units, fee 1.20779.
    # Bar 4: cover @ 100 (fee 0.1 % of 998.17...).
    first, second = book.trades
    assert (first.direction, first.quantity, first.entry_price, first.exit_price) == (
        1,
        10.0,
        100.0,
        121.0,
    )
    assert first.pnl == pytest.approx(207.79)
    units = 1207.79 / 121.0
    assert second.direction == -1 and second.quantity == pytest.approx(units)
    assert second.pnl == pytest.approx(units * 21.0 - 1.20779 - units * 100 * 0.001)
    assert book.position is None
    assert book.equity[-1] == pytest.approx(1000 + first.pnl + second.pnl)
    assert book.equity[1] == pytest.approx(1000 - 1 + 10 * 10)


def test_equity_identity_on_real_data() -> None:
    df = frame("GOOG").tail(800)
    config = load_config(PROJECT_ROOT / "config/config.toml")
    params = PaperParams.from_config(config)
    stamps = np.array([to_ns(t.to_pydatetime()) for t in df.index], dtype=np.int64)
    close = df.Close.to_numpy()
    bars = Bars(
        "GOOG",
        "1d",
        stamps,
        *(df[c].to_numpy() for c in ("Open", "High", "Low", "Close", "Volume")),
        as_of=from_ns(int(stamps[-1])),
    )
    signals = book_signals(bars, enabled_strategies(config), MarketParams())
    book = simulate(bars, signals, params)
    assert len(book.trades) > 10
    realised = sum(t.pnl for t in book.trades)
    open_pnl = 0.0
    if book.position is not None:
        entry = book.position.entry_price
        qty = book.position.quantity
        open_pnl = qty * (close[-1] - entry) - abs(qty) * entry * params.fee_bps / 1e4
    assert book.equity[-1] == pytest.approx(params.initial_capital + realised + open_pnl, rel=1e-12)
    # The shipped 2 % stop closes losing trades near 2 % (plus fees) unless the bar gapped.
    stops = [
        t for t in book.trades if t.direction * (t.exit_price / t.entry_price - 1) <= -0.02 + 1e-12
    ]
    assert stops, "the stop never fired on eight hundred GOOG days"
    # Trades alternate as the net vote changes; each trade's fees are both legs at 5 bps.
    for t in book.trades:
        assert t.fees == pytest.approx(t.quantity * (t.entry_price + t.exit_price) * 5e-4)


def test_leverage_scales_the_position() -> None:
    close = np.array([100.0, 101.0, 102.0])
    target = np.array([1, 1, 1], dtype=np.int8)
    one = simulate(bars_of(close), BookSignals.of(target), PaperParams(leverage=1.0))
    two = simulate(bars_of(close), BookSignals.of(target), PaperParams(leverage=2.0))
    assert two.position is not None and one.position is not None
    assert two.position.quantity == pytest.approx(2 * one.position.quantity)


def test_blown_book_is_liquidated_and_stays_flat() -> None:
    close = np.array([10.0, 10.0, 50.0, 60.0, 70.0])
    target = np.array([-1, -1, -1, 1, 1], dtype=np.int8)
    book = simulate(bars_of(close), BookSignals.of(target), PaperParams(max_position_pct=0.5))
    assert book.equity[2] < 0
    assert book.position is None
    assert book.equity[3] == book.equity[4] == book.equity[2]


def test_invalid_portfolio_config() -> None:
    config = load_config(PROJECT_ROOT / "config/config.toml")
    shipped = PaperParams(100_000.0, 1.0, 5.0, 0.25, 0.02, trigger_delay_h=10.0, regime_weight=0.25)
    assert PaperParams.from_config(config) == shipped
    with pytest.raises(ConfigError, match=r"portfolio\.leverage"):
        PaperParams.from_config(config.with_updates({"portfolio.leverage": 0.0}))
    with pytest.raises(ConfigError, match=r"macro\.regime_weight.*<= 1"):
        PaperParams.from_config(config.with_updates({"macro.regime_weight": 1.5}))
    with pytest.raises(ConfigError, match=r"strategy\.trigger_delay.*>= 0"):
        PaperParams.from_config(config.with_updates({"strategy.trigger_delay": -1.0}))


def test_stop_loss_fills_at_the_stop_or_the_gap_and_waits_for_a_new_vote() -> None:
    params = PaperParams(initial_capital=1000.0, fee_bps=0.0, max_position_pct=1.0, stop_loss=0.1)
    close = np.array([100.0, 95.0, 95.0, 80.0, 85.0, 90.0])
    low = np.array([100.0, 85.0, 94.0, 70.0, 84.0, 89.0])
    open_ = np.array([100.0, 99.0, 95.0, 80.0, 80.0, 85.0])
    target = np.array([1, 1, 1, 1, -1, -1], dtype=np.int8)
    book = simulate(bars_of(close, low=low, open_=open_), BookSignals.of(target), params)
    first, *rest = book.trades
    # Long 10 @ 100; bar 1 trades down to 85: stopped at 90 (-100). The vote stays long, so the
    # book stays out until it turns short at bar 4 (short @ 85).
    assert (first.exit_price, first.pnl, first.closed_ns) == (90.0, -100.0, 86_400 * 10**9)
    assert rest == []
    assert book.position is not None and book.position.quantity == pytest.approx(-900 / 85)
    assert book.equity[3] == 900.0


def test_gap_through_the_stop_fills_at_the_open() -> None:
    params = PaperParams(initial_capital=1000.0, fee_bps=0.0, max_position_pct=1.0, stop_loss=0.1)
    close = np.array([100.0, 70.0])
    book = simulate(bars_of(close, open_=np.array([100.0, 75.0])), BookSignals.of([1, 1]), params)
    assert book.trades[0].exit_price == 75.0


async def test_the_symbols_of_a_cycle_load_the_change_history_once(project_root: Path) -> None:
    settings = load_settings(project_root)
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
    config = load_config(project_root / "config/config.toml")
    loads: list[int] = []

    def live_changes() -> list[LiveChange]:
        loads.append(1)
        return []

    source = PaperPortfolio(
        Feeds(settings, clock), config, 500, live_changes=live_changes, clock=clock
    )
    async with asyncio.timeout(30):
        books = await asyncio.gather(
            *(source.snapshot(symbol) for symbol in ("EUR/USD", "GOOG", "BTC/USD") * 3)
        )
    assert loads == [1]
    assert all(len(book.equity) for book in books)
