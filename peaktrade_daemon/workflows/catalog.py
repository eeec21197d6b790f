"""The catalogue of in-process workflow types: ``{type: coroutine function}`` for the engine."""

from __future__ import annotations

from peaktrade_daemon.workflows import (
    market_scan,
    portfolio_analysis,
    risk_check,
    signal_analysis,
    walk_forward,
)
from peaktrade_daemon.workflows.model import WorkflowFn
from peaktrade_daemon.workflows.sources import WorkflowSources


def build_workflows(sources: WorkflowSources) -> dict[str, WorkflowFn]:
    """The in-process types bound to ``sources``: the four a cycle may choose, and the
    ``walk_forward`` learner (scheduled as a job, never chosen by a cycle)."""
    return {
        "signal_analysis": signal_analysis.workflow(sources),
        "risk_check": risk_check.workflow(sources),
        "market_scan": market_scan.workflow(sources),
        "portfolio_analysis": portfolio_analysis.workflow(sources),
        "walk_forward": walk_forward.workflow(sources),
    }
