"""Stale data as a first-class state: how old a feed's newest bar is, in wall time and in open
market time, and whether that is too old to compute metrics from.

Rule: data is stale when the market was open, since the newest bar, for longer than
``stale_after_bars`` bars' worth of open time (``TradingCalendar.bar_open_seconds``). A Friday
evening FX bar on Sunday morning, or a daily equity bar overnight, is therefore fresh; an hourly
crypto bar four hours old is stale. No bars at all is stale too.

:class:`FreshnessMemo` spares the calendar arithmetic when a verdict cannot have changed: open
market time passes no faster than the clock, so data that was fresh at moment ``a`` with ``s``
seconds of open time left before the limit is still fresh at any moment up to ``a + s``. A
daemon asks about every symbol several times a cycle; for most of them the newest bar is
hours from going stale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from peaktrade_daemon.market.bars import Bars, timeframe_seconds
from peaktrade_daemon.market.calendars import TradingCalendar


@dataclass(frozen=True, slots=True)
class Freshness:
    """The age of a window's newest bar and the staleness verdict with its reason."""

    age_s: float | None
    #: Open-market seconds since the newest bar; None without bars, or when the verdict was known
    #: without counting them (fresh, with time to spare: see :class:`FreshnessMemo`).
    open_age_s: float | None
    stale: bool
    reason: str


def describe_age(seconds: float) -> str:
    """A compact human age: ``45s``, ``12m``, ``5h 3m``, ``3d 4h``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def assess(bars: Bars, calendar: TradingCalendar, stale_after_bars: float) -> Freshness:
    """Judge ``bars`` at their ``as_of`` against ``calendar``."""
    last = bars.last_time
    if last is None:
        return Freshness(
            None, None, True, f"no data: no bar at or before {bars.as_of:%Y-%m-%d %H:%M} UTC"
        )
    age_s = (bars.as_of - last).total_seconds()
    open_age_s = calendar.open_seconds_between(last, bars.as_of)
    limit_s = stale_after_bars * calendar.bar_open_seconds(timeframe_seconds(bars.timeframe))
    if open_age_s > limit_s:
        reason = (
            f"stale data: last bar {describe_age(age_s)} old "
            f"({open_age_s / limit_s * stale_after_bars:.1f} bars of open market, "
            f"limit {stale_after_bars:g})"
        )
        return Freshness(age_s, open_age_s, True, reason)
    return Freshness(age_s, open_age_s, False, "")


#: The memo's bound is used for spans up to this long only: calendars count open time exactly
#: (session by session) over the last weeks of a span and approximate whole weeks before that.
_EXACT_SPAN = timedelta(days=21)


@dataclass(frozen=True, slots=True)
class _Fresh:
    calendar: TradingCalendar
    last: datetime
    timeframe: str
    stale_after_bars: float
    at: datetime  # when it was judged fresh
    spare: timedelta  # open time left before the limit then


class FreshnessMemo:
    """:func:`assess` with the last fresh verdict per symbol reused while it must still hold."""

    def __init__(self) -> None:
        self._fresh: dict[str, _Fresh] = {}

    def assess(self, bars: Bars, calendar: TradingCalendar, stale_after_bars: float) -> Freshness:
        """The same verdict as ``assess(bars, calendar, stale_after_bars)``; ``open_age_s`` is
        None when the data is known to be fresh without counting."""
        last = bars.last_time
        seen = self._fresh.get(bars.symbol)
        if (
            seen is not None
            and last is not None
            and seen.last == last
            and seen.calendar is calendar
            and seen.timeframe == bars.timeframe
            and seen.stale_after_bars == stale_after_bars
            and seen.at <= bars.as_of <= seen.at + seen.spare
            and bars.as_of - last <= _EXACT_SPAN
        ):
            return Freshness((bars.as_of - last).total_seconds(), None, False, "")
        verdict = assess(bars, calendar, stale_after_bars)
        if last is None or verdict.stale or verdict.open_age_s is None:
            self._fresh.pop(bars.symbol, None)
            return verdict
        limit_s = stale_after_bars * calendar.bar_open_seconds(timeframe_seconds(bars.timeframe))
        # Rounded down to the microsecond: the bound must never reach past the limit.
        spare = timedelta(microseconds=math.floor((limit_s - verdict.open_age_s) * 1e6))
        self._fresh[bars.symbol] = _Fresh(
            calendar, last, bars.timeframe, stale_after_bars, bars.as_of, spare
        )
        return verdict
