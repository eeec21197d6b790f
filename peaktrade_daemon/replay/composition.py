"""The daemon composed for replay: the product's composition root with different edges.

The :class:`~peaktrade_daemon.daemon.Daemon` is built as always (the state database, the alert
dispatcher, supervision, the snapshot loaders of ``jobs.toml`` and the promotion policy) with
the parts of :class:`~peaktrade_daemon.wiring.Assembly`: the workflow side (feeds, the three
monitors, the decision engine, the cycle) and the promotion worker (writer, evidence, rollback
guard). What differs is at the edges:

* the clock is a :class:`~peaktrade_daemon.clock.ManualClock` in data time, moved by the
  replay driver, and the settings point into the scratch root (:mod:`.scratch`);
* no cycle loop: the driver runs each cycle at its data-time instant;
* the promotion worker is the daemon's, but its run loop is the driver
  (:class:`PacedWorker`): a ManualClock cannot wait for work a woken task does in threads, so
  the driver calls the worker's ``process`` and ``tick`` itself, one instant at a time, and
  moves time on only when they are done (the soak test replaces APScheduler the same way);
* no scheduler, patch inbox, HTTP listener or retention of runs: the driver hands learned
  patches to the worker, and nothing outside the scratch root is served or kept;
* alerts are recorded and published on the bus (the timeline reads them) but delivered to no
  sink (``no_alerts``), and the cycle prints nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from peaktrade_daemon.component import Component
from peaktrade_daemon.governance.policy import AutoApplyMode
from peaktrade_daemon.promotion.worker import PromotionWorker
from peaktrade_daemon.runtime import DaemonOptions, Plugins, Runtime
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.snapshot import SnapshotSpec
from peaktrade_daemon.systemd import SystemdNotifier
from peaktrade_daemon.wiring import LOADERS, Assembly, WorkflowSide, check_options


class PacedWorker:
    """The promotion worker as a daemon component whose run loop is the replay driver: start,
    reload, drain and stop are the worker's own; ``run`` returns at once (nothing long-running:
    the driver calls ``process`` and ``tick`` at data-time instants)."""

    name = "promotion"

    def __init__(self, worker: PromotionWorker) -> None:
        self.worker = worker

    async def start(self) -> None:
        """The worker's start (resume, load the policy, compare auto.toml with the trail)."""
        await self.worker.start()

    async def run(self) -> None:
        """Nothing: the driver paces the worker."""

    async def reload(self, settings: DaemonSettings) -> None:
        """The worker's reload."""
        await self.worker.reload(settings)

    async def drain(self) -> None:
        """The worker's drain (waits for a run in progress)."""
        await self.worker.drain()

    async def stop(self) -> None:
        """The worker's stop."""
        await self.worker.stop()


@dataclass(slots=True)
class ReplayParts:
    """The plugin factories of a replay daemon, keeping the parts the driver works with."""

    mode_override: AutoApplyMode | None
    assembly: Assembly = field(init=False)
    side: WorkflowSide | None = None
    worker: PromotionWorker | None = None

    def __post_init__(self) -> None:
        self.assembly = Assembly(mode_override=self.mode_override, out=_silent)

    def workflows(self, rt: Runtime) -> Component:
        """The workflow side (feeds, monitors, decision engine, cycle)."""
        self.side = self.assembly.side(rt)
        return self.side

    def promotion(self, rt: Runtime) -> Component:
        """The daemon's promotion worker, paced by the driver."""
        worker = self.assembly.promotion(rt)
        if not isinstance(worker, PromotionWorker):  # the replay options always run it
            raise RuntimeError("replay: the composition root built no promotion worker")
        self.worker = worker
        return PacedWorker(worker)

    def plugins(self, driver: Component) -> Plugins:
        """The registry handed to the Daemon: the workflow side, the paced worker and, last
        (started last, drained first), the driver."""
        return Plugins(
            loaders=LOADERS,
            components=(self.workflows, self.promotion, lambda rt: driver),
            cycle_runner=None,
            preflight=(check_options,),
        )


class ReadySignal(SystemdNotifier):
    """A notifier without systemd that sets ``ready`` when the daemon reports ``READY=1``:
    start-up is then fully recorded (the daemon says READY last)."""

    def __init__(self) -> None:
        super().__init__({})
        self.ready_event = asyncio.Event()

    def ready(self, status: str = "") -> bool:
        """Set the event (and notify nobody)."""
        self.ready_event.set()
        return super().ready(status)


def _silent(line: str) -> None:
    """The cycle's one-line summaries go to the timeline, not the terminal."""


def replay_options(
    root: str, overrides: dict[str, object], symbols: tuple[str, ...]
) -> DaemonOptions:
    """A continuous daemon on the scratch root that delivers no alerts and runs no scheduler."""
    return DaemonOptions(
        spec=SnapshotSpec(root=root, cli_overrides=overrides),
        no_alerts=True,
        no_scheduler=True,
        symbols=symbols,
        tag="replay",
    )
