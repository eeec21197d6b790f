"""The three paper books of a replay, over the whole replayed range (``summary.json`` ``books``).

Each is the product's paper book (:func:`~peaktrade_daemon.portfolio.paper.paper_book`: the
enabled strategies of the base config, fees, every tuned key) over every bar of each replayed
symbol inside ``[start, end]``, starting flat with the initial capital at the first bar; they
differ only in the parameters over time:

* ``governed``: the live values as the replay's governance set them, each change in force from
  the data time it was made, read through the paper book's own port onto the audit trail
  (:func:`~peaktrade_daemon.promotion.live_changes.audited_live_changes`,
  :func:`~peaktrade_daemon.portfolio.timeline.params_timeline`), as the daemon's book reads them;
* ``static``: the base config throughout;
* ``ungoverned``: every learned patch applied at once, at the learning step that learned it, at
  its full proposed value: no bounds, steps, cooldowns, evidence or guard. A value the book
  cannot use at all (a leverage of 0, a regime weight above 1) is left out and named in
  ``not_applied``.

Several symbols make one book: the sum of the symbols' equity on the union of their bar times
(each carried forward between its own bars; a symbol without a bar in the range holds its
initial capital). Metrics (the performance monitor's formulas,
:mod:`peaktrade_daemon.portfolio.performance`): ``final_equity``, ``total_return``,
``max_drawdown``, ``sharpe`` (annualised with the bars per year of the finest symbol's calendar;
null without variance) and ``trades`` (closed trades).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from peaktrade_daemon.config.loader import PeakConfig
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.market.bars import Bars, FloatArray, IntArray, timeframe_seconds, to_ns
from peaktrade_daemon.market.calendars import TradingCalendar
from peaktrade_daemon.monitors.market import market_params
from peaktrade_daemon.portfolio.paper import paper_book
from peaktrade_daemon.portfolio.params import ConfigOverlay, PaperParams
from peaktrade_daemon.portfolio.performance import max_drawdown, sharpe_ratio
from peaktrade_daemon.portfolio.timeline import LiveChange, ParamsTimeline, params_timeline
from peaktrade_daemon.replay.learners import LearnStep
from peaktrade_daemon.replay.schedule import finest
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.strategies.registry import enabled_strategies

BOOKS = ("governed", "static", "ungoverned")


@dataclass(frozen=True, slots=True)
class Book:
    """One book's combined equity curve, its closed trades, and what could not be applied."""

    times: IntArray
    equity: FloatArray
    trades: int
    not_applied: tuple[str, ...] = ()

    def metrics(self, bars_per_year: float) -> dict[str, Any]:
        """The book's figures (module docstring); non-finite ones are null."""
        returns = self.equity[1:] / self.equity[:-1] - 1.0
        figures = {
            "final_equity": float(self.equity[-1]),
            "total_return": float(self.equity[-1] / self.equity[0] - 1.0),
            "max_drawdown": max_drawdown(self.equity),
            "sharpe": sharpe_ratio(returns, bars_per_year) if (self.equity > 0).all() else math.nan,
        }
        out: dict[str, Any] = {k: v if math.isfinite(v) else None for k, v in figures.items()}
        out["trades"] = self.trades
        if self.not_applied:
            out["not_applied"] = list(self.not_applied)
        return out


def ungoverned_timeline(
    base: PeakConfig, steps: Sequence[LearnStep]
) -> tuple[ParamsTimeline, tuple[str, ...]]:
    """The book's parameters when every learned patch is applied at once (module docstring)."""
    values: dict[str, Any] = {}
    changes: list[tuple[datetime, PaperParams]] = []
    skipped: list[str] = []
    current = PaperParams.from_config(base)
    for step in steps:
        for patch in step.learned:
            trial = {**values, patch.target: patch.new_value}
            try:
                params = PaperParams.from_config(ConfigOverlay(base, trial))
            except ConfigError as exc:
                skipped.append(f"{patch.target} = {patch.new_value!r}: {exc}")
                continue
            values = trial
            if params != current:
                changes.append((step.at, params))
                current = params
    return ParamsTimeline(PaperParams.from_config(base), tuple(changes)), tuple(skipped)


def _combine(curves: Sequence[tuple[IntArray, FloatArray]]) -> tuple[IntArray, FloatArray]:
    """The sum of several equity curves on the union of their times, each carried forward."""
    times = np.unique(np.concatenate([t for t, _ in curves]))
    total = np.zeros(len(times))
    for stamps, equity in curves:
        index = np.searchsorted(stamps, times, side="right") - 1
        total += np.where(index >= 0, equity[np.clip(index, 0, None)], equity[0])
    return times, total


def run_book(
    history: Mapping[str, Bars],
    config: PeakConfig,
    settings: DaemonSettings,
    timeline: ParamsTimeline,
    start: datetime,
    end: datetime,
    not_applied: tuple[str, ...] = (),
) -> Book:
    """One book over every symbol's bars in ``[start, end]`` (blocking, CPU)."""
    strategies = enabled_strategies(config)
    market = market_params(settings.monitors.market)
    lo, hi = to_ns(start), to_ns(end)
    curves: list[tuple[IntArray, FloatArray]] = []
    trades = 0
    for full in history.values():
        first = int(np.searchsorted(full.timestamps, lo, side="left"))
        stop = int(np.searchsorted(full.timestamps, hi, side="right"))
        bars = full.slice(first, stop)
        params, schedule = timeline.schedule(bars.timestamps, end, end, 1.0)
        if len(bars) == 0:  # a slow timeframe with no bar in the range: the capital, untouched
            flat = np.array([params.initial_capital])
            curves.append((np.array([lo], dtype=np.int64), flat))
            continue
        book = paper_book(bars, strategies, params, market, schedule)
        curves.append((bars.timestamps, book.equity))
        trades += len(book.trades)
    times, equity = _combine(curves)
    return Book(times, equity, trades, not_applied)


def bars_per_year(settings: DaemonSettings, history: Mapping[str, Bars]) -> float:
    """The annualisation of the combined book: the finest symbol's calendar."""
    symbol = finest({s: b.timeframe for s, b in history.items()})[0]
    spec = settings.symbols[symbol]
    calendar = TradingCalendar(settings.calendars[spec.calendar], spec.calendar)
    return calendar.bars_per_year(timeframe_seconds(spec.timeframe))


def replay_books(
    history: Mapping[str, Bars],
    *,
    settings: DaemonSettings,
    base: PeakConfig,
    final: PeakConfig,
    live_changes: Sequence[LiveChange],
    steps: Sequence[LearnStep],
    start: datetime,
    end: datetime,
) -> dict[str, Book]:
    """``governed``, ``static`` and ``ungoverned`` (module docstring)."""
    ungoverned, skipped = ungoverned_timeline(base, steps)
    timelines = {
        "governed": (params_timeline(final, live_changes), ()),
        "static": (ParamsTimeline(PaperParams.from_config(base)), ()),
        "ungoverned": (ungoverned, skipped),
    }
    return {
        name: run_book(history, base, settings, timeline, start, end, not_applied)
        for name, (timeline, not_applied) in timelines.items()
    }
