"""``history``: recent workflow runs from the state database, filtered in the query."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from peaktrade_daemon.cli.app import main
from peaktrade_daemon.storage.db import open_database
from peaktrade_daemon.storage.runs import RunStore, WorkflowRunRow


def seed_runs(root: Path, types: list[str]) -> None:
    """One completed run per entry of ``types``, a minute apart, the last one newest."""

    async def write() -> None:
        database = await open_database(f"sqlite+aiosqlite:///{root / 'state' / 'peaktrade.db'}")
        try:
            store = RunStore(database)
            start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
            for i, workflow_type in enumerate(types):
                at = start + timedelta(minutes=i)
                await store.save_run(
                    WorkflowRunRow(
                        run_id=f"run-{i:03d}-{workflow_type}",
                        name="seeded",
                        workflow_type=workflow_type,
                        state="completed",
                        trigger="cycle",
                        parameters={},
                        created_at=at,
                        started_at=at,
                        finished_at=at + timedelta(seconds=2),
                        duration_s=2.0,
                        summary={},
                    )
                )
        finally:
            await database.close()

    asyncio.run(asyncio.wait_for(write(), 30))


def test_type_filter_finds_older_runs_of_that_type(
    project_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One evening review, then a busy day of scans: the review is older than limit x 10 rows.
    seed_runs(project_root, ["portfolio_analysis"] + ["market_scan"] * 30)
    assert main(["--root", str(project_root), "history", "--limit", "2", "--type",
                 "portfolio_analysis"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "run-000-portfolio_analysis" in lines[0]


def test_limit_gives_the_newest_runs(
    project_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_runs(project_root, ["market_scan", "risk_check", "signal_analysis"])
    assert main(["--root", str(project_root), "history", "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in lines] == [
        "run-002-signal_analysis",
        "run-001-risk_check",
    ]


def test_no_database_means_no_runs_and_no_file(
    project_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--root", str(project_root), "history"]) == 0
    assert capsys.readouterr().out.strip() == "no workflow runs recorded"
    assert not (project_root / "state" / "peaktrade.db").exists()
