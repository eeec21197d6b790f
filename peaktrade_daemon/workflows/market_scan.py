"""``market_scan``: every configured symbol's regime, volatility and activity, ranked.

Symbols are ranked by ``activity_level`` (highest first), ties broken by ``volatility``. A symbol
whose activity level is unknown is not ranked; it is listed with the monitor's reason. Closed
markets are kept in the ranking but flagged, so an operator sees why a quiet symbol is quiet.
"""

from __future__ import annotations

from typing import Any

from peaktrade_daemon.workflows.model import WorkflowFn, WorkflowOutput, WorkflowRun
from peaktrade_daemon.workflows.ports import check_symbols
from peaktrade_daemon.workflows.reports import ranked_markdown
from peaktrade_daemon.workflows.sources import WorkflowSources, symbols_for, usable

REPORTED = ("volatility", "activity_level", "volume_ratio", "price_change_1h", "trend_strength")


def workflow(sources: WorkflowSources) -> WorkflowFn:
    """The ``market_scan`` coroutine bound to ``sources``."""

    async def run(run: WorkflowRun) -> WorkflowOutput:
        # The scan covers every configured symbol unless the caller narrowed it.
        symbols = symbols_for(run.parameters, list(sources.settings.symbols))
        results, errors = usable(await check_symbols(sources.market, symbols))
        rows: list[dict[str, Any]] = []
        for symbol, result in results.items():
            metrics = dict(result.metrics)
            open_flag = metrics.get("is_market_hours")
            rows.append(
                {
                    "symbol": symbol,
                    "regime": result.labels.get("regime"),
                    "market_open": None if open_flag is None else open_flag >= 0.5,
                    **{name: metrics.get(name) for name in REPORTED},
                    "missing": dict(result.missing),
                    "status": result.status,
                    "alerts": list(result.alerts),
                    "as_of": result.timestamp,
                }
            )
        ranked = sorted(
            (r for r in rows if r["activity_level"] is not None),
            key=lambda r: (-r["activity_level"], -(r["volatility"] or 0.0), r["symbol"]),
        )
        for position, row in enumerate(ranked, start=1):
            row["rank"] = position
        unranked = [r for r in rows if r["activity_level"] is None]
        regimes: dict[str, list[str]] = {}
        for row in rows:
            regimes.setdefault(row["regime"] or "unknown", []).append(row["symbol"])
        summary = {
            "symbols": symbols,
            "ranked": ranked,
            "unranked": unranked,
            "regimes": regimes,
            "warnings": [r["symbol"] for r in rows if r["status"] != "ok"],
            "errors": errors,
        }
        notes = [f"- {r['symbol']}: activity unknown ({r['missing']})" for r in unranked]
        notes += [f"- {s}: monitor failed: {e}" for s, e in errors.items()]
        markdown = ranked_markdown(
            "Market scan",
            run.run_id,
            (
                ("rank", "rank"),
                ("symbol", "symbol"),
                ("regime", "regime"),
                ("open", "market_open"),
                ("activity", "activity_level"),
                ("volatility", "volatility"),
                ("1h change", "price_change_1h"),
            ),
            ranked,
            notes,
        )
        return WorkflowOutput(summary=summary, markdown=markdown)

    return run
