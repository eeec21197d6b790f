"""``signal_analysis``: run the strategies on the latest data, rank the signals, record them.

The signal monitor runs the enabled strategies over each symbol's latest bars. Symbols are
ranked by a documented score::

    score = signal_strength × signal_consistency × (1 − false_signal_rate)

where a factor the monitor could not compute is left out of the product and named in
``unknown_factors`` (it is never taken as 0 or 1 silently). A symbol without a signal strength
is not ranked; it is listed with the monitor's reason.
"""

from __future__ import annotations

from typing import Any

from peaktrade_daemon.workflows.model import WorkflowFn, WorkflowOutput, WorkflowRun
from peaktrade_daemon.workflows.ports import check_symbols
from peaktrade_daemon.workflows.reports import ranked_markdown
from peaktrade_daemon.workflows.sources import (
    WorkflowSources,
    cycle_symbols,
    symbols_for,
    usable,
)

FACTORS = ("signal_consistency", "false_signal_rate")


def score_signal(metrics: dict[str, float]) -> tuple[float | None, list[str]]:
    """The ranking score of one symbol's signal and the factors that were unknown."""
    strength = metrics.get("signal_strength")
    if strength is None:
        return None, ["signal_strength"]
    score = strength
    unknown: list[str] = []
    if "signal_consistency" in metrics:
        score *= metrics["signal_consistency"]
    else:
        unknown.append("signal_consistency")
    if "false_signal_rate" in metrics:
        score *= 1.0 - metrics["false_signal_rate"]
    else:
        unknown.append("false_signal_rate")
    return score, unknown


def workflow(sources: WorkflowSources) -> WorkflowFn:
    """The ``signal_analysis`` coroutine bound to ``sources``."""

    async def run(run: WorkflowRun) -> WorkflowOutput:
        symbols = symbols_for(run.parameters, cycle_symbols(sources.settings))
        results, errors = usable(await check_symbols(sources.signals, symbols))
        ranked: list[dict[str, Any]] = []
        unranked: list[dict[str, Any]] = []
        for symbol, result in results.items():
            metrics = dict(result.metrics)
            score, unknown = score_signal(metrics)
            row = {
                "symbol": symbol,
                "score": score,
                "direction": result.labels.get("direction"),
                "signal_strength": metrics.get("signal_strength"),
                "signal_direction": metrics.get("signal_direction"),
                "signal_consistency": metrics.get("signal_consistency"),
                "false_signal_rate": metrics.get("false_signal_rate"),
                "signal_frequency": metrics.get("signal_frequency"),
                "unknown_factors": unknown,
                "missing": dict(result.missing),
                "as_of": result.timestamp,
                "status": result.status,
            }
            (unranked if score is None else ranked).append(row)
        ranked.sort(key=lambda r: (-r["score"], r["symbol"]))
        for position, row in enumerate(ranked, start=1):
            row["rank"] = position
        summary = {
            "symbols": symbols,
            "ranked": ranked,
            "unranked": unranked,
            "errors": errors,
            "strongest": ranked[0]["symbol"] if ranked else None,
        }
        notes = [f"- {r['symbol']}: no signal ({r['missing']})" for r in unranked]
        notes += [f"- {s}: monitor failed: {e}" for s, e in errors.items()]
        markdown = ranked_markdown(
            "Signal analysis",
            run.run_id,
            (
                ("rank", "rank"),
                ("symbol", "symbol"),
                ("direction", "direction"),
                ("strength", "signal_strength"),
                ("consistency", "signal_consistency"),
                ("false rate", "false_signal_rate"),
                ("score", "score"),
            ),
            ranked,
            notes,
        )
        return WorkflowOutput(summary=summary, markdown=markdown)

    return run
