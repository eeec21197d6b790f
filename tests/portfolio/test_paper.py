"""The paper book: hand-checked trades, accounting identities on real data, leverage and fees."""

from __future__ import annotations

import numpy as np
import pytest

from peaktrade_daemon.config import load_config
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.market.bars import to_ns
from peaktrade_daemon.portfolio.paper import PaperParams, net_direction, simulate
from peaktrade_daemon.strategies.base import StrategyInputs
from peaktrade_daemon.strategies.registry import enabled_strategies
from tests.conftest import PROJECT_ROOT
from tests.market.samples import frame


def test_one_long_then_one_short_by_hand() -> None:
    params = PaperParams(initial_capital=1000.0, leverage=2.0, fee_bps=10.0, max_position_pct=0.5)
    close = np.array([100.0, 110.0, 121.0, 110.0, 100.0])
    target = np.array([1, 1, -1, -1, 0], dtype=np.int8)
    book = simulate("X", np.arange(5, dtype=np.int64), close, target, params)
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
    inputs = StrategyInputs(*(df[c].to_numpy()[None, :] for c in ("High", "Low", "Close")))
    target = net_direction([s.evaluate(inputs).direction[0] for s in enabled_strategies(config)])
    params = PaperParams.from_config(config)
    stamps = np.array([to_ns(t.to_pydatetime()) for t in df.index], dtype=np.int64)
    close = df.Close.to_numpy()
    book = simulate("GOOG", stamps, close, target, params)
    assert len(book.trades) > 10
    realised = sum(t.pnl for t in book.trades)
    open_pnl = 0.0
    if book.position is not None:
        held = np.sign(book.position.quantity)
        entered = (target == held) & (np.concatenate(([0], target[:-1])) != held)
        entry = close[np.flatnonzero(entered)[-1]]
        open_pnl = (
            book.position.quantity * (close[-1] - entry)
            - abs(book.position.quantity) * entry * params.fee_bps / 1e4
        )
    assert book.equity[-1] == pytest.approx(params.initial_capital + realised + open_pnl, rel=1e-12)
    # Trades alternate as the net vote changes; each trade's fees are both legs at 5 bps.
    for t in book.trades:
        assert t.fees == pytest.approx(t.quantity * (t.entry_price + t.exit_price) * 5e-4)


def test_leverage_scales_the_position() -> None:
    close = np.array([100.0, 101.0, 102.0])
    target = np.array([1, 1, 1], dtype=np.int8)
    one = simulate("X", np.arange(3, dtype=np.int64), close, target, PaperParams(leverage=1.0))
    two = simulate("X", np.arange(3, dtype=np.int64), close, target, PaperParams(leverage=2.0))
    assert two.position is not None and one.position is not None
    assert two.position.quantity == pytest.approx(2 * one.position.quantity)


def test_blown_book_is_liquidated_and_stays_flat() -> None:
    close = np.array([10.0, 10.0, 50.0, 60.0, 70.0])
    target = np.array([-1, -1, -1, 1, 1], dtype=np.int8)
    book = simulate(
        "X", np.arange(5, dtype=np.int64), close, target, PaperParams(max_position_pct=0.5)
    )
    assert book.equity[2] < 0
    assert book.position is None
    assert book.equity[3] == book.equity[4] == book.equity[2]


def test_invalid_portfolio_config() -> None:
    config = load_config(PROJECT_ROOT / "config/config.toml")
    assert PaperParams.from_config(config) == PaperParams(100_000.0, 1.0, 5.0, 0.25)
    with pytest.raises(ConfigError, match=r"portfolio\.leverage"):
        PaperParams.from_config(config.with_updates({"portfolio.leverage": 0.0}))
