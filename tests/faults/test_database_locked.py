"""The state database locked by another process (issue 8, item 2).

A second process opens ``state/peaktrade.db`` and holds ``BEGIN EXCLUSIVE`` while a real daemon
runs cycles every 0.2 s. The daemon's writes wait (``busy_timeout``, 10 s) and then fail with
a clear error: the cycle is reported failed with a critical alert naming the lock, and the
daemon stays up. Once the holder commits, cycles succeed again, the history written before the
lock is all there and the database passes ``PRAGMA integrity_check``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import pytest

from tests.daemon_harness import SIGTERM, AlertTail, DaemonProcess, NotifySocket

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
print("released", flush=True)
"""


def _cycles(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("select count(*) from cycle_summaries").fetchone()[0])


async def _cycles_at_least(db: Path, count: int, timeout_s: float = 30.0) -> int:
    async with asyncio.timeout(timeout_s):
        while True:
            try:
                found = _cycles(db)
            except sqlite3.OperationalError:  # not created yet
                found = -1
            if found >= count:
                return found
            await asyncio.sleep(0.05)


async def test_a_database_locked_by_another_process_fails_cycles_clearly_and_recovers(
    project_root: Path, notify: NotifySocket, tail: AlertTail
) -> None:
    db = project_root / "state" / "peaktrade.db"
    daemon = DaemonProcess(project_root, "--poll-interval", "0.2", notify=notify)
    await daemon.start()
    holder = None
    try:
        await notify.expect("READY")
        before = await _cycles_at_least(db, 2)
        holder = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            HOLDER,
            str(db),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert holder.stdin is not None and holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"locked\n"
        before = _cycles(db)  # readers still read under WAL

        failed = await tail.wait_for("autonomous cycle failed", timeout_s=60)
        assert "locked" in str(failed.context.get("error")), failed
        assert daemon.proc is not None and daemon.proc.returncode is None

        holder.stdin.write(b"release\n")
        await holder.stdin.drain()
        assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"released\n"
        await asyncio.wait_for(holder.wait(), 10)

        await _cycles_at_least(db, before + 2)  # cycles are stored again
        daemon.signal(SIGTERM)
        assert await daemon.wait(30) == 0
    finally:
        if holder is not None and holder.returncode is None:
            holder.kill()
            await holder.wait()
        await daemon.kill()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert _cycles(db) >= before + 2
