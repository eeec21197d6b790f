"""peaktrade-daemon: the autonomous operations layer of a trading system.

The public API (the seed's names) is re-exported here; everything else is internal.
"""

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

__version__ = "0.1.0"

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
