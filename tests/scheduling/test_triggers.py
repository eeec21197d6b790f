"""Trigger math of the shipped jobs in UTC and Europe/Berlin across both DST changes, and the
``--due`` rule."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from peaktrade_daemon.scheduling.jobs import JobConfig, load_jobs
from peaktrade_daemon.scheduling.triggers import due_fire_time, fire_times, next_fire_time

SHIPPED = load_jobs(Path(__file__).resolve().parents[2] / "config" / "scheduler" / "jobs.toml")
BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")
DAILY = {
    "autonomous_morning_analysis": (8, 15),
    "autonomous_midday_check": (12, 0),
    "autonomous_evening_review": (20, 0),
}
# 2024: Berlin springs forward on 31 March (02:00 → 03:00), falls back on 27 October.
SPRING = (datetime(2024, 3, 29, tzinfo=UTC), datetime(2024, 4, 2, tzinfo=UTC))
AUTUMN = (datetime(2024, 10, 25, tzinfo=UTC), datetime(2024, 10, 29, tzinfo=UTC))


def job(name: str) -> JobConfig:
    found = SHIPPED.get(name)
    assert found is not None
    return found


@pytest.mark.parametrize("name", list(DAILY))
@pytest.mark.parametrize("span", [SPRING, AUTUMN], ids=["spring", "autumn"])
def test_daily_jobs_in_berlin_keep_local_time_across_dst(
    name: str, span: tuple[datetime, datetime]
) -> None:
    times = fire_times(job(name), BERLIN, *span)
    assert len(times) == 4  # one per day, none skipped or doubled
    assert all((t.hour, t.minute) == DAILY[name] for t in times)
    days = [t.date() for t in times]
    assert days == [days[0] + timedelta(days=i) for i in range(4)]
    offsets = [t.utcoffset() for t in times]
    summer, winter = timedelta(hours=2), timedelta(hours=1)
    # 29, 30 March in winter time, 31 March and 1 April in summer time; the reverse in October.
    expected = (
        [winter, winter, summer, summer] if span is SPRING else [summer, summer, winter, winter]
    )
    assert offsets == expected
    utc_hours = [t.astimezone(UTC).hour for t in times]
    local_hour = DAILY[name][0]
    assert utc_hours == [local_hour - int(o.total_seconds() // 3600) for o in offsets]


@pytest.mark.parametrize("name", list(DAILY))
@pytest.mark.parametrize("span", [SPRING, AUTUMN], ids=["spring", "autumn"])
def test_daily_jobs_in_utc_ignore_dst(name: str, span: tuple[datetime, datetime]) -> None:
    times = fire_times(job(name), UTC_ZONE, *span)
    assert [(t.astimezone(UTC).hour, t.minute) for t in times] == [DAILY[name]] * 4
    assert all(b - a == timedelta(days=1) for a, b in itertools.pairwise(times))


def test_hourly_job_fires_every_real_hour_on_dst_days() -> None:
    hourly = job("autonomous_hourly_monitor")
    # Berlin's 31 March 2024 has 23 hours: 02:00 local does not exist.
    spring = fire_times(
        hourly,
        BERLIN,
        datetime(2024, 3, 30, 23, tzinfo=UTC),
        datetime(2024, 3, 31, 21, 59, tzinfo=UTC),
    )
    assert len(spring) == 23 and 2 not in [t.hour for t in spring]
    # 27 October 2024 has 25 hours: 02:00 local happens twice, once in each offset.
    autumn = fire_times(
        hourly,
        BERLIN,
        datetime(2024, 10, 26, 22, tzinfo=UTC),
        datetime(2024, 10, 27, 22, 59, tzinfo=UTC),
    )
    assert len(autumn) == 25
    assert [t.utcoffset() for t in autumn if t.hour == 2] == [
        timedelta(hours=2),
        timedelta(hours=1),
    ]
    # (aware datetimes of one tzinfo subtract as wall-clock times, so compare in UTC)
    in_utc = [t.astimezone(UTC) for t in autumn]
    gaps = {b - a for a, b in itertools.pairwise(in_utc)}
    assert gaps == {timedelta(hours=1)}


def test_next_fire_time_is_in_the_jobs_zone() -> None:
    now = datetime(2024, 3, 30, 8, 0, tzinfo=UTC)  # 09:00 in Berlin: today's 08:15 has passed
    nxt = next_fire_time(job("autonomous_morning_analysis"), BERLIN, now)
    assert nxt == datetime(2024, 3, 31, 8, 15, tzinfo=BERLIN) and nxt.tzinfo == BERLIN


MORNING = job("autonomous_morning_analysis")
GRACE = 3600.0


def at(hour: int, minute: int, day: int = 2) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def test_due_rule_for_the_morning_job() -> None:
    assert due_fire_time(MORNING, UTC_ZONE, at(8, 16), None, GRACE) == at(8, 15)
    assert (
        due_fire_time(MORNING, UTC_ZONE, at(8, 14), None, GRACE) is None
    )  # yesterday's is too old
    assert due_fire_time(MORNING, UTC_ZONE, at(8, 16), at(8, 15), GRACE) is None  # already ran
    assert due_fire_time(MORNING, UTC_ZONE, at(8, 14), at(8, 15, day=1), GRACE) is None
    assert due_fire_time(MORNING, UTC_ZONE, at(9, 15), None, GRACE) == at(8, 15)  # edge of grace
    assert due_fire_time(MORNING, UTC_ZONE, at(9, 16), None, GRACE) is None  # beyond the grace
    assert due_fire_time(MORNING, BERLIN, at(7, 16), None, GRACE) == at(7, 15)  # 08:15 CET


def test_due_rule_for_interval_and_once() -> None:
    every = JobConfig(name="i", workflow="auto", schedule_type="interval", interval_seconds=600)
    assert due_fire_time(every, UTC_ZONE, at(8, 0), None, GRACE) == at(8, 0)
    assert due_fire_time(every, UTC_ZONE, at(8, 9), at(8, 0), GRACE) is None
    assert due_fire_time(every, UTC_ZONE, at(8, 25), at(8, 0), GRACE) == at(8, 20)
    once = JobConfig(name="o", workflow="auto", schedule_type="once", run_at=at(8, 0))
    assert due_fire_time(once, UTC_ZONE, at(7, 59), None, GRACE) is None
    assert due_fire_time(once, UTC_ZONE, at(8, 30), None, GRACE) == at(8, 0)
    assert due_fire_time(once, UTC_ZONE, at(8, 30), at(8, 0), GRACE) is None


NIGHTLY = JobConfig(name="n", workflow="auto", schedule_type="daily", daily_time="02:30")


@pytest.mark.parametrize("span", [SPRING, AUTUMN], ids=["spring", "autumn"])
def test_daily_job_inside_the_dst_hour_fires_once_per_day(span: tuple[datetime, datetime]) -> None:
    # 02:30 Berlin is skipped in spring and happens twice in autumn; APScheduler 4.0.0a6 fires a
    # plain cron trigger twice on the autumn day (bug #1059). A daily job runs once a day.
    times = fire_times(NIGHTLY, BERLIN, *span)
    days = [t.date() for t in times]
    assert days == [days[0] + timedelta(days=i) for i in range(4)]
    in_utc = [t.astimezone(UTC) for t in times]
    assert all(b - a >= timedelta(hours=23) for a, b in itertools.pairwise(in_utc))


@pytest.mark.parametrize(
    ("cron", "repeated_fires"),
    [
        ("30 2 * * *", 1),  # a fixed hour: like Vixie cron, the repeat of 02:30 is skipped
        ("30 1-3 * * *", 1),
        ("30 * * * *", 2),  # a wildcard hour: both real 02:30s are hours of their own
        ("30 */2 * * *", 2),
    ],
)
def test_cron_jobs_in_the_repeated_autumn_hour(cron: str, repeated_fires: int) -> None:
    spec = JobConfig(name="c", workflow="auto", schedule_type="cron", cron=cron)
    times = fire_times(spec, BERLIN, *AUTUMN)
    on_the_day = [t for t in times if t.date() == datetime(2024, 10, 27).date() and t.hour == 2]
    assert len(on_the_day) == repeated_fires
    in_utc = [t.astimezone(UTC) for t in times]
    assert in_utc == sorted(set(in_utc))  # never the same instant twice


def test_due_rule_does_not_rerun_a_daily_job_in_the_repeated_hour() -> None:
    first = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # 02:30 CEST
    again = datetime(2024, 10, 27, 1, 31, tzinfo=UTC)  # 02:31 CET, one real hour later
    # (an ambiguous local time never equals a time in another zone: compare in UTC)
    due = due_fire_time(NIGHTLY, BERLIN, first + timedelta(minutes=1), None, GRACE)
    assert due is not None and due.astimezone(UTC) == first
    assert due_fire_time(NIGHTLY, BERLIN, again, first, GRACE) is None
    # The repeated 02:30 is not a fire of its own, whether or not the first one ran.
    assert due_fire_time(NIGHTLY, BERLIN, again, None, GRACE) is None
