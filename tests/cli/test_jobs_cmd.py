"""``jobs list``, ``jobs run NAME``, ``jobs run --due --once`` and ``history`` through main()."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from peaktrade_daemon.cli.app import main
from peaktrade_daemon.scheduling.due import due_jobs, run_due_jobs
from peaktrade_daemon.scheduling.jobs import load_jobs
from peaktrade_daemon.storage.db import open_database
from peaktrade_daemon.storage.runs import RunStore
from tests.workflows.conftest import Stack, stack

__all__ = ["stack"]

# Command jobs that leave a marker file in the root (their working directory) when they run.
MARKER_JOBS = """
[[job]]
name = "autonomous_morning_analysis"
command = ["{python}", "-c", "import os; open('ran-morning', 'w').write(os.environ['WHO'])"]
env = {{ WHO = "cron" }}
schedule_type = "daily"
daily_time = "08:15"
tags = ["autonomous"]

[[job]]
name = "autonomous_midday_check"
command = ["{python}", "-c", "open('ran-midday', 'w')"]
schedule_type = "daily"
daily_time = "12:00"
tags = ["autonomous"]

[[job]]
name = "broken"
command = ["{python}", "-c", "import sys; sys.exit('no data for GOOG')"]
schedule_type = "cron"
cron = "30 9 * * 1-5"
timezone = "Europe/Berlin"
tags = ["experimental"]
"""


@pytest.fixture
def root(project_root: Path) -> Path:
    jobs = project_root / "config" / "scheduler" / "jobs.toml"
    jobs.write_text(MARKER_JOBS.format(python=sys.executable))
    return project_root


def cli(root: Path, *args: str) -> int:
    return main(["--root", str(root), *args])


def job_runs(root: Path) -> list[tuple[str, str, datetime | None]]:
    async def read() -> list[tuple[str, str, datetime | None]]:
        database = await open_database(f"sqlite+aiosqlite:///{root / 'state' / 'peaktrade.db'}")
        try:
            rows = await RunStore(database).job_runs()
        finally:
            await database.close()
        return [(r.job_name, r.outcome, r.fire_time) for r in rows]

    return asyncio.run(asyncio.wait_for(read(), 10))


def test_due_once_at_0816_runs_the_morning_job(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with time_machine.travel(datetime(2026, 3, 2, 8, 16, tzinfo=UTC), tick=False):
        assert cli(root, "jobs", "run", "--due", "--once") == 0
    assert (root / "ran-morning").read_text() == "cron"
    assert not (root / "ran-midday").exists()
    fire = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
    assert job_runs(root) == [("autonomous_morning_analysis", "completed", fire)]
    out = capsys.readouterr().out
    assert "job autonomous_morning_analysis: completed" in out and "[INFO] [scheduler]" in out
    # The same fire time is not run twice.
    with time_machine.travel(datetime(2026, 3, 2, 8, 17, tzinfo=UTC), tick=False):
        assert cli(root, "jobs", "run", "--due", "--once") == 0
    assert "no jobs due" in capsys.readouterr().out and len(job_runs(root)) == 1


def test_due_once_at_0814_runs_nothing(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with time_machine.travel(datetime(2026, 3, 2, 8, 14, tzinfo=UTC), tick=False):
        assert cli(root, "jobs", "run", "--due", "--once") == 0
    assert capsys.readouterr().out.strip() == "no jobs due"
    assert not (root / "ran-morning").exists() and not (root / "state" / "peaktrade.db").exists()


def test_due_failure_exits_1_with_a_critical_alert(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 09:31 Berlin on a Monday (08:31 UTC in winter): the broken job is due, the morning one too.
    with time_machine.travel(datetime(2026, 3, 2, 8, 31, tzinfo=UTC), tick=False):
        assert cli(root, "jobs", "run", "--due", "--once") == 1
    captured = capsys.readouterr()
    assert "[CRITICAL] [scheduler] job broken failed" in captured.err
    assert "no data for GOOG" in captured.out
    outcomes = {name: outcome for name, outcome, _ in job_runs(root)}
    assert outcomes == {"autonomous_morning_analysis": "completed", "broken": "failed"}


def test_tag_filters_on_due(root: Path) -> None:
    with time_machine.travel(datetime(2026, 3, 2, 8, 31, tzinfo=UTC), tick=False):
        assert cli(root, "jobs", "run", "--due", "--once", "--exclude-tags", "experimental") == 0
    assert [name for name, _, _ in job_runs(root)] == ["autonomous_morning_analysis"]


def test_run_one_job_now_and_dry_run(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(root, "jobs", "run", "autonomous_midday_check", "--dry-run") == 0
    assert not (root / "ran-midday").exists() and not (root / "state" / "peaktrade.db").exists()
    out = capsys.readouterr().out
    assert "(dry run)" in out
    assert f"would run job autonomous_midday_check: command {sys.executable} -c" in out
    assert cli(root, "jobs", "run", "autonomous_midday_check") == 0
    assert (root / "ran-midday").exists()
    assert job_runs(root) == [("autonomous_midday_check", "completed", None)]
    assert cli(root, "history") == 0
    out = capsys.readouterr().out
    assert "command" in out and "completed" in out and "job:manual" in out
    capsys.readouterr()
    assert cli(root, "jobs", "run", "nope") == 2
    unknown = capsys.readouterr()
    assert unknown.out == "" and "no job named 'nope'" in unknown.err


def test_usage_errors(root: Path) -> None:
    assert cli(root, "jobs", "run") == 2
    assert cli(root, "jobs", "run", "--due") == 2


def test_invalid_jobs_file_exits_2(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = root / "config" / "scheduler" / "jobs.toml"
    jobs.write_text(jobs.read_text().replace('"12:00"', '"12h"'))
    assert cli(root, "jobs", "list") == 2
    assert "job 'autonomous_midday_check', field 'daily_time'" in capsys.readouterr().err


def test_list_shows_next_fire_in_the_jobs_zone(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with time_machine.travel(datetime(2026, 3, 2, 10, 0, tzinfo=UTC), tick=False):  # a Monday
        assert cli(root, "jobs", "list", "--include-tags", "experimental") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "cron 30 9 * * 1-5" in lines[1] and "2026-03-03 09:30 Europe/Berlin" in lines[1]


async def test_shipped_autonomous_jobs_due_at_0816_and_0814(stack: Stack) -> None:
    async with asyncio.timeout(60):
        from peaktrade_daemon.scheduling.runner import JobRunner

        jobs = load_jobs(Path(stack.settings.root) / "config" / "scheduler" / "jobs.toml")
        runner = JobRunner(
            engine=stack.engine, clock=stack.clock, cycle=stack.cycle, store=stack.store
        )
        await stack.at("2017-07-19T07:00")
        at_0814, at_0816 = (
            due_jobs(jobs, now=now, last_fire_times={}, default_zone="UTC", grace_s=3600.0)
            for now in (
                datetime(2026, 3, 2, 8, 14, tzinfo=UTC),
                datetime(2026, 3, 2, 8, 16, tzinfo=UTC),
            )
        )
        assert at_0814 == []
        async with asyncio.timeout(30):
            ran = await run_due_jobs(at_0816, runner)
        assert [(o.job_name, o.success, o.outcome) for o in ran] == [
            ("autonomous_morning_analysis", True, "cycle execute")
        ]
        [row] = await stack.store.job_runs()
        assert row.fire_time == datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
        [cycle] = await stack.store.cycles()
        assert cycle.tag == "autonomous_morning_analysis" and cycle.run_id == ran[0].run_id
