"""The real APScheduler 4 inside JobScheduler, on the state database, with time-machine.

Time-machine moves the wall clock (what APScheduler reads); waits still take real time, so every
scenario travels to a moment a second or two before the fire it is about.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.clock import SystemClock
from peaktrade_daemon.component import Component
from peaktrade_daemon.errors import JobConfigError
from peaktrade_daemon.scheduling.runner import JobRunner
from peaktrade_daemon.scheduling.scheduler import JobScheduler
from peaktrade_daemon.settings import DaemonSettings, load_settings
from peaktrade_daemon.storage.db import open_database
from peaktrade_daemon.storage.runs import RunStore
from peaktrade_daemon.workflows.engine import WorkflowEngine
from peaktrade_daemon.workflows.model import WorkflowFn, WorkflowOutput, WorkflowRun
from tests.workflows.conftest import Alert, Stack

MORNING = "autonomous_morning_analysis"


def morning_done(alerts: list[Alert]) -> bool:
    return any(a[1] == "scheduler" and a[3].get("job") == MORNING for a in alerts)


def missed(alerts: list[Alert]) -> bool:
    return any("missed its fire time" in a[2] for a in alerts)


@asynccontextmanager
async def running(
    stack: Stack, settings: DaemonSettings | None = None
) -> AsyncIterator[JobScheduler]:
    """A JobScheduler over the stack's engine and cycle, running in its own task."""
    clock = SystemClock()
    runner = JobRunner(
        engine=stack.engine, clock=clock, cycle=stack.cycle, store=stack.store, alerts=stack.alerts
    )
    scheduler = JobScheduler(settings=settings or stack.settings, runner=runner, clock=clock)
    await scheduler.start()
    task = asyncio.create_task(scheduler.run())
    try:
        async with asyncio.timeout(15):
            await scheduler.wait_ready()
        yield scheduler
    finally:
        await scheduler.stop()
        async with asyncio.timeout(15):
            await task


def utc(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.slow
async def test_started_just_before_0815_runs_the_morning_job_exactly_once(stack: Stack) -> None:
    async with asyncio.timeout(60):
        with time_machine.travel(utc(2, 8, 14, 58), tick=True):
            async with running(stack) as scheduler:
                async with asyncio.timeout(20):
                    await stack.alerts.wait_for(morning_done)
                next_times = await scheduler.next_fire_times()
        assert next_times[MORNING] == utc(3, 8, 15)
        assert next_times["autonomous_midday_check"] == utc(2, 12, 0)
        assert "autonomous_hourly_monitor" not in next_times  # disabled
        rows = await stack.store.job_runs()
        assert [(r.job_name, r.fire_time, r.trigger) for r in rows] == [
            (MORNING, utc(2, 8, 15), "scheduler")
        ]
        assert rows[0].outcome == "cycle execute" and rows[0].run_id
        [info] = [a for a in stack.alerts.alerts if a[1] == "scheduler"]
        assert info[0] is AlertLevel.INFO and info[3]["run_id"] == rows[0].run_id
        [run] = await stack.store.runs()
        assert run.run_id == rows[0].run_id and run.state == "completed"


@pytest.mark.slow
async def test_a_fire_missed_while_down_runs_once_within_the_grace_time(stack: Stack) -> None:
    async with asyncio.timeout(60):
        with time_machine.travel(utc(2, 8, 10), tick=True):
            async with running(stack):
                pass  # schedules persisted, next fire 08:15; then the daemon is "down"
        # Back two days later at 08:20: two morning fires were missed, the latest is 5 min old.
        with time_machine.travel(utc(4, 8, 20), tick=True):
            async with running(stack):
                async with asyncio.timeout(20):
                    await stack.alerts.wait_for(morning_done)
                    # midday and evening of the 2nd and 3rd are far beyond the grace time
                    await stack.alerts.wait_for(
                        lambda alerts: sum("missed its fire time" in a[2] for a in alerts) == 2
                    )
        rows = await stack.store.job_runs()
        ran = [(r.job_name, r.fire_time) for r in rows if r.outcome != "missed"]
        assert ran == [(MORNING, utc(4, 8, 15))]  # coalesced into one run for the latest fire
        skipped = sorted((r.job_name, r.fire_time) for r in rows if r.outcome == "missed")
        assert skipped == [
            ("autonomous_evening_review", utc(3, 20, 0)),
            ("autonomous_midday_check", utc(3, 12, 0)),
        ]


@pytest.mark.slow
async def test_a_fire_missed_beyond_the_grace_time_does_not_run(stack: Stack) -> None:
    async with asyncio.timeout(60):
        with time_machine.travel(utc(2, 8, 10), tick=True):
            async with running(stack):
                pass
        with time_machine.travel(utc(2, 9, 16), tick=True):  # 08:15 + 1 h grace has passed
            async with running(stack):
                async with asyncio.timeout(20):
                    await stack.alerts.wait_for(missed)
        rows = await stack.store.job_runs()
        assert [(r.job_name, r.outcome, r.fire_time) for r in rows] == [
            (MORNING, "missed", utc(2, 8, 15))
        ]
        assert await stack.store.runs() == []
        assert not any(a[0] is AlertLevel.INFO for a in stack.alerts.alerts)


INTERVAL_JOB = """
[[job]]
name = "risk_sweep"
workflow = "risk_check"
schedule_type = "interval"
interval_seconds = 3600
tags = ["risk"]
"""


@pytest.mark.slow
async def test_reload_resyncs_only_the_changed_job(stack: Stack) -> None:
    async with asyncio.timeout(60):
        jobs_file = Path(stack.settings.root) / "config" / "scheduler" / "jobs.toml"
        jobs_file.write_text(jobs_file.read_text() + INTERVAL_JOB)
        with time_machine.travel(utc(2, 5, 0), tick=True) as traveller:
            async with running(stack) as scheduler:
                assert sorted(scheduler.last_sync.added) == sorted(
                    [MORNING, "autonomous_midday_check", "autonomous_evening_review", "risk_sweep"]
                )
                before = await scheduler.next_fire_times()
                assert before["risk_sweep"] - utc(2, 6, 0) < timedelta(seconds=5)
                traveller.shift(timedelta(minutes=10))  # a re-added interval job would move too
                jobs_file.write_text(jobs_file.read_text().replace('"08:15"', '"09:30"'))
                async with asyncio.timeout(10):
                    await scheduler.reload(stack.settings)
                after = await scheduler.next_fire_times()
                report = scheduler.last_sync
                # An invalid file is refused and the schedules stay as they are.
                jobs_file.write_text(jobs_file.read_text().replace('"09:30"', '"9:30"'))
                with pytest.raises(JobConfigError, match="daily_time"):
                    await scheduler.reload(stack.settings)
                unchanged = await scheduler.next_fire_times()
        assert report.replaced == [MORNING] and report.added == [] and report.removed == []
        assert sorted(report.kept) == [
            "autonomous_evening_review",
            "autonomous_midday_check",
            "risk_sweep",
        ]
        assert after[MORNING] == utc(2, 9, 30)
        assert {k: v for k, v in after.items() if k != MORNING} == {
            k: v for k, v in before.items() if k != MORNING
        }
        assert unchanged == after


@pytest.mark.slow
async def test_tag_filters_and_disabling_remove_schedules(stack: Stack) -> None:
    async with asyncio.timeout(60):
        jobs_file = Path(stack.settings.root) / "config" / "scheduler" / "jobs.toml"
        jobs_file.write_text(jobs_file.read_text() + INTERVAL_JOB)
        with time_machine.travel(utc(2, 5, 0), tick=True):
            async with running(stack) as scheduler:
                jobs_file.write_text(
                    jobs_file.read_text().replace(
                        'name = "autonomous_midday_check"',
                        'name = "autonomous_midday_check"\nenabled = false',
                    )
                )
                async with asyncio.timeout(10):
                    await scheduler.reload(stack.settings)
                assert scheduler.last_sync.removed == ["autonomous_midday_check"]
                assert "autonomous_midday_check" not in await scheduler.next_fire_times()


async def test_scheduler_is_a_component_and_drain_ends_run(stack: Stack) -> None:
    async with asyncio.timeout(60):
        runner = JobRunner(engine=stack.engine, clock=SystemClock(), store=stack.store)
        scheduler = JobScheduler(settings=stack.settings, runner=runner, clock=SystemClock())
        assert isinstance(scheduler, Component)
        with time_machine.travel(utc(2, 5, 0), tick=True):
            await scheduler.start()
            task = asyncio.create_task(scheduler.run())
            async with asyncio.timeout(15):
                await scheduler.wait_ready()
                await scheduler.drain()  # no job running: intake stops and run() returns by itself
                await task
        assert await scheduler.next_fire_times() == {}
        await scheduler.stop()  # idempotent after the fact


SLOW_JOB = """
[[job]]
name = "slow_scan"
workflow = "market_scan"
schedule_type = "once"
"""


@dataclass
class Bench:
    """A JobScheduler over a real engine and database whose one workflow type is ``workflow``."""

    settings: DaemonSettings
    store: RunStore
    workflow: WorkflowFn

    def scheduler(self) -> JobScheduler:
        clock = SystemClock()
        engine = WorkflowEngine(
            settings=self.settings, workflows={"market_scan": self.workflow}, store=self.store
        )
        runner = JobRunner(engine=engine, clock=clock, store=self.store)
        return JobScheduler(settings=self.settings, runner=runner, clock=clock)


@asynccontextmanager
async def bench(project_root: Path, jobs: str, workflow: WorkflowFn) -> AsyncIterator[Bench]:
    (project_root / "config" / "scheduler" / "jobs.toml").write_text(jobs)
    settings = load_settings(project_root)
    database = await open_database(settings.database_url)
    try:
        yield Bench(settings, RunStore(database), workflow)
    finally:
        await database.close()


async def test_drain_lets_a_running_job_finish(project_root: Path) -> None:
    """drain() stops intake but must not cancel the job in flight (component contract, §3.4)."""
    async with asyncio.timeout(60):
        started, release = asyncio.Event(), asyncio.Event()

        async def slow(run: WorkflowRun) -> WorkflowOutput:
            started.set()
            await release.wait()
            return WorkflowOutput(summary={"finished": True}, markdown="# done\n")

        async with bench(project_root, SLOW_JOB, slow) as setup:
            scheduler = setup.scheduler()
            await scheduler.start()
            task = asyncio.create_task(scheduler.run())
            async with asyncio.timeout(15):
                await started.wait()  # the once-at-start job is running
            drain = asyncio.create_task(scheduler.drain())
            done, _ = await asyncio.wait({drain}, timeout=0.5)
            assert not done, "drain returned while the job was still running"
            release.set()
            async with asyncio.timeout(15):
                await drain
                await task
            [row] = await setup.store.job_runs()
            assert (row.job_name, row.outcome) == ("slow_scan", "completed")
            [run] = await setup.store.runs()
            assert run.state == "completed"


ONCE_JOB = """
[[job]]
name = "one_off"
workflow = "market_scan"
schedule_type = "once"
run_at = 2026-03-02T08:05:00Z
"""


@pytest.mark.slow
async def test_a_once_job_that_ran_is_not_scheduled_again_after_a_restart(
    project_root: Path,
) -> None:
    async with asyncio.timeout(60):
        ran = asyncio.Event()

        async def quick(run: WorkflowRun) -> WorkflowOutput:
            ran.set()
            return WorkflowOutput(summary={}, markdown="# ran\n")

        async with bench(project_root, ONCE_JOB, quick) as setup:
            with time_machine.travel(utc(2, 8, 10), tick=True):  # 5 min late: within the grace
                # Three starts: APScheduler's start-up clean-up deletes the finished schedule on
                # the second, so the third finds no trace of it in the data store.
                for _ in range(3):
                    scheduler = setup.scheduler()
                    await scheduler.start()
                    task = asyncio.create_task(scheduler.run())
                    async with asyncio.timeout(15):
                        await scheduler.wait_ready()
                        await ran.wait()
                        await scheduler.drain()
                        await task
            assert "one_off" not in scheduler.last_sync.added
            assert [(r.job_name, r.outcome) for r in await setup.store.job_runs()] == [
                ("one_off", "completed")
            ]
