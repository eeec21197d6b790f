"""Signals in the first second of a daemon's life (issue 8, item 2), on the real CLI process.

``python -m peaktrade_daemon`` blocks SIGTERM/SIGINT/SIGHUP as its first statement
(:mod:`peaktrade_daemon.early_signals`) and the daemon delivers them once its loop handlers are
installed. A SIGTERM (or SIGINT) sent at any point from the moment the entry point runs up to
READY is a clean stop: exit 0, no pid file, no temp file, no traceback, the instance lock free;
a SIGHUP is a reload, not a kill. Before the entry point runs (the interpreter's own start-up,
a few tens of ms) no Python code can catch a signal: the process dies by the default action,
with nothing written (systemd counts a death by SIGTERM as a clean stop); the 0 ms point
checks that.

Each point is observed, not guessed: "held" is the moment ``/proc/<pid>/status`` shows exactly
the three signals blocked, "locked" the moment ``state/daemon.pid`` appears, "started" the
"daemon started" alert (the last step before READY); "0.3" is 300 ms after exec, amid imports.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from peaktrade_daemon.instance import is_held
from tests.conftest import PROJECT_ROOT
from tests.daemon_harness import SIGHUP, SIGINT, SIGTERM, AlertTail, DaemonProcess, NotifySocket

pytestmark = pytest.mark.slow

HELD_BITS = (1 << (signal.SIGTERM - 1)) | (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGHUP - 1))


def _fresh_root(base: Path) -> Path:
    root = base / "root"
    shutil.copytree(PROJECT_ROOT / "config", root / "config")
    shutil.copytree(PROJECT_ROOT / "data", root / "data")
    for sub in ("state", "logs", "reports"):
        (root / sub).mkdir(parents=True)
    return root


def _status_mask(pid: int, field: str) -> int:
    """A signal mask field (SigBlk, SigIgn, ...) of ``/proc/<pid>/status`` (0 if gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    line = next(line for line in text.splitlines() if line.startswith(f"{field}:"))
    return int(line.split()[1], 16)


async def _until(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Poll ``check`` (a file or ``/proc`` state of another process) until it holds."""
    async with asyncio.timeout(timeout_s):
        while True:
            if check():
                return
            await asyncio.sleep(0.002)


def _written(root: Path) -> list[Path]:
    """Files the daemon wrote under state/, logs/ and reports/ (the harness's own output aside)."""
    found = [p for sub in ("state", "logs", "reports") for p in (root / sub).rglob("*")]
    return [p for p in found if p.is_file() and not p.name.startswith("proc-")]


async def _point(daemon: DaemonProcess, name: str) -> None:
    """Wait until the daemon reaches the named point of its start-up."""
    root = daemon.root
    if name == "held":
        # Exactly these three: libuv briefly blocks *every* signal while it starts threads.
        await _until(lambda: _status_mask(daemon.pid, "SigBlk") == HELD_BITS)
    elif name == "locked":
        await _until(lambda: (root / "state" / "daemon.pid").exists())
    elif name == "started":
        tail = AlertTail(root / "logs" / "autonomous_alerts.log")
        try:
            await tail.wait_for("daemon started", timeout_s=30)
        finally:
            tail.close()
    else:
        await asyncio.sleep(float(name))


async def _stop_at(base: Path, point: str, sig: signal.Signals = SIGTERM) -> tuple[Path, int]:
    root = _fresh_root(base)
    daemon = DaemonProcess(root, "--poll-interval", "0.5")
    await daemon.start()
    try:
        await _point(daemon, point)
        daemon.signal(sig)
        code = await daemon.wait(30)
    finally:
        await daemon.kill()
    assert "Traceback" not in daemon.stderr, daemon.stderr
    return root, code


@pytest.mark.parametrize(
    ("point", "sig"),
    [("held", SIGINT), ("0.3", SIGTERM), ("locked", SIGTERM), ("started", SIGTERM)],
)
async def test_a_stop_signal_at_each_point_of_start_up_is_a_clean_exit_0(
    tmp_path: Path, point: str, sig: signal.Signals
) -> None:
    root, code = await _stop_at(tmp_path, point, sig)
    assert code == 0, f"{sig.name} at {point}: exit {code}"  # SIGINT too: a daemon exits 0 (§3.2)
    assert not (root / "state" / "daemon.pid").exists()
    assert not list(root.rglob("*.ptmp"))
    assert not is_held(root / "state")  # the instance lock is free for the next daemon


async def test_sigterm_in_the_first_milliseconds_writes_nothing(tmp_path: Path) -> None:
    root, code = await _stop_at(tmp_path, "0")
    # Before the interpreter reaches the entry point only the default action is possible.
    assert code in (0, -signal.SIGTERM), code
    if code != 0:
        assert not _written(root), _written(root)


async def test_sighup_while_starting_is_a_reload_not_a_kill(tmp_path: Path) -> None:
    root = _fresh_root(tmp_path)
    notify = NotifySocket()
    daemon = DaemonProcess(root, "--poll-interval", "0.5", notify=notify)
    await daemon.start()
    try:
        await _point(daemon, "held")
        daemon.signal(SIGHUP)  # by default SIGHUP would kill it; held, it is a reload request
        await notify.expect("READY", timeout_s=30)
        await _log_line(root / "logs" / "daemon.log", "reloaded configuration generation 2")
        daemon.signal(SIGTERM)
        assert await daemon.wait(30) == 0
    finally:
        await daemon.kill()
        notify.close()


async def _log_line(path: Path, needle: str, timeout_s: float = 30.0) -> None:
    def found() -> bool:
        return path.exists() and needle in path.read_text()

    await _until(found, timeout_s)
