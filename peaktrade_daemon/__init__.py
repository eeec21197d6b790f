"""peaktrade-daemon: the autonomous operations layer of a trading system.

The public API (the seed's names) is re-exported here; everything else is internal. The names
are imported on first use (PEP 562), so ``python -m peaktrade_daemon`` reaches its entry point
(which holds early signals, see :mod:`peaktrade_daemon.early_signals`) before the heavy imports.

In a notebook, with the working directory (or ``PEAKTRADE_ROOT``) at a root::

    from peaktrade_daemon import MarketMonitor, WorkflowEngine
    result = await MarketMonitor().check_conditions("BTC/USD")
    engine = WorkflowEngine()
    run = await engine.execute_workflow(engine.create_workflow("look", "market_scan"))

``WorkflowEngine()``, ``MarketMonitor()``, ``SignalMonitor()``, ``PerformanceMonitor()`` and
``DecisionEngine()`` build from that root's embedded defaults (its settings, trading config and
market data).
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
    from peaktrade_daemon.governance.policy import AutoApplyBounds, AutoApplyPolicy
    from peaktrade_daemon.governance.verdicts import PromotionCandidate, PromotionDecision
    from peaktrade_daemon.learning.models import ConfigPatch, LearningSignal, PatchStatus
    from peaktrade_daemon.monitors.market import MarketMonitor
    from peaktrade_daemon.monitors.performance import PerformanceMonitor
    from peaktrade_daemon.monitors.signals import SignalMonitor
    from peaktrade_daemon.promotion.engine import (
        apply_proposals_to_live_overrides,
        build_promotion_candidates_from_patches,
        build_promotion_proposals,
        filter_candidates_for_live,
    )
    from peaktrade_daemon.promotion.models import PromotionProposal
    from peaktrade_daemon.promotion.proposals import materialize_promotion_proposals
    from peaktrade_daemon.settings import DaemonSettings, load_settings
    from peaktrade_daemon.workflows.engine import WorkflowEngine

    __version__: str

__all__ = [
    "AutoApplyBounds",
    "AutoApplyPolicy",
    "ConfigError",
    "ConfigPatch",
    "DaemonSettings",
    "DecisionAction",
    "DecisionCriteria",
    "DecisionEngine",
    "LearningSignal",
    "MarketMonitor",
    "PatchStatus",
    "PeakConfig",
    "PeakTradeError",
    "PerformanceMonitor",
    "PromotionCandidate",
    "PromotionDecision",
    "PromotionProposal",
    "SignalMonitor",
    "WorkflowDecision",
    "WorkflowEngine",
    "__version__",
    "apply_proposals_to_live_overrides",
    "build_promotion_candidates_from_patches",
    "build_promotion_proposals",
    "filter_candidates_for_live",
    "load_config",
    "load_config_with_live_overrides",
    "load_effective_config",
    "load_settings",
    "materialize_promotion_proposals",
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
    "ConfigPatch": "peaktrade_daemon.learning.models",
    "LearningSignal": "peaktrade_daemon.learning.models",
    "PatchStatus": "peaktrade_daemon.learning.models",
    "MarketMonitor": "peaktrade_daemon.monitors.market",
    "PerformanceMonitor": "peaktrade_daemon.monitors.performance",
    "SignalMonitor": "peaktrade_daemon.monitors.signals",
    "WorkflowEngine": "peaktrade_daemon.workflows.engine",
    "AutoApplyBounds": "peaktrade_daemon.governance.policy",
    "AutoApplyPolicy": "peaktrade_daemon.governance.policy",
    "PromotionCandidate": "peaktrade_daemon.governance.verdicts",
    "PromotionDecision": "peaktrade_daemon.governance.verdicts",
    "PromotionProposal": "peaktrade_daemon.promotion.models",
    "build_promotion_candidates_from_patches": "peaktrade_daemon.promotion.engine",
    "filter_candidates_for_live": "peaktrade_daemon.promotion.engine",
    "build_promotion_proposals": "peaktrade_daemon.promotion.engine",
    "materialize_promotion_proposals": "peaktrade_daemon.promotion.proposals",
    "apply_proposals_to_live_overrides": "peaktrade_daemon.promotion.engine",
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
