"""The wired product as real daemon subprocesses on a fresh root (shipped config and data):
real cycles, /metrics counts, a SIGHUP that re-syncs one job, a prompt SIGTERM, the learning
loop reaching auto.toml through the promotion worker, and the start-up refusals."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from tests.daemon_harness import (
    SIGHUP,
    SIGTERM,
    AlertTail,
    DaemonProcess,
    NotifySocket,
    files_outside_logs,
    run_cli,
    set_toml,
)

pytestmark = pytest.mark.slow


def _rows(root: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(root / "state" / "peaktrade.db") as db:
        return list(db.execute(query).fetchall())


def _starting(path: Path, prefix: str) -> list[str]:
    return [x for x in path.read_text().splitlines() if x.startswith(prefix)]


async def _lines(path: Path, prefix: str, count: int, timeout_s: float = 30.0) -> list[str]:
    """Read ``path`` like ``tail -f`` until ``count`` lines start with ``prefix``."""
    async with asyncio.timeout(timeout_s):
        while True:
            found = _starting(path, prefix)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)


def _heartbeat(root: Path) -> dict[str, object]:
    try:
        beat: dict[str, object] = json.loads((root / "state" / "daemon.heartbeat").read_text())
    except (OSError, ValueError):  # not written yet, or being replaced
        return {}
    return beat


async def _cycle_done(root: Path, timeout_s: float = 30.0) -> None:
    """Poll the heartbeat (refreshed every 0.1 s here) until it reports a finished cycle."""
    async with asyncio.timeout(timeout_s):
        while True:
            if _heartbeat(root).get("last_cycle"):
                return
            await asyncio.sleep(0.05)


async def _metrics(root: Path) -> dict[str, float]:
    beat = json.loads((root / "state" / "daemon.heartbeat").read_text())
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as client,
        client.get(f"{beat['http_url']}/metrics") as response,
    ):
        text = await response.text()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


async def test_once_runs_a_real_cycle_stores_it_and_dry_run_writes_nothing(
    project_root: Path,
) -> None:
    before = files_outside_logs(project_root)
    dry = DaemonProcess(project_root, "--once", "--dry-run")
    await dry.start()
    assert await dry.wait(60) == 0, dry.stderr
    out = dry.out_path.read_text()
    assert "decision=" in out and "(dry run)" in out
    assert files_outside_logs(project_root) == before

    once = DaemonProcess(project_root, "--once", "--tag", "smoke")
    await once.start()
    assert await once.wait(60) == 0, once.stderr
    [line] = [x for x in once.out_path.read_text().splitlines() if x.startswith("cycle ")]
    # The shipped data ends with EUR/USD trading 2.2x its usual volume: a market scan runs.
    assert "market_scan" in line and "decision=EXECUTE" in line and "success=yes" in line
    [(action, executed, success, run_id, tag)] = _rows(
        project_root, "select action, executed, success, run_id, tag from cycle_summaries"
    )
    assert (action, executed, success, tag) == ("EXECUTE", 1, 1, "smoke")
    assert (project_root / "reports" / "workflows" / str(run_id) / "report.json").exists()
    code, history, _ = await run_cli(project_root, "history")
    assert code == 0 and str(run_id) in history and "completed" in history


async def test_once_exits_1_when_the_executed_workflow_fails(project_root: Path) -> None:
    (project_root / "config" / "daemon.toml").write_text(
        (project_root / "config" / "daemon.toml").read_text()
        + '\n[workflows.market_scan]\ncommand = ["sh", "-c", "echo scan broke >&2; exit 3"]\n'
    )
    daemon = DaemonProcess(
        project_root, "--once", "--workflow-type", "market_scan", "--symbol", "EUR/USD"
    )
    await daemon.start()
    assert await daemon.wait(60) == 1, daemon.stderr
    [(state, error)] = _rows(project_root, "select state, error from workflow_runs")
    assert state == "failed" and "exit" in str(error)


async def test_continuous_cycles_metrics_sighup_resyncs_one_job_and_prompt_sigterm(
    project_root: Path, notify: NotifySocket, tail: AlertTail
) -> None:
    set_toml(project_root / "config" / "daemon.toml", "enabled = false ", "enabled = true ")
    set_toml(project_root / "config" / "daemon.toml", "port = 8787", "port = 0")
    daemon = DaemonProcess(project_root, "--poll-interval", "0.3", notify=notify)
    await daemon.start()
    try:
        await notify.expect("READY")
        # A cycle prints its line before it is counted: two are complete once a third printed.
        await _lines(daemon.out_path, "cycle ", 3)
        samples = await _metrics(project_root)
        assert samples['peaktrade_cycles_total{outcome="success"}'] >= 2, samples
        decisions = {k: v for k, v in samples.items() if k.startswith("peaktrade_decisions_total")}
        assert sum(decisions.values()) >= 2, samples
        runs = {k: v for k, v in samples.items() if k.startswith("peaktrade_workflow_runs_total")}
        assert sum(runs.values()) >= 1, samples
        stored = _rows(project_root, "select count(*) from cycle_summaries")[0][0]
        assert isinstance(stored, int) and stored >= 2

        set_toml(
            project_root / "config" / "scheduler" / "jobs.toml",
            'daily_time = "12:00"',
            'daily_time = "12:30"',
        )
        daemon.signal(SIGHUP)
        await notify.expect("RELOADING")
        await notify.expect("READY")
        log = (project_root / "logs" / "daemon.log").read_text()
        synced = [line for line in log.splitlines() if "schedules synced" in line]
        assert len(synced) == 2, synced
        assert "replaced=['autonomous_midday_check']" in synced[1]
        assert "added=[] " in synced[1] and "removed=[]" in synced[1]

        daemon.signal(SIGTERM)
        assert await daemon.wait(10) == 0
    finally:
        await daemon.kill()

    # A daemon inside an hour-long wait between cycles stops at once on SIGTERM.
    env = {"PEAKTRADE_DAEMON__HEARTBEAT_INTERVAL_S": "0.1"}
    daemon = DaemonProcess(project_root, "--poll-interval", "3600", notify=notify, env=env)
    await daemon.start()
    try:
        await notify.expect("READY")
        await _cycle_done(project_root)  # the heartbeat says the cycle ended: now it waits
        sent = datetime.now(UTC)
        daemon.signal(SIGTERM)
        assert await daemon.wait(10) == 0
        stopping = await tail.wait_for("daemon stopping", reason="SIGTERM")
        # The wait ended and shutdown began within a second of the signal.
        assert (stopping.timestamp - sent).total_seconds() < 1.0
    finally:
        await daemon.kill()


SNIPPET = {
    "patches": [
        {
            "target": "portfolio.leverage",
            "new_value": 1.75,
            "confidence_score": 0.95,
            "reason": "backtest sweep",
            "meta": {"is_live_ready": True},
        }
    ]
}


async def test_learn_while_the_daemon_runs_applies_one_bounded_step(
    project_root: Path, notify: NotifySocket, tail: AlertTail
) -> None:
    set_toml(project_root / "config" / "config.toml", 'mode = "paper"', 'mode = "live"')
    set_toml(
        project_root / "config" / "promotion.toml", 'mode = "manual_only"', 'mode = "bounded_auto"'
    )
    # The shipped guard thresholds: the paper book applies the step from its time on, so the
    # history the guard's baseline came from is not rewritten (tests/promotion/test_guard_book).
    env = {
        "PEAKTRADE_PROMOTION__INBOX_POLL_S": "0.2",
        "PEAKTRADE_HTTP__ENABLED": "true",
        "PEAKTRADE_HTTP__PORT": "0",
    }
    daemon = DaemonProcess(project_root, "--poll-interval", "3600", notify=notify, env=env)
    await daemon.start()
    try:
        await notify.expect("READY")
        snippets = project_root / "reports" / "learning_snippets"
        snippets.mkdir(parents=True)
        (snippets / "sweep.json").write_text(json.dumps(SNIPPET))
        code, out, err = await run_cli(project_root, "learn")
        assert code == 0, err
        # learn is another process: the daemon's patch inbox hands its patches to the worker,
        # which moves leverage one max_step (0.25) from the live value 1.0 toward 1.75.
        applied = await tail.wait_for("auto-applied portfolio.leverage: 1.0 -> 1.25", 30)
        assert str(applied.level) == "info"
        auto = (project_root / "config" / "live_overrides" / "auto.toml").read_text()
        assert '"portfolio.leverage" = 1.25' in auto
        audit = [
            json.loads(line)
            for line in (project_root / "reports/promotion_audit/audit.jsonl")
            .read_text()
            .splitlines()
        ]
        changes = [r for r in audit if r.get("event") == "change"]
        assert len(changes) == 1, changes
        [change] = changes
        # ``before`` is auto.toml's previous entry: none (the live value came from the base).
        assert (change["key"], change["before"], change["after"], change["actor"]) == (
            "portfolio.leverage",
            None,
            1.25,
            "auto",
        )
        # The counter follows the bus's OverridesChanged event, which may trail the alert.
        series = 'peaktrade_overrides_applied_total{key="portfolio.leverage"}'
        async with asyncio.timeout(10):
            for _ in range(10_000):  # another process, read over HTTP: polled, bounded
                samples = await _metrics(project_root)
                if series in samples:
                    break
                await asyncio.sleep(0.05)
        assert samples[series] == 1
        # The next step waits for the key's cooldown (60 min): still exactly one change.
        code, out, _ = await run_cli(project_root, "overrides", "verify-audit")
        assert code == 0, out
        daemon.signal(SIGTERM)
        assert await daemon.wait(15) == 0
    finally:
        await daemon.kill()
    # What the worker is in the middle of is in the state database: the step toward 1.75 and
    # the watch of the change just made (its bake window is still open).
    with sqlite3.connect(project_root / "state" / "peaktrade.db") as conn:
        pending = conn.execute("SELECT key FROM promotion_pending_steps").fetchall()
        watches = conn.execute("SELECT key, status FROM promotion_watches").fetchall()
    assert pending == [("portfolio.leverage",)]
    assert watches == [("portfolio.leverage", "watching")]
    # After a restart the same published set is not promoted again; the work in progress
    # is resumed.
    again = DaemonProcess(project_root, "--poll-interval", "3600", notify=notify, env=env)
    await again.start()
    try:
        await notify.expect("READY")
        again.signal(SIGTERM)
        assert await again.wait(15) == 0
    finally:
        await again.kill()
    log = (project_root / "logs" / "daemon.log").read_text()
    assert "promotion: 1 pending step(s) resumed: ['portfolio.leverage']" in log
    assert "rollback guard: resumed watching ['portfolio.leverage']" in log
    audit_text = (project_root / "reports/promotion_audit/audit.jsonl").read_text()
    assert audit_text.count('"event":"change"') == 1


async def test_start_up_refusals_and_a_policy_broken_on_reload(
    project_root: Path, notify: NotifySocket, tail: AlertTail
) -> None:
    jobs = project_root / "config" / "scheduler" / "jobs.toml"
    good_jobs = jobs.read_text()
    set_toml(jobs, 'daily_time = "12:00"', 'daily_time = "25:00"')
    code, _, err = await run_cli(project_root, "--once")
    assert code == 2
    assert "autonomous_midday_check" in err and "daily_time" in err
    jobs.write_text(good_jobs)

    policy = project_root / "config" / "promotion.toml"
    good_policy = policy.read_text()
    policy.write_text(good_policy.replace("max_step = 0.25", "max_step = -1"))
    before = files_outside_logs(project_root)
    code, _, err = await run_cli(project_root)
    assert code == 3 and "promotion.toml" in err
    refused = await tail.wait_for("daemon refused to start")
    assert str(refused.level) == "critical" and "promotion.toml" in str(refused.context["error"])
    assert files_outside_logs(project_root) == before  # nothing written: no lock, no database

    policy.write_text(good_policy)
    daemon = DaemonProcess(project_root, "--poll-interval", "3600", notify=notify)
    await daemon.start()
    try:
        await notify.expect("READY")
        # The scheduler owns the due jobs while a daemon runs on this root.
        code, _, err = await run_cli(project_root, "jobs", "run", "--due", "--once")
        assert code == 3 and "is running" in err
        policy.write_text("mode = [")
        daemon.signal(SIGHUP)
        await notify.expect("RELOADING")
        await notify.expect("READY")
        failed = await tail.wait_for(
            "configuration reload failed; keeping the previous configuration"
        )
        assert "promotion.toml" in str(failed.context["error"])
        daemon.signal(SIGTERM)
        assert await daemon.wait(15) == 0
    finally:
        await daemon.kill()


async def test_runs_left_running_by_a_killed_daemon_are_marked_interrupted(
    project_root: Path, tail: AlertTail
) -> None:
    from datetime import UTC, datetime

    from peaktrade_daemon.storage.db import open_database
    from peaktrade_daemon.storage.runs import RunStore, WorkflowRunRow

    database = await open_database(f"sqlite+aiosqlite:///{project_root / 'state' / 'peaktrade.db'}")
    try:
        now = datetime(2026, 3, 2, 10, tzinfo=UTC)
        await RunStore(database).save_run(
            WorkflowRunRow(
                run_id="20260302T100000-market_scan-dead",
                name="killed",
                workflow_type="market_scan",
                state="running",
                created_at=now,
                started_at=now,
            )
        )
    finally:
        await database.close()
    daemon = DaemonProcess(project_root, "--once")
    await daemon.start()
    assert await daemon.wait(60) == 0, daemon.stderr
    [(state, error, finished)] = _rows(
        project_root,
        "select state, error, finished_at from workflow_runs where name = 'killed'",
    )
    assert state == "failed" and str(error).startswith("interrupted") and finished is not None
    alert = await tail.wait_for(
        "1 workflow run(s) left unfinished by an earlier daemon marked failed"
    )
    assert alert.context["run_ids"] == ["20260302T100000-market_scan-dead"]
