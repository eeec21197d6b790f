"""SIGTERM in every run state (issue 8, item 2), on real daemon subprocesses.

``running`` (drain, exit 0) and ``stopping`` (a second signal forces the drain) are covered in
tests/test_daemon.py. Here the two states a signal can also land in, made long enough to hit by
a test component (tests/daemon_script.py) whose ``start()`` or ``reload()`` takes 2 s:

- ``starting``: the stop is honoured once start-up returns: exit 0, a "daemon stopping" alert
  with reason SIGTERM, no pid file, and the instance lock free for the next daemon.
- ``reloading``: the reload finishes (a half-applied reload would leave components on different
  snapshots), then the daemon stops with exit 0.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.daemon_harness import SIGHUP, SIGTERM, AlertTail, DaemonProcess, NotifySocket

pytestmark = pytest.mark.slow

HOLD_S = "2"


async def test_sigterm_while_starting_stops_cleanly_once_start_up_returns(
    project_root: Path, notify: NotifySocket, tail: AlertTail
) -> None:
    env = {"PT_TEST_START_S": HOLD_S, "PT_TEST_CYCLE": "ok"}
    daemon = DaemonProcess(project_root, notify=notify, script=True, env=env)
    await daemon.start()
    try:
        await tail.wait_for("start held")
        sent = time.monotonic()
        daemon.signal(SIGTERM)
        assert await daemon.wait(30) == 0
        assert time.monotonic() - sent < 15
        await tail.wait_for("daemon stopping", reason="SIGTERM")
        await notify.expect("STOPPING")  # READY (start-up did finish) came before it
    finally:
        await daemon.kill()
    assert not (project_root / "state" / "daemon.pid").exists()

    # The lock is free: the next daemon starts and runs.
    again = DaemonProcess(project_root, notify=notify, script=True, env={"PT_TEST_CYCLE": "ok"})
    await again.start()
    try:
        await notify.expect("READY")
        again.signal(SIGTERM)
        assert await again.wait(30) == 0
    finally:
        await again.kill()


async def test_sigterm_while_reloading_finishes_the_reload_then_stops(
    project_root: Path, notify: NotifySocket, tail: AlertTail
) -> None:
    env = {"PT_TEST_RELOAD_S": HOLD_S, "PT_TEST_CYCLE": "ok"}
    daemon = DaemonProcess(project_root, notify=notify, script=True, env=env)
    await daemon.start()
    try:
        await notify.expect("READY")
        daemon.signal(SIGHUP)
        await tail.wait_for("reload held")
        daemon.signal(SIGTERM)
        assert await daemon.wait(30) == 0
        await tail.wait_for("daemon stopping", reason="SIGTERM")
    finally:
        await daemon.kill()
    log = (project_root / "logs" / "daemon.log").read_text()
    assert "reloaded configuration generation 2" in log
    assert "Traceback" not in daemon.stderr
