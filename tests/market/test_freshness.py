"""FreshnessMemo reaches the verdict ``assess`` reaches, at any sequence of moments, on every
kind of calendar; it only skips the counting while the data must still be fresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_daemon.market.bars import Bars, to_ns
from peaktrade_daemon.market.calendars import TradingCalendar
from peaktrade_daemon.market.freshness import FreshnessMemo, assess
from peaktrade_daemon.settings import CalendarSettings

CALENDARS = {
    "always": TradingCalendar(CalendarSettings(kind="always"), "crypto"),
    "fx": TradingCalendar(CalendarSettings(kind="fx", timezone="America/New_York"), "fx"),
    "session": TradingCalendar(
        CalendarSettings(kind="session", timezone="America/New_York"), "session"
    ),
    "exchange": TradingCalendar(CalendarSettings(kind="exchange", exchange="XNAS"), "nasdaq"),
}
# The spring DST change and Good Friday (a NASDAQ holiday) lie inside the drawn spans.
BASE = datetime(2024, 3, 1, tzinfo=UTC)


def window(last: datetime, as_of: datetime, timeframe: str) -> Bars:
    stamps = np.array([to_ns(last - timedelta(hours=1)), to_ns(last)], dtype=np.int64)
    prices = np.array([1.0, 1.0])
    return Bars("X", timeframe, stamps, prices, prices, prices, prices, prices, as_of)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(sorted(CALENDARS)),
    timeframe=st.sampled_from(["1m", "1h", "4h", "1d", "1M"]),
    stale_after=st.sampled_from([1.0, 3.0, 10.0]),
    last_offset_min=st.integers(0, 60 * 24 * 30),
    steps_min=st.lists(st.integers(0, 60 * 24 * 3), min_size=1, max_size=12),
    new_bar_at=st.integers(0, 12),
)
def test_memo_verdicts_equal_assess(
    kind: str,
    timeframe: str,
    stale_after: float,
    last_offset_min: int,
    steps_min: list[int],
    new_bar_at: int,
) -> None:
    calendar = CALENDARS[kind]
    memo = FreshnessMemo()
    last = BASE + timedelta(minutes=last_offset_min)
    now = last
    for i, step in enumerate(steps_min):
        now += timedelta(minutes=step)
        if i == new_bar_at:
            last = now  # a new bar: the old verdict says nothing about it
        bars = window(last, now, timeframe)
        got = memo.assess(bars, calendar, stale_after)
        want = assess(bars, calendar, stale_after)
        assert (got.stale, got.reason, got.age_s) == (want.stale, want.reason, want.age_s)
        if got.open_age_s is not None:
            assert got.open_age_s == want.open_age_s


def test_fresh_data_is_judged_once_until_its_spare_time_runs_out() -> None:
    calendar = CALENDARS["always"]
    memo = FreshnessMemo()
    last = BASE
    counted = [memo.assess(window(last, last + timedelta(minutes=m), "1h"), calendar, 3.0)
               for m in (0, 30, 179, 181)]  # fmt: skip
    assert [f.open_age_s is None for f in counted] == [False, True, True, False]
    assert [f.stale for f in counted] == [False, False, False, True]


def test_a_clock_stepped_back_or_another_calendar_is_counted_again() -> None:
    memo = FreshnessMemo()
    last = BASE + timedelta(days=3, hours=15)  # a Monday afternoon
    first = memo.assess(window(last, last + timedelta(hours=1), "1h"), CALENDARS["fx"], 3.0)
    back = memo.assess(window(last, last + timedelta(minutes=30), "1h"), CALENDARS["fx"], 3.0)
    other = memo.assess(window(last, last + timedelta(minutes=40), "1h"), CALENDARS["session"], 3.0)
    assert first.open_age_s is not None and back.open_age_s is not None
    assert other.open_age_s is not None
