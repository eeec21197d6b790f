"""A read-only ``state/``, ``reports/`` and ``logs/`` under a running daemon (issue 8, item 2).

Real EROFS: each directory in turn gets a read-only bind mount of itself on top (``mount
--bind -o ro D stage; mount --move stage D``), and ``umount -l D`` makes it writable again. The kernel
refuses to make a filesystem read-only while files on it are open for writing (``EBUSY``), so
this (made read-only at a staging path, then moved into place) is the read-only state a
running daemon can meet: everything opened *by path* from then
on fails with EROFS, while files it already holds open (the state database's pooled
connections, the log files) keep working. Where mounting is not permitted the tests fall back
to ``chmod 0555`` as a non-root user (EACCES instead of EROFS) and skip as root.

One daemon, three phases, each with its recovery:

- ``state/``: the heartbeat cannot be replaced: the heartbeat component fails, a critical alert
  names the read-only filesystem, the component is restarted with backoff; the old heartbeat
  stays whole, no temp file is left, cycles go on being stored; once writable the heartbeat is
  refreshed again.
- ``reports/``: a scheduled workflow cannot write its report: the run is ``failed`` with the
  reason, the job raises a critical alert, no partial report directory is left; once writable
  the job completes again.
- ``logs/``: after SIGHUP (logrotate: reopen the logs) neither log can be reopened: the daemon
  stays up, jobs go on, and a critical alert (a refused reload) is recorded in the state
  database; after the next SIGHUP with ``logs/`` writable, both logs are written again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from peaktrade_daemon.storage.atomic import TEMP_SUFFIX
from tests.daemon_harness import SIGHUP, SIGTERM, AlertTail, DaemonProcess, NotifySocket

pytestmark = pytest.mark.slow

JOBS = """\
[[job]]
name = "scan"
workflow = "market_scan"
schedule_type = "interval"
interval_seconds = 1
timeout_seconds = 60
"""

JOB_RUNS = "select count(*) from job_runs where job_name = 'scan' and outcome = ?"
RELOAD_FAILED = (
    "select count(*) from alerts where level = 'critical' "
    "and message = 'configuration reload failed; keeping the previous configuration'"
)

ENV = {
    "PEAKTRADE_DAEMON__HEARTBEAT_INTERVAL_S": "0.2",
    "PEAKTRADE_DAEMON__RESTART_BACKOFF_INITIAL_S": "0.1",
    "PEAKTRADE_DAEMON__RESTART_BACKOFF_MAX_S": "0.5",
}


def _mount_ro(directory: Path) -> str | None:
    """Put a read-only bind of ``directory`` on itself; None, or why it is not possible.

    The bind is made read-only at a private staging path and then moved over ``directory``:
    binding in place and remounting read-only after would race the daemon, whose writes in
    between make the remount fail with EBUSY."""
    stage = tempfile.mkdtemp(prefix="ptro", dir="/tmp")
    try:
        for argv in (
            ["mount", "--bind", "-o", "ro", str(directory), stage],
            ["mount", "--move", stage, str(directory)],
        ):
            done = subprocess.run(argv, capture_output=True, check=False)
            if done.returncode != 0:
                subprocess.run(["umount", stage], capture_output=True, check=False)
                return done.stderr.decode().strip()
        return None
    finally:
        os.rmdir(stage)


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """``directory`` read-only for new opens (EROFS), writable again on exit."""
    problem = _mount_ro(directory)
    if problem is None:
        try:
            yield
        finally:
            # Lazy: files the daemon opened through the read-only view keep it until closed.
            subprocess.run(["umount", "-l", str(directory)], check=True)
        return
    if os.geteuid() == 0:
        pytest.skip(f"cannot mount read-only here, and root ignores chmod: {problem}")
    mode = directory.stat().st_mode
    directory.chmod(0o555)
    try:
        yield
    finally:
        directory.chmod(mode)


def _rows(db: Path, query: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return list(conn.execute(query, args).fetchall())


def _count(db: Path, query: str, *args: object) -> int:
    return int(_rows(db, query, *args)[0][0])


async def _until(check: object, timeout_s: float = 30.0) -> None:
    """Poll ``check()`` (files and rows another process writes) until it is true."""
    assert callable(check)
    async with asyncio.timeout(timeout_s):
        while True:
            with contextlib.suppress(sqlite3.OperationalError):
                if check():
                    return
            await asyncio.sleep(0.05)


def _temp_files(root: Path) -> list[Path]:
    return list(root.rglob(f"*{TEMP_SUFFIX}"))


async def test_read_only_state_reports_and_logs_alert_keep_the_daemon_up_and_recover(
    project_root: Path, notify: NotifySocket, tail: AlertTail
) -> None:
    (project_root / "config" / "scheduler" / "jobs.toml").write_text(JOBS)
    state, reports, logs = (project_root / d for d in ("state", "reports", "logs"))
    db = state / "peaktrade.db"
    heartbeat = state / "daemon.heartbeat"
    daemon = DaemonProcess(project_root, "--poll-interval", "0.3", notify=notify, env=ENV)
    await daemon.start()
    try:
        await notify.expect("READY")
        await tail.wait_for("job scan completed")
        await _until(lambda: _count(db, "select count(*) from cycle_summaries") >= 1)

        # -- state/ -------------------------------------------------------------------------
        with read_only(state):
            failed = await tail.wait_for(
                "component heartbeat failed; restarting", component="heartbeat"
            )
            assert str(failed.level) == "critical"
            assert "Read-only file system" in str(failed.context["error"]) or "Permission" in str(
                failed.context["error"]
            ), failed
            cycles = _count(db, "select count(*) from cycle_summaries")
            # open connections still write: no history is lost while state/ is read-only
            await _until(lambda: _count(db, "select count(*) from cycle_summaries") > cycles)
            before = json.loads(heartbeat.read_text())  # the old heartbeat is whole
            assert not _temp_files(state)
        await _until(lambda: json.loads(heartbeat.read_text())["updated_at"] > before["updated_at"])

        # -- reports/ -----------------------------------------------------------------------
        with read_only(reports):
            alert = await _job_failed(tail)
            run_id = str(alert.context["run_id"])
            state_, error = _rows(
                db, "select state, error from workflow_runs where run_id = ?", run_id
            )[0]
            assert state_ == "failed" and "report could not be written" in str(error), error
            assert not (reports / "workflows" / run_id).exists()
            assert not _temp_files(reports)
        completed = _count(db, JOB_RUNS, "completed")
        await _until(lambda: _count(db, JOB_RUNS, "completed") > completed)

        # -- logs/ --------------------------------------------------------------------------
        alert_log, daemon_log = logs / "autonomous_alerts.log", logs / "daemon.log"
        daemon_toml = project_root / "config" / "daemon.toml"
        good = daemon_toml.read_text()
        with read_only(logs):
            # SIGHUP reopens the logs (logrotate), which fails; with daemon.toml broken, the
            # refused reload's critical alert must still be recorded (in the state database).
            daemon_toml.write_text(good + "\n[daemon\n")
            daemon.signal(SIGHUP)
            await _until(lambda: _count(db, RELOAD_FAILED) >= 1)
            daemon_toml.write_text(good)
            completed = _count(db, JOB_RUNS, "completed")
            await _until(lambda: _count(db, JOB_RUNS, "completed") > completed + 1)
            assert daemon.proc is not None and daemon.proc.returncode is None
            sizes = alert_log.stat().st_size, daemon_log.stat().st_size
        daemon.signal(SIGHUP)  # writable again: the next reopen works
        await _until(lambda: daemon_log.stat().st_size > sizes[1])
        daemon.signal(SIGTERM)
        assert await daemon.wait(30) == 0
    finally:
        await daemon.kill()
    assert "daemon stopping" in alert_log.read_text()[sizes[0] :]
    # The unopenable daemon log is reported once, never as a logging traceback per record.
    assert daemon.stderr.count("cannot open the daemon log") == 1, daemon.stderr
    assert "Logging error" not in daemon.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert not _temp_files(project_root)
    json.loads(heartbeat.read_text())


async def _job_failed(tail: AlertTail, timeout_s: float = 30.0) -> object:
    async with asyncio.timeout(timeout_s):
        while True:
            for alert in tail.seen:
                if alert.message.startswith("job scan failed"):
                    return alert
            if not tail._read_available():
                await asyncio.sleep(0.05)
