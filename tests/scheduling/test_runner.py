"""JobRunner: every way a job ends is recorded in job_runs and alerted (§5.3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.clock import SystemClock
from peaktrade_daemon.scheduling.jobs import JobConfig
from peaktrade_daemon.scheduling.runner import CycleSummaryLike, JobRunner
from peaktrade_daemon.settings import load_settings
from peaktrade_daemon.storage.db import Database, open_database
from peaktrade_daemon.storage.runs import RunStore
from peaktrade_daemon.workflows.engine import WorkflowEngine
from tests.workflows.conftest import RecordingAlerts


class BrokenCycle:
    """A cycle whose run raises, as one does when a component under it breaks."""

    async def run_cycle(self, **_: Any) -> CycleSummaryLike:
        raise RuntimeError("feed connection reset")


class HangingCycle:
    """A cycle stuck on a monitor that never answers."""

    async def run_cycle(self, **_: Any) -> CycleSummaryLike:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@pytest.fixture
async def database(project_root: Path) -> AsyncIterator[Database]:
    async with asyncio.timeout(30):
        db = await open_database(f"sqlite+aiosqlite:///{project_root / 'state' / 'pt.db'}")
    yield db
    async with asyncio.timeout(30):
        await db.close()


def runner_for(
    project_root: Path, database: Database, cycle: Any, alerts: RecordingAlerts
) -> JobRunner:
    settings = load_settings(project_root)
    engine = WorkflowEngine(settings=settings, workflows={}, store=RunStore(database))
    return JobRunner(
        engine=engine, clock=SystemClock(), cycle=cycle, store=RunStore(database), alerts=alerts
    )


async def test_a_job_that_raises_is_recorded_as_failed_with_a_critical_alert(
    project_root: Path, database: Database
) -> None:
    async with asyncio.timeout(30):
        alerts = RecordingAlerts()
        runner = runner_for(project_root, database, BrokenCycle(), alerts)
        job = JobConfig(name="morning", workflow="auto", schedule_type="daily", daily_time="08:15")
        outcome = await runner.run(job, fire_time=None, trigger="manual")
        assert not outcome.success and outcome.outcome == "failed"
        [row] = await RunStore(database).job_runs()
        assert (row.job_name, row.outcome) == ("morning", "failed")
        assert "feed connection reset" in (row.error or "")
        assert [a[0] for a in alerts.alerts] == [AlertLevel.CRITICAL]
        assert alerts.alerts[0][3]["job"] == "morning"


async def test_timeout_seconds_bounds_an_auto_cycle_job(
    project_root: Path, database: Database
) -> None:
    async with asyncio.timeout(30):
        alerts = RecordingAlerts()
        runner = runner_for(project_root, database, HangingCycle(), alerts)
        job = JobConfig(
            name="hourly",
            workflow="auto",
            schedule_type="cron",
            cron="0 * * * *",
            timeout_seconds=0.2,
        )
        outcome = await runner.run(job, fire_time=None, trigger="manual")
        assert (outcome.success, outcome.outcome) == (False, "timed_out")
        [row] = await RunStore(database).job_runs()
        assert (row.outcome, row.error) == ("timed_out", "timed out after 0.2s")
        assert [a[0] for a in alerts.alerts] == [AlertLevel.CRITICAL]
