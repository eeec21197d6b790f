"""The watchdog proves progress: a stuck cycle or a dead component task stops the pings.

The daemon runs on a ManualClock with a real AF_UNIX notify socket (the ``notify`` fixture), so
"no ping for 100 s" is shown by moving the clock and then finding the test's own marker datagram
next in the socket: a ping sent in between would have arrived before it (datagrams on one socket
keep their order). One more run is a real process on the wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import pytest

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.daemon import Daemon
from peaktrade_daemon.events import AlertRaised, RunState, RunStateChanged
from peaktrade_daemon.runtime import DaemonOptions, Plugins, Runtime
from peaktrade_daemon.settings import DaemonSettings, load_settings
from peaktrade_daemon.snapshot import SnapshotSpec
from peaktrade_daemon.systemd import SystemdNotifier
from peaktrade_daemon.watchdog import Verdict, grace_s, judge
from tests.daemon_harness import SIGTERM, AlertTail, DaemonProcess, NotifySocket

WATCHDOG_USEC = "20000000"  # a ping every 10 s
POLL_S = 100.0  # grace: 2 x 100 + 60 = 260 s


def test_judge() -> None:
    assert judge(since_progress_s=0.0, grace_s=260) == Verdict(True)
    assert judge(since_progress_s=260.0, grace_s=260) == Verdict(True)
    late = judge(since_progress_s=270.0, grace_s=260)
    assert not late.ok and late.reason == "no cycle finished for 270 s (grace 260 s)"
    assert judge(since_progress_s=None, grace_s=1) == Verdict(True)  # no cycles to prove
    gone = judge(since_progress_s=0.0, grace_s=260, ended=["scheduler", "promotion"])
    assert gone == Verdict(False, "component task ended: scheduler, promotion")


def test_grace_defaults_to_two_poll_intervals_and_a_minute(project_root: Path) -> None:
    assert grace_s(load_settings(project_root)) == 2 * 300 + 60
    fast = load_settings(project_root, cli_overrides={"daemon": {"poll_interval_s": 60}})
    assert grace_s(fast) == 180
    set_ = load_settings(project_root, cli_overrides={"daemon": {"watchdog_grace_s": 45}})
    assert grace_s(set_) == 45


class Outcome:
    success = True


class Stuck:
    """The first cycle hangs (a feed that never answers) until the test releases it."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.calls = 0

    async def run_cycle(self) -> Outcome:
        self.calls += 1
        await self.release.wait()
        return Outcome()


class DiesAtOnce:
    """Stands in for the scheduler whose task a library cancelled from inside."""

    name = "scheduler"

    def __init__(self, runtime: Runtime) -> None: ...

    async def start(self) -> None: ...

    async def run(self) -> None:
        raise asyncio.CancelledError("cancelled inside a library")

    async def reload(self, settings: DaemonSettings) -> None: ...

    async def drain(self) -> None: ...

    async def stop(self) -> None: ...


def _daemon(root: Path, notify: NotifySocket, clock: ManualClock, plugins: Plugins) -> Daemon:
    cli = {"alerts": {"console": False}, "daemon": {"poll_interval_s": POLL_S}}
    options = DaemonOptions(spec=SnapshotSpec(root=root, cli_overrides=cli), dry_run=True)
    notifier = SystemdNotifier({"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": WATCHDOG_USEC})
    return Daemon(options, plugins=plugins, clock=clock, notifier=notifier)


class Datagrams:
    """Reads the notify socket as the daemon writes it (its queue holds only a few datagrams)
    and splits what arrived at markers the test sends itself."""

    def __init__(self, notify: NotifySocket) -> None:
        self._notify = notify
        self._seen: list[dict[str, str]] = []
        self._arrived = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        while True:
            fields = await self._notify.next(timeout_s=3600)
            self._seen.append(fields)  # after the await: until() may have replaced the list
            self._arrived.set()

    async def until(self, key: str) -> list[dict[str, str]]:
        """Every datagram up to and including the first carrying ``key``."""
        async with asyncio.timeout(20):
            while not any(key in m for m in self._seen):
                self._arrived.clear()
                await self._arrived.wait()
        at = next(n for n, m in enumerate(self._seen) if key in m)
        upto, self._seen = self._seen[: at + 1], self._seen[at + 1 :]
        return upto

    async def until_marker(self) -> list[dict[str, str]]:
        """Every datagram sent before a marker the test sends now, in order (and forgets them)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"MARKER=1", self._notify.path)
        return (await self.until("MARKER"))[:-1]

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


def _withheld(event: AlertRaised) -> bool:
    return event.alert.message.startswith("systemd watchdog withheld")


async def _stop(daemon: Daemon, task: asyncio.Task[int]) -> None:
    daemon.request_stop("test over")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), 5)
    daemon.request_stop("test over, forced")  # the stuck cycle ignores a graceful drain
    assert await asyncio.wait_for(task, 30) == 0


async def test_a_stuck_cycle_stops_the_pings_until_it_finishes(
    project_root: Path, notify: NotifySocket
) -> None:
    clock = ManualClock()
    runner = Stuck()
    daemon = _daemon(project_root, notify, clock, Plugins(cycle_runner=lambda rt: runner))
    running = daemon.bus.expect(RunStateChanged, lambda e: e.current is RunState.RUNNING)
    withheld = daemon.bus.expect(AlertRaised, _withheld)
    datagrams = Datagrams(notify)
    task = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(running, 10)
        await datagrams.until("READY")
        await datagrams.until("WATCHDOG")  # the first check, at start-up
        assert runner.calls == 1
        # Within the grace (260 s after start-up) every check pings.
        for _ in range(26):
            await clock.advance(10)
        pings = [m for m in await datagrams.until_marker() if "WATCHDOG" in m]
        assert len(pings) == 26  # at 10, 20, ..., 260 s
        # 270 s without a finished cycle: withheld, said once in an alert and the status line.
        await clock.advance(10)
        alert = (await asyncio.wait_for(withheld, 10)).alert
        assert str(alert.level) == "critical"
        assert alert.context["reason"] == "no cycle finished for 270 s (grace 260 s)"
        assert await datagrams.until_marker() == [
            {"STATUS": "watchdog withheld: no cycle finished for 270 s (grace 260 s)"}
        ]
        for _ in range(10):  # 100 s more of a stuck cycle: not one ping
            await clock.advance(10)
        assert await datagrams.until_marker() == []
        # The cycle finishes: progress again, the pings resume at the next check.
        runner.release.set()
        resumed: list[dict[str, str]] = []
        for _ in range(5):
            await clock.advance(10)
            resumed = [m for m in await datagrams.until_marker() if "WATCHDOG" in m]
            if resumed:
                break
        assert resumed, "pings resume once a cycle finished"
    finally:
        runner.release.set()
        await _stop(daemon, task)
        await datagrams.close()


async def test_a_dead_component_task_stops_the_pings(
    project_root: Path, notify: NotifySocket
) -> None:
    clock = ManualClock()
    daemon = _daemon(project_root, notify, clock, Plugins(components=(DiesAtOnce,)))
    withheld = daemon.bus.expect(AlertRaised, _withheld)
    datagrams = Datagrams(notify)
    task = asyncio.create_task(daemon.run())
    try:
        alert = (await asyncio.wait_for(withheld, 10)).alert
        assert alert.context["reason"] == "component task ended: scheduler"
        for _ in range(5):
            await clock.advance(10)
        sent = await datagrams.until_marker()
        assert [m for m in sent if "WATCHDOG" in m] == []
        assert {"READY": "1", "STATUS": "running (generation 1)"} in sent
    finally:
        await _stop(daemon, task)
        await datagrams.close()


@pytest.mark.slow
async def test_a_real_daemon_with_a_stuck_cycle_withholds_the_ping(
    project_root: Path, notify: NotifySocket, tail: AlertTail
) -> None:
    env = {
        "PT_TEST_CYCLE": "stuck",
        "WATCHDOG_USEC": "200000",  # every 0.1 s
        "PEAKTRADE_DAEMON__WATCHDOG_GRACE_S": "1",
    }
    daemon = DaemonProcess(project_root, notify=notify, script=True, env=env)
    datagrams = Datagrams(notify)
    await daemon.start()
    try:
        await datagrams.until("READY")
        await datagrams.until("WATCHDOG")
        await tail.wait_for("cycle stuck")
        alert = await tail.wait_for("systemd watchdog withheld: the daemon is not making progress")
        assert str(alert.context["reason"]).startswith("no cycle finished for 1 s")
        await datagrams.until("STATUS")  # the withheld status line; pings before it
        daemon.signal(SIGTERM)
        stopping = await datagrams.until("STOPPING")
        assert [m for m in stopping if "WATCHDOG" in m] == []
        daemon.signal(SIGTERM)  # the stuck cycle holds the drain: a second signal forces it
        assert await daemon.wait() == 0
    finally:
        await daemon.kill()
        await datagrams.close()
