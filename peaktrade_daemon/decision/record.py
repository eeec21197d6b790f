"""What a decision is and how it is recorded: actions, per-criterion results, the decision itself.

A :class:`WorkflowDecision` carries everything needed to explain and replay it: each criterion's
metric value, comparison, threshold, weight, outcome (met / not met / unknown) and its
contribution to the confidence. ``to_dict`` gives plain JSON types (for the state database and
reports) and ``from_dict`` reads that back, so a stored decision can be re-examined later.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple

from peaktrade_daemon.decision.criteria import DecisionCriteria


class DecisionAction(StrEnum):
    """What the cycle does with a workflow type: run it, warn, skip it, or wait for data."""

    EXECUTE = "EXECUTE"
    ALERT = "ALERT"
    SKIP = "SKIP"
    WAIT = "WAIT"


class CriterionOutcome(StrEnum):
    """A criterion is met, not met, or unknown (its metric is missing, NaN or stale)."""

    MET = "met"
    NOT_MET = "not_met"
    UNKNOWN = "unknown"


class CriterionResult(NamedTuple):
    """One criterion evaluated against one metrics snapshot (immutable).

    ``value`` is None when the metric was absent; a NaN or non-number value is kept as given in
    ``note`` but ``value`` stays None, so nothing downstream can mistake it for data.
    ``contribution`` is ``weight / total weight`` when met, else 0; the contributions of a
    decision sum to its confidence. A NamedTuple rather than a frozen dataclass because the
    engine builds several per decision and a frozen dataclass costs 2.5x as much to construct.
    """

    criterion: DecisionCriteria
    value: float | None
    outcome: CriterionOutcome
    contribution: float
    note: str = ""

    @property
    def name(self) -> str:
        """The criterion's name."""
        return self.criterion.name

    @property
    def metric_name(self) -> str:
        """The metric the criterion reads."""
        return self.criterion.metric_name

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, flat, with every input of the comparison."""
        c = self.criterion
        return {
            "name": c.name,
            "metric_name": c.metric_name,
            "value": self.value,
            "comparison": c.comparison,
            "threshold": c.threshold,
            "weight": c.weight,
            "required": c.required,
            "outcome": self.outcome.value,
            "contribution": self.contribution,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CriterionResult:
        """Inverse of :meth:`to_dict` (the criterion is re-validated)."""
        criterion = DecisionCriteria(
            name=data["name"],
            threshold=data["threshold"],
            weight=data["weight"],
            metric_name=data["metric_name"],
            comparison=data["comparison"],
            required=data["required"],
        )
        value = data["value"]
        return cls(
            criterion=criterion,
            value=None if value is None else float(value),
            outcome=CriterionOutcome(data["outcome"]),
            contribution=float(data["contribution"]),
            note=str(data.get("note", "")),
        )


class WorkflowDecision(NamedTuple):
    """The engine's verdict for one workflow type on one metrics snapshot (immutable).

    ``metadata`` (a read-only mapping) always holds ``workflow_type``, the bands used, the
    weights (total, met, unknown), ``missing_metrics``, ``forced`` and, when forced,
    ``forced_by``; ``decided_at`` is the ISO time the caller passed as ``context["now"]`` (None
    when it passed none). A NamedTuple for the same construction-cost reason as
    :class:`CriterionResult`.
    """

    action: DecisionAction
    confidence: float
    reasoning: str
    criteria_results: tuple[CriterionResult, ...]
    metadata: Mapping[str, Any] = MappingProxyType({})

    @property
    def workflow_type(self) -> str:
        """The workflow type decided on."""
        return str(self.metadata.get("workflow_type", ""))

    @property
    def missing_metrics(self) -> tuple[str, ...]:
        """Metrics whose criteria were unknown (missing, NaN or stale)."""
        return tuple(self.metadata.get("missing_metrics", ()))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: the record stored in the state database and written in reports."""
        return {
            "action": self.action.value,
            "confidence": self.confidence,
            "reasoning": self.reasoning,
            "criteria_results": [r.to_dict() for r in self.criteria_results],
            "metadata": _plain(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkflowDecision:
        """Inverse of :meth:`to_dict`."""
        return cls(
            action=DecisionAction(data["action"]),
            confidence=float(data["confidence"]),
            reasoning=str(data["reasoning"]),
            criteria_results=tuple(CriterionResult.from_dict(r) for r in data["criteria_results"]),
            metadata=MappingProxyType(_plain(data.get("metadata", {}))),
        )


def _plain(value: Any) -> Any:
    """A deep copy in JSON types (tuples and sets become sorted-or-ordered lists)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    return value
