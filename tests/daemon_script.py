"""A real daemon process with extra test plugins, configured by environment variables.

``PT_TEST_SLOW_S``: register a component whose ``run()`` does ``PT_TEST_SLOW_S`` seconds of work
(announced by "work started"/"work finished" alerts) and whose ``drain()`` waits for it.
``PT_TEST_CYCLE``: register a cycle runner whose cycles succeed (``ok``) or fail (``fail``), or
whose first cycle never finishes (``stuck``, announced by a "cycle stuck" alert).
``PT_TEST_START_S`` / ``PT_TEST_RELOAD_S``: register a component whose ``start()`` /
``reload()`` takes that many seconds (announced by "start held" / "reload held" alerts), so a
test can signal the daemon while it is starting or reloading.
Usage: ``python tests/daemon_script.py --root DIR [daemon options]``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

# Run as a script, Python puts tests/ first on sys.path, where tests/http would shadow the
# standard library's http package: put the project root there instead.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import uvloop  # noqa: E402

from peaktrade_daemon.alerts.model import AlertLevel  # noqa: E402
from peaktrade_daemon.cli.app import build_parser  # noqa: E402
from peaktrade_daemon.cli.run_cmd import run_daemon  # noqa: E402
from peaktrade_daemon.component import Component  # noqa: E402
from peaktrade_daemon.errors import PeakTradeError  # noqa: E402
from peaktrade_daemon.runtime import CycleRunner, Plugins, Runtime  # noqa: E402
from peaktrade_daemon.settings import DaemonSettings  # noqa: E402


class SlowWork:
    """Stands in for a long workflow: drain waits for it, cancellation interrupts it."""

    name = "slow-work"

    def __init__(self, runtime: Runtime, seconds: float) -> None:
        self._rt = runtime
        self._seconds = seconds
        self._done = asyncio.Event()

    async def start(self) -> None:
        pass

    async def run(self) -> None:
        await self._rt.alerts.emit(AlertLevel.INFO, self.name, "work started")
        try:
            await asyncio.sleep(self._seconds)
        except asyncio.CancelledError:
            await self._rt.alerts.emit(AlertLevel.WARNING, self.name, "work cancelled")
            raise
        await self._rt.alerts.emit(AlertLevel.INFO, self.name, "work finished")
        self._done.set()

    async def reload(self, settings: DaemonSettings) -> None:
        pass

    async def drain(self) -> None:
        await self._done.wait()

    async def stop(self) -> None:
        pass


class Held:
    """A component whose start() and reload() take a while (a slow database, a slow feed)."""

    name = "held"

    def __init__(self, runtime: Runtime, start_s: float, reload_s: float) -> None:
        self._rt = runtime
        self._start_s = start_s
        self._reload_s = reload_s

    async def start(self) -> None:
        if self._start_s:
            await self._rt.alerts.emit(AlertLevel.INFO, self.name, "start held")
            await asyncio.sleep(self._start_s)

    async def run(self) -> None:
        pass

    async def reload(self, settings: DaemonSettings) -> None:
        if self._reload_s:
            await self._rt.alerts.emit(AlertLevel.INFO, self.name, "reload held")
            await asyncio.sleep(self._reload_s)

    async def drain(self) -> None:
        pass

    async def stop(self) -> None:
        pass


@dataclass(frozen=True)
class Outcome:
    success: bool


class Cycles:
    def __init__(self, runtime: Runtime, succeed: bool) -> None:
        self._rt = runtime
        self._succeed = succeed

    async def run_cycle(self) -> Outcome:
        await self._rt.alerts.emit(AlertLevel.INFO, "test-cycle", "cycle ran")
        return Outcome(self._succeed)


class StuckCycles:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def run_cycle(self) -> Outcome:
        await self._rt.alerts.emit(AlertLevel.INFO, "test-cycle", "cycle stuck")
        await asyncio.Event().wait()  # a hung feed or workflow: never returns
        return Outcome(False)


def plugins() -> Plugins:
    components: list[object] = []
    slow = os.environ.get("PT_TEST_SLOW_S")
    if slow:

        def make_slow(rt: Runtime) -> Component:
            return SlowWork(rt, float(slow))

        components.append(make_slow)
    start_s = float(os.environ.get("PT_TEST_START_S", "0"))
    reload_s = float(os.environ.get("PT_TEST_RELOAD_S", "0"))
    if start_s or reload_s:

        def make_held(rt: Runtime) -> Component:
            return Held(rt, start_s, reload_s)

        components.append(make_held)
    cycle = os.environ.get("PT_TEST_CYCLE")

    def make_cycles(rt: Runtime) -> CycleRunner:
        if cycle == "stuck":
            return StuckCycles(rt)
        return Cycles(rt, cycle == "ok")

    return Plugins(
        components=tuple(components),  # type: ignore[arg-type]
        cycle_runner=make_cycles if cycle else None,
    )


def main() -> int:
    args = build_parser().parse_args(sys.argv[1:])
    try:
        return uvloop.run(run_daemon(args, plugins()))
    except PeakTradeError as exc:
        print(f"daemon_script: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
