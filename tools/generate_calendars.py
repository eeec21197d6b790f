"""Generate the shipped trading-calendar tables from exchange_calendars (``make calendars``).

Development time only: exchange_calendars (with pandas) costs about 0.5 s and 69 MiB to import,
so the daemon reads the tables this script writes (``peaktrade_daemon/market/calendar_tables/``,
package data) and never imports the library. A table covers 2004-01-01 (the bundled GOOG history
starts in August 2004) to the end of the year two years after generation, and holds what the
daemon needs to answer "is it open" and "how many sessions a year": the zone, the regular hours
and weekdays, the holidays (regular weekdays without a session, ad hoc closures included), the
early closes and late opens with their local times. A calendar the format cannot express (a lunch
break, hours that changed within the range, a session off the regular weekdays or opening the
evening before) is refused, never approximated.

Usage: ``python tools/generate_calendars.py [--out DIR] [--today YYYY-MM-DD] [CODE ...]``
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, time, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import exchange_calendars as xc

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "peaktrade_daemon" / "market" / "calendar_tables"
FIRST_DAY = date(2004, 1, 1)
YEARS_AHEAD = 2
CODES = ("XNAS", "XNYS", "XLON")


class Unsupported(Exception):
    """The calendar has a feature the table format cannot express."""


def _hhmm(moment: time) -> str:
    if moment.second or moment.microsecond:
        raise Unsupported(f"a time with seconds ({moment})")
    return f"{moment.hour:02d}:{moment.minute:02d}"


def _only(times: Any, what: str) -> time:
    if len(times) != 1:
        raise Unsupported(f"its {what} time changed within the range ({times})")
    moment: time = times[0][1]
    return moment


def build_table(code: str, first: date, last: date, generated: date) -> dict[str, Any]:
    """The table of ``code`` over ``[first, last]`` as a JSON-ready dict."""
    cal = xc.get_calendar(code, start=first.isoformat(), end=last.isoformat())
    zone = str(cal.tz)
    regular_open = _only(cal.open_times, "open")
    regular_close = _only(cal.close_times, "close")
    if bool(cal.break_starts.notna().any()):
        raise Unsupported("it has a lunch break")
    weekdays = [i for i, flag in enumerate(cal.weekmask) if flag == "1"]
    sessions = [s.date() for s in cal.sessions]
    early: dict[str, str] = {}
    late: dict[str, str] = {}
    for day, opens, closes in zip(sessions, cal.opens, cal.closes, strict=True):
        local_open = opens.tz_convert(zone)
        local_close = closes.tz_convert(zone)
        if local_open.date() != day or local_close.date() != day:
            raise Unsupported(f"session {day} does not open and close on its own date")
        if day.weekday() not in weekdays:
            raise Unsupported(f"session {day} falls on a day off the weekmask")
        if local_open.time() > regular_open:
            late[day.isoformat()] = _hhmm(local_open.time())
        elif local_open.time() < regular_open:
            raise Unsupported(f"session {day} opens early")
        if local_close.time() < regular_close:
            early[day.isoformat()] = _hhmm(local_close.time())
        elif local_close.time() > regular_close:
            raise Unsupported(f"session {day} closes late")
    session_days = set(sessions)
    holidays = []
    day = first
    while day <= last:
        if day.weekday() in weekdays and day not in session_days:
            holidays.append(day.isoformat())
        day += timedelta(days=1)
    return {
        "exchange": code,
        "source": f"exchange_calendars {version('exchange_calendars')}",
        "generated": generated.isoformat(),
        "timezone": zone,
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "weekdays": weekdays,
        "open": _hhmm(regular_open),
        "close": _hhmm(regular_close),
        "holidays": holidays,
        "early_closes": early,
        "late_opens": late,
    }


def render(table: dict[str, Any]) -> str:
    """One entry per line, so a regeneration reads as a short diff."""
    return json.dumps(table, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write one table per code; returns the exit code."""
    # Not __doc__: python -OO makes it None.
    parser = argparse.ArgumentParser(
        description="Generate the shipped trading-calendar tables from exchange_calendars."
    )
    parser.add_argument("codes", nargs="*", default=list(CODES), metavar="CODE")
    parser.add_argument("--out", type=Path, default=OUT, help=f"default {OUT}")
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        default=datetime.now().date(),
        help="the generation date (default today): the tables end two years after its year",
    )
    args = parser.parse_args(argv)
    last = date(args.today.year + YEARS_AHEAD, 12, 31)
    args.out.mkdir(parents=True, exist_ok=True)
    for code in args.codes:
        try:
            table = build_table(code, FIRST_DAY, last, args.today)
        except Unsupported as exc:
            print(f"generate_calendars: {code}: not supported: {exc}", file=sys.stderr)
            return 1
        path = args.out / f"{code}.json"
        temp = path.with_suffix(".json.tmp")
        temp.write_text(render(table), encoding="utf-8")
        temp.replace(path)
        print(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
            f"{table['first_day']} to {table['last_day']}, {len(table['holidays'])} holidays, "
            f"{len(table['early_closes'])} early closes, {len(table['late_opens'])} late opens"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
