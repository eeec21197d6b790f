"""``risk_check``: evaluate the risk limits and raise alerts on breaches.

Limits come from ``[risk]`` of the *effective* configuration (base plus the live overrides the
environment gate allows), read fresh on every run, so a promoted ``portfolio.leverage`` is
checked as it is actually in force. Checks, each ``ok`` / ``breach`` / ``unknown``:

* ``leverage``:   effective ``portfolio.leverage`` ≤ ``risk.max_leverage``
* ``drawdown``:   ``current_drawdown`` ≤ ``risk.max_drawdown`` (fractions), per symbol
* ``exposure``:   ``exposure`` ≤ ``risk.max_exposure`` (multiple of equity), per symbol
* ``daily_loss``: ``-daily_pnl_pct / 100`` ≤ ``risk.daily_loss_limit`` (fraction), per symbol

A missing metric or limit makes its check ``unknown``: never passed by default. Every breach is
a critical alert; unknown checks raise one warning naming them (fail closed, loudly).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.workflows.model import WorkflowAlert, WorkflowFn, WorkflowOutput, WorkflowRun
from peaktrade_daemon.workflows.ports import check_symbols
from peaktrade_daemon.workflows.reports import markdown_table
from peaktrade_daemon.workflows.sources import (
    WorkflowSources,
    cycle_symbols,
    symbols_for,
    usable,
)

# check name -> (metric, limit key, how the metric maps onto the limit's unit)
SYMBOL_CHECKS: dict[str, tuple[str, str, float]] = {
    "drawdown": ("current_drawdown", "risk.max_drawdown", 1.0),
    "exposure": ("exposure", "risk.max_exposure", 1.0),
    "daily_loss": ("daily_pnl_pct", "risk.daily_loss_limit", -0.01),
}


def _number(value: Any) -> float | None:
    # Not a finite number is no limit or value at all: a NaN limit would pass every check.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def evaluate(
    check: str, scope: str, value: float | None, limit: float | None, why: str = ""
) -> dict[str, Any]:
    """One check's record; ``unknown`` when the value or the limit is missing or not a finite
    number (never ``ok`` by a comparison with NaN)."""
    value, limit = _number(value), _number(limit)
    if value is None or limit is None:
        status = "unknown"
        reason = why or ("limit not configured" if limit is None else "metric missing")
    else:
        status = "breach" if value > limit else "ok"
        reason = f"{value:.4g} {'>' if status == 'breach' else '<='} {limit:.4g}"
    return {
        "check": check,
        "scope": scope,
        "value": value,
        "limit": limit,
        "status": status,
        "reason": reason,
    }


def workflow(sources: WorkflowSources) -> WorkflowFn:
    """The ``risk_check`` coroutine bound to ``sources``."""

    async def run(run: WorkflowRun) -> WorkflowOutput:
        config = await asyncio.to_thread(sources.effective_config)
        symbols = symbols_for(run.parameters, cycle_symbols(sources.settings))
        results, errors = usable(await check_symbols(sources.performance, symbols))
        leverage = _number(config.get("portfolio.leverage"))
        provenance = config.provenance.get("portfolio.leverage")
        checks = [
            evaluate("leverage", "portfolio", leverage, _number(config.get("risk.max_leverage")))
        ]
        for symbol, result in results.items():
            for check, (metric, limit_key, scale) in SYMBOL_CHECKS.items():
                raw = result.metrics.get(metric)
                value = None if raw is None else raw * scale
                why = result.missing.get(metric, "") if raw is None else ""
                checks.append(evaluate(check, symbol, value, _number(config.get(limit_key)), why))
        for symbol, error in errors.items():
            checks.append(evaluate("monitor", symbol, None, None, error))
        breaches = [c for c in checks if c["status"] == "breach"]
        unknown = [c for c in checks if c["status"] == "unknown"]
        alerts = [
            WorkflowAlert(
                AlertLevel.CRITICAL,
                f"risk limit breached: {c['check']} {c['scope']} {c['reason']}",
                {
                    "check": c["check"],
                    "scope": c["scope"],
                    "value": c["value"],
                    "limit": c["limit"],
                },
            )
            for c in breaches
        ]
        if unknown:
            names = ", ".join(f"{c['check']}@{c['scope']}" for c in unknown)
            alerts.append(
                WorkflowAlert(AlertLevel.WARNING, f"risk checks could not be evaluated: {names}")
            )
        summary = {
            "symbols": symbols,
            "environment": config.get("environment.mode"),
            "effective_leverage": leverage,
            "leverage_source": provenance.source if provenance else None,
            "checks": checks,
            "breaches": len(breaches),
            "unknown": len(unknown),
            "ok": not breaches and not unknown,
        }
        table = markdown_table(
            ["check", "scope", "value", "limit", "status"],
            [[c["check"], c["scope"], c["value"], c["limit"], c["status"]] for c in checks],
        )
        verdict = "BREACH" if breaches else ("UNKNOWN" if unknown else "OK")
        markdown = (
            f"# Risk check `{run.run_id}`: {verdict}\n\n"
            f"Effective leverage {leverage} (from {summary['leverage_source']}).\n\n{table}"
        )
        return WorkflowOutput(summary=summary, markdown=markdown, alerts=tuple(alerts))

    return run
