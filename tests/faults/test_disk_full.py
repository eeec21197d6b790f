"""A full or read-only ``state/`` during writes (issue 8, item 2), on a real tiny tmpfs.

The tests mount a tmpfs (they run as root here; where ``mount`` is not permitted they skip, and
say so). Checked:

- ``atomic_write_bytes`` into a full filesystem raises ENOSPC, into a read-only one EROFS; the
  old file is byte-for-byte intact and no temp file is left.
- A running daemon whose ``state/`` fills up: cycles fail with a critical alert naming the
  full disk (the alert log lives in ``logs/``), the process stays up, and once space is freed
  cycles are stored again, the database passes ``integrity_check`` and the heartbeat parses.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from peaktrade_daemon.storage.atomic import TEMP_SUFFIX, atomic_write_bytes
from tests.daemon_harness import SIGTERM, AlertTail, DaemonProcess, NotifySocket

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``path`` (skips the test when mounting is not allowed)."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(directory: Path) -> Path:
    """Write a filler file until the filesystem is full."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_atomic_write_on_a_full_or_read_only_filesystem_keeps_the_old_file(
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "fs", "64k") as fs:
        target = fs / "state.json"
        atomic_write_bytes(target, b'{"old": true}')
        with pytest.raises(OSError) as full:
            atomic_write_bytes(target, b"x" * 200_000)
        assert full.value.errno == errno.ENOSPC
        assert target.read_bytes() == b'{"old": true}'
        assert not list(fs.glob(f"*{TEMP_SUFFIX}"))

        subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
        with pytest.raises(OSError) as read_only:
            atomic_write_bytes(target, b'{"new": true}')
        assert read_only.value.errno == errno.EROFS
        assert target.read_bytes() == b'{"old": true}'


def _cycles(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return int(conn.execute("select count(*) from cycle_summaries").fetchone()[0])


async def _cycles_at_least(db: Path, count: int, timeout_s: float = 30.0) -> int:
    async with asyncio.timeout(timeout_s):
        while True:
            with contextlib.suppress(sqlite3.OperationalError):
                found = _cycles(db)
                if found >= count:
                    return found
            await asyncio.sleep(0.05)


async def test_a_daemon_whose_state_dir_fills_up_alerts_stays_up_and_recovers(
    project_root: Path, notify: NotifySocket
) -> None:
    state = project_root / "state"
    shutil.rmtree(state, ignore_errors=True)
    with tmpfs(state, "8m"):
        tail = AlertTail(project_root / "logs" / "autonomous_alerts.log")
        daemon = DaemonProcess(project_root, "--poll-interval", "0.2", notify=notify)
        await daemon.start()
        try:
            await notify.expect("READY")
            db = state / "peaktrade.db"
            await _cycles_at_least(db, 2)
            filler = await asyncio.to_thread(_fill, state)
            failed = await tail.wait_for("autonomous cycle failed", timeout_s=60)
            assert "full" in str(failed.context.get("error")), failed
            assert daemon.proc is not None and daemon.proc.returncode is None

            os.unlink(filler)
            before = _cycles(db)
            await _cycles_at_least(db, before + 2)
            daemon.signal(SIGTERM)
            assert await daemon.wait(30) == 0
        finally:
            await daemon.kill()
            tail.close()
        with sqlite3.connect(state / "peaktrade.db") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        heartbeat = state / "daemon.heartbeat"
        if heartbeat.exists():
            json.loads(heartbeat.read_text())
        assert not list(state.glob(f".*{TEMP_SUFFIX}"))
