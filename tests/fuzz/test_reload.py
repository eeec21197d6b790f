"""Bad input met by the running daemon: a SIGHUP reload over a damaged file keeps the old
configuration, raises a critical alert naming the file, and the daemon stays up; a live-overrides
file that does not parse is an alert, never a failed reload.

In-process (the Daemon object, ``request_reload`` as the SIGHUP handler calls it), with the
product's ``jobs.toml`` and ``promotion.toml`` loaders (``wiring.LOADERS``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from peaktrade_daemon.daemon import Daemon
from peaktrade_daemon.events import (
    AlertRaised,
    ConfigReloaded,
    ConfigReloadFailed,
    RunState,
    RunStateChanged,
)
from peaktrade_daemon.runtime import DaemonOptions, Plugins
from peaktrade_daemon.snapshot import SnapshotSpec
from peaktrade_daemon.systemd import SystemdNotifier
from peaktrade_daemon.wiring import LOADERS


@pytest.fixture
async def daemon(project_root: Path) -> AsyncIterator[Daemon]:
    options = DaemonOptions(
        spec=SnapshotSpec(
            root=project_root,
            cli_overrides={"alerts": {"console": False, "dedup_window_s": 0}},
        ),
        dry_run=True,
    )
    running = Daemon(options, plugins=Plugins(loaders=LOADERS), notifier=SystemdNotifier({}))
    ready = running.bus.expect(RunStateChanged, lambda e: e.current is RunState.RUNNING)
    task = asyncio.create_task(running.run())
    try:
        await asyncio.wait_for(ready, 20)
        yield running
        running.request_stop("test")
        assert await asyncio.wait_for(task, 20) == 0
    finally:
        if not task.done():
            task.cancel()


def _replace(old: str, new: str) -> Callable[[bytes], bytes]:
    def edit(raw: bytes) -> bytes:
        assert old.encode() in raw
        return raw.replace(old.encode(), new.encode(), 1)

    return edit


# file under config/, how to damage it, what the alert's error must say
DAMAGE: list[tuple[str, Callable[[bytes], bytes], str]] = [
    ("daemon.toml", lambda raw: raw[: len(raw) // 2] + b"\n[daemon", "invalid TOML"),
    ("daemon.toml", _replace("poll_interval_s = 300", "poll_interval_s = inf"), "poll_interval_s"),
    ("daemon.toml", lambda raw: raw + b'\n[symbols."X"]\nfile = "../../x"\n', "symbols.X.file"),
    ("config.toml", _replace('mode = "paper"', "mode = 5"), "environment.mode"),
    ("config.toml", lambda raw: raw + b"\nx = " + b"[" * 1000, "cannot be parsed"),
    ("config.toml", lambda raw: raw.decode().encode("utf-16"), "not UTF-8"),
    # Read by the paper book and the strategies, not the loader: refused before the swap.
    ("config.toml", _replace("leverage = 1.0", 'leverage = "high"'), "portfolio.leverage"),
    ("config.toml", _replace('enabled = ["ma_crossover"', 'enabled = ["nope"'), "unknown strategy"),
    ("scheduler/jobs.toml", _replace('daily_time = "08:15"', 'daily_time = "8:15"'), "daily_time"),
    ("scheduler/jobs.toml", lambda raw: raw + b"\n[[job]]\nname = 5\n", "field 'name'"),
    ("promotion.toml", _replace("cooldown_minutes = 60", "cooldown_minutes = inf"), "cooldown"),
    ("promotion.toml", lambda raw: b"", "Field required"),
]


async def test_every_damaged_file_keeps_the_old_config_alerts_and_stays_up(
    daemon: Daemon, project_root: Path
) -> None:
    first = daemon.snapshot
    for name, damage, needle in DAMAGE:
        path = project_root / "config" / name
        original = path.read_bytes()
        path.write_bytes(damage(original))
        failed = daemon.bus.expect(ConfigReloadFailed)
        alert = daemon.bus.expect(
            AlertRaised, lambda e: e.alert.message.startswith("configuration reload failed")
        )
        back = daemon.bus.expect(RunStateChanged, lambda e: e.current is RunState.RUNNING)
        daemon.request_reload()
        refused = await asyncio.wait_for(failed, 20)
        raised = (await asyncio.wait_for(alert, 20)).alert
        assert needle in refused.error, (name, refused.error)
        assert str(raised.level) == "critical"
        assert name.split("/")[-1] in str(raised.context["error"]) + str(raised.context["file"])
        await asyncio.wait_for(back, 20)
        assert daemon.snapshot is first and daemon.state is RunState.RUNNING
        path.write_bytes(original)
    reloaded = daemon.bus.expect(ConfigReloaded)
    daemon.request_reload()
    assert (await asyncio.wait_for(reloaded, 20)).generation == first.generation + 1


async def test_a_bad_environment_value_at_reload_is_refused(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = daemon.snapshot
    monkeypatch.setenv("PEAKTRADE_DAEMON__HEARTBEAT_INTERVAL_S", "1e300")
    failed = daemon.bus.expect(ConfigReloadFailed)
    daemon.request_reload()
    refused = await asyncio.wait_for(failed, 20)
    assert "PEAKTRADE_DAEMON__HEARTBEAT_INTERVAL_S" in refused.error
    assert daemon.snapshot is first


async def test_unparseable_live_overrides_reload_with_an_alert_naming_the_file(
    daemon: Daemon, project_root: Path
) -> None:
    config = project_root / "config" / "config.toml"
    config.write_text(config.read_text().replace('mode = "paper"', 'mode = "live"', 1))
    auto = project_root / "config" / "live_overrides" / "auto.toml"
    auto.write_bytes(b'[auto_applied]\n"portfolio.leverage" = [[[')
    reloaded = daemon.bus.expect(ConfigReloaded)
    alert = daemon.bus.expect(AlertRaised, lambda e: e.alert.source == "config")
    daemon.request_reload()
    assert (await asyncio.wait_for(reloaded, 20)).changed
    raised = (await asyncio.wait_for(alert, 20)).alert
    assert str(raised.level) == "critical" and raised.context["file"] == str(auto)
    assert daemon.snapshot.config.get("portfolio.leverage") == 1.0
    assert auto.read_bytes() == b'[auto_applied]\n"portfolio.leverage" = [[['
