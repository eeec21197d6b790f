"""The three books over the replayed range: the governed one follows the recorded changes from
their data time on, the static one never changes, the ungoverned one takes every learned value
at once; their figures follow the performance monitor's formulas."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from peaktrade_daemon.config.loader import PeakConfig, load_config
from peaktrade_daemon.learning.cycle import LearnResult
from peaktrade_daemon.learning.models import ConfigPatch
from peaktrade_daemon.market.bars import Bars, to_ns
from peaktrade_daemon.market.ohlcv_csv import parse_ohlcv_csv
from peaktrade_daemon.portfolio.timeline import LiveChange
from peaktrade_daemon.replay.books import Book, replay_books, ungoverned_timeline
from peaktrade_daemon.replay.learners import LearnStep
from peaktrade_daemon.settings import DaemonSettings, load_settings
from tests.conftest import PROJECT_ROOT

START = datetime(2017, 6, 1, tzinfo=UTC)
END = datetime(2017, 7, 15, tzinfo=UTC)
CHANGE = datetime(2017, 6, 20, 12, tzinfo=UTC)


def _history() -> dict[str, Bars]:
    path = PROJECT_ROOT / "data" / "samples" / "EURUSD.csv"
    return {"EUR/USD": parse_ohlcv_csv(path, path.read_bytes(), symbol="EUR/USD", timeframe="1h")}


def _base() -> tuple[DaemonSettings, PeakConfig]:
    return load_settings(PROJECT_ROOT), load_config(PROJECT_ROOT / "config" / "config.toml")


def _step(at: datetime, **values: float) -> LearnStep:
    patches = tuple(
        ConfigPatch(id=f"p-{key}", target=key, old_value=None, new_value=value)
        for key, value in values.items()
    )
    return LearnStep(at, patches, LearnResult())


def test_governed_follows_each_change_from_its_data_time_and_static_never_changes() -> None:
    settings, base = _base()
    history = _history()
    final = base.with_updates({"portfolio.leverage": 2.0}, source="live")
    change = LiveChange(time=CHANGE, key="portfolio.leverage", before=1.0, after=2.0)
    books = replay_books(
        history,
        settings=settings,
        base=base,
        final=final,
        live_changes=[change],
        steps=[_step(CHANGE, **{"portfolio.leverage": 2.0})],
        start=START,
        end=END,
    )
    governed, static, ungoverned = books["governed"], books["static"], books["ungoverned"]
    before = governed.times <= to_ns(CHANGE)
    assert np.array_equal(governed.equity[before], static.equity[before])
    assert not np.array_equal(governed.equity[~before], static.equity[~before])
    # Every learned value at once at the same moment is the same book here.
    assert np.array_equal(governed.equity, ungoverned.equity)
    bars = history["EUR/USD"]
    inside = (bars.timestamps >= to_ns(START)) & (bars.timestamps <= to_ns(END))
    assert np.array_equal(static.times, bars.timestamps[inside])
    assert static.equity[0] == base.get("portfolio.initial_capital")


def test_ungoverned_takes_each_learned_value_at_its_step_and_names_what_the_book_refuses() -> None:
    _, base = _base()
    first, second = START + timedelta(days=7), START + timedelta(days=14)
    timeline, skipped = ungoverned_timeline(
        base,
        [
            _step(first, **{"portfolio.leverage": 2.5, "macro.regime_weight": 1.5}),
            _step(second, **{"strategy.trigger_delay": 3.0, "risk.max_exposure": 9.0}),
        ],
    )
    assert timeline.initial.leverage == 1.0
    assert [(at, p.leverage, p.trigger_delay_h) for at, p in timeline.changes] == [
        (first, 2.5, 10.0),
        (second, 2.5, 3.0),
    ]
    assert len(skipped) == 1 and skipped[0].startswith("macro.regime_weight = 1.5: ")


def test_figures_follow_the_performance_formulas() -> None:
    times = np.arange(5, dtype=np.int64) * 3_600_000_000_000
    equity = np.array([100.0, 110.0, 99.0, 104.5, 120.0])
    figures = Book(times, equity, trades=3).metrics(bars_per_year=6260.7)
    returns = pd.Series(equity).pct_change().dropna()
    assert figures["final_equity"] == 120.0
    assert math.isclose(figures["total_return"], 0.2)
    assert math.isclose(figures["max_drawdown"], (110.0 - 99.0) / 110.0)
    assert math.isclose(figures["sharpe"], returns.mean() / returns.std() * math.sqrt(6260.7))
    assert figures["trades"] == 3
    flat = Book(times, np.full(5, 100.0), trades=0).metrics(bars_per_year=6260.7)
    assert flat["sharpe"] is None  # no variance: undefined, not 0


def test_symbols_are_summed_carried_forward_and_one_without_bars_holds_its_capital() -> None:
    settings, base = _base()
    history = _history()
    btc = PROJECT_ROOT / "data" / "samples" / "BTCUSD.csv"
    history["BTC/USD"] = parse_ohlcv_csv(btc, btc.read_bytes(), symbol="BTC/USD", timeframe="1M")
    short_end = START + timedelta(days=10)  # no monthly BTC bar in June 1-11
    books = replay_books(
        history,
        settings=settings,
        base=base,
        final=base,
        live_changes=[],
        steps=[],
        start=START,
        end=short_end,
    )
    alone = replay_books(
        {"EUR/USD": history["EUR/USD"]},
        settings=settings,
        base=base,
        final=base,
        live_changes=[],
        steps=[],
        start=START,
        end=short_end,
    )
    capital = base.get("portfolio.initial_capital")
    assert np.allclose(books["static"].equity, alone["static"].equity + capital)
