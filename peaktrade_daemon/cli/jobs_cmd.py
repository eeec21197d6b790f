"""``jobs list`` and ``jobs run NAME | --due --once`` (§5.3)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from peaktrade_daemon.alerts.oneshot import OneShotAlerts
from peaktrade_daemon.cli.context import settings_from_args
from peaktrade_daemon.cli.history_cmd import database_missing
from peaktrade_daemon.clock import SystemClock
from peaktrade_daemon.errors import EXIT_FAILED, EXIT_OK, LockHeldError, UsageError
from peaktrade_daemon.instance import is_held, read_pid
from peaktrade_daemon.monitors.defaults import trading_config
from peaktrade_daemon.promotion.live_changes import audited_live_changes
from peaktrade_daemon.scheduling.due import due_jobs, run_due_jobs
from peaktrade_daemon.scheduling.jobs import JobConfig, JobsFile, load_jobs
from peaktrade_daemon.scheduling.runner import JobOutcome
from peaktrade_daemon.scheduling.triggers import next_fire_time
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.storage.db import open_database, opened_database
from peaktrade_daemon.storage.runs import RunStore
from peaktrade_daemon.workflows.components import build_components
from peaktrade_daemon.workflows.runtime import WorkflowRuntime, build_runtime


def _tags(text: str | None) -> tuple[str, ...]:
    return tuple(t.strip() for t in (text or "").split(",") if t.strip())


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add ``jobs list`` and ``jobs run``."""
    jobs = subparsers.add_parser(
        "jobs",
        help="list or run the scheduled jobs of config/scheduler/jobs.toml",
        description="List or run scheduled jobs (config/scheduler/jobs.toml).",
    )
    actions = jobs.add_subparsers(title="actions", metavar="ACTION", required=True)
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--include-tags", metavar="A,B", help="only jobs with any of these tags")
    filters.add_argument("--exclude-tags", metavar="C", help="skip jobs with any of these tags")

    listing = actions.add_parser(
        "list",
        parents=[common, filters],
        help="table of jobs: enabled, schedule, next fire time in the job's zone",
    )
    listing.set_defaults(handler=list_jobs)

    run = actions.add_parser(
        "run",
        parents=[common, filters],
        help="run one job now, or every due job once (--due --once, for system cron)",
        description=(
            "Run NAME now, or with --due --once run every enabled job whose latest fire time "
            "since its last recorded run has passed (within [scheduler] misfire_grace_s). "
            "Exit 1 if any job failed. --due is refused (exit 3) while a daemon runs on the "
            "root: its scheduler runs the due jobs."
        ),
    )
    run.add_argument("name", nargs="?", help="the job to run now")
    run.add_argument("--due", action="store_true", help="run the jobs that are due")
    run.add_argument("--once", action="store_true", help="with --due: one pass, then exit")
    run.set_defaults(handler=run_jobs)


def _target(job: JobConfig) -> str:
    if job.workflow is not None:
        return "cycle (auto)" if job.workflow == "auto" else f"workflow {job.workflow}"
    return "command " + " ".join(job.argv())


def _default_zone(settings: DaemonSettings) -> str:
    return settings.scheduler.timezone or settings.daemon.timezone


def list_jobs(args: argparse.Namespace) -> int:
    """Print the jobs table."""
    settings = settings_from_args(args)
    jobs = load_jobs(settings.path(settings.paths.jobs_file))
    include, exclude = _tags(args.include_tags), _tags(args.exclude_tags)
    now = SystemClock().now()
    rows = [("NAME", "ENABLED", "SCHEDULE", "NEXT FIRE", "TAGS", "TARGET")]
    for job in jobs.jobs:
        if not job.matches_tags(include, exclude):
            continue
        zone = job.zone(_default_zone(settings))
        fire = next_fire_time(job, zone, now) if job.enabled else None
        shown = f"{fire:%Y-%m-%d %H:%M} {zone.key}" if fire else "-"
        enabled = "yes" if job.enabled else "no"
        rows.append(
            (job.name, enabled, job.schedule_text(), shown, ",".join(job.tags), _target(job))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        )
    if len(rows) == 1:
        print("(no jobs match)")
    return EXIT_OK


@asynccontextmanager
async def _runtime(
    settings: DaemonSettings, jobs: list[JobConfig], dry_run: bool
) -> AsyncIterator[WorkflowRuntime]:
    if dry_run:  # say what would run: a dry run of a command job starts nothing
        for job in jobs:
            print(f"would run job {job.name}: {_target(job)}")
    clock = SystemClock()
    components = None
    if any(job.workflow is not None for job in jobs):
        config = await asyncio.to_thread(trading_config, settings)
        components = build_components(
            settings, clock=clock, config=config, live_changes=audited_live_changes
        )
    # A dry run must not even create the state database.
    database = None if dry_run else await open_database(settings.database_url)
    alerts = OneShotAlerts(settings, dry_run=dry_run, database=database, clock=clock)
    try:
        yield build_runtime(
            settings,
            clock=clock,
            store=RunStore(database) if database else None,
            alerts=await alerts.open(),
            components=components,
        )
    finally:
        await alerts.close()
        if components is not None:
            await components.close()
        if database is not None:
            await database.close()


def _report(outcomes: list[JobOutcome]) -> int:
    for outcome in outcomes:
        run = f" run={outcome.run_id}" if outcome.run_id else ""
        fire = f" fire_time={outcome.fire_time.isoformat()}" if outcome.fire_time else ""
        error = f": {outcome.error}" if outcome.error else ""
        dry = " (dry run)" if outcome.dry_run else ""
        print(f"job {outcome.job_name}: {outcome.outcome}{run}{fire}{error}{dry}")
    return EXIT_OK if all(o.success for o in outcomes) else EXIT_FAILED


async def _run_one(settings: DaemonSettings, job: JobConfig, dry_run: bool) -> int:
    async with _runtime(settings, [job], dry_run) as runtime:
        outcome = await runtime.runner.run(job, fire_time=None, trigger="manual", dry_run=dry_run)
    return _report([outcome])


async def _last_fire_times(settings: DaemonSettings, dry_run: bool) -> dict[str, datetime]:
    if database_missing(settings):
        return {}  # nothing ever ran; reading must not create the database
    async with opened_database(settings.database_url) as database:
        return await RunStore(database).last_fire_times()


async def _run_due(
    settings: DaemonSettings, jobs: JobsFile, args: argparse.Namespace, dry_run: bool
) -> int:
    include, exclude = _tags(args.include_tags), _tags(args.exclude_tags)
    zone, grace = _default_zone(settings), settings.scheduler.misfire_grace_s
    now: datetime = SystemClock().now()
    last = await _last_fire_times(settings, dry_run)
    due = due_jobs(
        jobs,
        now=now,
        last_fire_times=last,
        default_zone=zone,
        grace_s=grace,
        include_tags=include,
        exclude_tags=exclude,
    )
    if not due:
        print("no jobs due")
        return EXIT_OK
    async with _runtime(settings, [job for job, _ in due], dry_run) as runtime:
        outcomes = await run_due_jobs(due, runtime.runner, dry_run=dry_run)
    return _report(outcomes)


def run_jobs(args: argparse.Namespace) -> object:
    """Run one job, or the due jobs once; returns a coroutine for the CLI to run."""
    if bool(args.name) == bool(args.due):
        raise UsageError("give either a job NAME or --due --once")
    if args.due and not args.once:
        raise UsageError("--due needs --once (the daemon's scheduler runs jobs continuously)")
    settings = settings_from_args(args)
    state_dir = settings.path(settings.paths.state_dir)
    if args.due and is_held(state_dir):
        # The daemon's scheduler owns the due jobs of this root; a second runner would run
        # (and record) the same fire twice.
        holder = read_pid(state_dir)
        raise LockHeldError(
            f"a peaktrade-daemon (pid {holder or 'unknown'}) is running on {settings.root}: its "
            "scheduler runs the due jobs; `jobs run --due --once` is for roots without a daemon "
            "(run one job now with `jobs run NAME`)"
        )
    jobs = load_jobs(settings.path(settings.paths.jobs_file))
    dry_run = bool(getattr(args, "dry_run", False))
    if args.name:
        job = jobs.get(args.name)
        if job is None:
            known = ", ".join(j.name for j in jobs.jobs) or "none"
            raise UsageError(f"no job named {args.name!r} (known: {known})")
        return _run_one(settings, job, dry_run)
    return _run_due(settings, jobs, args, dry_run)
