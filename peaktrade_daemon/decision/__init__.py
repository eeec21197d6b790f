"""Explainable decisions: weighted criteria over monitor metrics (SPEC §4.3).

``DecisionEngine().make_decision(workflow_type, metrics, context)`` returns a
:class:`WorkflowDecision` (EXECUTE, ALERT, SKIP or WAIT) with a per-criterion record.
"""

from peaktrade_daemon.decision.criteria import (
    COMPARISONS,
    EQ_TOLERANCE,
    Comparison,
    CriterionError,
    DecisionCriteria,
)
from peaktrade_daemon.decision.defaults import DEFAULT_CRITERIA, default_criteria
from peaktrade_daemon.decision.engine import DecisionEngine, DecisionInputError
from peaktrade_daemon.decision.record import (
    CriterionOutcome,
    CriterionResult,
    DecisionAction,
    WorkflowDecision,
)

__all__ = [
    "COMPARISONS",
    "DEFAULT_CRITERIA",
    "EQ_TOLERANCE",
    "Comparison",
    "CriterionError",
    "CriterionOutcome",
    "CriterionResult",
    "DecisionAction",
    "DecisionCriteria",
    "DecisionEngine",
    "DecisionInputError",
    "WorkflowDecision",
    "default_criteria",
]
