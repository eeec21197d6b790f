"""Trading calendars: when a symbol's market is open, and how much open time lies between two
moments (so a closed FX weekend or an equity night is not mistaken for stale data).

Three kinds, configured in ``daemon.toml`` ``[calendars.<name>]``:

- ``always``: 24/7 (crypto).
- ``fx``: 24/5, from Sunday 17:00 to Friday 17:00 in the calendar's zone (New York for the
  shipped one), continuously in between.
- ``session``: one session a day from ``open`` to ``close`` local time on ``weekdays``
  (Monday = 0), in the exchange's zone. Holidays are not modelled: a holiday counts as a normal
  session, which errs on the side of calling data stale rather than fresh.

Sessions are defined in local wall time, so both daylight-saving changes move them in UTC as they
do on the real exchange (NASDAQ opens 13:30 UTC in summer, 14:30 UTC in winter).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from peaktrade_daemon.settings import CalendarSettings

WEEK_S = 7 * 86_400.0
DAY_S = 86_400.0
# Gregorian weeks per year: bars-per-year for intraday and daily bars scale from a week.
WEEKS_PER_YEAR = 365.2425 / 7.0
YEAR_S = 365.2425 * DAY_S
_FX_OPEN = 17 * 60  # minutes after local midnight, Sunday open and Friday close
_SUNDAY, _FRIDAY, _SATURDAY = 6, 4, 5


def _minutes(hhmm: str) -> int:
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return hours * 60 + minutes


class TradingCalendar:
    """When one market is open. Pure: every answer depends only on the moment asked about."""

    def __init__(self, settings: CalendarSettings, name: str = "") -> None:
        self.name = name or settings.kind
        self.kind = settings.kind
        self.zone = ZoneInfo(settings.timezone)
        self._open_min = _minutes(settings.open)
        self._close_min = _minutes(settings.close)
        self._weekdays = frozenset(settings.weekdays)

    def _local_windows(self, day: date) -> list[tuple[int, int]]:
        """Open windows of one local date as (start, end) minutes after local midnight."""
        weekday = day.weekday()
        if self.kind == "always":
            return [(0, 1440)]
        if self.kind == "fx":
            if weekday == _SATURDAY:
                return []
            if weekday == _SUNDAY:
                return [(_FX_OPEN, 1440)]
            if weekday == _FRIDAY:
                return [(0, _FX_OPEN)]
            return [(0, 1440)]
        if weekday in self._weekdays:
            return [(self._open_min, self._close_min)]
        return []

    def _at(self, day: date, minute: int) -> datetime:
        local = datetime.combine(day, time(0), tzinfo=self.zone) + timedelta(minutes=minute)
        # Adding minutes to an aware datetime is wall-clock arithmetic; rebuild it so the offset is
        # the one valid at that wall time (matters on DST days for windows past the change).
        local = datetime.combine(local.date(), local.time(), tzinfo=self.zone)
        return local.astimezone(UTC)

    def windows(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open windows (UTC, possibly clipped) overlapping ``[start, end)``, in order."""
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        last = end.astimezone(self.zone).date() + timedelta(days=1)
        while day <= last:
            for lo, hi in self._local_windows(day):
                w_start, w_end = self._at(day, lo), self._at(day, hi)
                if w_end > start and w_start < end:
                    yield max(w_start, start), min(w_end, end)
            day += timedelta(days=1)

    def is_open(self, moment: datetime) -> bool:
        """Whether the market is open at ``moment`` (aware; naive is taken as UTC)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if self.kind == "always":
            return True
        local = moment.astimezone(self.zone)
        minute = local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 6e7
        return any(lo <= minute < hi for lo, hi in self._local_windows(local.date()))

    @property
    def weekly_open_s(self) -> float:
        """Nominal open seconds in one week (local wall time)."""
        total_min = sum(
            hi - lo for wd in range(7) for lo, hi in self._local_windows(date(2024, 1, 1 + wd))
        )
        return total_min * 60.0

    @property
    def trading_days_per_week(self) -> int:
        """Days with any open time: 7 for 24/7, 5 for FX (one bar per weekday), session days."""
        if self.kind == "always":
            return 7
        if self.kind == "fx":
            return 5
        return len(self._weekdays)

    def open_seconds_between(self, start: datetime, end: datetime) -> float:
        """Seconds of open market in ``[start, end)``.

        Exact (session by session, in local time) for the last four weeks of the span; whole
        weeks before that count ``weekly_open_s`` each, so years of closed-market gap cost
        nothing to compute (such a week is off by at most the hour a DST change moves; a span
        that long is stale under any threshold anyway).
        """
        if end <= start:
            return 0.0
        if self.kind == "always":
            return (end - start).total_seconds()
        weeks = max(0, int((end - start).total_seconds() // WEEK_S) - 4)
        rest_start = start + timedelta(weeks=weeks)
        # Summing timedeltas is exact (integer microseconds); summing float seconds drifted a
        # few ulps past the span itself.
        partial = sum((hi - lo for lo, hi in self.windows(rest_start, end)), timedelta())
        return min(
            weeks * self.weekly_open_s + partial.total_seconds(), (end - start).total_seconds()
        )

    def bars_per_year(self, timeframe_s: float) -> float:
        """How many bars of this length the market produces in a year (annualisation factor).

        Intraday bars: open seconds per week / bar length x weeks per year (24/7 hourly: 8765.8;
        FX hourly: 6260.7). Daily up to weekly bars: one bar per trading day (NASDAQ daily:
        260.9, weekdays without a holiday table; crypto daily: 365.24). Weekly and longer:
        calendar time (monthly: 12).
        """
        if timeframe_s < DAY_S:
            return self.weekly_open_s / timeframe_s * WEEKS_PER_YEAR
        if timeframe_s < WEEK_S:
            return self.trading_days_per_week * WEEKS_PER_YEAR / (timeframe_s / DAY_S)
        return YEAR_S / timeframe_s

    def bar_open_seconds(self, timeframe_s: float) -> float:
        """Open-market seconds one bar stands for: a year's open time / bars per year (an hourly
        FX bar: 1 h; a NASDAQ daily bar: 6.5 h; a monthly crypto bar: one month)."""
        return self.weekly_open_s * WEEKS_PER_YEAR / self.bars_per_year(timeframe_s)
