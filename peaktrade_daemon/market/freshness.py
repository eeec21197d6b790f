"""Stale data as a first-class state: how old a feed's newest bar is, in wall time and in open
market time, and whether that is too old to compute metrics from.

Rule: data is stale when the market was open, since the newest bar, for longer than
``stale_after_bars`` bars' worth of open time (``TradingCalendar.bar_open_seconds``). A Friday
evening FX bar on Sunday morning, or a daily equity bar overnight, is therefore fresh; an hourly
crypto bar four hours old is stale. No bars at all is stale too.
"""

from __future__ import annotations

from dataclasses import dataclass

from peaktrade_daemon.market.bars import Bars, timeframe_seconds
from peaktrade_daemon.market.calendars import TradingCalendar


@dataclass(frozen=True, slots=True)
class Freshness:
    """The age of a window's newest bar and the staleness verdict with its reason."""

    age_s: float | None
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
