"""Trading calendars: when a symbol's market is open, and how much open time lies between two
moments (so a closed FX weekend or an equity night is not mistaken for stale data).

Four kinds, configured in ``daemon.toml`` ``[calendars.<name>]``:

- ``always``: 24/7 (crypto).
- ``fx``: 24/5, from Sunday 17:00 to Friday 17:00 in the calendar's zone (New York for the
  shipped one), continuously in between.
- ``exchange``: an exchange's real sessions from its shipped table
  (:mod:`peaktrade_daemon.market.exchange_table`, generated from exchange_calendars): holidays
  (ad hoc closures included), early closes and late opens, 2004 to two years after the tables
  were generated. A moment beyond the table is unknown: :meth:`TradingCalendar.is_open` raises
  :class:`CalendarRangeError` rather than guess. Open time beyond the table (for staleness)
  counts the regular weekday session, an upper bound: data can look staler there, never fresher.
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

from peaktrade_daemon.errors import DataError, present
from peaktrade_daemon.market.exchange_table import DAYS_PER_YEAR, ExchangeTable, load_table
from peaktrade_daemon.settings import CalendarSettings

WEEK_S = 7 * 86_400.0
DAY_S = 86_400.0
# Gregorian weeks per year: bars-per-year for intraday and daily bars scale from a week.
WEEKS_PER_YEAR = 365.2425 / 7.0
YEAR_S = DAYS_PER_YEAR * DAY_S
_FX_OPEN = 17 * 60  # minutes after local midnight, Sunday open and Friday close
_SUNDAY, _FRIDAY, _SATURDAY = 6, 4, 5


def _minutes(hhmm: str) -> int:
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return hours * 60 + minutes


class CalendarRangeError(DataError):
    """A moment an exchange calendar's table does not cover: unknown, never guessed."""


class TradingCalendar:
    """When one market is open. Pure: every answer depends only on the moment asked about."""

    def __init__(self, settings: CalendarSettings, name: str = "") -> None:
        self.name = name or settings.kind
        self.kind = settings.kind
        #: The exchange's table (``kind = "exchange"``), else None.
        self.table: ExchangeTable | None = None
        if settings.kind == "exchange":
            # The settings refuse kind = "exchange" without an exchange.
            self.table = load_table(present(settings.exchange, "the calendar's exchange"))
        self.zone = ZoneInfo(self.table.timezone if self.table else settings.timezone)
        self._open_min = _minutes(settings.open)
        self._close_min = _minutes(settings.close)
        self._weekdays = frozenset(settings.weekdays)

    def _local_windows(self, day: date) -> list[tuple[int, int]]:
        """Open windows of one local date as (start, end) minutes after local midnight."""
        weekday = day.weekday()
        if self.table is not None:
            known = self.table.covers(day)
            hours = self.table.session(day) if known else self.table.regular_session(day)
            return [hours] if hours is not None else []
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
        """Whether the market is open at ``moment`` (aware; naive is taken as UTC).

        Raises :class:`CalendarRangeError` for a moment beyond an exchange table."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if self.kind == "always":
            return True
        local = moment.astimezone(self.zone)
        if self.table is not None and not self.table.covers(local.date()):
            raise CalendarRangeError(
                f"calendar {self.name!r}: the {self.table.exchange} table covers "
                f"{self.table.first_day} to {self.table.last_day}, not {local.date()}; "
                "market hours are unknown (a newer release ships longer tables; developers: "
                "make calendars)"
            )
        minute = local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 6e7
        return any(lo <= minute < hi for lo, hi in self._local_windows(local.date()))

    @property
    def weekly_open_s(self) -> float:
        """Nominal open seconds in one week (local wall time; an exchange's regular week, no
        holidays)."""
        if self.table is not None:
            table = self.table
            return len(table.weekdays) * (table.close_min - table.open_min) * 60.0
        total_min = sum(
            hi - lo for wd in range(7) for lo, hi in self._local_windows(date(2024, 1, 1 + wd))
        )
        return total_min * 60.0

    @property
    def trading_days_per_week(self) -> int:
        """Days with any open time: 7 for 24/7, 5 for FX (one bar per weekday), session days
        (an exchange's regular weekdays)."""
        if self.kind == "always":
            return 7
        if self.kind == "fx":
            return 5
        return len(self._weekdays)

    @property
    def trading_days_per_year(self) -> float:
        """Sessions in a year: an exchange's mean over its table (NASDAQ: 251.5, holidays
        excluded), else trading days per week x weeks per year."""
        if self.table is not None:
            return self.table.sessions_per_year
        return self.trading_days_per_week * WEEKS_PER_YEAR

    @property
    def yearly_open_s(self) -> float:
        """Open seconds in a year: an exchange's mean over its table (holidays and early closes
        taken out), else the nominal week x weeks per year."""
        if self.table is not None:
            return self.table.open_s_per_year
        return self.weekly_open_s * WEEKS_PER_YEAR

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

        Intraday bars: open seconds per year / bar length (24/7 hourly: 8765.8; FX hourly:
        6260.7; NASDAQ hourly: 1628.6, its table's mean). Daily up to weekly bars: one bar per
        trading day (NASDAQ daily: 251.5 from its table; a ``session`` calendar without
        holidays: 260.9; crypto daily: 365.24). Weekly and longer: calendar time (monthly: 12).
        """
        if timeframe_s < DAY_S:
            return self.yearly_open_s / timeframe_s
        if timeframe_s < WEEK_S:
            return self.trading_days_per_year / (timeframe_s / DAY_S)
        return YEAR_S / timeframe_s

    def bar_open_seconds(self, timeframe_s: float) -> float:
        """Open-market seconds one bar stands for: a year's open time / bars per year (an hourly
        FX bar: 1 h; a NASDAQ daily bar: 6.47 h, early closes included; a monthly crypto bar:
        one month)."""
        return self.yearly_open_s / self.bars_per_year(timeframe_s)
