"""The outbox inside the real daemon: a sink that is down, a restart, then exactly-once delivery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from peaktrade_daemon.storage.alert_store import AlertStore
from peaktrade_daemon.storage.db import open_database
from tests.alerts.receiver import Receiver
from tests.daemon_harness import SIGTERM, AlertTail, DaemonProcess, NotifySocket

pytestmark = pytest.mark.slow

FAST_RETRIES = {
    "PEAKTRADE_ALERTS__RETRY_INITIAL_S": "0.1",
    "PEAKTRADE_ALERTS__RETRY_MAX_S": "0.5",
    "PEAKTRADE_ALERTS__CONSOLE": "false",
}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


async def _counts(root: Path) -> dict[tuple[str, str], int]:
    db = await open_database(f"sqlite+aiosqlite:///{root / 'state' / 'peaktrade.db'}")
    try:
        return await AlertStore(db).outbox_counts()
    finally:
        await db.close()


async def test_alerts_queued_while_sink_down_are_delivered_once_after_restart(
    project_root: Path, receiver: Receiver
) -> None:
    with (project_root / "config" / "daemon.toml").open("a") as f:
        f.write(f'\n[[alerts.sinks]]\nname = "hook"\nkind = "webhook"\nurl = "{receiver.url}"\n')
        f.write('min_level = "info"\n')
    notify = NotifySocket()
    tail = AlertTail(project_root / "logs" / "autonomous_alerts.log")
    try:
        receiver.failing = True
        first = await DaemonProcess(project_root, notify=notify, env=FAST_RETRIES).start()
        try:
            await notify.expect("READY")
            await receiver.wait_until(lambda r: r.failed >= 3)  # retrying with backoff
            report = await tail.wait_for("alert sink hook is failing")
            assert report.context["sink"] == "hook"
            first.signal(SIGTERM)
            assert await first.wait() == 0
        finally:
            await first.kill()
        assert await _counts(project_root) == {("hook", "pending"): 2}  # started, stopping
        assert receiver.accepted == []

        receiver.failing = False
        second = await DaemonProcess(project_root, notify=notify, env=FAST_RETRIES).start()
        try:
            await notify.expect("READY")
            await receiver.wait_until(lambda r: len(r.accepted) >= 3)
            second.signal(SIGTERM)
            assert await second.wait() == 0
        finally:
            await second.kill()
    finally:
        notify.close()
        tail.close()

    messages = [(b["message"], b["context"].get("pid")) for b in receiver.accepted]
    assert messages.count(("daemon started", first.pid)) == 1
    assert messages.count(("daemon stopping", None)) >= 1
    assert messages.count(("daemon started", second.pid)) == 1
    # Exactly once: every accepted request has its own key, and the database agrees.
    assert len(set(receiver.keys)) == len(receiver.keys) == len(receiver.accepted)
    assert await _counts(project_root) == {("hook", "delivered"): len(receiver.accepted)}
