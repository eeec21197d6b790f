"""The documented, data-driven ``auto`` rule: which workflow type a cycle decides on (§5.1).

Pure: metrics, monitor statuses and the local time in, a :class:`Selection` with its reason out.
The rules are tried in priority order; within a rule the most extreme symbol is the focus.
Thresholds come from ``[cycle]`` in daemon.toml.

1. ``risk_check``: the performance monitor is ``critical`` for a symbol, or
   ``current_drawdown >= risk_drawdown``, or ``daily_pnl_pct <= -risk_daily_loss_pct``.
   Focus: the largest drawdown.
2. ``signal_analysis``: ``signal_strength >= strong_signal`` and, when known,
   ``signal_consistency >= min_signal_consistency``. Focus: the strongest signal.
3. ``market_scan``: market conditions are unusual: the market monitor is not ``ok``, or
   ``volume_ratio >= unusual_volume_ratio``, or ``|price_change_1h| >= unusual_price_change``, or
   ``regime == 2`` (volatile), or ``activity_level >= high_activity``. Focus: highest activity.
4. ``portfolio_analysis``: the local time (daemon time zone) is inside the evening review window
   ``[evening_review_start, evening_review_end]``.
5. Otherwise ``default_workflow`` (``market_scan``), reason "nothing unusual".

A metric that is missing never satisfies a rule (it is not 0); when everything is missing the
default applies and the decision engine then answers WAIT, naming the missing metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time

from peaktrade_daemon.settings import CycleSection

VOLATILE_REGIME = 2.0


@dataclass(frozen=True, slots=True)
class SymbolView:
    """One symbol's monitor output: metrics and status per monitor role
    (``market``, ``signals``, ``performance``)."""

    metrics: Mapping[str, Mapping[str, float]]
    statuses: Mapping[str, str] = field(default_factory=dict)

    def get(self, role: str, name: str) -> float | None:
        """One metric, or None when the monitor did not produce it."""
        return self.metrics.get(role, {}).get(name)


@dataclass(frozen=True, slots=True)
class Selection:
    """The chosen type, the symbol that made it so, the rule number and a readable reason."""

    workflow_type: str
    symbol: str | None
    rule: int
    reason: str


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def in_evening_window(local: time, rules: CycleSection) -> bool:
    """True when ``local`` is inside the evening review window (inclusive)."""
    start, end = _hhmm(rules.evening_review_start), _hhmm(rules.evening_review_end)
    minute = time(local.hour, local.minute)
    if start <= end:
        return start <= minute <= end
    return minute >= start or minute <= end  # a window across midnight


def _risk(view: SymbolView, rules: CycleSection) -> str | None:
    drawdown = view.get("performance", "current_drawdown")
    pnl = view.get("performance", "daily_pnl_pct")
    if view.statuses.get("performance") == "critical":
        return "performance monitor critical"
    if drawdown is not None and drawdown >= rules.risk_drawdown:
        return f"drawdown {drawdown:.1%} >= {rules.risk_drawdown:.1%}"
    if pnl is not None and pnl <= -rules.risk_daily_loss_pct:
        return f"daily P&L {pnl:.2f}% <= -{rules.risk_daily_loss_pct:g}%"
    return None


def _signal(view: SymbolView, rules: CycleSection) -> str | None:
    strength = view.get("signals", "signal_strength")
    consistency = view.get("signals", "signal_consistency")
    if strength is None or strength < rules.strong_signal:
        return None
    if consistency is not None and consistency < rules.min_signal_consistency:
        return None
    return f"signal strength {strength:.2f} >= {rules.strong_signal:.2f}"


def _unusual(view: SymbolView, rules: CycleSection) -> str | None:
    status = view.statuses.get("market")
    volume = view.get("market", "volume_ratio")
    change = view.get("market", "price_change_1h")
    activity = view.get("market", "activity_level")
    if status in ("warning", "critical"):
        return f"market monitor {status}"
    if volume is not None and volume >= rules.unusual_volume_ratio:
        return f"volume ratio {volume:.2f} >= {rules.unusual_volume_ratio:g}"
    if change is not None and abs(change) >= rules.unusual_price_change:
        return f"price change {change:+.2%} beyond ±{rules.unusual_price_change:.2%}"
    if view.get("market", "regime") == VOLATILE_REGIME:
        return "volatile regime"
    if activity is not None and activity >= rules.high_activity:
        return f"activity {activity:.2f} >= {rules.high_activity:.2f}"
    return None


def _most(views: Mapping[str, SymbolView], role: str, name: str, hits: dict[str, str]) -> str:
    """The hit symbol with the largest value of ``role.name`` (missing values rank last)."""

    def rank(symbol: str) -> tuple[float, str]:
        value = views[symbol].get(role, name)
        return (float("-inf") if value is None else value, symbol)

    return max(hits, key=rank)


def select_workflow(
    views: Mapping[str, SymbolView], local_time: time, rules: CycleSection
) -> Selection:
    """Apply the rule (module docstring) to every symbol's view."""
    risk = {s: r for s, v in views.items() if (r := _risk(v, rules))}
    if risk:
        symbol = _most(views, "performance", "current_drawdown", risk)
        return Selection("risk_check", symbol, 1, f"{symbol}: {risk[symbol]}")
    signal = {s: r for s, v in views.items() if (r := _signal(v, rules))}
    if signal:
        symbol = _most(views, "signals", "signal_strength", signal)
        return Selection("signal_analysis", symbol, 2, f"{symbol}: {signal[symbol]}")
    unusual = {s: r for s, v in views.items() if (r := _unusual(v, rules))}
    if unusual:
        symbol = _most(views, "market", "activity_level", unusual)
        return Selection("market_scan", symbol, 3, f"{symbol}: {unusual[symbol]}")
    first = next(iter(views), None)
    if in_evening_window(local_time, rules):
        window = f"{rules.evening_review_start}-{rules.evening_review_end}"
        return Selection(
            "portfolio_analysis", first, 4, f"evening review ({local_time:%H:%M} in {window})"
        )
    return Selection(rules.default_workflow, first, 5, "nothing unusual: default workflow")
