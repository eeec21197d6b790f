"""The real daemon as a subprocess: sd_notify, reload, drain, single instance, crash restart."""

from __future__ import annotations

import json
import time
from pathlib import Path

import aiohttp
import pytest

from tests.daemon_harness import (
    SIGHUP,
    SIGINT,
    SIGKILL,
    SIGTERM,
    AlertTail,
    DaemonProcess,
    NotifySocket,
    files_outside_logs,
    run_cli,
    set_toml,
)

pytestmark = pytest.mark.slow


def _enable_http(root: Path) -> None:
    set_toml(root / "config" / "daemon.toml", "enabled = false ", "enabled = true ")
    set_toml(root / "config" / "daemon.toml", "port = 8787", "port = 0")


async def _healthz(root: Path) -> dict[str, object]:
    beat = json.loads((root / "state" / "daemon.heartbeat").read_text())
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as client,
        client.get(f"{beat['http_url']}/healthz") as response,
    ):
        body: dict[str, object] = await response.json()
        body["http_status"] = response.status
        return body


async def test_ready_reload_good_and_bad_second_instance_and_graceful_stop(
    project_root: Path, notify: NotifySocket, tail: AlertTail
) -> None:
    _enable_http(project_root)
    daemon = await DaemonProcess(project_root, notify=notify).start()
    try:
        await notify.expect("READY")
        started = await tail.wait_for("daemon started")
        assert started.context["pid"] == daemon.pid
        assert (project_root / "state" / "daemon.pid").read_text().strip() == str(daemon.pid)
        code, out, _ = await run_cli(project_root, "health")
        assert code == 0, out
        assert "healthy" in out

        # A second daemon on the same root is refused with exit 3, naming the holder.
        code, _, err = await run_cli(project_root, timeout_s=30)
        assert code == 3
        assert f"pid {daemon.pid}" in err and "already running" in err

        # SIGHUP with a valid change: RELOADING (with MONOTONIC_USEC), READY, generation 2.
        set_toml(
            project_root / "config" / "daemon.toml",
            "poll_interval_s = 300",
            "poll_interval_s = 120",
        )
        daemon.signal(SIGHUP)
        reloading = await notify.expect("RELOADING")
        assert int(reloading["MONOTONIC_USEC"]) > 0
        await notify.expect("READY")
        health = await _healthz(project_root)
        assert health["http_status"] == 200
        assert health["config_generation"] == 2
        assert health["run_state"] == "running"

        # logrotate moves the logs away; the SIGHUP below makes the daemon reopen them.
        logs = project_root / "logs"
        (logs / "autonomous_alerts.log").rename(logs / "autonomous_alerts.log.1")
        (logs / "daemon.log").rename(logs / "daemon.log.1")
        fresh = AlertTail(logs / "autonomous_alerts.log")

        # SIGHUP with a broken file: the old snapshot stays, a critical alert line is written.
        good = (project_root / "config" / "daemon.toml").read_text()
        (project_root / "config" / "daemon.toml").write_text("[daemon\npoll_interval_s = ")
        daemon.signal(SIGHUP)
        await notify.expect("RELOADING")
        await notify.expect("READY")
        failed = await fresh.wait_for(
            "configuration reload failed; keeping the previous configuration"
        )
        fresh.close()
        assert "reload refused" in (logs / "daemon.log").read_text()
        assert "configuration reload failed" not in (logs / "autonomous_alerts.log.1").read_text()
        assert str(failed.level) == "critical"
        assert "daemon.toml" in str(failed.context["error"])
        health = await _healthz(project_root)
        assert health["config_generation"] == 2 and health["http_status"] == 200
        assert daemon.proc is not None and daemon.proc.returncode is None

        daemon.signal(SIGTERM)
        await notify.expect("STOPPING")
        assert await daemon.wait() == 0
        stopping = AlertTail(logs / "autonomous_alerts.log")
        await stopping.wait_for("daemon stopping", reason="SIGTERM")
        stopping.close()
        assert not (project_root / "state" / "daemon.pid").exists()
        last_beat = json.loads((project_root / "state" / "daemon.heartbeat").read_text())
        assert last_beat["run_state"] == "stopped"
        (project_root / "config" / "daemon.toml").write_text(good)
        code, out, _ = await run_cli(project_root, "health")
        assert code == 1 and "no answer" in out  # HTTP is on: the listener is gone
    finally:
        await daemon.kill()


async def test_sigterm_during_long_work_drains_and_exits_zero(
    project_root: Path, notify: NotifySocket, tail: AlertTail
) -> None:
    daemon = DaemonProcess(project_root, notify=notify, script=True, env={"PT_TEST_SLOW_S": "2"})
    await daemon.start()
    try:
        await notify.expect("READY")
        await tail.wait_for("work started")
        sent = time.monotonic()
        daemon.signal(SIGTERM)
        assert await daemon.wait(timeout_s=30) == 0
        elapsed = time.monotonic() - sent
        await tail.wait_for("work finished")  # the drain let it complete
        assert elapsed < 30  # settings.daemon.drain_timeout_s
        assert not any(a.message == "work cancelled" for a in tail.seen)
    finally:
        await daemon.kill()


async def test_drain_timeout_cancels_with_reason_and_second_signal_forces(
    project_root: Path, notify: NotifySocket, tail: AlertTail
) -> None:
    set_toml(project_root / "config" / "daemon.toml", "drain_timeout_s = 30", "drain_timeout_s = 1")
    daemon = DaemonProcess(project_root, notify=notify, script=True, env={"PT_TEST_SLOW_S": "600"})
    await daemon.start()
    try:
        await notify.expect("READY")
        await tail.wait_for("work started")
        sent = time.monotonic()
        daemon.signal(SIGTERM)
        assert await daemon.wait(timeout_s=20) == 0
        assert time.monotonic() - sent < 10
        cancelled = await tail.wait_for("shutdown cancelled unfinished work")
        assert cancelled.context["cancelled"] == ["drain:slow-work (drain timeout)"]
        await tail.wait_for("work cancelled")
    finally:
        await daemon.kill()

    set_toml(
        project_root / "config" / "daemon.toml", "drain_timeout_s = 1", "drain_timeout_s = 600"
    )
    daemon = DaemonProcess(project_root, notify=notify, script=True, env={"PT_TEST_SLOW_S": "600"})
    await daemon.start()
    try:
        await notify.expect("READY")
        daemon.signal(SIGINT)
        await notify.expect("STOPPING")
        daemon.signal(SIGINT)
        assert await daemon.wait(timeout_s=20) == 0
        forced = await tail.wait_for("shutdown cancelled unfinished work", drain_timeout_s=600)
        assert "drain:slow-work (forced by a second signal)" in forced.context["cancelled"]
    finally:
        await daemon.kill()


async def test_kill_9_then_restart_comes_up_cleanly(
    project_root: Path, notify: NotifySocket, tail: AlertTail
) -> None:
    daemon = await DaemonProcess(project_root, notify=notify).start()
    await notify.expect("READY")
    code, out, _ = await run_cli(project_root, "health")  # local check: lock, pid, heartbeat
    assert code == 0, out
    daemon.signal(SIGKILL)
    assert await daemon.wait() == -9
    # What a crash mid-write leaves behind: a temp file of a writer that no longer exists.
    stale = project_root / "config" / "live_overrides" / ".auto.toml.999999999-dead.ptmp"
    stale.write_text("half written")
    code, out, _ = await run_cli(project_root, "health")
    assert code == 1

    again = await DaemonProcess(project_root, notify=notify).start()
    try:
        await notify.expect("READY")
        assert not stale.exists()
        # daemon.log names what the clean-up removed (it is attached before it).
        assert stale.name in (project_root / "logs" / "daemon.log").read_text()
        assert (project_root / "state" / "daemon.pid").read_text().strip() == str(again.pid)
        await tail.wait_for("daemon started", pid=again.pid)
        assert [a.context["pid"] for a in tail.seen if a.message == "daemon started"] == [
            daemon.pid,
            again.pid,
        ]
        again.signal(SIGTERM)
        assert await again.wait() == 0
    finally:
        await again.kill()
    code, out, _ = await run_cli(project_root, "alerts", "--source", "daemon", "--json")
    messages = [json.loads(line)["message"] for line in out.splitlines()]
    assert messages.count("daemon started") == 2  # history survived the crash
    assert messages[-1] == "daemon stopping"


async def test_dry_run_writes_only_logs_and_alerts_on_invalid_live_overrides(
    project_root: Path, notify: NotifySocket, tail: AlertTail
) -> None:
    set_toml(project_root / "config" / "config.toml", 'mode = "paper"', 'mode = "live"')
    (project_root / "config" / "live_overrides" / "auto.toml").write_text("[auto_applied\n")
    before = files_outside_logs(project_root)
    daemon = DaemonProcess(
        project_root, "--dry-run", notify=notify, env={"WATCHDOG_USEC": "200000"}
    )
    await daemon.start()
    try:
        await notify.expect("READY")
        alert = await tail.wait_for("daemon started")
        assert alert.context["dry_run"] is True
        await notify.expect("WATCHDOG")  # pinged every 0.1 s (half of WATCHDOG_USEC)
        bad = [a for a in tail.seen if a.source == "config"]
        assert bad and str(bad[0].level) == "critical"
        assert "auto.toml" in str(bad[0].context["file"])
        daemon.signal(SIGTERM)
        assert await daemon.wait() == 0
    finally:
        await daemon.kill()
    after = files_outside_logs(project_root)
    assert after == before
    assert list((project_root / "state").iterdir()) == []


async def test_once_exit_status_follows_the_cycle(project_root: Path, tail: AlertTail) -> None:
    ok = await DaemonProcess(
        project_root, "--once", script=True, env={"PT_TEST_CYCLE": "ok"}
    ).start()
    assert await ok.wait() == 0
    await tail.wait_for("cycle ran")
    bad = await DaemonProcess(
        project_root, "--once", script=True, env={"PT_TEST_CYCLE": "fail"}
    ).start()
    assert await bad.wait() == 1


async def test_continuous_cycles_every_poll_interval_and_sigterm_ends_the_wait(
    project_root: Path, notify: NotifySocket, tail: AlertTail
) -> None:
    # De-duplication off: every cycle's identical alert must reach the log.
    env = {"PT_TEST_CYCLE": "ok", "PEAKTRADE_ALERTS__DEDUP_WINDOW_S": "0"}
    daemon = DaemonProcess(
        project_root, "--poll-interval", "0.2", notify=notify, script=True, env=env
    )
    await daemon.start()
    try:
        await notify.expect("READY")
        for _ in range(3):
            await tail.wait_for("cycle ran")
            tail.seen = [a for a in tail.seen if a.message != "cycle ran"]
        daemon.signal(SIGTERM)
        assert await daemon.wait(timeout_s=10) == 0
    finally:
        await daemon.kill()
    daemon = DaemonProcess(
        project_root,
        "--poll-interval",
        "3600",
        notify=notify,
        script=True,
        env={"PT_TEST_CYCLE": "ok"},
    )
    await daemon.start()
    try:
        await notify.expect("READY")
        await tail.wait_for("cycle ran")
        sent = time.monotonic()
        daemon.signal(SIGTERM)  # the daemon is inside an hour-long wait
        assert await daemon.wait(timeout_s=10) == 0
        assert time.monotonic() - sent < 5
    finally:
        await daemon.kill()


async def test_logs_rotate_at_max_bytes_without_logrotate(project_root: Path) -> None:
    """``[logs] max_bytes`` reaches both writers: logs already past it are rotated to ``.1``
    by the first line this run writes, and the run's own lines start the new files."""
    set_toml(project_root / "config" / "daemon.toml", "max_bytes = 0 ", "max_bytes = 4096 ")
    logs = project_root / "logs"
    logs.mkdir(exist_ok=True)
    earlier_alert = "2026-01-01T00:00:00.000Z\tinfo\ttest\tearlier run\t{}\n"
    (logs / "autonomous_alerts.log").write_text(earlier_alert * 80)  # about 4.4 KB
    (logs / "daemon.log").write_text("2026-01-01T00:00:00.000Z INFO x: earlier run\n" * 100)
    code, _, err = await run_cli(project_root, "--once")
    assert code == 0, err
    assert (logs / "autonomous_alerts.log.1").read_text() == earlier_alert * 80
    alerts = (logs / "autonomous_alerts.log").read_text()
    assert "daemon started" in alerts and "earlier run" not in alerts
    assert (logs / "daemon.log.1").read_text().count("earlier run") == 100
    assert "earlier run" not in (logs / "daemon.log").read_text()
    assert not (logs / "daemon.log.2").exists()
