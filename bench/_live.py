"""What the cycle benchmarks share (not a benchmark itself: run_all skips private modules):
a scratch copy of the shipped root, and the live cycle runner as the daemon builds it."""

from __future__ import annotations

import shutil
from pathlib import Path

from peaktrade_daemon.clock import Clock
from peaktrade_daemon.monitors.defaults import trading_config
from peaktrade_daemon.promotion.live_changes import audited_live_changes
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.storage.db import Database
from peaktrade_daemon.storage.runs import RunStore
from peaktrade_daemon.workflows.components import WorkflowComponents, build_components
from peaktrade_daemon.workflows.cycle import CycleRunner
from peaktrade_daemon.workflows.runtime import build_runtime

PROJECT = Path(__file__).resolve().parent.parent


def scratch_root(root: Path) -> Path:
    """``root`` holding copies of the shipped ``config/`` and ``data/`` and empty ``state/``,
    ``logs/`` and ``reports/``."""
    shutil.copytree(PROJECT / "config", root / "config")
    shutil.copytree(PROJECT / "data", root / "data")
    for sub in ("state", "logs", "reports"):
        (root / sub).mkdir()
    return root


def live_cycle(
    settings: DaemonSettings, clock: Clock, database: Database
) -> tuple[WorkflowComponents, CycleRunner]:
    """The three monitors, the decision engine and the cycle runner over a real history store,
    as the daemon's composition root wires them (the cycle prints nothing)."""
    components = build_components(
        settings,
        clock=clock,
        config=trading_config(settings),
        live_changes=audited_live_changes,  # as the daemon's composition root passes it
    )
    runtime = build_runtime(
        settings,
        clock=clock,
        store=RunStore(database),
        alerts=None,
        components=components,
        out=lambda _line: None,
    )
    assert runtime.cycle is not None
    return components, runtime.cycle
