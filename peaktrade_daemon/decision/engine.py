"""The decision engine: weighted criteria over a metrics snapshot give EXECUTE, ALERT, SKIP or WAIT.

Pure: ``make_decision`` reads only its arguments and the engine's criteria, does no I/O and reads
no clock (the caller passes ``now`` in the context). The rules (SPEC §4.3):

- ``confidence = weight of met criteria / total weight``; ``confidence >= execute_band`` gives
  EXECUTE, ``>= alert_band`` ALERT, else SKIP; bands per workflow type. Band comparisons allow
  :data:`BAND_TOLERANCE` (1e-9) so float rounding in summed weights (0.1 + 0.2 + 0.3 of 1.0 is
  0.6000000000000001, and its complement can land just below) cannot move a decision across a
  band edge; the same tolerance applies to ``max_unknown_weight_share``.
- A criterion whose metric is missing, not a number, NaN or infinite, or marked stale is
  *unknown*: it is not met (it adds nothing to the confidence) and it is never read as 0. The
  decision is WAIT, naming the metrics, when a required criterion is unknown or when the unknown
  weight share exceeds the type's ``max_unknown_weight_share`` (default 0: any unknown waits).
- A type without criteria is SKIP ("no criteria defined") unless configured
  ``unconditional = true``, which means EXECUTE with confidence 1.0 and takes no criteria.
- Operator overrides win: ``force_execute`` gives EXECUTE, ``force_skip`` SKIP, both with
  confidence 1.0; the criteria are still evaluated and recorded, with what they alone would
  have decided, so a forced decision stays explainable.

The context (all keys optional):

``now``            aware ``datetime``, recorded as ``metadata["decided_at"]``.
``stale_metrics``  names of metrics whose values are stale (a collection of names, or a mapping
                   name -> reason such as "last bar 3d old"); their criteria are unknown.
``missing_reasons`` mapping metric name -> why it is absent (a ``MonitorResult.missing``), quoted
                   in the reasoning.
``force_execute`` / ``force_skip``  bools; ``forced_by`` (who, non-empty text) is then required.
                   Both at once is a :class:`DecisionInputError`: the caller must choose.
anything else      recorded under ``metadata["context"]`` (JSON scalars as given, other values
                   as text), e.g. ``symbol`` or ``run_id``.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from peaktrade_daemon.decision.criteria import CriterionError, DecisionCriteria
from peaktrade_daemon.decision.defaults import default_criteria
from peaktrade_daemon.decision.record import (
    CriterionOutcome,
    CriterionResult,
    DecisionAction,
    WorkflowDecision,
)
from peaktrade_daemon.errors import UsageError
from peaktrade_daemon.settings import DaemonSettings, DecisionSection, DecisionTypeSettings

_KNOWN_CONTEXT = frozenset(
    {"now", "stale_metrics", "missing_reasons", "force_execute", "force_skip", "forced_by"}
)
_EMPTY: Mapping[str, Any] = MappingProxyType({})
BAND_TOLERANCE = 1e-9
_MET = CriterionOutcome.MET
_NOT_MET = CriterionOutcome.NOT_MET
_UNKNOWN = CriterionOutcome.UNKNOWN


class DecisionInputError(UsageError, ValueError):
    """The context of a decision is contradictory or malformed (both force flags, a force
    without ``forced_by``, a naive ``now``...). Exit code 2, like conflicting CLI flags."""


@dataclass(frozen=True, slots=True)
class _TypePolicy:
    """Bands and criteria of one workflow type, with the total weight computed once."""

    bands: DecisionTypeSettings
    criteria: tuple[DecisionCriteria, ...]
    total_weight: float


@dataclass(frozen=True, slots=True)
class _Context:
    decided_at: str | None
    stale: Mapping[str, str]
    missing_reasons: Mapping[str, str]
    force: DecisionAction | None
    forced_by: str | None
    extra: Mapping[str, Any]


def _policy(bands: DecisionTypeSettings, criteria: tuple[DecisionCriteria, ...]) -> _TypePolicy:
    return _TypePolicy(bands, criteria, sum(c.weight for c in criteria))


class DecisionEngine:
    """Decides per workflow type from weighted criteria; see the module docstring.

    ``settings`` may be the daemon's settings, just their ``decision`` section, or None for the
    defaults. Types configured without a ``criteria`` list get the built-in defaults
    (:mod:`peaktrade_daemon.decision.defaults`); a type never configured gets default bands and
    its built-in criteria, if any, the first time criteria are added to it.
    """

    def __init__(self, settings: DaemonSettings | DecisionSection | None = None) -> None:
        if isinstance(settings, DaemonSettings):
            section = settings.decision
        else:
            section = settings if settings is not None else DecisionSection()
        self._section = section
        self._policies: dict[str, _TypePolicy] = {}
        for workflow_type in section.configured_types():
            self._policies[workflow_type] = self._initial_policy(workflow_type)

    def _initial_policy(self, workflow_type: str) -> _TypePolicy:
        bands = self._section.for_type(workflow_type)
        if bands.criteria is not None:
            criteria = tuple(DecisionCriteria(**c.model_dump()) for c in bands.criteria)
        elif bands.unconditional:
            criteria = ()
        else:
            criteria = default_criteria(workflow_type)
        return _policy(bands, criteria)

    def add_criteria(
        self,
        *,
        workflow_type: str,
        criteria: DecisionCriteria | Iterable[DecisionCriteria],
    ) -> None:
        """Add one criterion (or several) to a workflow type.

        Names must be unique within a type, and an ``unconditional`` type takes none: both are
        :class:`CriterionError`, and nothing is added when any of the given criteria is refused.
        """
        items = (criteria,) if isinstance(criteria, DecisionCriteria) else tuple(criteria)
        policy = self._policies.get(workflow_type) or self._initial_policy(workflow_type)
        if policy.bands.unconditional:
            raise CriterionError(
                "an unconditional workflow type takes no criteria", key=workflow_type
            )
        names = {c.name for c in policy.criteria}
        for item in items:
            if not isinstance(item, DecisionCriteria):
                raise CriterionError(f"not a DecisionCriteria: {item!r}", key=workflow_type)
            if item.name in names:
                raise CriterionError(
                    f"criterion {item.name!r} is already defined", key=workflow_type
                )
            names.add(item.name)
        self._policies[workflow_type] = _policy(policy.bands, policy.criteria + items)

    def criteria_for(self, workflow_type: str) -> tuple[DecisionCriteria, ...]:
        """The criteria a decision for ``workflow_type`` would use now."""
        policy = self._policies.get(workflow_type)
        return policy.criteria if policy is not None else ()

    def make_decision(
        self,
        workflow_type: str,
        metrics: Mapping[str, object],
        context: Mapping[str, Any] | None = None,
    ) -> WorkflowDecision:
        """Decide for ``workflow_type`` on the flat ``metrics`` snapshot (see module docstring)."""
        policy = self._policies.get(workflow_type)
        if policy is None:
            policy = _policy(self._section.for_type(workflow_type), ())
        ctx = _read_context(context) if context else None
        stale = ctx.stale if ctx is not None else _EMPTY
        total = policy.total_weight
        results: list[CriterionResult] = []
        append = results.append
        met_weight = 0.0
        unknown_weight = 0.0
        unknown: list[str] = []
        required_unknown: list[str] = []
        for criterion in policy.criteria:
            metric = criterion.metric_name
            raw: Any = metrics.get(metric)
            kind = type(raw)
            # Plain floats (the contract) take the fast path; numpy scalars the general one.
            value = float(raw) if kind is float or kind is int else _number(raw)
            # value - value is 0.0 exactly for every finite float, NaN for NaN and inf.
            if value is not None and value - value == 0.0 and metric not in stale:
                # criterion.is_met inlined: this loop is the engine's hot path.
                if criterion.test(value, criterion.threshold):
                    met_weight += criterion.weight
                    append(CriterionResult(criterion, value, _MET, criterion.weight / total))
                else:
                    append(CriterionResult(criterion, value, _NOT_MET, 0.0))
                continue
            note = _unknown_note(metric, raw, stale, ctx)
            append(CriterionResult(criterion, None, _UNKNOWN, 0.0, note))
            unknown_weight += criterion.weight
            unknown.append(metric)
            if criterion.required:
                required_unknown.append(criterion.name)
        return _conclude(
            workflow_type, policy, ctx, tuple(results), met_weight, unknown_weight, unknown,
            required_unknown,
        )  # fmt: skip


def _unknown_note(metric: str, raw: object, stale: Mapping[str, str], ctx: _Context | None) -> str:
    """Why a metric's value cannot be used, in the words an operator reads."""
    if metric in stale:
        reason = stale[metric]
        return f"stale: {reason}" if reason else "stale"
    if raw is None:
        reason = ctx.missing_reasons.get(metric, "") if ctx is not None else ""
        return f"missing: {reason}" if reason else "missing"
    value = _number(raw)
    if value is None:
        return f"not a number: {raw!r}"
    return "NaN" if value != value else f"not finite: {raw!r}"


def _number(raw: object) -> float | None:
    """A real number as float (numpy scalars included); None for None, bools and non-numbers."""
    if raw is None or isinstance(raw, bool) or not isinstance(raw, numbers.Real):
        return None
    return float(raw)


def _conclude(
    workflow_type: str,
    policy: _TypePolicy,
    ctx: _Context | None,
    results: tuple[CriterionResult, ...],
    met_weight: float,
    unknown_weight: float,
    unknown: list[str],
    required_unknown: list[str],
) -> WorkflowDecision:
    """Turn evaluated criteria into the action, confidence, reasoning and record."""
    bands = policy.bands
    total = policy.total_weight
    if not results:
        if bands.unconditional:
            action, confidence, reasoning = (
                DecisionAction.EXECUTE, 1.0, "unconditional: executes without criteria",
            )  # fmt: skip
        else:
            action, confidence, reasoning = DecisionAction.SKIP, 0.0, "no criteria defined"
        share = 0.0
    else:
        confidence = met_weight / total
        share = unknown_weight / total
        described = (
            "; ".join(f"{r.metric_name} ({r.note})" for r in results if r.outcome is _UNKNOWN)
            if unknown
            else ""
        )
        if required_unknown or share > bands.max_unknown_weight_share + BAND_TOLERANCE:
            action = DecisionAction.WAIT
            why = (
                f"required criteria unknown: {', '.join(required_unknown)}"
                if required_unknown
                else f"unknown weight share {share:.2f} > allowed "
                f"{bands.max_unknown_weight_share:.2f}"
            )
            reasoning = f"waiting for data: {described}; {why}"
        elif confidence >= bands.execute_band - BAND_TOLERANCE:
            action = DecisionAction.EXECUTE
            reasoning = f"confidence {confidence:.2f} >= execute band {bands.execute_band:.2f}"
        elif confidence >= bands.alert_band - BAND_TOLERANCE:
            action = DecisionAction.ALERT
            reasoning = f"confidence {confidence:.2f} >= alert band {bands.alert_band:.2f}"
        else:
            action = DecisionAction.SKIP
            reasoning = f"confidence {confidence:.2f} < alert band {bands.alert_band:.2f}"
        if unknown and action is not DecisionAction.WAIT:
            reasoning += f"; unknown (counted as not met): {described}"
    metadata: dict[str, Any] = {
        "workflow_type": workflow_type,
        "decided_at": None,
        "execute_band": bands.execute_band,
        "alert_band": bands.alert_band,
        "max_unknown_weight_share": bands.max_unknown_weight_share,
        "unconditional": bands.unconditional,
        "total_weight": total,
        "met_weight": met_weight,
        "unknown_weight": unknown_weight,
        "unknown_weight_share": share,
        "missing_metrics": unknown,
        "required_unknown": required_unknown,
        "forced": False,
        "forced_by": None,
    }
    if ctx is not None:
        metadata["decided_at"] = ctx.decided_at
        if ctx.extra:
            metadata["context"] = dict(ctx.extra)
        if ctx.force is not None:
            metadata.update(
                forced=True,
                forced_by=ctx.forced_by,
                unforced_action=action.value,
                unforced_confidence=confidence,
            )
            flag = "force_execute" if ctx.force is DecisionAction.EXECUTE else "force_skip"
            reasoning = (
                f"forced {ctx.force.value} by {ctx.forced_by} ({flag}); "
                f"criteria alone: {action.value} ({reasoning})"
            )
            action, confidence = ctx.force, 1.0
    return WorkflowDecision(action, confidence, reasoning, results, MappingProxyType(metadata))


def _read_context(context: Mapping[str, Any]) -> _Context:
    """Validate the caller's context; contradictions and wrong types are refused, not guessed."""
    force_execute = _flag(context, "force_execute")
    force_skip = _flag(context, "force_skip")
    if force_execute and force_skip:
        raise DecisionInputError("force_execute and force_skip were both given; choose one")
    force = DecisionAction.EXECUTE if force_execute else DecisionAction.SKIP if force_skip else None
    forced_by = context.get("forced_by")
    if force is not None and (not isinstance(forced_by, str) or not forced_by.strip()):
        raise DecisionInputError("a forced decision needs context['forced_by'] (who forced it)")
    now = context.get("now")
    if now is not None and (not isinstance(now, datetime) or now.utcoffset() is None):
        raise DecisionInputError(f"context['now'] must be an aware datetime, got {now!r}")
    return _Context(
        decided_at=now.isoformat() if now is not None else None,
        stale=_reasons(context.get("stale_metrics"), "stale_metrics"),
        missing_reasons=_reasons(context.get("missing_reasons"), "missing_reasons"),
        force=force,
        forced_by=forced_by.strip() if force is not None and isinstance(forced_by, str) else None,
        extra={
            k: v if v is None or isinstance(v, str | int | float | bool) else str(v)
            for k, v in context.items()
            if k not in _KNOWN_CONTEXT
        },
    )


def _flag(context: Mapping[str, Any], key: str) -> bool:
    value = context.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise DecisionInputError(f"context[{key!r}] must be true or false, got {value!r}")


def _reasons(value: object, key: str) -> Mapping[str, str]:
    """Metric names (a collection) or names with reasons (a mapping) as one mapping."""
    if value is None:
        return _EMPTY
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, Collection) and not isinstance(value, str | bytes):
        return dict.fromkeys((str(v) for v in value), "")
    raise DecisionInputError(f"context[{key!r}] must be metric names, got {value!r}")
