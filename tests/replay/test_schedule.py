"""When a replay acts: cycles per bar or per poll interval, learning steps, the check grid and
the instants a hold of the promotion worker can end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from peaktrade_daemon.market.bars import to_ns
from peaktrade_daemon.replay.schedule import (
    cycle_times,
    finest,
    hold_ends,
    learning_times,
    on_check_grid,
)

T0 = datetime(2017, 6, 1, tzinfo=UTC)


def _stamps(*hours: float) -> np.ndarray:
    return np.array([to_ns(T0 + timedelta(hours=h)) for h in hours], dtype=np.int64)


def test_one_cycle_per_bar_of_the_finest_symbols_inside_the_range() -> None:
    # Two hourly symbols with a gap each (a weekend): the union of their bars, nothing between.
    a, b = _stamps(0, 1, 2, 50), _stamps(1, 2, 3, 51, 52)
    times = cycle_times([a, b], T0 + timedelta(hours=1), T0 + timedelta(hours=51), None)
    assert times == [T0 + timedelta(hours=h) for h in (1, 2, 3, 50, 51)]


def test_a_poll_interval_paces_cycles_from_the_start_to_the_end() -> None:
    times = cycle_times([_stamps(0, 5)], T0, T0 + timedelta(minutes=50), 900.0)
    assert times == [T0 + timedelta(minutes=m) for m in (0, 15, 30, 45)]
    with pytest.raises(ValueError, match="positive"):
        cycle_times([], T0, T0 + timedelta(hours=1), 0.0)


def test_finest_timeframe_symbols() -> None:
    assert finest({"BTC/USD": "1M", "EUR/USD": "1h", "GBP/USD": "1h", "GOOG": "1d"}) == [
        "EUR/USD",
        "GBP/USD",
    ]


def test_learning_steps_start_one_interval_in() -> None:
    steps = learning_times(T0, T0 + timedelta(days=20), 7.0)
    assert steps == [T0 + timedelta(days=7), T0 + timedelta(days=14)]


def test_hold_ends_are_bake_ends_cooldown_ends_and_just_after_a_day_of_an_apply() -> None:
    applied = T0 + timedelta(hours=2)
    ends = hold_ends(
        watch_ends=[applied + timedelta(minutes=60)],
        last_change={"portfolio.leverage": applied, "macro.regime_weight": T0},
        auto_applies=[T0, applied],
        cooldown_minutes=30,
        after=applied,
    )
    assert ends == [
        applied + timedelta(minutes=30),  # the leverage cooldown (the other ended before now)
        applied + timedelta(minutes=60),  # the bake window
        T0 + timedelta(days=1, microseconds=1),  # an apply counts through its 24th hour
        applied + timedelta(days=1, microseconds=1),
    ]


@example(offset_s=1e-06, check_s=1000.0)  # a microsecond past a point: the next one
@given(
    offset_s=st.floats(min_value=-1e6, max_value=1e7, allow_nan=False),
    check_s=st.floats(min_value=1.0, max_value=3600.0),
)
def test_the_check_grid_gives_the_first_check_at_or_after(offset_s: float, check_s: float) -> None:
    moment = T0 + timedelta(seconds=offset_s)
    found = on_check_grid(moment, T0, check_s)
    assert found >= min(moment, T0) and (found >= moment or moment <= T0)
    steps = (found - T0).total_seconds() / check_s
    assert abs(steps - round(steps)) < 1e-6  # on the grid
    # and the first such point: one step earlier is before the moment
    if found > T0:
        assert found - timedelta(seconds=check_s) < moment + timedelta(microseconds=1)
