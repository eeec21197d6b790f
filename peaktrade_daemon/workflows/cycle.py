"""One autonomous cycle (§5.1): monitors → alerts → merged metrics → selection → decision → act.

1. The three monitors run concurrently for every cycle symbol. A monitor that raises, or gives
   no result within ``cycle.monitor_timeout_s``, is reported (warning alert) and its metrics are
   simply absent; a ``critical`` result becomes a critical alert.
2. Metrics are merged for the focus symbol: flat names (what criteria use) plus namespaced
   ``market.<name>``, ``signals.<name>``, ``performance.<name>``.
3. ``auto`` picks the workflow type by the rule in ``selection.py``; an explicit type is taken
   as given (its focus symbol is the first one).
4. The decision engine decides. EXECUTE runs the workflow through the engine; ALERT raises a
   warning alert; SKIP and WAIT are recorded with their reasons.
5. The summary (type, decision, confidence, executed, success, run id) is printed and stored.

``dry_run`` computes everything and runs the workflow as a dry run, but writes nothing: no rows,
no report, no alerts (they are printed as "would alert"). ``verbose`` prints every monitor, the
criteria breakdown and the reasons.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from peaktrade_daemon.alerts.model import AlertEmitter, AlertLevel
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.events import Event
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.storage.runs import CycleSummaryRow, DecisionRow, RunStore
from peaktrade_daemon.workflows.engine import WorkflowEngine
from peaktrade_daemon.workflows.ports import (
    CycleMonitors,
    DecisionMaker,
    MonitorResultLike,
    action_name,
    criteria_of,
    reasons_of,
)
from peaktrade_daemon.workflows.reports import to_jsonable
from peaktrade_daemon.workflows.selection import Selection, SymbolView, select_workflow
from peaktrade_daemon.workflows.sources import cycle_symbols

logger = logging.getLogger(__name__)

ROLES = ("market", "signals", "performance")


@dataclass(frozen=True, slots=True)
class CycleSummary:
    """What one cycle chose, decided and did."""

    cycle_id: str
    started_at: datetime
    finished_at: datetime
    workflow_type: str
    selection_reason: str
    symbol: str | None
    action: str
    confidence: float
    executed: bool
    success: bool
    run_id: str | None = None
    reasons: tuple[str, ...] = ()
    dry_run: bool = False
    error: str | None = None
    run_state: str | None = None
    monitor_errors: Mapping[str, str] = field(default_factory=dict)

    def line(self) -> str:
        """The one-line summary printed after every cycle."""
        run = f" run={self.run_id} ({self.run_state})" if self.run_id else ""
        return (
            f"cycle {self.cycle_id}: {self.workflow_type} [{self.selection_reason}] "
            f"decision={self.action} confidence={self.confidence:.2f} "
            f"executed={'yes' if self.executed else 'no'} "
            f"success={'yes' if self.success else 'no'}{run}"
            + (" (dry run)" if self.dry_run else "")
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleCompleted(Event):
    """Published after every (non dry-run) cycle."""

    summary: CycleSummary


Results = dict[str, dict[str, MonitorResultLike | Exception]]


class CycleRunner:
    """Runs autonomous cycles; the daemon calls ``run_cycle`` every poll interval and for
    ``--once``; scheduled ``workflow = "auto"`` jobs call it too."""

    def __init__(
        self,
        *,
        settings: DaemonSettings,
        monitors: CycleMonitors,
        decider: DecisionMaker,
        engine: WorkflowEngine,
        clock: Clock,
        store: RunStore | None = None,
        alerts: AlertEmitter | None = None,
        out: Callable[[str], None] = print,
        publish: Callable[[Event], object] | None = None,
    ) -> None:
        self.settings = settings
        self._monitors = monitors
        self._decider = decider
        self._engine = engine
        self._clock = clock
        self._store = store
        self._alerts = alerts
        self._out = out
        self._publish = publish

    def reload(self, settings: DaemonSettings, decider: DecisionMaker | None = None) -> None:
        """Use a new settings snapshot (and the decision engine built on its criteria) from the
        next cycle on."""
        self.settings = settings
        if decider is not None:
            self._decider = decider

    async def _check_all(self, symbols: Sequence[str]) -> Results:
        timeout_s = self.settings.cycle.monitor_timeout_s
        calls = [
            (role, symbol, _within(monitor.check_conditions(symbol), timeout_s))
            for role, monitor in self._monitors.by_role().items()
            for symbol in symbols
        ]
        outcomes = await asyncio.gather(*(c for _, _, c in calls), return_exceptions=True)
        results: Results = {role: {} for role in ROLES}
        for (role, symbol, _), outcome in zip(calls, outcomes, strict=True):
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome
            results[role][symbol] = outcome
        return results

    async def _alert(
        self, level: AlertLevel, source: str, message: str, context: dict[str, Any], dry_run: bool
    ) -> None:
        if dry_run:
            self._out(f"would alert [{level.value}] [{source}] {message}")
        elif self._alerts is not None:
            await self._alerts.emit(level, source, message, to_jsonable(context))

    async def run_cycle(
        self,
        *,
        workflow_type: str | None = None,
        symbols: Sequence[str] | None = None,
        dry_run: bool = False,
        verbose: bool = False,
        tag: str | None = None,
        trigger: str = "cycle",
        context: Mapping[str, Any] | None = None,
        act: bool = True,
    ) -> CycleSummary:
        """Run one cycle and return (and print, and store) its summary. ``act=False`` decides
        and records as usual but runs no workflow for an EXECUTE (``executed`` is then false):
        replay studies the decisions, and a workflow's reports about the past are not wanted."""
        started = self._clock.now()
        cycle_id = f"{started:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
        chosen_symbols = list(symbols or cycle_symbols(self.settings))
        requested = workflow_type or self.settings.daemon.workflow_type
        results = await self._check_all(chosen_symbols)
        views, errors = await self._digest(results, dry_run, verbose)
        if requested == "auto":
            local = started.astimezone(ZoneInfo(self.settings.daemon.timezone)).time()
            selection = select_workflow(views, local, self.settings.cycle)
        else:
            first = chosen_symbols[0] if chosen_symbols else None
            selection = Selection(requested, first, 0, "requested")
        metrics, missing, labels = self._merge(results, selection.symbol)
        # The decision engine names missing metrics with the monitors' reasons (stale data...).
        decision_context = {
            "now": started,
            "cycle_id": cycle_id,
            "symbol": selection.symbol,
            "tag": tag,
            "missing_reasons": missing,
            **(context or {}),
        }
        decision = self._decider.make_decision(selection.workflow_type, metrics, decision_context)
        action = action_name(decision)
        reasons = reasons_of(decision)
        criteria = criteria_of(decision)
        if verbose:
            self._print_decision(selection, action, decision.confidence, criteria, reasons)
        run_id: str | None = None
        run_state: str | None = None
        success = bool(views) or not chosen_symbols
        error = None if success else "every monitor failed: " + "; ".join(errors.values())
        if action == "EXECUTE" and act:
            parameters: dict[str, Any] = {"focus_symbol": selection.symbol}
            if selection.workflow_type != "market_scan":  # a scan always covers every symbol
                parameters["symbols"] = chosen_symbols
            run_id = self._engine.create_workflow(
                f"cycle-{cycle_id}",
                selection.workflow_type,
                parameters,
                trigger=trigger,
                tag=tag,
            )
            result = await self._engine.execute_workflow(run_id, dry_run=dry_run)
            run_state = result.state.value
            success = success and result.success
            if not result.success:
                error = result.error
                await self._alert(
                    AlertLevel.CRITICAL,
                    "cycle",
                    f"{selection.workflow_type} run {run_id} {run_state}: {result.error}",
                    {"cycle_id": cycle_id, "run_id": run_id},
                    dry_run,
                )
        elif action == "ALERT":
            await self._alert(
                AlertLevel.WARNING,
                "decision",
                f"{selection.workflow_type} on {selection.symbol}: alert band reached "
                f"(confidence {decision.confidence:.2f}): {'; '.join(reasons)}",
                {"cycle_id": cycle_id, "workflow_type": selection.workflow_type},
                dry_run,
            )
        summary = CycleSummary(
            cycle_id=cycle_id,
            started_at=started,
            finished_at=self._clock.now(),
            workflow_type=selection.workflow_type,
            selection_reason=selection.reason,
            symbol=selection.symbol,
            action=action,
            confidence=float(decision.confidence),
            executed=action == "EXECUTE" and act,
            success=success,
            run_id=run_id,
            reasons=tuple(reasons),
            dry_run=dry_run,
            error=error,
            run_state=run_state,
            monitor_errors=errors,
        )
        self._out(summary.line())
        if verbose or action in ("SKIP", "WAIT"):
            for reason in reasons:
                self._out(f"  reason: {reason}")
        if not dry_run:
            await self._record(summary, decision, criteria, metrics, labels, tag)
            if self._publish is not None:
                self._publish(CycleCompleted(summary=summary))
        return summary

    async def _digest(
        self, results: Results, dry_run: bool, verbose: bool
    ) -> tuple[dict[str, SymbolView], dict[str, str]]:
        """Raise monitor alerts, print monitors when verbose, and build the selection views."""
        errors: dict[str, str] = {}
        per_symbol: dict[str, dict[str, Any]] = {}
        for role, by_symbol in results.items():
            for symbol, result in by_symbol.items():
                if isinstance(result, Exception):
                    errors[f"{role}:{symbol}"] = f"{type(result).__name__}: {result}"
                    await self._alert(
                        AlertLevel.WARNING,
                        f"monitor.{role}",
                        f"{symbol}: monitor failed: {result}",
                        {"symbol": symbol},
                        dry_run,
                    )
                    continue
                view = per_symbol.setdefault(symbol, {"metrics": {}, "statuses": {}})
                view["metrics"][role] = dict(result.metrics)
                view["statuses"][role] = result.status
                if result.status == "critical":
                    text = "; ".join(result.alerts) or "status critical"
                    # The monitors' own alert texts already start with the symbol.
                    if not text.startswith(f"{symbol}:"):
                        text = f"{symbol}: {text}"
                    await self._alert(
                        AlertLevel.CRITICAL,
                        f"monitor.{role}",
                        text,
                        {"symbol": symbol, "metrics": dict(result.metrics)},
                        dry_run,
                    )
                if verbose:
                    shown = " ".join(f"{k}={v:.4g}" for k, v in sorted(result.metrics.items()))
                    gone = ", ".join(f"{k} ({why})" for k, why in sorted(result.missing.items()))
                    self._out(f"monitor {role} {symbol}: {result.status} {shown}")
                    if gone:
                        self._out(f"  missing: {gone}")
        views = {s: SymbolView(v["metrics"], v["statuses"]) for s, v in per_symbol.items()}
        return views, errors

    @staticmethod
    def _merge(
        results: Results, symbol: str | None
    ) -> tuple[dict[str, float], dict[str, str], dict[str, str]]:
        metrics: dict[str, float] = {}
        missing: dict[str, str] = {}
        labels: dict[str, str] = {}
        for role, by_symbol in results.items():
            result = by_symbol.get(symbol) if symbol is not None else None
            if result is None or isinstance(result, Exception):
                continue
            for name, value in result.metrics.items():
                metrics[name] = value
                metrics[f"{role}.{name}"] = value
            missing.update(result.missing)
            labels.update(result.labels)
        return metrics, missing, labels

    def _print_decision(
        self,
        selection: Selection,
        action: str,
        confidence: float,
        criteria: list[dict[str, Any]],
        reasons: list[str],
    ) -> None:
        self._out(f"selected {selection.workflow_type} (rule {selection.rule}): {selection.reason}")
        self._out(f"decision {action} confidence={confidence:.2f}")
        for item in criteria:
            shown = " ".join(f"{k}={v}" for k, v in item.items())
            self._out(f"  criterion: {shown}")

    async def _record(
        self,
        summary: CycleSummary,
        decision: Any,
        criteria: list[dict[str, Any]],
        metrics: dict[str, float],
        labels: dict[str, str],
        tag: str | None,
    ) -> None:
        if self._store is None:
            return
        retention = self.settings.state.retention
        # One transaction per cycle, pruning the two tables it grows: most cycles run nothing
        # (SKIP, WAIT), so the engine's prune after a run (workflow runs only) is not enough, and
        # a commit per row would triple the cycle's writes.
        await self._store.record_cycle(
            DecisionRow(
                cycle_id=summary.cycle_id,
                decided_at=summary.started_at,
                workflow_type=summary.workflow_type,
                symbol=summary.symbol,
                action=summary.action,
                confidence=summary.confidence,
                reasoning=list(summary.reasons),
                criteria=to_jsonable(criteria),
                details=to_jsonable(
                    {"metrics": metrics, "labels": labels, "metadata": dict(decision.metadata)}
                ),
            ),
            CycleSummaryRow(
                cycle_id=summary.cycle_id,
                started_at=summary.started_at,
                finished_at=summary.finished_at,
                workflow_type=summary.workflow_type,
                selection_reason=summary.selection_reason,
                symbol=summary.symbol,
                action=summary.action,
                confidence=summary.confidence,
                executed=summary.executed,
                success=summary.success,
                run_id=summary.run_id,
                tag=tag,
                details=to_jsonable(
                    {
                        "error": summary.error,
                        "run_state": summary.run_state,
                        "monitor_errors": dict(summary.monitor_errors),
                    }
                ),
            ),
            decisions=retention.decisions,
        )


async def _within(check: Awaitable[MonitorResultLike], timeout_s: float) -> MonitorResultLike:
    """A monitor's result, or a TimeoutError that says how long it was given.

    Wall time, not the injected clock: a hang is a real-time fault whatever time the cycle
    thinks it is (a ManualClock that nobody advances would otherwise never time it out).
    """
    try:
        async with asyncio.timeout(timeout_s):
            return await check
    except TimeoutError:
        raise TimeoutError(f"no result within {timeout_s:g}s (cycle.monitor_timeout_s)") from None
