"""Trigger math for jobs: APScheduler triggers, next fire times and "is it due?".

Every cron-like trigger gets an explicit ``start_time`` in the job's own zone: APScheduler
4.0.0a6 otherwise computes it in the host's zone and can fire at start-up or skip a day
(bug #1061, see STACK_NOTES). ``daily`` is a cron trigger at HH:MM local time, so it follows
daylight saving time (08:15 Berlin is 07:15 UTC in winter, 06:15 UTC in summer), and fires once
on the day the autumn change repeats the hour (:class:`DailyTrigger`). A ``cron`` job follows
the rule of Vixie cron: with a fixed hour field (``30 2 * * *``) it runs at the first occurrence
of a repeated wall-clock time only; with a wildcard hour (``*``, ``*/2``) it runs in every real
hour, both repeated ones included.

``due_fire_time`` is the rule of ``jobs run --due --once``: the latest fire time that is after
the job's last recorded fire time, not in the future, and no older than the misfire grace time
(the same grace the daemon's scheduler applies to fires it missed while down).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from peaktrade_daemon.scheduling.jobs import JobConfig, parse_hhmm

_SECOND = timedelta(seconds=1)


def _repeated_wall_time(when: datetime) -> bool:
    """True for the second occurrence of a wall-clock time the autumn DST change repeats."""
    return when.fold == 1 and when.replace(fold=0).utcoffset() != when.utcoffset()


@attrs.define(kw_only=True)
class DailyTrigger(CronTrigger):
    """A cron trigger at fixed local hours that fires once per wall-clock time, also on DST days
    (``daily`` jobs and ``cron`` jobs whose hour field is not a wildcard).

    APScheduler 4.0.0a6 fires a plain ``CronTrigger`` twice when the autumn change repeats the
    hour (02:30 Berlin at 00:30 and 01:30 UTC; bug #1059). Like cron, such a job runs at the
    first occurrence only; the skipped spring hour still gives one (late) fire. Module-level
    and attrs-based, so the data store can pickle it like the CronTrigger it extends.
    """

    def next(self) -> datetime | None:
        """The next fire time, skipping a repeat of the same wall-clock time."""
        fire: datetime | None = super().next()
        while fire is not None and _repeated_wall_time(fire):
            fire = super().next()
        return fire


def _ceil_second(when: datetime) -> datetime:
    # CronTrigger ignores microseconds and would return a start time of 08:15:00.5 as a fire
    # time; cron has whole-second resolution, so start on the next whole second.
    return when if not when.microsecond else when.replace(microsecond=0) + _SECOND


def run_time(job: JobConfig, zone: ZoneInfo, now: datetime) -> datetime:
    """A once job's time: ``run_at`` (naive means in ``zone``), else ``now`` (at start)."""
    if job.run_at is None:
        return now
    return job.run_at if job.run_at.tzinfo else job.run_at.replace(tzinfo=zone)


def build_trigger(job: JobConfig, zone: ZoneInfo, now: datetime) -> Any:
    """The APScheduler trigger of ``job``, starting at ``now`` (aware)."""
    local_now = _ceil_second(now).astimezone(zone)
    if job.schedule_type == "daily":
        hour, minute = parse_hhmm(job.daily_time or "")
        return DailyTrigger(hour=hour, minute=minute, timezone=zone, start_time=local_now)
    if job.schedule_type == "cron":
        expr = job.cron or ""
        fields = expr.split()
        # A wildcard hour means "every hour", and the repeated hour is a real hour of its own.
        kind = CronTrigger if len(fields) > 1 and fields[1].startswith("*") else DailyTrigger
        return kind.from_crontab(expr, timezone=zone, start_time=local_now)
    if job.schedule_type == "interval":
        # First fire one interval after the schedule is created, not at once.
        seconds = float(job.interval_seconds or 0)
        return IntervalTrigger(seconds=seconds, start_time=local_now + timedelta(seconds=seconds))
    return DateTrigger(run_time(job, zone, now))


def fire_times(job: JobConfig, zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """Every fire time in ``[start, end]`` of a cron-like job (daily/cron), in order."""
    trigger = build_trigger(job, zone, _ceil_second(start))
    times: list[datetime] = []
    while (fire := trigger.next()) is not None and fire <= end:
        times.append(fire)
    return times


def next_fire_time(job: JobConfig, zone: ZoneInfo, now: datetime) -> datetime | None:
    """The next time ``job`` fires after ``now`` (in the job's zone), None if never again."""
    if job.schedule_type == "once":
        when = run_time(job, zone, now)
        return when.astimezone(zone) if when >= now else None
    fire = build_trigger(job, zone, now).next()
    return None if fire is None else fire.astimezone(zone)


def due_fire_time(
    job: JobConfig,
    zone: ZoneInfo,
    now: datetime,
    last_fire: datetime | None,
    grace_s: float,
) -> datetime | None:
    """The fire time ``jobs run --due`` should run ``job`` for now, or None (module docstring).

    ``interval`` jobs are due one interval after their last recorded run (at once if never run);
    ``once`` jobs are due when their time has come and they have never run.
    """
    grace = timedelta(seconds=grace_s)
    if job.schedule_type == "once":
        when = run_time(job, zone, now)
        return when if last_fire is None and when <= now and now - when <= grace else None
    if job.schedule_type == "interval":
        if last_fire is None:
            return now
        step = timedelta(seconds=float(job.interval_seconds or 0))
        steps = (now - last_fire) // step
        return last_fire + steps * step if steps >= 1 else None
    start = now - grace
    if last_fire is not None and last_fire + _SECOND > start:
        start = last_fire + _SECOND
    times = fire_times(job, zone, _ceil_second(start), now)
    return times[-1] if times else None
