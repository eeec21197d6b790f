"""peaktrade-daemon: the autonomous operations layer of a trading system.

The public API (the seed's names) is re-exported here; everything else is internal. The names
are imported on first use (PEP 562), so ``python -m peaktrade_daemon`` reaches its entry point
(which holds early signals, see :mod:`peaktrade_daemon.early_signals`) before the heavy imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from peaktrade_daemon.config import (
        PeakConfig,
        load_config,
        load_config_with_live_overrides,
        load_effective_config,
    )
    from peaktrade_daemon.decision import (
        DecisionAction,
        DecisionCriteria,
        DecisionEngine,
        WorkflowDecision,
    )
    from peaktrade_daemon.errors import ConfigError, PeakTradeError
    from peaktrade_daemon.settings import DaemonSettings, load_settings

    __version__: str

__all__ = [
    "ConfigError",
    "DaemonSettings",
    "DecisionAction",
    "DecisionCriteria",
    "DecisionEngine",
    "PeakConfig",
    "PeakTradeError",
    "WorkflowDecision",
    "__version__",
    "load_config",
    "load_config_with_live_overrides",
    "load_effective_config",
    "load_settings",
]

_HOMES = {
    "PeakConfig": "peaktrade_daemon.config",
    "load_config": "peaktrade_daemon.config",
    "load_config_with_live_overrides": "peaktrade_daemon.config",
    "load_effective_config": "peaktrade_daemon.config",
    "DecisionAction": "peaktrade_daemon.decision",
    "DecisionCriteria": "peaktrade_daemon.decision",
    "DecisionEngine": "peaktrade_daemon.decision",
    "WorkflowDecision": "peaktrade_daemon.decision",
    "ConfigError": "peaktrade_daemon.errors",
    "PeakTradeError": "peaktrade_daemon.errors",
    "DaemonSettings": "peaktrade_daemon.settings",
    "load_settings": "peaktrade_daemon.settings",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":  # from the package metadata, looked up only when asked for
        from peaktrade_daemon.version import installed_version

        return installed_version()
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
