"""Performance metrics of the metric contract from a :class:`PortfolioSnapshot` (pure).

With E the equity points (oldest first), r_t = E_t / E_{t-1} - 1 and B the points per year:

- ``current_drawdown``   (max E - E_last) / max E, fraction >= 0
- ``max_drawdown``       max over t of (max_{s<=t} E_s - E_t) / max_{s<=t} E_s
- ``win_rate``           trades with pnl > 0 / closed trades (NaN when there are none)
- ``daily_pnl_pct``      (E_last / E_ref - 1) x 100 with E_ref the last point at or before 24 h
                         before the last one: for points 24 h apart or more, the last step's
                         change; NaN when the curve does not reach back that far
- ``sharpe_ratio``       mean(r) / std(r, ddof=1) x sqrt(B), risk-free 0; NaN if std is 0
- ``sortino_ratio``      mean(r) / sqrt(mean(min(r, 0)^2)) x sqrt(B); NaN without a losing step
- ``total_trades``       number of closed trades
- ``position_size_pct``  max |notional| / E_last x 100 (0 when flat)
- ``exposure``           sum |notional| / E_last (1.0 = fully invested, unlevered)

Drawdowns need a positive starting equity and stay defined after the equity falls to or below
0 (then a drawdown of 1 or more says the book lost everything); every other ratio over a
non-positive equity is NaN (undefined), never 0.
"""

from __future__ import annotations

import numpy as np

from peaktrade_daemon.market.bars import NS_PER_S, FloatArray
from peaktrade_daemon.portfolio.snapshot import PortfolioSnapshot

NAN = float("nan")
DAY_NS = 86_400 * NS_PER_S
METRICS_OF_EQUITY = (
    "current_drawdown",
    "max_drawdown",
    "daily_pnl_pct",
    "sharpe_ratio",
    "sortino_ratio",
    "position_size_pct",
    "exposure",
)


def max_drawdown(equity: FloatArray) -> float:
    """The ``max_drawdown`` formula over ``equity`` (oldest first, starting above 0)."""
    peak = np.maximum.accumulate(equity)
    return float(((peak - equity) / peak).max())


def sharpe_ratio(returns: FloatArray, bars_per_year: float) -> float:
    """The ``sharpe_ratio`` formula over per-period ``returns``; NaN without variance."""
    std = float(returns.std(ddof=1)) if len(returns) >= 2 else 0.0
    return float(returns.mean() / std * np.sqrt(bars_per_year)) if std > 0 else NAN


def performance_metrics(snap: PortfolioSnapshot) -> dict[str, float]:
    """Every performance metric (NaN where undefined, see the module docstring)."""
    equity = snap.equity
    out: dict[str, float] = {
        "total_trades": float(len(snap.trades)),
        "win_rate": (
            sum(t.pnl > 0 for t in snap.trades) / len(snap.trades) if snap.trades else NAN
        ),
    }
    if len(equity) == 0 or equity[0] <= 0:
        return out | dict.fromkeys(METRICS_OF_EQUITY, NAN)
    # Drawdowns stay defined after a blow-up (a drawdown above 1 means more than all was lost).
    peak = np.maximum.accumulate(equity)
    last = float(equity[-1])
    out["current_drawdown"] = float((peak[-1] - last) / peak[-1])
    out["max_drawdown"] = max_drawdown(equity)
    if not (equity > 0).all():
        return out | dict.fromkeys(METRICS_OF_EQUITY[2:], NAN)
    ref = int(np.searchsorted(snap.timestamps, snap.timestamps[-1] - DAY_NS, side="right")) - 1
    out["daily_pnl_pct"] = (last / float(equity[ref]) - 1.0) * 100.0 if ref >= 0 else NAN
    returns = equity[1:] / equity[:-1] - 1.0
    scale = np.sqrt(snap.bars_per_year)
    out["sharpe_ratio"] = sharpe_ratio(returns, snap.bars_per_year)
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2))) if len(returns) else 0.0
    out["sortino_ratio"] = float(returns.mean() / downside * scale) if downside > 0 else NAN
    notionals = [abs(p.notional) for p in snap.positions]
    out["position_size_pct"] = max(notionals, default=0.0) / last * 100.0
    out["exposure"] = sum(notionals) / last
    return out
