"""The paper portfolio: trades the enabled strategies' signals on a symbol's bars, with fees and
every tuned key of the effective config, one book per symbol.

Rules (all at bar closes, so no bar's trade uses a later price):

- the vote after bar t = sign of the sum of the enabled strategies' directions at t (long,
  short or flat); the book's target is the vote once it has persisted ``strategy.trigger_delay``
  hours, rounded up to ``d`` whole bars of the symbol's timeframe: the vote at t when it was the
  same on bars t-d..t, else the previous target (:mod:`peaktrade_daemon.portfolio.signals`);
- when the target differs from the held direction, the open position is closed and, unless the
  target is flat, a new one opened with notional = equity x ``max_position_pct`` x ``leverage``
  x (1 - w + w x regime_score), ``w`` = ``macro.regime_weight`` and regime_score in [0, 1] from
  the market regime at that bar and the new position's direction (the table in
  :mod:`peaktrade_daemon.portfolio.signals`); positions are not resized between changes;
- ``risk.stop_loss`` (a fraction of the entry price; 0 = none) is checked from the bar after
  the entry on: a long whose bar low reaches entry x (1 - stop) is closed at that price (at the
  bar's open if it opened beyond it), a short likewise on the high; the book then stays out of
  that direction until the target changes;
- each fill pays ``fee_bps`` / 10 000 of its notional; a closed trade's pnl is net of both fees;
- equity_t = cash + units x close_t; when it reaches 0 or less the position is closed at that
  bar (a margin call) and the book stays flat from then on.

So every key the learning loop tunes changes the book: ``portfolio.leverage`` the size,
``strategy.trigger_delay`` when it acts, ``macro.regime_weight`` the size by regime.
The book starts flat with ``initial_capital`` at the first bar of the window the feed returns.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from peaktrade_daemon.batcher import Batcher, each
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.config import PeakConfig
from peaktrade_daemon.errors import ConfigError, DataError, present
from peaktrade_daemon.lane import ComputeLane
from peaktrade_daemon.market.bars import Bars, FloatArray, timeframe_seconds
from peaktrade_daemon.market.feeds import MarketSource
from peaktrade_daemon.market.metrics import MarketParams
from peaktrade_daemon.market.window_memo import WindowMemo
from peaktrade_daemon.portfolio.params import PaperParams, Schedule
from peaktrade_daemon.portfolio.signals import (
    BookSignals,
    book_signals,
    book_signals_many,
    effective_target,
    regime_score,
)
from peaktrade_daemon.portfolio.snapshot import ClosedTrade, PortfolioSnapshot, Position
from peaktrade_daemon.portfolio.timeline import LiveChanges, ParamsTimeline, params_timeline
from peaktrade_daemon.strategies.base import Strategy, warmup
from peaktrade_daemon.strategies.evaluations import StrategyEvaluations
from peaktrade_daemon.strategies.registry import enabled_strategies


@dataclass(frozen=True, slots=True)
class PaperBook:
    """The simulated book: equity per bar, closed trades, the open position."""

    equity: FloatArray
    trades: tuple[ClosedTrade, ...]
    position: Position | None


@dataclass(slots=True)
class _Ledger:
    """The running book while ``simulate`` walks the bars."""

    symbol: str
    fee_rate: float
    cash: float
    units: float = 0.0
    entry_price: float = 0.0
    entry_fee: float = 0.0
    entry_ns: int = 0
    entry_bar: int = -1

    def open(self, bar: int, stamp: int, price: float, direction: int, fraction: float) -> None:
        notional = self.cash * fraction
        self.units = direction * notional / price
        self.entry_fee = notional * self.fee_rate
        self.cash -= self.units * price + self.entry_fee
        self.entry_price, self.entry_ns, self.entry_bar = price, stamp, bar

    def close(self, stamp: int, price: float) -> ClosedTrade:
        fee = abs(self.units) * price * self.fee_rate
        self.cash += self.units * price - fee
        trade = ClosedTrade(
            symbol=self.symbol,
            opened_ns=self.entry_ns,
            closed_ns=stamp,
            direction=1 if self.units > 0 else -1,
            quantity=abs(self.units),
            entry_price=self.entry_price,
            exit_price=price,
            fees=self.entry_fee + fee,
            pnl=self.units * (price - self.entry_price) - self.entry_fee - fee,
        )
        self.units = 0.0
        return trade

    def stop_fill(self, open_: float, high: float, low: float, stop_loss: float) -> float | None:
        """The fill price if the stop was hit during a bar: the stop price, or the open when the
        bar opened beyond it (a gap)."""
        if self.units > 0:
            stop = self.entry_price * (1.0 - stop_loss)
            return min(open_, stop) if low <= stop else None
        stop = self.entry_price * (1.0 + stop_loss)
        return max(open_, stop) if high >= stop else None


def _segments(
    n_bar: int, params: PaperParams, schedule: Sequence[tuple[int, PaperParams]]
) -> list[tuple[int, int, PaperParams]]:
    """(first bar, end bar, params) of each segment of constant params."""
    starts = [(0, params), *schedule]
    ends = [start for start, _ in schedule] + [n_bar]
    return [(start, end, p) for (start, p), end in zip(starts, ends, strict=True)]


def _targets_and_scores(
    bars: Bars,
    signals: BookSignals,
    params: PaperParams,
    schedule: Sequence[tuple[int, PaperParams]],
) -> tuple[list[int], list[float], list[float]]:
    """The target per bar under each segment's trigger delay, and the size multiplier
    1 - w + w x score of a long and of a short opened at each bar."""
    n_bar = len(bars)
    tf_s = timeframe_seconds(bars.timeframe)
    delay = np.empty(n_bar, dtype=np.int64)
    weight = np.empty(n_bar)
    for start, end, p in _segments(n_bar, params, schedule):
        delay[start:end] = p.delay_bars(tf_s)
        weight[start:end] = p.regime_weight
    target = effective_target(signals.vote, signals.held, delay)
    if signals.regime is None:
        if (weight > 0).any():
            raise ValueError("a book with macro.regime_weight > 0 needs the regime per bar")
        ones = [1.0] * n_bar
        return target.tolist(), ones, ones
    long = 1.0 - weight + weight * regime_score(signals.regime, 1)
    short = 1.0 - weight + weight * regime_score(signals.regime, -1)
    return target.tolist(), long.tolist(), short.tolist()


def simulate(
    bars: Bars,
    signals: BookSignals,
    params: PaperParams,
    schedule: Sequence[tuple[int, PaperParams]] = (),
) -> PaperBook:
    """Run the book over one symbol's bars (see the module docstring). ``schedule`` holds
    (first bar index, params) of later parameter changes, in bar order: from that bar on, fills,
    new positions, the stop and the trigger delay use the new params; the capital stays the
    first params'."""
    targets, size_long, size_short = _targets_and_scores(bars, signals, params, schedule)
    book = _Ledger(bars.symbol, params.fee_bps / 10_000.0, params.initial_capital)
    fraction = params.max_position_pct * params.leverage
    changes = iter(schedule)
    upcoming = next(changes, None)
    stamps, close = bars.timestamps.tolist(), bars.close.tolist()
    opens, highs, lows = bars.open.tolist(), bars.high.tolist(), bars.low.tolist()
    equity = [0.0] * len(close)
    trades: list[ClosedTrade] = []
    ruined = False
    stopped = 0  # direction last stopped out; not re-entered until the target changes
    # The ledger's units and cash mirrored in locals, refreshed after every trade: most bars
    # trade nothing, and a Python walk over 500 bars x 500 symbols is a tenth of a first cycle.
    units, cash, held = 0.0, book.cash, 0
    stop_loss = params.stop_loss
    for t, price in enumerate(close):
        while upcoming is not None and upcoming[0] <= t:
            params = upcoming[1]
            book.fee_rate = params.fee_bps / 10_000.0
            fraction = params.max_position_pct * params.leverage
            stop_loss = params.stop_loss
            upcoming = next(changes, None)
        if units and stop_loss and t > book.entry_bar:
            fill = book.stop_fill(opens[t], highs[t], lows[t], stop_loss)
            if fill is not None:
                stopped = held
                trades.append(book.close(stamps[t], fill))
                units, cash, held = 0.0, book.cash, 0
        # A book whose equity is gone is liquidated (a margin call) and trades no more.
        ruined = ruined or cash + units * price <= 0
        want = 0 if ruined else targets[t]
        if want != stopped:
            stopped = 0
        elif want:
            want = 0
        if want != held:
            if units:
                trades.append(book.close(stamps[t], price))
            if want and book.cash > 0:
                size = size_long[t] if want > 0 else size_short[t]
                book.open(t, stamps[t], price, want, fraction * size)
            units, cash = book.units, book.cash
            held = (units > 0) - (units < 0)
        equity[t] = cash + units * price
    position = None
    if book.units:
        position = Position(bars.symbol, book.units, close[-1], book.entry_price)
    return PaperBook(equity=np.asarray(equity), trades=tuple(trades), position=position)


def paper_book(
    bars: Bars,
    strategies: tuple[Strategy, ...],
    params: PaperParams,
    market: MarketParams,
    schedule: Schedule | None = None,
    evaluations: StrategyEvaluations | None = None,
    signals: BookSignals | None = None,
) -> PaperBook:
    """The book of ``strategies`` over ``bars``: signals, then :func:`simulate`. With
    ``evaluations`` the strategies' output comes from (and goes to) that shared memo;
    ``signals``: the window's signals when the caller already has them."""
    if signals is None:
        outputs = None if evaluations is None else evaluations.outputs(bars, strategies)
        signals = book_signals(bars, strategies, market, outputs)
    return simulate(bars, signals, params, schedule or ())


class PaperPortfolio:
    """A :class:`PortfolioSource` trading the strategies on the feed's bars of each symbol.

    With ``live_changes`` (a blocking port the composition root supplies, called once per
    instance in a thread) and ``clock`` the book is path-dependent: live changes apply from the
    bar after they were made on (:mod:`peaktrade_daemon.portfolio.timeline`); without, the
    whole window uses ``config``. ``market``: the regime's windows and thresholds (the market
    monitor's). ``evaluations``: the strategies' outputs shared with the signal monitor
    (:mod:`peaktrade_daemon.strategies.evaluations`), else the book evaluates them itself;
    ``lane``: the thread its batches run on (:mod:`peaktrade_daemon.lane`).
    """

    name = "paper"

    def __init__(
        self,
        feeds: MarketSource,
        config: PeakConfig,
        history_bars: int,
        *,
        live_changes: LiveChanges | None = None,
        clock: Clock | None = None,
        replay_speed: float = 1.0,
        market: MarketParams | None = None,
        evaluations: StrategyEvaluations | None = None,
        lane: ComputeLane | None = None,
    ) -> None:
        self._feeds = feeds
        self._evaluations = evaluations
        self._config = config
        self.params = PaperParams.from_config(config)
        self._strategies: tuple[Strategy, ...] = enabled_strategies(config)
        self._market = market if market is not None else MarketParams()
        self._history_bars = history_bars
        self._live_changes = live_changes
        self._timeline: ParamsTimeline | None = None
        self._timeline_lock = asyncio.Lock()  # a cycle's symbols all ask at once: load it once
        self._clock = clock
        self._replay_speed = replay_speed
        # Cycles, the rollback guard and workflows ask for the same window until a bar is added;
        # the memo key holds the starting params and every switch, so a live change is a miss.
        self._books: WindowMemo[PaperBook] = WindowMemo()
        self._new_books: Batcher[tuple[Bars, PaperParams, Schedule], PaperBook] = Batcher(
            self._book_all, "paper", lane
        )

    def _book_all(
        self, jobs: list[tuple[Bars, PaperParams, Schedule]]
    ) -> list[PaperBook | Exception]:
        """The books of a batch: the signals of all of its windows first, stacked
        (:func:`book_signals_many`: the same numbers as one window at a time), then each book.
        Should the stacked signals fail, each book computes its own and meets its own error
        (a failure fails its own window only)."""
        signals: Sequence[BookSignals | None] = [None] * len(jobs)
        with contextlib.suppress(Exception):
            windows = [bars for bars, _, _ in jobs]
            signals = book_signals_many(windows, self._strategies, self._market, self._evaluations)
        work = [(*job, own) for job, own in zip(jobs, signals, strict=True)]
        return each(self._book_job)(work)

    def _book_job(self, job: tuple[Bars, PaperParams, Schedule, BookSignals | None]) -> PaperBook:
        return self._book(*job)

    def _book(
        self,
        bars: Bars,
        params: PaperParams,
        schedule: Schedule,
        signals: BookSignals | None = None,
    ) -> PaperBook:
        book = paper_book(
            bars, self._strategies, params, self._market, schedule, self._evaluations, signals
        )
        book.equity.setflags(write=False)  # shared by every later reader of the same window
        return self._books.put(bars.symbol, bars, (params, tuple(schedule)), book)

    def _load_timeline(self) -> ParamsTimeline:
        live_changes = present(self._live_changes, "the schedule of live changes")
        return params_timeline(self._config, live_changes())

    async def _params(self, symbol: str, bars: Bars) -> tuple[PaperParams, Schedule]:
        if self._live_changes is None or self._clock is None:
            return self.params, []
        if self._timeline is None:
            async with self._timeline_lock:
                try:
                    if self._timeline is None:
                        self._timeline = await asyncio.to_thread(self._load_timeline)
                except (ConfigError, DataError) as exc:
                    # Without the history the book would rewrite its past: no book, not a guess.
                    raise DataError(f"paper book: live change history unusable: {exc}") from exc
        speed = self._replay_speed if self._feeds.spec(symbol).feed == "replay" else 1.0
        return self._timeline.schedule(bars.timestamps, bars.as_of, self._clock.now(), speed)

    async def snapshot(self, symbol: str) -> PortfolioSnapshot:
        """The paper book of ``symbol`` over the feed's latest ``history_bars`` bars."""
        bars = await self._feeds.bars(symbol, self._history_bars)
        freshness = self._feeds.freshness(bars)
        tf_s = timeframe_seconds(bars.timeframe)
        need = warmup(self._strategies)
        if len(bars) < need:
            # Not enough bars for the strategies to have traded: no book to judge.
            return PortfolioSnapshot(
                source=self.name,
                scope=symbol,
                timestamps=bars.timestamps[:0],
                equity=bars.close[:0],
                trades=(),
                positions=(),
                bars_per_year=self._feeds.calendar(symbol).bars_per_year(tf_s),
                as_of=bars.as_of,
                stale_reason=freshness.reason if freshness.stale else "",
                insufficient=f"not enough data: {len(bars)} bars, the strategies need {need}",
            )
        params, schedule = await self._params(symbol, bars)
        book = self._books.get(symbol, bars, (params, tuple(schedule)))
        if book is None:
            book = await self._new_books.submit((bars, params, schedule))
        return PortfolioSnapshot(
            source=self.name,
            scope=symbol,
            timestamps=bars.timestamps,
            equity=book.equity,
            trades=book.trades,
            positions=(book.position,) if book.position else (),
            bars_per_year=self._feeds.calendar(symbol).bars_per_year(tf_s),
            as_of=bars.as_of,
            stale_reason=freshness.reason if freshness.stale else "",
        )
