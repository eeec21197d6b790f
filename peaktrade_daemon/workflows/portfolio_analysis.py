"""``portfolio_analysis``: a performance report over a window, with an equity/drawdown chart.

For each symbol's portfolio the performance monitor's metrics are reported as they are, and the
equity curve over the window (``window_days``, default 90; 0 = the whole history) gives::

    return_pct    = (last equity / first equity − 1) × 100
    drawdown(t)   = 1 − equity(t) / max(equity up to t)
    max_drawdown  = max drawdown(t) over the window

The chart (``equity_drawdown.png``) is drawn with matplotlib's Agg backend in a worker thread,
equity normalised to 1.0 at the window start so symbols share one axis.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from peaktrade_daemon.errors import WorkflowError
from peaktrade_daemon.workflows.model import WorkflowFn, WorkflowOutput, WorkflowRun
from peaktrade_daemon.workflows.ports import check_symbols
from peaktrade_daemon.workflows.reports import markdown_table
from peaktrade_daemon.workflows.sources import (
    WorkflowSources,
    cycle_symbols,
    symbols_for,
    usable,
)

CHART = "equity_drawdown.png"
DEFAULT_WINDOW_DAYS = 90.0

Curve = tuple[list[datetime], np.ndarray]


def window(points: Sequence[tuple[datetime, float]], days: float) -> Curve:
    """The points of the last ``days`` (all when ``days`` is 0), as times and an array."""
    if not points:
        return [], np.array([], dtype=float)
    start = points[-1][0] - timedelta(days=days) if days > 0 else points[0][0]
    chosen = [(t, e) for t, e in points if t >= start]
    return [t for t, _ in chosen], np.array([e for _, e in chosen], dtype=float)


def drawdown_series(equity: np.ndarray) -> np.ndarray:
    """``1 − equity / running peak`` (0 at every new high)."""
    peaks = np.maximum.accumulate(equity)
    return np.asarray(1.0 - equity / peaks, dtype=float)


def curve_stats(equity: np.ndarray) -> dict[str, float | int]:
    """Window return, max drawdown and length of one curve (needs at least two points)."""
    return {
        "points": len(equity),
        "start_equity": float(equity[0]),
        "end_equity": float(equity[-1]),
        "return_pct": float((equity[-1] / equity[0] - 1.0) * 100.0),
        "max_drawdown": float(drawdown_series(equity).max()),
    }


def render_chart(curves: dict[str, Curve]) -> bytes:
    """PNG bytes of normalised equity (top) and drawdown (bottom). Call in a thread."""
    from matplotlib.figure import Figure  # Figure + Agg canvas: no pyplot global state

    figure = Figure(figsize=(9, 6), dpi=100)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    for symbol, (times, equity) in curves.items():
        top.plot(times, equity / equity[0], label=symbol, linewidth=1.2)
        bottom.fill_between(times, -drawdown_series(equity) * 100.0, 0.0, alpha=0.35, label=symbol)
    top.set_ylabel("equity (start = 1.0)")
    top.legend(loc="best", fontsize="small")
    top.grid(alpha=0.3)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def workflow(sources: WorkflowSources) -> WorkflowFn:
    """The ``portfolio_analysis`` coroutine bound to ``sources``."""

    async def run(run: WorkflowRun) -> WorkflowOutput:
        symbols = symbols_for(run.parameters, cycle_symbols(sources.settings))
        days = float(run.parameters.get("window_days", DEFAULT_WINDOW_DAYS))
        results, errors = usable(await check_symbols(sources.performance, symbols))
        curves: dict[str, Curve] = {}
        rows: list[dict[str, Any]] = []
        for symbol, result in results.items():
            times, equity = window(await sources.equity.equity_curve(symbol), days)
            stats: dict[str, Any] = curve_stats(equity) if len(equity) >= 2 else {}
            if len(equity) >= 2:
                curves[symbol] = (times, equity)
            rows.append(
                {
                    "symbol": symbol,
                    "metrics": dict(result.metrics),
                    "missing": dict(result.missing),
                    "window": stats,
                    "window_start": times[0] if times else None,
                    "window_end": times[-1] if times else None,
                    "status": result.status,
                }
            )
        if not curves:
            raise WorkflowError("no equity history with at least two points for any symbol")
        chart = await asyncio.to_thread(render_chart, curves)
        summary = {"symbols": symbols, "window_days": days, "portfolios": rows, "errors": errors}
        table = markdown_table(
            ["symbol", "return %", "max DD (window)", "sharpe", "win rate", "trades"],
            [
                [
                    r["symbol"],
                    r["window"].get("return_pct"),
                    r["window"].get("max_drawdown"),
                    r["metrics"].get("sharpe_ratio"),
                    r["metrics"].get("win_rate"),
                    r["metrics"].get("total_trades"),
                ]
                for r in rows
            ],
        )
        markdown = (
            f"# Portfolio analysis `{run.run_id}`\n\nWindow: last {days:g} days.\n\n{table}\n"
            f"![equity and drawdown]({CHART})\n"
        )
        return WorkflowOutput(summary=summary, markdown=markdown, files={CHART: chart})

    return run
