"""The shipped exchange calendar tables: sessions, holidays and early closes, read from package data.

``make calendars`` (``tools/generate_calendars.py``) writes one JSON file per exchange into
``calendar_tables/`` beside this module, from exchange_calendars, which the daemon never imports
(it costs about 0.5 s and 69 MiB). A table covers ``first_day`` to ``last_day`` (local dates in
the exchange's zone): within that range a day is a session when it is a regular weekday and not a
holiday; it opens at ``open`` unless it is a late open and closes at ``close`` unless it is an
early close (local wall time). Outside the range the table knows nothing.

Tables are parsed once per process (about 1 ms each) and shared: they never change at run time.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from peaktrade_daemon.errors import ConfigError

TABLES_DIR = Path(__file__).resolve().parent / "calendar_tables"
DAYS_PER_YEAR = 365.2425


def hhmm(minutes: int) -> str:
    """Minutes after midnight as ``HH:MM``."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(text: str) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    if not (0 <= hours <= 24 and 0 <= minutes < 60):
        raise ValueError(f"time {text!r} must be HH:MM")
    return hours * 60 + minutes


@dataclass(frozen=True, slots=True)
class ExchangeTable:
    """One exchange's sessions over a range of local dates."""

    exchange: str
    source: str
    generated: date
    timezone: str
    first_day: date
    last_day: date
    weekdays: frozenset[int]
    open_min: int
    close_min: int
    holidays: frozenset[date]
    early_closes: Mapping[date, int]
    late_opens: Mapping[date, int]
    #: Sessions per 365.2425 days over the table, and open seconds per such year.
    sessions_per_year: float
    open_s_per_year: float

    def covers(self, day: date) -> bool:
        """Whether the table knows ``day`` (a local date)."""
        return self.first_day <= day <= self.last_day

    def regular_session(self, day: date) -> tuple[int, int] | None:
        """The regular hours of ``day`` when it is a regular weekday (holidays not considered),
        as (open, close) minutes after local midnight."""
        if day.weekday() not in self.weekdays:
            return None
        return self.open_min, self.close_min

    def session(self, day: date) -> tuple[int, int] | None:
        """The session of a covered ``day`` as (open, close) local minutes, or None when the
        exchange is closed all day. Raises ValueError for a day the table does not cover."""
        if not self.covers(day):
            raise ValueError(f"{self.exchange}: {day} is outside the table")
        if day in self.holidays or day.weekday() not in self.weekdays:
            return None
        return self.late_opens.get(day, self.open_min), self.early_closes.get(day, self.close_min)


def _weekday_count(first: date, last: date, weekdays: frozenset[int]) -> int:
    """How many days in ``[first, last]`` fall on ``weekdays``: whole weeks, then the rest."""
    days = (last - first).days + 1
    weeks, rest = divmod(days, 7)
    tail = sum(1 for n in range(rest) if (first + timedelta(days=n)).weekday() in weekdays)
    return weeks * len(weekdays) + tail


def _weekdays(raw: Any) -> frozenset[int]:
    days = frozenset(int(d) for d in raw)
    if not days or not days <= set(range(7)):
        raise ValueError("weekdays must be 0 (Monday) .. 6 (Sunday)")
    return days


def _special(raw: Any) -> dict[date, int]:
    return {date.fromisoformat(day): _minutes(hhmm) for day, hhmm in raw.items()}


_FIELDS: dict[str, Callable[[Any], Any]] = {
    "exchange": str,
    "source": str,
    "generated": date.fromisoformat,
    "timezone": str,
    "first_day": date.fromisoformat,
    "last_day": date.fromisoformat,
    "weekdays": _weekdays,
    "open": _minutes,
    "close": _minutes,
    "holidays": lambda raw: frozenset(date.fromisoformat(d) for d in raw),
    "early_closes": _special,
    "late_opens": _special,
}


def parse_table(data: Mapping[str, Any], *, source: Path) -> ExchangeTable:
    """Build a table from its JSON document; ConfigError naming the file and key if invalid."""
    values: dict[str, Any] = {}
    for key, convert in _FIELDS.items():
        try:
            values[key] = convert(data[key])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problem = "missing" if isinstance(exc, KeyError) else str(exc)
            raise ConfigError(
                f"invalid trading calendar table: {problem}", file=source, key=key
            ) from exc
    first, last = values["first_day"], values["last_day"]
    open_min, close_min = values["open"], values["close"]
    weekdays, holidays = values["weekdays"], values["holidays"]
    early, late = values["early_closes"], values["late_opens"]
    if last < first or close_min <= open_min:
        raise ConfigError(
            "invalid trading calendar table: an empty range or close not after open", file=source
        )
    closed = {d for d in holidays if first <= d <= last and d.weekday() in weekdays}
    sessions = _weekday_count(first, last, weekdays) - len(closed)
    regular_s = (close_min - open_min) * 60.0
    shortened_s = sum(
        (close_min - early.get(d, close_min)) + (late.get(d, open_min) - open_min)
        for d in set(early) | set(late)
        if first <= d <= last and d.weekday() in weekdays and d not in closed
    )
    open_s = sessions * regular_s - shortened_s * 60.0
    years = ((last - first).days + 1) / DAYS_PER_YEAR
    return ExchangeTable(
        exchange=values["exchange"],
        source=values["source"],
        generated=values["generated"],
        timezone=values["timezone"],
        first_day=first,
        last_day=last,
        weekdays=weekdays,
        open_min=open_min,
        close_min=close_min,
        holidays=holidays,
        early_closes=early,
        late_opens=late,
        sessions_per_year=sessions / years,
        open_s_per_year=open_s / years,
    )


@functools.cache
def shipped_exchanges() -> tuple[str, ...]:
    """The exchange codes with a shipped table (``XNAS``, ...), sorted."""
    return tuple(sorted(p.stem for p in TABLES_DIR.glob("*.json")))


@functools.cache
def load_table(exchange: str) -> ExchangeTable:
    """The shipped table of ``exchange`` (parsed once per process)."""
    if exchange not in shipped_exchanges():
        shipped = ", ".join(shipped_exchanges()) or "none"
        raise ConfigError(
            f"no trading calendar table for exchange {exchange!r} (shipped: {shipped})"
        )
    path = TABLES_DIR / f"{exchange}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"trading calendar table cannot be read: {exc}", file=path) from exc
    if not isinstance(data, dict):
        raise ConfigError("invalid trading calendar table: not a JSON object", file=path)
    return parse_table(data, source=path)
