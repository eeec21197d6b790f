"""The Daemon object in-process: run-state events, component restarts as alerts, stop by intent."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from peaktrade_daemon.daemon import Daemon
from peaktrade_daemon.events import (
    AlertRaised,
    ComponentFailed,
    CycleFinished,
    RunState,
    RunStateChanged,
)
from peaktrade_daemon.runtime import DaemonOptions, Plugins, Runtime
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.snapshot import SnapshotSpec
from peaktrade_daemon.systemd import SystemdNotifier


def _options(root: Path, **overrides: dict[str, object]) -> DaemonOptions:
    """A dry-run daemon on ``root`` with the console quiet and ``overrides`` as CLI flags."""
    cli = {"alerts": {"console": False}, **overrides}
    return DaemonOptions(spec=SnapshotSpec(root=root, cli_overrides=cli), dry_run=True)


async def _until_running(daemon: Daemon) -> None:
    await asyncio.wait_for(
        daemon.bus.next_event(
            RunStateChanged, timeout_s=10, predicate=lambda e: e.current is RunState.RUNNING
        ),
        10,
    )


class Crashy:
    name = "crashy"

    def __init__(self, runtime: Runtime) -> None:
        self.runs = 0

    async def start(self) -> None: ...

    async def run(self) -> None:
        self.runs += 1
        raise ValueError(f"feed broke ({self.runs})")

    async def reload(self, settings: DaemonSettings) -> None: ...

    async def drain(self) -> None: ...

    async def stop(self) -> None: ...


async def test_lifecycle_events_and_a_crashing_component_is_restarted_and_alerted(
    project_root: Path,
) -> None:
    options = _options(
        project_root, daemon={"restart_backoff_initial_s": 0.01, "restart_backoff_max_s": 0.02}
    )
    daemon = Daemon(options, plugins=Plugins(components=(Crashy,)), notifier=SystemdNotifier({}))
    states: list[tuple[RunState, RunState]] = []
    daemon.bus.subscribe(
        RunStateChanged, lambda e: states.append((e.previous, e.current)), name="states"
    )
    second_failure = daemon.bus.expect(ComponentFailed, lambda e: e.restarts == 2)
    alert = daemon.bus.expect(AlertRaised, lambda e: e.alert.context.get("component") == "crashy")
    run = asyncio.create_task(daemon.run())
    try:
        failed = await asyncio.wait_for(second_failure, 10)
        assert failed.error == "ValueError: feed broke (2)"
        raised = await asyncio.wait_for(alert, 10)
        assert str(raised.alert.level) == "critical"
        health = daemon.health()
        assert health.body["components"]["crashy"]["restarts"] >= 2
        assert daemon.state is RunState.RUNNING
        daemon.request_reload()
        await _until_running(daemon)
        daemon.request_stop("test")
        assert await asyncio.wait_for(run, 20) == 0
    finally:
        if not run.done():
            run.cancel()
    assert states == [
        (RunState.STARTING, RunState.RUNNING),
        (RunState.RUNNING, RunState.RELOADING),
        (RunState.RELOADING, RunState.RUNNING),
        (RunState.RUNNING, RunState.STOPPING),
        (RunState.STOPPING, RunState.STOPPED),
    ]
    assert daemon.stop_reason == "test"


@dataclass(frozen=True)
class Done:
    success: bool


class StrayCancel:
    """A cycle runner whose first cycle gets a CancelledError nobody asked for (as from a
    library's shared future that another caller cancelled)."""

    def __init__(self, runtime: Runtime) -> None:
        self.cycles = 0

    async def run_cycle(self) -> Done:
        self.cycles += 1
        if self.cycles == 1:
            raise asyncio.CancelledError()
        return Done(success=True)


async def test_a_stray_cancelled_error_fails_one_cycle_and_the_cycle_loop_goes_on(
    project_root: Path,
) -> None:
    options = _options(project_root, daemon={"poll_interval_s": 0.01})
    daemon = Daemon(
        options, plugins=Plugins(cycle_runner=StrayCancel), notifier=SystemdNotifier({})
    )
    failed = daemon.bus.expect(CycleFinished, lambda e: not e.success)
    later = daemon.bus.expect(CycleFinished, lambda e: e.success)
    run = asyncio.create_task(daemon.run())
    try:
        assert "CancelledError" in (await asyncio.wait_for(failed, 10)).summary
        await asyncio.wait_for(later, 10)  # the loop survived it
        daemon.request_stop("test")
        assert await asyncio.wait_for(run, 20) == 0
    finally:
        if not run.done():
            run.cancel()


async def test_a_reload_moves_the_daemon_log_and_names_settings_that_wait_for_a_restart(
    project_root: Path,
) -> None:
    options = _options(project_root)
    daemon = Daemon(options, plugins=Plugins(), notifier=SystemdNotifier({}))
    later = daemon.bus.expect(AlertRaised, lambda e: "next restart" in e.alert.message)
    run = asyncio.create_task(daemon.run())
    try:
        await _until_running(daemon)
        daemon_toml = project_root / "config" / "daemon.toml"
        text = daemon_toml.read_text()
        enabled = text.replace("[http]\nenabled = false", "[http]\nenabled = true")
        assert enabled != text
        daemon_toml.write_text(f'{enabled}\n[paths]\ndaemon_log = "logs/new/d.log"\n')
        daemon.request_reload()
        alert = (await asyncio.wait_for(later, 10)).alert
        assert str(alert.level) == "warning"
        assert alert.context["settings"] == ["http.enabled"]
        assert daemon.health().body["http_url"] is None  # no listener until a restart
        daemon.request_stop("after the reload")
        assert await asyncio.wait_for(run, 20) == 0
    finally:
        if not run.done():
            run.cancel()
    assert "reloaded configuration generation 2" in (project_root / "logs/new/d.log").read_text()
    assert "reloaded configuration" not in (project_root / "logs/daemon.log").read_text()
