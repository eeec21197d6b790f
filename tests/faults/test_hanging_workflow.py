"""A workflow that hangs inside the running daemon (issue 8, item 2), on the real CLI process.

Two scheduled command jobs run ``hang.py``, which starts a grandchild ``sleep 3600``, records
its pids and signal masks, and sleeps for an hour:

- ``hang_short`` (every 1 s, ``timeout_seconds = 1``): each run ends ``timed_out``; its whole
  process group (the grandchild too) is gone; ``workflow_runs`` and ``job_runs`` record it; a
  critical alert names the job; the daemon stays up, cycles go on and the job runs again.
- ``hang_long`` (``timeout_seconds = 3600``) is hanging when SIGTERM arrives: the daemon drains
  for ``drain_timeout_s`` (1 s here), cancels it with the reason recorded, kills its group and
  exits 0, leaving no child process behind. A later fire handed out during the drain is
  recorded ``missed`` ("the daemon is stopping") and starts nothing.

The command children must not inherit the signals the entry point holds
(:mod:`peaktrade_daemon.early_signals`): their ``SigBlk`` is empty and SIGTERM/SIGINT/SIGHUP
are not ignored.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_harness import SIGTERM, AlertTail, DaemonProcess, NotifySocket

pytestmark = pytest.mark.slow

DRAIN_S = 1.0

HANG = """\
import json, os, subprocess, sys, time
out = sys.argv[sys.argv.index("--out") + 1]
grandchild = subprocess.Popen(["sleep", "3600"])
status = open("/proc/self/status").read()
fields = dict(line.split(":", 1) for line in status.splitlines())
masks = {k: int(fields[k].strip(), 16) for k in ("SigBlk", "SigIgn")}
info = {"pid": os.getpid(), "pgid": os.getpgid(0), "grandchild": grandchild.pid, "masks": masks}
tmp = os.path.join(out, f".{os.getpid()}.tmp")
with open(tmp, "w") as f:
    json.dump(info, f)
os.replace(tmp, os.path.join(out, f"{os.getpid()}.json"))
time.sleep(3600)
"""

JOBS = """\
[[job]]
name = "hang_short"
command = [{python}, "-u"]
args = {{ script = "hang.py", out = "hangs/short" }}
schedule_type = "interval"
interval_seconds = 1
timeout_seconds = 1

[[job]]
name = "hang_long"
command = [{python}, "-u"]
args = {{ script = "hang.py", out = "hangs/long" }}
schedule_type = "interval"
interval_seconds = 2
timeout_seconds = 3600
"""

STOP_BITS = (1 << (signal.SIGTERM - 1)) | (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGHUP - 1))


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (reaped or not, a zombie runs nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _group(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


def _records(directory: Path) -> list[dict[str, Any]]:
    files = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime)
    return [json.loads(p.read_text()) for p in files]


async def _hangs(directory: Path, count: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
    """The first ``count`` hang.py records in ``directory`` (oldest first), once written."""
    async with asyncio.timeout(timeout_s):
        while True:
            records = _records(directory)
            if len(records) >= count:
                return records[:count]
            await asyncio.sleep(0.05)


def _rows(db: Path, query: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return list(conn.execute(query, args).fetchall())


def _cycles(db: Path) -> int:
    return int(_rows(db, "select count(*) from cycle_summaries")[0][0])


async def _cycles_at_least(db: Path, count: int, timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            try:
                if _cycles(db) >= count:
                    return
            except sqlite3.OperationalError:  # not created yet, or busy
                pass
            await asyncio.sleep(0.05)


async def _assert_gone(hang: dict[str, Any], timeout_s: float = 5.0) -> None:
    """The leader, its grandchild and its whole group are gone. SIGKILL cannot be caught but
    is delivered asynchronously: a grandchild the kernel has not scheduled yet (two test
    workers on two cores) may still show as running a moment after the kill, so this waits
    up to ``timeout_s`` for them to go, never for a process that survived."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                if not (_alive(hang["pid"]) or _alive(hang["grandchild"]) or _group(hang["pgid"])):
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError((hang, _group(hang["pgid"]))) from None


async def test_a_hanging_workflow_times_out_alone_and_sigterm_drains_it(
    project_root: Path, notify: NotifySocket, tail: AlertTail
) -> None:
    (project_root / "hang.py").write_text(HANG)
    for sub in ("short", "long"):
        (project_root / "hangs" / sub).mkdir(parents=True)
    jobs = JOBS.format(python=json.dumps(sys.executable))
    (project_root / "config" / "scheduler" / "jobs.toml").write_text(jobs)
    db = project_root / "state" / "peaktrade.db"
    env = {"PEAKTRADE_DAEMON__DRAIN_TIMEOUT_S": str(DRAIN_S)}
    daemon = DaemonProcess(project_root, "--poll-interval", "0.5", notify=notify, env=env)
    await daemon.start()
    try:
        await notify.expect("READY")
        first = (await _hangs(project_root / "hangs" / "short", 1))[0]
        alert = await tail.wait_for("job hang_short timed_out: timed out after 1s", timeout_s=30)
        assert str(alert.level) == "critical"
        await _assert_gone(first)  # the leader and its grandchild: the whole group
        # uvloop spawns children with an empty mask: the held signals are not inherited.
        assert first["masks"]["SigBlk"] == 0, first
        assert first["masks"]["SigIgn"] & STOP_BITS == 0, first

        cycles = _cycles(db)
        await _cycles_at_least(db, cycles + 2)  # the cycle goes on
        second = (await _hangs(project_root / "hangs" / "short", 2))[1]  # and so does the job
        assert second["pid"] != first["pid"]

        hanging = (await _hangs(project_root / "hangs" / "long", 1))[0]
        assert _alive(hanging["pid"])
        assert daemon.proc is not None and daemon.proc.returncode is None
        sent = time.monotonic()
        daemon.signal(SIGTERM)
        assert await daemon.wait(30) == 0
        elapsed = time.monotonic() - sent
    finally:
        await daemon.kill()
    # drain timeout + the command's kill grace (2 s) + shutdown; far below the job's hour
    assert elapsed < DRAIN_S + 2 + 5, elapsed
    await _assert_gone(hanging)
    await _assert_gone(second)
    cancelled = await tail.wait_for("shutdown cancelled unfinished work", timeout_s=5)
    assert cancelled.context.get("drain_timeout_s") == DRAIN_S

    timed_out = _rows(
        db,
        "select state, error from workflow_runs where name = 'hang_short' and state = ?",
        "timed_out",
    )
    assert timed_out and all("timed out after 1s" in str(e) for _, e in timed_out)
    assert (
        _rows(
            db,
            "select count(*) from job_runs where job_name = 'hang_short' and outcome = ?",
            "timed_out",
        )[0][0]
        >= 1
    )
    (long_state, long_error), *_ = _rows(
        db, "select state, error from workflow_runs where name = 'hang_long'"
    )
    assert long_state == "cancelled" and "drain timeout" in str(long_error), long_error
    job = _rows(db, "select outcome, error from job_runs where job_name = 'hang_long'")
    ran = [row for row in job if row[0] != "missed"]
    assert ran == [("cancelled", long_error)], job
    # A fire that waited for the running one (max_running_jobs = 1) may be handed out once the
    # cancel frees the slot: it is recorded as missed, and nothing new starts while draining.
    assert all(row == ("missed", "the daemon is stopping") for row in job if row not in ran), job
    assert len(_records(project_root / "hangs" / "long")) == 1
    assert not _rows(db, "select run_id from workflow_runs where state in ('pending', 'running')")
    assert "Traceback" not in daemon.stderr
