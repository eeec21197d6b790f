"""The seams the workflow side needs from stages built elsewhere, as small Protocols.

* monitors (§4.2, METRICS.md): ``await check_conditions(symbol) -> MonitorResult``
* decision engine (§4.3): ``make_decision(workflow_type, metrics, context) -> WorkflowDecision``
* the paper portfolio or ledger (§4.2): an equity curve for the portfolio chart

Only the attributes named in the shared contract are used, so the real classes satisfy these
structurally and tests can pass small implementations of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime
from typing import Any, Protocol


class MonitorResultLike(Protocol):
    """A monitor's answer (``monitors/result.py``): only known finite metrics; the rest missing."""

    @property
    def monitor_name(self) -> str: ...
    @property
    def timestamp(self) -> datetime: ...
    @property
    def status(self) -> str: ...
    @property
    def metrics(self) -> Mapping[str, float]: ...
    @property
    def alerts(self) -> Sequence[str]: ...
    @property
    def missing(self) -> Mapping[str, str]: ...
    @property
    def labels(self) -> Mapping[str, str]: ...


class Monitor(Protocol):
    """MarketMonitor, SignalMonitor or PerformanceMonitor."""

    async def check_conditions(self, symbol: str) -> MonitorResultLike:
        """Compute the monitor's metrics for ``symbol`` from current data."""
        ...


class WorkflowDecisionLike(Protocol):
    """The decision engine's verdict."""

    @property
    def action(self) -> Any: ...
    @property
    def confidence(self) -> float: ...
    @property
    def reasoning(self) -> Any: ...
    @property
    def criteria_results(self) -> Any: ...
    @property
    def metadata(self) -> Mapping[str, Any]: ...


class DecisionMaker(Protocol):
    """The pure decision engine."""

    def make_decision(
        self,
        workflow_type: str,
        metrics: Mapping[str, float],
        context: Mapping[str, Any] | None = None,
    ) -> WorkflowDecisionLike:
        """Decide EXECUTE / ALERT / SKIP / WAIT for ``workflow_type`` from flat ``metrics``."""
        ...


class EquitySource(Protocol):
    """Where the portfolio's equity history comes from (paper portfolio or ledger)."""

    async def equity_curve(self, symbol: str) -> Sequence[tuple[datetime, float]]:
        """``(timestamp, equity)`` points, oldest first, up to the feed's current time."""
        ...


def action_name(decision: WorkflowDecisionLike) -> str:
    """``EXECUTE`` / ``ALERT`` / ``SKIP`` / ``WAIT`` whether the engine uses an enum or text."""
    action = decision.action
    return str(getattr(action, "value", action)).upper()


def reasons_of(decision: WorkflowDecisionLike) -> list[str]:
    """The decision's reasoning as a list of lines."""
    reasoning = decision.reasoning
    if isinstance(reasoning, str):
        return [reasoning] if reasoning else []
    return [str(item) for item in reasoning or ()]


def plain(value: Any) -> Any:
    """A criterion result (record with ``to_dict``, NamedTuple, dataclass, pydantic model,
    mapping, enum) as plain data."""
    if callable(getattr(value, "to_dict", None)):
        return plain(value.to_dict())
    if callable(getattr(value, "_asdict", None)):  # NamedTuple: keep the field names
        return plain(value._asdict())
    if hasattr(value, "model_dump"):
        return plain(value.model_dump())
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "value") and not isinstance(value, int | float | str | bool):
        return plain(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def criteria_of(decision: WorkflowDecisionLike) -> list[dict[str, Any]]:
    """The criteria breakdown as a list of plain dicts (one per criterion)."""
    results = decision.criteria_results
    if isinstance(results, Mapping):
        return [{"name": str(k), **_as_dict(v)} for k, v in results.items()]
    return [_as_dict(item) for item in results or ()]


def _as_dict(value: Any) -> dict[str, Any]:
    data = plain(value)
    return data if isinstance(data, dict) else {"value": data}


async def check_symbols(
    monitor: Monitor, symbols: Sequence[str]
) -> dict[str, MonitorResultLike | Exception]:
    """Run one monitor for every symbol concurrently; a failing symbol yields its exception."""
    results = await asyncio.gather(
        *(monitor.check_conditions(symbol) for symbol in symbols), return_exceptions=True
    )
    out: dict[str, MonitorResultLike | Exception] = {}
    for symbol, result in zip(symbols, results, strict=True):
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result
        out[symbol] = result
    return out


@dataclass(frozen=True, slots=True)
class CycleMonitors:
    """The three monitors a cycle runs."""

    market: Monitor
    signals: Monitor
    performance: Monitor

    def by_role(self) -> dict[str, Monitor]:
        """``{"market": ..., "signals": ..., "performance": ...}``."""
        return {"market": self.market, "signals": self.signals, "performance": self.performance}
