"""Overhead of the workflow engine per run, and of the ``--due`` trigger math.

Rows (each with a baseline measured in the same run):
* engine_run_ms: create + execute one in-process workflow through WorkflowEngine with a real
  SQLite history and atomic report files; baseline: awaiting the same coroutine directly.
* engine_dry_run_ms: the same as a dry run (no database, no files).
* due_check_us: ``due_fire_time`` of the hourly cron job (one day of fire times scanned);
  baseline: building its CronTrigger alone.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import uvloop

from peaktrade_daemon.scheduling.jobs import JobConfig
from peaktrade_daemon.scheduling.triggers import build_trigger, due_fire_time
from peaktrade_daemon.settings import load_settings
from peaktrade_daemon.storage.db import open_database
from peaktrade_daemon.storage.runs import RunStore
from peaktrade_daemon.workflows.engine import WorkflowEngine
from peaktrade_daemon.workflows.model import WorkflowOutput, WorkflowRun

RUNS = 200


async def summarise(run: WorkflowRun) -> WorkflowOutput:
    values = [float(i) for i in range(1000)]
    return WorkflowOutput(summary={"mean": sum(values) / len(values)}, markdown="# bench\n")


async def _engine_rows(root: Path) -> list[dict[str, Any]]:
    settings = load_settings(root)
    database = await open_database(settings.database_url)
    engine = WorkflowEngine(
        settings=settings, workflows={"market_scan": summarise}, store=RunStore(database)
    )
    run = WorkflowRun("x", "x", "market_scan", {}, False, datetime.now(UTC))
    start = time.perf_counter()
    for _ in range(RUNS):
        await summarise(run)
    baseline = (time.perf_counter() - start) / RUNS * 1000
    rows = []
    for dry_run, name in ((False, "engine_run_ms"), (True, "engine_dry_run_ms")):
        start = time.perf_counter()
        for _ in range(RUNS):
            await engine.execute_workflow(engine.create_workflow("b", "market_scan"), dry_run)
        value = (time.perf_counter() - start) / RUNS * 1000
        rows.append(
            {
                "name": name,
                "value": round(value, 3),
                "unit": "ms",
                "target": 50.0,
                "baseline": round(baseline, 4),
            }
        )
    await database.close()
    return rows


def _due_row() -> dict[str, Any]:
    job = JobConfig(name="h", workflow="auto", schedule_type="cron", cron="0 * * * *")
    zone, now = ZoneInfo("Europe/Berlin"), datetime(2026, 3, 2, 8, 16, tzinfo=UTC)
    n = 500
    start = time.perf_counter()
    for _ in range(n):
        build_trigger(job, zone, now)
    baseline = (time.perf_counter() - start) / n * 1e6
    start = time.perf_counter()
    for _ in range(n):
        due_fire_time(job, zone, now, None, 86400.0)
    value = (time.perf_counter() - start) / n * 1e6
    return {
        "name": "due_check_us",
        "value": round(value, 1),
        "unit": "us",
        "target": 10000.0,
        "baseline": round(baseline, 1),
    }


def main() -> list[dict[str, Any]]:
    """Run the benchmark and return its rows."""
    root = Path(tempfile.mkdtemp(prefix="pt-bench-"))
    try:
        rows = uvloop.run(_engine_rows(root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows.append(_due_row())
    return rows


if __name__ == "__main__":
    for row in main():
        print(
            f"{row['name']:<20} {row['value']:>10} {row['unit']:<3} "
            f"(baseline {row['baseline']}, target {row['target']})"
        )
