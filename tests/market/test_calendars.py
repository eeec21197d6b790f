"""Trading calendars: weekends, session edges, both daylight-saving changes, and an exchange's
holidays and early closes from its shipped table (compared with exchange_calendars in
test_exchange_table.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from peaktrade_daemon.market.calendars import CalendarRangeError, TradingCalendar
from peaktrade_daemon.market.exchange_table import load_table
from peaktrade_daemon.settings import CalendarSettings

NASDAQ = TradingCalendar(CalendarSettings(kind="session", timezone="America/New_York"), "nasdaq")
XNAS = TradingCalendar(CalendarSettings(kind="exchange", exchange="XNAS"), "xnas")
FX = TradingCalendar(CalendarSettings(kind="fx", timezone="America/New_York"), "fx")
CRYPTO = TradingCalendar(CalendarSettings(kind="always"), "crypto")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # 2024-03-08 Friday, EST (UTC-5): 09:30 = 14:30 UTC, 16:00 = 21:00 UTC
        (utc(2024, 3, 8, 14, 29, 59), False),
        (utc(2024, 3, 8, 14, 30), True),
        (utc(2024, 3, 8, 20, 59, 59), True),
        (utc(2024, 3, 8, 21, 0), False),
        # Weekend
        (utc(2024, 3, 9, 15, 0), False),
        (utc(2024, 3, 10, 15, 0), False),
        # 2024-03-11 Monday after spring forward, EDT (UTC-4): 09:30 = 13:30 UTC
        (utc(2024, 3, 11, 13, 29), False),
        (utc(2024, 3, 11, 13, 30), True),
        (utc(2024, 3, 11, 19, 59), True),
        (utc(2024, 3, 11, 20, 0), False),
        # 2024-11-04 Monday after fall back, EST again: 14:30 UTC
        (utc(2024, 11, 1, 13, 30), True),  # Friday before: still EDT
        (utc(2024, 11, 4, 13, 30), False),
        (utc(2024, 11, 4, 14, 30), True),
        (utc(2024, 11, 4, 21, 0), False),
    ],
)
def test_nasdaq_session(moment: datetime, expected: bool) -> None:
    assert NASDAQ.is_open(moment) is expected


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # Winter: Friday close 17:00 EST = 22:00 UTC, Sunday open 22:00 UTC
        (utc(2024, 1, 5, 21, 59), True),
        (utc(2024, 1, 5, 22, 0), False),
        (utc(2024, 1, 6, 12, 0), False),  # Saturday
        (utc(2024, 1, 7, 21, 59), False),
        (utc(2024, 1, 7, 22, 0), True),
        (utc(2024, 1, 10, 3, 0), True),  # midweek night
        # Spring forward Sunday 2024-03-10: opens 17:00 EDT = 21:00 UTC
        (utc(2024, 3, 10, 20, 59), False),
        (utc(2024, 3, 10, 21, 0), True),
        # Fall back Sunday 2024-11-03: opens 17:00 EST = 22:00 UTC; the Friday before closed 21:00
        (utc(2024, 11, 1, 20, 59), True),
        (utc(2024, 11, 1, 21, 0), False),
        (utc(2024, 11, 3, 21, 30), False),
        (utc(2024, 11, 3, 22, 0), True),
    ],
)
def test_fx_week(moment: datetime, expected: bool) -> None:
    assert FX.is_open(moment) is expected


def test_crypto_never_closes() -> None:
    assert all(CRYPTO.is_open(utc(2024, 1, 6) + timedelta(hours=h)) for h in range(0, 200, 7))


def test_open_seconds_between() -> None:
    # FX weekend: Friday 21:00 UTC to Sunday 23:00 UTC in winter = 1 h + 1 h open.
    assert FX.open_seconds_between(utc(2024, 1, 5, 21), utc(2024, 1, 7, 23)) == 7200
    # NASDAQ overnight: nothing; one full session in a day.
    assert NASDAQ.open_seconds_between(utc(2024, 1, 9, 22), utc(2024, 1, 10, 13)) == 0
    assert NASDAQ.open_seconds_between(utc(2024, 1, 9), utc(2024, 1, 10)) == 6.5 * 3600
    # The spring-forward week is still five 6.5 h sessions.
    assert NASDAQ.open_seconds_between(utc(2024, 3, 9), utc(2024, 3, 16)) == 5 * 6.5 * 3600
    # The week of the March DST change: Friday closes 22:00 UTC, Sunday opens 21:00 UTC (121 h).
    assert FX.open_seconds_between(utc(2024, 3, 4), utc(2024, 3, 11)) == 121 * 3600
    # Years of gap cost whole weeks, not a day-by-day walk.
    span = NASDAQ.open_seconds_between(utc(2013, 3, 1), utc(2024, 3, 1))
    assert span == pytest.approx(573 * 5 * 6.5 * 3600, rel=0.01)
    assert CRYPTO.open_seconds_between(utc(2024, 1, 1), utc(2024, 1, 2)) == 86_400


def test_annualisation_factors() -> None:
    weeks = 365.2425 / 7
    assert CRYPTO.bars_per_year(3600) == pytest.approx(24 * 7 * weeks)
    assert FX.bars_per_year(3600) == pytest.approx(120 * weeks)
    assert NASDAQ.bars_per_year(86_400) == pytest.approx(5 * weeks)
    assert CRYPTO.bars_per_year(2_629_746) == pytest.approx(12.0)
    assert NASDAQ.bar_open_seconds(86_400) == pytest.approx(6.5 * 3600)
    assert FX.bar_open_seconds(3600) == pytest.approx(3600)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # The cases: Christmas 2025 at 10:00 New York, and 14:00 on the day after
        # Thanksgiving (an early close at 13:00 EST = 18:00 UTC).
        (utc(2025, 12, 25, 15, 0), False),
        (utc(2025, 11, 28, 19, 0), False),
        (utc(2025, 11, 28, 17, 59), True),
        (utc(2025, 11, 28, 18, 0), False),
        (utc(2025, 11, 26, 20, 59), True),  # the day before Thanksgiving: a full session
        (utc(2025, 1, 9, 15, 0), False),  # ad hoc closure (national day of mourning)
        # An early close in summer time: 2025-07-03 closes 13:00 EDT = 17:00 UTC.
        (utc(2025, 7, 3, 16, 59), True),
        (utc(2025, 7, 3, 17, 0), False),
        # Regular sessions either side of the DST change, as the session kind.
        (utc(2024, 3, 8, 14, 30), True),
        (utc(2024, 3, 11, 13, 30), True),
        (utc(2024, 3, 11, 20, 0), False),
        # The table's edges: 2004-01-01 (New Year) closed, 2004-01-02 open.
        (utc(2004, 1, 2, 14, 30), True),
        (utc(2004, 1, 1, 15, 0), False),
    ],
)
def test_exchange_calendar_holidays_and_early_closes(moment: datetime, expected: bool) -> None:
    assert XNAS.is_open(moment) is expected


def test_a_moment_beyond_the_table_is_unknown_never_open() -> None:
    table = load_table("XNAS")
    after = datetime(table.last_day.year + 1, 1, 3, 15, tzinfo=UTC)  # a weekday at 10:00 NY
    for moment in (after, utc(2003, 12, 31, 15)):
        with pytest.raises(CalendarRangeError, match="XNAS table covers 2004-01-01"):
            XNAS.is_open(moment)
    # Open time beyond it (staleness) counts regular sessions: an upper bound, never less.
    day = after.replace(hour=0)
    span = XNAS.open_seconds_between(day, day + timedelta(days=1))
    assert span == NASDAQ.open_seconds_between(day, day + timedelta(days=1)) == 6.5 * 3600


def test_exchange_open_time_skips_holidays_and_early_closes() -> None:
    # Thanksgiving week 2025 (EST): Mon-Wed full, Thursday closed, Friday to 13:00.
    week = XNAS.open_seconds_between(utc(2025, 11, 24), utc(2025, 11, 29))
    assert week == (3 * 6.5 + 3.5) * 3600
    assert NASDAQ.open_seconds_between(utc(2025, 11, 24), utc(2025, 11, 29)) == 5 * 6.5 * 3600


def test_exchange_annualisation_uses_the_table() -> None:
    table = load_table("XNAS")
    assert XNAS.bars_per_year(86_400) == table.sessions_per_year
    assert 251 < XNAS.bars_per_year(86_400) < 252  # not 260.9 as weekdays alone would say
    assert XNAS.bars_per_year(3600) == pytest.approx(table.open_s_per_year / 3600)
    assert XNAS.bar_open_seconds(86_400) == pytest.approx(
        table.open_s_per_year / table.sessions_per_year
    )
    assert XNAS.bar_open_seconds(86_400) < 6.5 * 3600  # early closes make the mean shorter
    assert XNAS.bars_per_year(2_629_746) == pytest.approx(12.0)


def test_an_exchange_calendar_takes_zone_and_hours_from_its_table() -> None:
    london = CalendarSettings(kind="exchange", exchange="XLON")
    assert (london.timezone, london.open, london.close) == ("Europe/London", "08:00", "16:30")
    assert TradingCalendar(london).is_open(utc(2024, 7, 1, 7, 0))  # 08:00 BST


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "exchange"},
        {"kind": "exchange", "exchange": "XNAQ"},
        {"kind": "exchange", "exchange": "XNAS", "timezone": "UTC"},
        {"kind": "exchange", "exchange": "XNAS", "close": "13:00"},
        {"kind": "session", "exchange": "XNAS"},
        {"kind": "session", "open": "9:75"},
        {"kind": "session", "open": "16:00", "close": "09:30"},
        {"kind": "session", "weekdays": [7]},
        {"kind": "session", "timezone": "Mars/Olympus"},
        {"kind": "fx", "open": "09:00"},
    ],
)
def test_invalid_calendar_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CalendarSettings(**bad)  # type: ignore[arg-type]


moments = st.datetimes(
    min_value=datetime(2023, 1, 1), max_value=datetime(2025, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=150, deadline=None)
@given(moments, st.integers(0, 10 * 86_400), st.integers(0, 10 * 86_400))
def test_open_time_is_additive_and_bounded(start: datetime, first_s: int, second_s: int) -> None:
    middle = start + timedelta(seconds=first_s)
    end = middle + timedelta(seconds=second_s)
    for cal in (FX, NASDAQ, CRYPTO, XNAS):
        whole = cal.open_seconds_between(start, end)
        parts = cal.open_seconds_between(start, middle) + cal.open_seconds_between(middle, end)
        assert whole == pytest.approx(parts, abs=1e-6)
        assert 0 <= whole <= (end - start).total_seconds()


@settings(max_examples=150, deadline=None)
@given(moments)
def test_is_open_agrees_with_open_time(moment: datetime) -> None:
    moment = moment.replace(second=0, microsecond=0)
    for cal in (FX, NASDAQ, CRYPTO, XNAS):
        one_minute = cal.open_seconds_between(moment, moment + timedelta(minutes=1))
        assert (one_minute == 60) is cal.is_open(moment)


def test_open_time_never_exceeds_the_span_by_rounding() -> None:
    """Regression: hypothesis found 156120.00000000003 open seconds in a 156120 s span."""
    start = datetime(2024, 3, 4, 14, 30, 0, 1, tzinfo=UTC)
    for span_s in (156120, 3 * 86400 + 7, 29 * 86400 + 0.5):
        end = start + timedelta(seconds=span_s)
        for cal in (FX, NASDAQ, CRYPTO, XNAS):
            assert cal.open_seconds_between(start, end) <= (end - start).total_seconds()
