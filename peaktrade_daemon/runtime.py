"""What the composition root hands its parts: the command line's options, the shared runtime, and
the plugin registry's factory types.

Kept apart from :mod:`peaktrade_daemon.daemon` so that the parts it wires (``wiring.py``, the
review page) can name these types without importing the daemon that imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from peaktrade_daemon.alerts.model import AlertEmitter
from peaktrade_daemon.bus import EventBus
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.component import Component
from peaktrade_daemon.metrics import DaemonMetrics
from peaktrade_daemon.snapshot import ConfigLoader, Snapshot, SnapshotSpec
from peaktrade_daemon.storage.db import Database
from peaktrade_daemon.storage.retention import RetentionRule

if TYPE_CHECKING:
    from peaktrade_daemon.http.app import RouteModule


class CycleResult(Protocol):
    """What one autonomous cycle reports back; only ``success`` is required."""

    @property
    def success(self) -> bool:
        """True when the cycle did its work (a SKIP or WAIT decision is a success)."""
        ...


class CycleRunner(Protocol):
    """Runs one autonomous cycle (§5.1); the workflows package supplies the implementation."""

    async def run_cycle(self) -> CycleResult:
        """Monitor, decide, act once; raise only for an unexpected failure."""
        ...


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    """What the command line decided for this process."""

    spec: SnapshotSpec = field(default_factory=SnapshotSpec)
    once: bool = False
    dry_run: bool = False
    no_alerts: bool = False
    no_scheduler: bool = False
    verbose: bool = False
    tag: str | None = None
    symbols: tuple[str, ...] = ()
    strategy: str | None = None
    include_tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Runtime:
    """The shared parts handed to every plugin factory (dependencies by constructor, no globals)."""

    options: DaemonOptions
    clock: Clock
    bus: EventBus
    alerts: AlertEmitter
    metrics: DaemonMetrics
    database: Database | None
    snapshot: Callable[[], Snapshot]


#: Returns None for a part this process does not run (e.g. the scheduler under ``--once``).
ComponentFactory = Callable[[Runtime], Component | None]
CycleRunnerFactory = Callable[[Runtime], CycleRunner]
RetentionRuleFactory = Callable[[Runtime], RetentionRule]
RouteFactory = Callable[[Runtime], "RouteModule"]
#: Refuses options the loaded snapshot cannot honour (raises a PeakTradeError) before anything is
#: created on disk: no lock, no database, no log for a run that would only be refused.
Preflight = Callable[[DaemonOptions, Snapshot], None]


@dataclass(frozen=True, slots=True)
class Plugins:
    """Everything beyond the runtime core, registered explicitly (see :func:`default_plugins`)."""

    loaders: tuple[ConfigLoader, ...] = ()
    components: tuple[ComponentFactory, ...] = ()
    cycle_runner: CycleRunnerFactory | None = None
    routes: tuple[RouteFactory, ...] = ()
    retention_rules: tuple[RetentionRuleFactory, ...] = ()
    preflight: tuple[Preflight, ...] = ()
