"""The shipped exchange calendar tables against exchange_calendars, over each table's whole range.

For every shipped table: the same sessions (each one's open and close instant, as the daemon's
calendar computes them from the table, DST included), the same holidays, the same early closes
with their close times and the same late opens. Also: the generator reproduces the shipped
files, and a damaged table is an error naming its file and key.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
import tomllib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.market.calendars import TradingCalendar
from peaktrade_daemon.market.exchange_table import (
    TABLES_DIR,
    ExchangeTable,
    load_table,
    parse_table,
    shipped_exchanges,
)
from peaktrade_daemon.settings import CalendarSettings
from tests.conftest import PROJECT_ROOT, subprocess_env

SHIPPED = shipped_exchanges()


@pytest.fixture(scope="module")
def library() -> dict[str, Any]:
    """exchange_calendars' calendar of each shipped exchange over its table's range."""
    import exchange_calendars

    out = {}
    for code in SHIPPED:
        table = load_table(code)
        out[code] = exchange_calendars.get_calendar(
            code, start=table.first_day.isoformat(), end=table.last_day.isoformat()
        )
    return out


def test_the_shipped_set_covers_2004_to_two_years_after_generation() -> None:
    assert {"XNAS", "XNYS", "XLON"} <= set(SHIPPED)
    for code in SHIPPED:
        table = load_table(code)
        assert table.exchange == code
        assert table.first_day == date(2004, 1, 1)  # before GOOG's first bar (2004-08-19)
        assert table.last_day >= table.generated.replace(year=table.generated.year + 2)
        assert table.source == "exchange_calendars 4.13.2"


@pytest.mark.parametrize("code", SHIPPED)
def test_sessions_with_their_opens_and_closes_equal_the_library(
    code: str, library: dict[str, Any]
) -> None:
    table = load_table(code)
    lib = library[code]
    expected = [
        (o.to_pydatetime(), c.to_pydatetime()) for o, c in zip(lib.opens, lib.closes, strict=True)
    ]
    zone = ZoneInfo(table.timezone)
    start = datetime.combine(table.first_day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(table.last_day + timedelta(days=1), time(0), tzinfo=zone)
    calendar = TradingCalendar(CalendarSettings(kind="exchange", exchange=code), code)
    ours = list(calendar.windows(start, end.astimezone(UTC)))
    assert len(ours) == len(expected)
    assert ours == expected


@pytest.mark.parametrize("code", SHIPPED)
def test_holidays_equal_the_library(code: str, library: dict[str, Any]) -> None:
    table = load_table(code)
    lib = library[code]
    weekdays = {i for i, flag in enumerate(lib.weekmask) if flag == "1"}
    assert table.weekdays == weekdays
    sessions = {s.date() for s in lib.sessions}
    days = [
        table.first_day + timedelta(n) for n in range((table.last_day - table.first_day).days + 1)
    ]
    closed = {d for d in days if d.weekday() in weekdays and d not in sessions}
    assert table.holidays == closed
    # The same days from the library's own holiday rules and ad hoc closures (the 2025-01-09
    # national day of mourning among them for the US exchanges).
    first, last = table.first_day.isoformat(), table.last_day.isoformat()
    rules = {d.date() for d in lib.regular_holidays.holidays(first, last)}
    adhoc = {d.date() for d in lib.adhoc_holidays}
    listed = {d for d in rules | adhoc if table.covers(d) and d.weekday() in weekdays}
    assert table.holidays == listed


@pytest.mark.parametrize("code", SHIPPED)
def test_early_closes_and_late_opens_equal_the_library(code: str, library: dict[str, Any]) -> None:
    table = load_table(code)
    lib = library[code]

    def local_minutes(when: Any) -> int:
        local = when.tz_convert(table.timezone)
        return int(local.hour * 60 + local.minute)

    early = {d.date(): local_minutes(lib.closes[d]) for d in lib.early_closes}
    late = {d.date(): local_minutes(lib.opens[d]) for d in lib.late_opens}
    assert dict(table.early_closes) == early
    assert dict(table.late_opens) == late
    assert early, "every shipped exchange closes early on some days"


def test_the_issue_dates_on_nasdaq() -> None:
    """2025: 250 sessions; closed on Christmas; 13:00 close the day after Thanksgiving."""
    table = load_table("XNAS")
    days = [date(2025, 1, 1) + timedelta(n) for n in range(365)]
    assert sum(1 for d in days if table.session(d) is not None) == 250
    assert table.session(date(2025, 12, 25)) is None
    assert table.session(date(2025, 1, 9)) is None  # ad hoc: national day of mourning
    assert table.session(date(2025, 11, 28)) == (9 * 60 + 30, 13 * 60)
    assert table.session(date(2025, 12, 26)) == (9 * 60 + 30, 16 * 60)


def _generate(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``make calendars``' script with ``args``."""
    script = str(PROJECT_ROOT / "tools" / "generate_calendars.py")
    return subprocess.run(
        [sys.executable, script, *args],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_generator_reproduces_the_shipped_tables(tmp_path: Path) -> None:
    generated = {load_table(code).generated for code in SHIPPED}
    assert len(generated) == 1, "make calendars writes every table in one run"
    done = _generate("--out", str(tmp_path), "--today", generated.pop().isoformat(), *SHIPPED)
    assert done.returncode == 0, done.stderr
    for code in SHIPPED:
        name = f"{code}.json"
        assert (tmp_path / name).read_text() == (TABLES_DIR / name).read_text(), name


def test_the_generator_refuses_what_a_table_cannot_express(tmp_path: Path) -> None:
    # Hong Kong has a lunch break and changed its opening time in 2011: refused, never
    # approximated as one regular session.
    done = _generate("--out", str(tmp_path), "XHKG")
    assert done.returncode == 1
    assert "generate_calendars: XHKG: not supported: " in done.stderr
    assert list(tmp_path.iterdir()) == []


def _document(code: str = "XNAS") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((TABLES_DIR / f"{code}.json").read_text())
    return data


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("first_day", "2004-13-01"),
        ("weekdays", [7]),
        ("open", "9h30"),
        ("holidays", ["someday"]),
        ("early_closes", {"2004-11-26": "25:00"}),
        ("late_opens", ["2004-11-26"]),
        ("timezone", None),  # removed: missing
    ],
)
def test_a_damaged_table_names_its_file_and_key(key: str, bad: object) -> None:
    data = _document()
    if bad is None:
        del data[key]
    else:
        data[key] = bad
    with pytest.raises(ConfigError) as caught:
        parse_table(data, source=Path("XNAS.json"))
    assert caught.value.file == "XNAS.json" and caught.value.key == key


def test_sessions_per_year_count_holidays_and_early_closes() -> None:
    table = load_table("XNAS")
    days = [
        table.first_day + timedelta(n) for n in range((table.last_day - table.first_day).days + 1)
    ]
    sessions = [s for s in map(table.session, days) if s is not None]
    years = len(days) / 365.2425
    assert table.sessions_per_year == pytest.approx(len(sessions) / years, rel=1e-12)
    open_s = sum((close - open_) * 60 for open_, close in sessions)
    assert table.open_s_per_year == pytest.approx(open_s / years, rel=1e-12)
    assert 250 < table.sessions_per_year < 253


def test_a_table_without_the_day_refuses_to_answer() -> None:
    table: ExchangeTable = load_table("XLON")
    with pytest.raises(ValueError, match="outside the table"):
        table.session(table.last_day + timedelta(days=1))
    assert table.regular_session(date(2040, 1, 2)) == (8 * 60, 16 * 60 + 30)
    assert table.regular_session(date(2040, 1, 7)) is None  # a Saturday


def test_the_tables_are_package_data() -> None:
    """``pip install .`` (the image, the systemd venv) must carry the tables: the package-data
    globs in pyproject.toml cover every shipped file."""
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["peaktrade_daemon.market"]
    package = PROJECT_ROOT / "peaktrade_daemon" / "market"
    for path in TABLES_DIR.iterdir():
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, g) for g in globs), relative
