"""The path-dependent paper book: a live change applies from the bar after it was made on."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_daemon.config import PeakConfig, load_config
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.market.bars import from_ns, to_ns
from peaktrade_daemon.market.metrics import MarketParams
from peaktrade_daemon.market.ohlcv_csv import read_ohlcv_csv
from peaktrade_daemon.portfolio.paper import simulate
from peaktrade_daemon.portfolio.params import PaperParams
from peaktrade_daemon.portfolio.signals import BookSignals, book_signals
from peaktrade_daemon.portfolio.timeline import LiveChange, ParamsTimeline, params_timeline
from peaktrade_daemon.strategies.registry import enabled_strategies
from tests.conftest import PROJECT_ROOT

T1 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
T2 = T1 + timedelta(hours=2)
BASE = load_config(PROJECT_ROOT / "config/config.toml")
LIVE = BASE.with_updates({"environment.mode": "live"})
GOOG = read_ohlcv_csv(PROJECT_ROOT / "data/samples/GOOG.csv", symbol="GOOG", timeframe="1d")


def change(key: str, before: Any, after: Any, at: datetime) -> LiveChange:
    """A live change as the composition root's port reports it."""
    return LiveChange(time=at, key=key, before=before, after=after)


def test_walks_back_from_the_current_value_through_the_recorded_changes() -> None:
    current = LIVE.with_updates({"portfolio.leverage": 1.5})
    changes = [
        change("portfolio.leverage", 1.0, 1.25, T1),
        change("strategy.enabled", ["ma_crossover"], ["breakout"], T1),  # not a key the book reads
        change("portfolio.leverage", 1.25, 1.5, T2),
    ]
    timeline = params_timeline(current, changes)
    assert timeline.initial.leverage == 1.0
    assert [(at, p.leverage) for at, p in timeline.changes] == [(T1, 1.25), (T2, 1.5)]
    assert timeline.current == PaperParams.from_config(current)


def test_the_tuned_keys_are_timed_like_leverage() -> None:
    current = LIVE.with_updates({"strategy.trigger_delay": 8.0, "macro.regime_weight": 0.35})
    changes = [
        change("strategy.trigger_delay", 10.0, 8.0, T1),
        change("macro.regime_weight", 0.25, 0.35, T2),
    ]
    timeline = params_timeline(current, changes)
    assert (timeline.initial.trigger_delay_h, timeline.initial.regime_weight) == (10.0, 0.25)
    assert [(at, p.trigger_delay_h, p.regime_weight) for at, p in timeline.changes] == [
        (T1, 8.0, 0.25),
        (T2, 8.0, 0.35),
    ]


def test_unchanged_values_leave_no_step_and_none_means_the_default() -> None:
    current = LIVE.with_updates({"portfolio.leverage": 1.25})
    changes = [
        change("portfolio.leverage", None, 1.25, T1),  # no value before: the book's default, 1.0
        change("risk.stop_loss", 0.02, 0.02, T2),
    ]
    timeline = params_timeline(current, changes)
    assert timeline.initial.leverage == 1.0
    assert [(at, p.leverage) for at, p in timeline.changes] == [(T1, 1.25)]


def test_a_hand_edit_no_record_explains_holds_over_the_whole_window() -> None:
    current = LIVE.with_updates({"portfolio.leverage": 2.0})
    assert params_timeline(current, []) == ParamsTimeline(PaperParams.from_config(current))


def test_unusable_value_is_an_error_not_a_guess() -> None:
    current = LIVE.with_updates({"portfolio.leverage": 1.25})
    with pytest.raises(ConfigError, match=r"portfolio\.leverage"):
        params_timeline(current, [change("portfolio.leverage", "high", 1.25, T1)])


def test_clock_time_maps_to_bar_time_by_age_and_replay_speed() -> None:
    day = 86_400 * 10**9
    stamps = np.arange(10, dtype=np.int64) * day
    as_of = from_ns(int(stamps[-1]))
    one, two = PaperParams(leverage=1.25), PaperParams(leverage=1.5)
    timeline = ParamsTimeline(PaperParams(), ((T1, one), (T2, two)))
    # Now is T2 + 1 h; at speed 24 one clock hour is one data day: T2 was a day ago (bar 8),
    # T1 three days ago (bar 6). Bars stamped after those moments see the new values.
    first, switches = timeline.schedule(stamps, as_of, T2 + timedelta(hours=1), 24.0)
    assert first == PaperParams() and switches == [(7, one), (9, two)]
    # A change older than the window sets the first bar's params; one not yet reached by any
    # bar (made just now) changes nothing.
    first, switches = timeline.schedule(stamps, as_of, T2, 24 * 100.0)
    assert first == one and switches == []
    assert as_of == from_ns(to_ns(as_of))


def _target(bars: Any, config: PeakConfig) -> BookSignals:
    return book_signals(bars, enabled_strategies(config), MarketParams())


@settings(max_examples=25, deadline=None)
@given(
    at=st.integers(min_value=1, max_value=499),
    step=st.sampled_from(
        [
            ("leverage", 1.5),
            ("leverage", 2.0),
            ("trigger_delay_h", 48.0),  # GOOG's daily bars: 2 bars instead of 1
            ("regime_weight", 0.8),
        ]
    ),
)
def test_history_before_a_change_is_never_rewritten(at: int, step: tuple[str, float]) -> None:
    bars = GOOG.slice(len(GOOG) - 500, len(GOOG))
    signals = _target(bars, BASE)
    before = PaperParams.from_config(BASE)
    after = dataclasses.replace(before, **{step[0]: step[1]})
    unchanged = simulate(bars, signals, before)
    changed = simulate(bars, signals, before, [(at, after)])
    np.testing.assert_array_equal(changed.equity[:at], unchanged.equity[:at])
    assert [t for t in changed.trades if t.closed_ns < bars.timestamps[at]] == [
        t for t in unchanged.trades if t.closed_ns < bars.timestamps[at]
    ]


@pytest.mark.parametrize("at", [50, 250, 400])
def test_positions_opened_after_a_leverage_change_carry_it(at: int) -> None:
    bars = GOOG.slice(len(GOOG) - 500, len(GOOG))
    signals = _target(bars, BASE)
    before = dataclasses.replace(PaperParams.from_config(BASE), regime_weight=0.0)
    leverage = 1.75
    changed = simulate(
        bars, signals, before, [(at, dataclasses.replace(before, leverage=leverage))]
    )
    # notional = cash x fraction, and the bar's equity is that cash less the entry fee.
    fraction, fee = before.max_position_pct * leverage, before.fee_bps / 1e4
    opened = [t for t in changed.trades if t.opened_ns >= bars.timestamps[at]]
    assert opened
    for trade in opened[:3]:
        index = int(np.searchsorted(bars.timestamps, trade.opened_ns))
        notional = trade.quantity * trade.entry_price
        assert notional * (1 - fee * fraction) == pytest.approx(changed.equity[index] * fraction)


def test_a_step_made_now_leaves_the_book_unchanged_until_new_bars() -> None:
    bars = GOOG.slice(len(GOOG) - 500, len(GOOG))
    target = _target(bars, BASE)
    current = LIVE.with_updates({"portfolio.leverage": 1.25})
    timeline = params_timeline(current, [change("portfolio.leverage", 1.0, 1.25, T1)])
    first, switches = timeline.schedule(bars.timestamps, bars.as_of, T1, 1.0)
    path = simulate(bars, target, first, switches)
    whole = simulate(bars, target, timeline.current)
    np.testing.assert_array_equal(path.equity, simulate(bars, target, timeline.initial).equity)
    assert not np.array_equal(whole.equity, path.equity)  # what the old, replaying book did


def _imports(module: str) -> set[str]:
    """The peaktrade_daemon modules ``module``'s source imports (at any level)."""
    import ast

    path = PROJECT_ROOT / (module.replace(".", "/") + ".py")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("peaktrade_daemon")}


@pytest.mark.parametrize(
    "module",
    [
        "peaktrade_daemon.portfolio.params",
        "peaktrade_daemon.portfolio.timeline",
        "peaktrade_daemon.portfolio.signals",
        "peaktrade_daemon.portfolio.paper",
        "peaktrade_daemon.portfolio.paired",
    ],
)
def test_the_book_knows_nothing_of_governance_and_no_circle_is_left(module: str) -> None:
    imported = _imports(module)
    against_the_flow = ("promotion", "governance", "wiring", "daemon", "settings")
    assert not {m for m in imported if m.split(".")[1] in against_the_flow}, imported
    if module.endswith(("params", "timeline", "signals")):
        assert "peaktrade_daemon.portfolio.paper" not in imported
