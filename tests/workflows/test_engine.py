"""WorkflowEngine: states, timeouts that kill process groups, cancellation, limits, history."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.settings import DaemonSettings, load_settings
from peaktrade_daemon.storage.db import Database, open_database
from peaktrade_daemon.storage.runs import RunStore
from peaktrade_daemon.workflows import engine as workflow_engine
from peaktrade_daemon.workflows.command import command_flags
from peaktrade_daemon.workflows.engine import WorkflowEngine
from peaktrade_daemon.workflows.model import (
    WorkflowAlert,
    WorkflowFn,
    WorkflowOutput,
    WorkflowRun,
    WorkflowState,
)

# A parent that starts a child, writes both pids to a file, then sleeps: the test checks that a
# timeout leaves neither alive.
SPAWNER = r"""
import subprocess, sys, time, pathlib
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
pathlib.Path(sys.argv[1]).write_text(f"{child.pid} {__import__('os').getpid()}")
time.sleep(600)
"""


class RecordingAlerts:
    """An AlertEmitter that keeps what it was given."""

    def __init__(self) -> None:
        self.alerts: list[tuple[AlertLevel, str, str, dict[str, Any]]] = []

    async def emit(
        self, level: AlertLevel, source: str, message: str, context: dict[str, Any] | None = None
    ) -> None:
        self.alerts.append((level, source, message, dict(context or {})))


async def close_prices(run: WorkflowRun) -> WorkflowOutput:
    """A real little workflow: the last close of a sample file."""
    path = Path(run.parameters["file"])
    last = (await asyncio.to_thread(path.read_text)).strip().splitlines()[-1].split(",")
    return WorkflowOutput(
        summary={"last_close": float(last[4]), "bar": last[0]},
        markdown=f"# Last close\n\n{last[0]}: {last[4]}\n",
        alerts=(WorkflowAlert(AlertLevel.WARNING, "looked at prices", {"bar": last[0]}),),
    )


def blocking(started: asyncio.Event) -> WorkflowFn:
    """A workflow that says it started, then waits until cancelled."""

    async def run(run: WorkflowRun) -> WorkflowOutput:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return run


async def broken(run: WorkflowRun) -> WorkflowOutput:
    raise ValueError("no data for symbol XYZ")


@pytest.fixture
async def database(project_root: Path) -> AsyncIterator[Database]:
    async with asyncio.timeout(30):
        db = await open_database(f"sqlite+aiosqlite:///{project_root / 'state' / 'test.db'}")
    yield db
    async with asyncio.timeout(30):
        await db.close()


def make_settings(root: Path, **workflows: dict[str, Any]) -> DaemonSettings:
    return load_settings(root, cli_overrides={"workflows": workflows})


def make_engine(
    settings: DaemonSettings,
    database: Database | None = None,
    alerts: RecordingAlerts | None = None,
    started: asyncio.Event | None = None,
) -> WorkflowEngine:
    return WorkflowEngine(
        settings=settings,
        workflows={
            "market_scan": close_prices,
            "signal_analysis": blocking(started or asyncio.Event()),
            "risk_check": broken,
        },
        store=RunStore(database) if database else None,
        alerts=alerts,
    )


async def test_completed_run_writes_report_row_and_alerts(
    project_root: Path, database: Database
) -> None:
    async with asyncio.timeout(60):
        alerts = RecordingAlerts()
        engine = make_engine(make_settings(project_root), database, alerts)
        sample = project_root / "data" / "samples" / "GOOG.csv"
        run_id = engine.create_workflow("scan", "market_scan", {"file": str(sample)})
        assert engine.get_workflow_state(run_id) is WorkflowState.PENDING
        async with asyncio.timeout(10):
            result = await engine.execute_workflow(run_id)
        assert result.state is WorkflowState.COMPLETED and result.success
        report_dir = project_root / "reports" / "workflows" / run_id
        document = json.loads((report_dir / "report.json").read_text())
        assert document["summary"] == {"last_close": 806.19, "bar": "2013-03-01"}
        assert (report_dir / "summary.md").read_text().startswith("# Last close")
        [row] = await RunStore(database).runs()
        assert (row.run_id, row.state, row.report_dir) == (run_id, "completed", str(report_dir))
        assert alerts.alerts[0][0] is AlertLevel.WARNING and alerts.alerts[0][3]["run_id"] == run_id
        history = await engine.get_history()
        assert [r.run_id for r in history] == [run_id]


async def test_dry_run_computes_but_writes_nothing(project_root: Path, database: Database) -> None:
    async with asyncio.timeout(60):
        alerts = RecordingAlerts()
        engine = make_engine(make_settings(project_root), database, alerts)
        sample = project_root / "data" / "samples" / "EURUSD.csv"
        run_id = engine.create_workflow("scan", "market_scan", {"file": str(sample)})
        async with asyncio.timeout(10):
            result = await engine.execute_workflow(run_id, dry_run=True)
        assert result.success and result.summary["last_close"] == pytest.approx(1.1, abs=0.2)
        assert not (project_root / "reports" / "workflows").exists()
        assert await RunStore(database).runs() == [] and alerts.alerts == []


async def test_failure_keeps_the_error(project_root: Path, database: Database) -> None:
    async with asyncio.timeout(60):
        engine = make_engine(make_settings(project_root), database)
        run_id = engine.create_workflow("risk", "risk_check")
        async with asyncio.timeout(10):
            result = await engine.execute_workflow(run_id)
        assert result.state is WorkflowState.FAILED
        assert result.error == "ValueError: no data for symbol XYZ"
        [row] = await RunStore(database).runs()
        assert row.state == "failed" and "XYZ" in (row.error or "")


async def test_cancel_a_running_workflow(project_root: Path, database: Database) -> None:
    async with asyncio.timeout(60):
        started = asyncio.Event()
        engine = make_engine(make_settings(project_root), database, started=started)
        run_id = engine.create_workflow("signals", "signal_analysis")
        execution = asyncio.create_task(engine.execute_workflow(run_id))
        async with asyncio.timeout(5):
            await started.wait()
        assert [r.run_id for r in engine.get_active_workflows()] == [run_id]
        assert engine.cancel_workflow(run_id, "operator said stop")
        async with asyncio.timeout(5):
            result = await execution
        assert result.state is WorkflowState.CANCELLED and result.error == "operator said stop"
        assert engine.get_active_workflows() == []
        assert not engine.cancel_workflow(run_id)
        [row] = await RunStore(database).runs()
        assert row.state == "cancelled"


async def test_cancel_a_pending_workflow(project_root: Path) -> None:
    async with asyncio.timeout(60):
        engine = make_engine(make_settings(project_root))
        run_id = engine.create_workflow("signals", "signal_analysis")
        assert engine.cancel_workflow(run_id)
        async with asyncio.timeout(5):
            result = await engine.execute_workflow(run_id)
        assert result.state is WorkflowState.CANCELLED


async def test_concurrency_limit_refuses_a_second_run(project_root: Path) -> None:
    async with asyncio.timeout(60):
        started = asyncio.Event()
        engine = make_engine(make_settings(project_root), started=started)
        first = engine.create_workflow("a", "signal_analysis")
        execution = asyncio.create_task(engine.execute_workflow(first))
        async with asyncio.timeout(5):
            await started.wait()
            second = await engine.execute_workflow(engine.create_workflow("b", "signal_analysis"))
        assert second.state is WorkflowState.CANCELLED and "limit 1" in (second.error or "")
        engine.cancel_workflow(first)
        async with asyncio.timeout(5):
            await execution


async def test_concurrency_limit_holds_for_runs_started_together(
    project_root: Path, database: Database
) -> None:
    # With a store, starting a run awaits the database; the limit must still count both runs.
    async with asyncio.timeout(60):
        started = asyncio.Event()
        engine = make_engine(make_settings(project_root), database, started=started)
        ids = [engine.create_workflow(name, "signal_analysis") for name in ("a", "b")]
        runs = [asyncio.create_task(engine.execute_workflow(run_id)) for run_id in ids]
        async with asyncio.timeout(10):
            refused = await next(asyncio.as_completed(runs))
        assert refused.state is WorkflowState.CANCELLED and "limit 1" in (refused.error or "")
        assert len(engine.get_active_workflows()) == 1
        engine.cancel_all("test over")
        async with asyncio.timeout(10):
            await asyncio.gather(*runs)


async def test_in_process_timeout(project_root: Path) -> None:
    async with asyncio.timeout(60):
        settings = make_settings(project_root, signal_analysis={"timeout_s": 0.2})
        engine = make_engine(settings)
        async with asyncio.timeout(5):
            result = await engine.execute_workflow(engine.create_workflow("s", "signal_analysis"))
        assert result.state is WorkflowState.TIMED_OUT and result.error == "timed out after 0.2s"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited, which is what matters here.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
async def test_command_timeout_kills_process_and_children(
    project_root: Path, tmp_path: Path
) -> None:
    async with asyncio.timeout(60):
        script = tmp_path / "spawner.py"
        script.write_text(SPAWNER)
        pids_file = tmp_path / "pids"
        settings = make_settings(
            project_root,
            market_scan={"timeout_s": 3, "command": [sys.executable, str(script), str(pids_file)]},
        )
        engine = make_engine(settings)
        async with asyncio.timeout(20):
            result = await engine.execute_workflow(engine.create_workflow("scan", "market_scan"))
        assert result.state is WorkflowState.TIMED_OUT
        child, parent = (int(p) for p in pids_file.read_text().split())
        # Neither process is ours to wait on (the child belonged to the killed parent), so poll
        # /proc; init reaps the orphaned child shortly after the group is killed.
        async with asyncio.timeout(5):
            while _alive(child) or _alive(parent):  # noqa: ASYNC110
                await asyncio.sleep(0.05)


async def test_command_env_cwd_and_nonzero_exit(project_root: Path, tmp_path: Path) -> None:
    async with asyncio.timeout(60):
        engine = make_engine(make_settings(project_root))
        code = (
            "import os, sys; print(os.getcwd()); print(os.environ['PT_TEST_VALUE']);"
            "sys.stderr.write('disk full\\n'); sys.exit(int(os.environ['PT_EXIT']))"
        )
        ok = engine.create_workflow(
            "job-a",
            "command",
            {
                "argv": [sys.executable, "-c", code],
                "env": {"PT_TEST_VALUE": "42", "PT_EXIT": "0"},
                "cwd": str(tmp_path),
            },
        )
        bad = engine.create_workflow(
            "job-b",
            "command",
            {"argv": [sys.executable, "-c", code], "env": {"PT_TEST_VALUE": "1", "PT_EXIT": "3"}},
        )
        async with asyncio.timeout(20):
            good, failed = await asyncio.gather(
                engine.execute_workflow(ok), engine.execute_workflow(bad)
            )
        assert good.success and good.summary["stdout_tail"].split() == [str(tmp_path), "42"]
        assert failed.state is WorkflowState.FAILED
        assert "exited with code 3: disk full" in (failed.error or "")
        assert failed.summary["stderr_tail"] == "disk full\n"


def test_command_flags() -> None:
    flags = command_flags(
        {"script_mode": "x", "dry_run": True, "quiet": False, "symbol": ["A", "B"]}
    )
    assert flags == ["--script-mode", "x", "--dry-run", "--symbol", "A", "--symbol", "B"]


async def test_command_env_values_are_not_recorded(
    project_root: Path, database: Database, tmp_path: Path
) -> None:
    # Job env carries credentials (API keys); the child gets them, history and reports do not.
    async with asyncio.timeout(60):
        engine = make_engine(make_settings(project_root), database)
        code = "import os; print(len(os.environ['EXCHANGE_API_KEY']))"
        run_id = engine.create_workflow(
            "nightly-export",
            "command",
            {
                "argv": [sys.executable, "-c", code],
                "env": {"EXCHANGE_API_KEY": "s3cret-token"},
                "cwd": str(tmp_path),
            },
        )
        async with asyncio.timeout(20):
            result = await engine.execute_workflow(run_id)
        assert result.success and result.summary["stdout_tail"].strip() == "12"
        [row] = await RunStore(database).runs()
        report = (project_root / "reports" / "workflows" / run_id / "report.json").read_text()
        for recorded in (json.dumps(row.parameters), report):
            assert "s3cret-token" not in recorded and "EXCHANGE_API_KEY" in recorded


async def test_wait_idle_returns_only_once_each_final_state_is_recorded(
    project_root: Path, database: Database
) -> None:
    # Shutdown drains with wait_idle and then closes the database: a drain that ended when the
    # workflow's own task did (before its report and row were written) left runs 'running'.
    gate, gated_started, hang_started = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def gated(run: WorkflowRun) -> WorkflowOutput:
        gated_started.set()
        await gate.wait()
        return WorkflowOutput(summary={"ok": True}, markdown="# ok\n")

    engine = WorkflowEngine(
        settings=make_settings(project_root),
        workflows={"market_scan": gated, "signal_analysis": blocking(hang_started)},
        store=RunStore(database),
    )
    done_id = engine.create_workflow("scan", "market_scan", {})
    cancel_id = engine.create_workflow("hang", "signal_analysis", {})
    async with asyncio.timeout(30):
        runs = [asyncio.create_task(engine.execute_workflow(i)) for i in (done_id, cancel_id)]
        await gated_started.wait()
        await hang_started.wait()
        gate.set()
        engine.cancel_workflow(cancel_id, "daemon stopping: drain timeout")
        await engine.wait_idle()
        # Nothing awaited since: both runs must already be final, reported and saved.
        assert engine.get_workflow_state(done_id) is WorkflowState.COMPLETED
        assert engine.get_workflow_state(cancel_id) is WorkflowState.CANCELLED
        rows = {row.run_id: (row.state, row.error) for row in await RunStore(database).runs()}
        assert rows[done_id] == ("completed", None)
        assert rows[cancel_id] == ("cancelled", "daemon stopping: drain timeout")
        assert (project_root / "reports" / "workflows" / done_id / "report.json").exists()
        await asyncio.gather(*runs)


async def test_old_finished_runs_keep_no_summary_in_memory_but_the_history_has_it(
    project_root: Path, database: Database
) -> None:
    # A 500-symbol market scan summarises in about half a MiB: 500 of them kept in memory held
    # hundreds of MiB. With a database only the newest few keep theirs in memory.
    runs = workflow_engine.KEEP_SUMMARIES_IN_MEMORY + 3
    engine = make_engine(make_settings(project_root), database)
    sample = project_root / "data" / "samples" / "GOOG.csv"
    ids = []
    async with asyncio.timeout(60):
        for _ in range(runs):
            ids.append(engine.create_workflow("scan", "market_scan", {"file": str(sample)}))
            assert (await engine.execute_workflow(ids[-1])).success
        engine.create_workflow("scan", "market_scan", {"file": str(sample)})  # prunes
        kept = [engine.get_workflow(i) for i in ids]
        assert all(record is not None for record in kept)
        summaries = [record.summary for record in kept if record is not None]
        assert summaries[:3] == [{}, {}, {}]
        assert all(s == {"last_close": 806.19, "bar": "2013-03-01"} for s in summaries[3:])
        history = await engine.get_history()
        assert len(history) == runs
        assert all(r.summary == {"last_close": 806.19, "bar": "2013-03-01"} for r in history)


async def test_without_a_database_finished_runs_keep_their_summaries(project_root: Path) -> None:
    runs = workflow_engine.KEEP_SUMMARIES_IN_MEMORY + 3
    engine = make_engine(make_settings(project_root))
    sample = project_root / "data" / "samples" / "GOOG.csv"
    async with asyncio.timeout(60):
        for _ in range(runs):
            run_id = engine.create_workflow("scan", "market_scan", {"file": str(sample)})
            await engine.execute_workflow(run_id)
        engine.create_workflow("scan", "market_scan", {"file": str(sample)})
        history = await engine.get_history()
    assert len(history) == runs and all(r.summary["bar"] == "2013-03-01" for r in history)
