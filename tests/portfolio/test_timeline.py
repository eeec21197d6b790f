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
from peaktrade_daemon.errors import ConfigError, DataError
from peaktrade_daemon.market.bars import from_ns, to_ns
from peaktrade_daemon.market.ohlcv_csv import read_ohlcv_csv
from peaktrade_daemon.portfolio.paper import PaperParams, net_direction, simulate
from peaktrade_daemon.portfolio.timeline import ParamsTimeline, params_timeline
from peaktrade_daemon.strategies.base import StrategyInputs
from peaktrade_daemon.strategies.registry import enabled_strategies
from tests.conftest import PROJECT_ROOT

T1 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
T2 = T1 + timedelta(hours=2)
BASE = load_config(PROJECT_ROOT / "config/config.toml")
LIVE = BASE.with_updates({"environment.mode": "live"})
GOOG = read_ohlcv_csv(PROJECT_ROOT / "data/samples/GOOG.csv", symbol="GOOG", timeframe="1d")


def change(
    seq: int, key: str, before: Any, after: Any, at: datetime, **extra: Any
) -> dict[str, Any]:
    """An audit ``change`` record as the writer appends it."""
    return {
        "seq": seq,
        "event": "change",
        "time": at.isoformat(),
        "key": key,
        "before": before,
        "after": after,
        "write_id": f"w-{seq}",
        **extra,
    }


def test_walks_back_from_the_current_value_through_the_recorded_changes() -> None:
    current = LIVE.with_updates({"portfolio.leverage": 1.5})
    records = [
        change(1, "portfolio.leverage", None, 1.25, T1),
        {"seq": 2, "event": "verdict", "key": "portfolio.leverage", "time": T1.isoformat()},
        change(3, "strategy.trigger_delay", None, 8.0, T1),  # not a key the book reads
        change(4, "portfolio.leverage", 1.25, 1.5, T2),
    ]
    timeline = params_timeline(current, BASE, records)
    assert timeline.initial.leverage == 1.0  # before = null: the base value
    assert [(at, p.leverage) for at, p in timeline.changes] == [(T1, 1.25), (T2, 1.5)]
    assert timeline.current == PaperParams.from_config(current)


def test_aborted_writes_and_unchanged_values_leave_no_step() -> None:
    current = LIVE.with_updates({"portfolio.leverage": 1.25})
    records = [
        change(1, "portfolio.leverage", None, 1.25, T1),
        change(2, "portfolio.leverage", 1.25, 1.5, T2),
        {"seq": 3, "event": "write_aborted", "write_id": "w-2", "time": T2.isoformat()},
        change(4, "risk.stop_loss", None, 0.02, T2),  # the base value already: no new params
    ]
    timeline = params_timeline(current, BASE, records)
    assert [(at, p.leverage) for at, p in timeline.changes] == [(T1, 1.25)]


def test_outside_a_live_like_environment_auto_toml_has_no_history() -> None:
    records = [change(1, "portfolio.leverage", None, 1.25, T1)]
    timeline = params_timeline(BASE, BASE, records)
    assert timeline == ParamsTimeline(PaperParams.from_config(BASE))


def test_a_hand_edit_no_record_explains_holds_over_the_whole_window() -> None:
    current = LIVE.with_updates({"portfolio.leverage": 2.0})
    assert params_timeline(current, BASE, []) == ParamsTimeline(PaperParams.from_config(current))


@pytest.mark.parametrize(
    ("record", "error"),
    [
        (change(1, "portfolio.leverage", "high", 1.25, T1), ConfigError),
        ({**change(1, "portfolio.leverage", 1.0, 1.25, T1), "time": "yesterday"}, DataError),
    ],
)
def test_unusable_history_is_an_error_not_a_guess(record: dict[str, Any], error: type) -> None:
    current = LIVE.with_updates({"portfolio.leverage": 1.25})
    with pytest.raises(error):
        params_timeline(current, BASE, [record])


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


def _target(bars: Any, config: PeakConfig) -> Any:
    inputs = StrategyInputs(bars.high[None, :], bars.low[None, :], bars.close[None, :])
    return net_direction([s.evaluate(inputs).direction[0] for s in enabled_strategies(config)])


@settings(max_examples=25, deadline=None)
@given(
    at=st.integers(min_value=1, max_value=499),
    leverage=st.sampled_from([1.25, 1.5, 1.75, 2.0]),
)
def test_history_before_a_change_is_never_rewritten(at: int, leverage: float) -> None:
    bars = GOOG.slice(len(GOOG) - 500, len(GOOG))
    target = _target(bars, BASE)
    before = PaperParams.from_config(BASE)
    after = dataclasses.replace(before, leverage=leverage)
    unchanged = simulate(bars, target, before)
    changed = simulate(bars, target, before, [(at, after)])
    np.testing.assert_array_equal(changed.equity[:at], unchanged.equity[:at])
    assert [t for t in changed.trades if t.closed_ns < bars.timestamps[at]] == [
        t for t in unchanged.trades if t.closed_ns < bars.timestamps[at]
    ]
    # Positions opened after the change carry the new leverage: notional = cash x fraction,
    # and the bar's equity is that cash less the entry fee.
    fraction, fee = before.max_position_pct * leverage, before.fee_bps / 1e4
    opened = [t for t in changed.trades if t.opened_ns >= bars.timestamps[at]]
    for trade in opened[:3]:
        index = int(np.searchsorted(bars.timestamps, trade.opened_ns))
        notional = trade.quantity * trade.entry_price
        assert notional * (1 - fee * fraction) == pytest.approx(changed.equity[index] * fraction)


def test_a_step_made_now_leaves_the_book_unchanged_until_new_bars() -> None:
    bars = GOOG.slice(len(GOOG) - 500, len(GOOG))
    target = _target(bars, BASE)
    current = LIVE.with_updates({"portfolio.leverage": 1.25})
    timeline = params_timeline(current, BASE, [change(1, "portfolio.leverage", None, 1.25, T1)])
    first, switches = timeline.schedule(bars.timestamps, bars.as_of, T1, 1.0)
    path = simulate(bars, target, first, switches)
    whole = simulate(bars, target, timeline.current)
    np.testing.assert_array_equal(path.equity, simulate(bars, target, timeline.initial).equity)
    assert not np.array_equal(whole.equity, path.equity)  # what the old, replaying book did
