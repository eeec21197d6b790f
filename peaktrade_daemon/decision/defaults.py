"""Built-in criteria for the four workflow types, on the flat metric names the monitors produce.

Used when ``daemon.toml`` gives no ``criteria`` list for a type. Each threshold is chosen so the
criterion is met on a minority of real bars (an "unusual" condition), and only metrics that are
normalised across assets are used: a single volatility threshold cannot serve BTC/USD (median
annualised volatility of 20 monthly bars about 0.73 on the bundled sample) and EUR/USD (about
0.06 on hourly bars) at once, so volatility and price change are left to the monitors' own
per-symbol thresholds and alerts. Metrics that are legitimately absent in the embedded default
(``spread`` without a ticker feed, ``win_rate`` before the first closed trade) are not used,
because with ``max_unknown_weight_share = 0`` any unknown criterion makes the decision WAIT.

signal_analysis: run the strategy analysis when a strategy has something strong to say.
    ``signal_strength >= 0.6`` (weight 4, required) dominates: alone it gives 4/6 = 0.67, EXECUTE;
    without it the other two reach at most 2/6 = 0.33, SKIP, so consistent but weak signals never
    raise alerts. ``signal_consistency >= 0.6`` (recent signals mostly agree) and
    ``false_signal_rate <= 0.5`` (the signals beat a coin flip) add confidence.
risk_check: look at risk when losses or concentration build up.
    ``current_drawdown >= 0.05`` (5 % below the equity peak, weight 2, required);
    ``daily_pnl_pct <= -2.0`` (a 2 % loss over 24 h; the metric is in percent);
    ``exposure >= 1.5`` (gross notional 1.5x equity, i.e. leverage in use);
    ``position_size_pct >= 25`` (one position a quarter of equity). A 5 % drawdown alone is
    2/5 = 0.4, ALERT; with any other sign 0.6, EXECUTE; three non-drawdown signs also EXECUTE.
market_scan: scan when the market is unusually active while it is open.
    ``volume_ratio >= 1.5``: on the bundled samples with a 20-bar mean this holds on 12 % of
    BTC/USD, 22 % of EUR/USD and 10 % of GOOG bars (2.0 would be 4-11 %, too rare for hourly
    scans); ``activity_level >= 0.7`` and ``trend_strength >= 0.5`` (both normalised to [0, 1]:
    the upper part of the range); ``is_market_hours == 1``. Open plus one unusual sign is 0.5,
    ALERT; open plus two, 0.75, EXECUTE.
portfolio_analysis: review the portfolio when there is a track record to review.
    ``total_trades >= 5`` (weight 3, required: fewer closed trades say nothing) alone gives
    3/5 = 0.6, EXECUTE, so the evening review runs on any active portfolio;
    ``max_drawdown >= 0.10`` and ``sharpe_ratio < 0.5`` (weak risk-adjusted return) raise the
    confidence. Drawdown and weak Sharpe without trades give 0.4: ALERT, worth a look.
"""

from __future__ import annotations

from types import MappingProxyType

from peaktrade_daemon.decision.criteria import DecisionCriteria

DEFAULT_CRITERIA: MappingProxyType[str, tuple[DecisionCriteria, ...]] = MappingProxyType(
    {
        "signal_analysis": (
            DecisionCriteria("signal_strength", 0.6, weight=4.0, comparison="gte", required=True),
            DecisionCriteria("signal_consistency", 0.6, comparison="gte"),
            DecisionCriteria("false_signal_rate", 0.5, comparison="lte"),
        ),
        "risk_check": (
            DecisionCriteria("current_drawdown", 0.05, weight=2.0, comparison="gte", required=True),
            DecisionCriteria("daily_pnl_pct", -2.0, comparison="lte"),
            DecisionCriteria("exposure", 1.5, comparison="gte"),
            DecisionCriteria("position_size_pct", 25.0, comparison="gte"),
        ),
        "market_scan": (
            DecisionCriteria("volume_ratio", 1.5, comparison="gte"),
            DecisionCriteria("activity_level", 0.7, comparison="gte"),
            DecisionCriteria("trend_strength", 0.5, comparison="gte"),
            DecisionCriteria("is_market_hours", 1.0, comparison="eq"),
        ),
        "portfolio_analysis": (
            DecisionCriteria("total_trades", 5.0, weight=3.0, comparison="gte", required=True),
            DecisionCriteria("max_drawdown", 0.10, comparison="gte"),
            DecisionCriteria("sharpe_ratio", 0.5, comparison="lt"),
        ),
    }
)


def default_criteria(workflow_type: str) -> tuple[DecisionCriteria, ...]:
    """The built-in criteria of a workflow type; none for a type that is not built in."""
    return DEFAULT_CRITERIA.get(workflow_type, ())
