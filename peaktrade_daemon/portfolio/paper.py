"""The paper portfolio: trades the enabled strategies' signals on a symbol's bars, with fees and
the effective ``portfolio.leverage``, one book per symbol.

Rules (all at bar closes, so no bar's trade uses a later price):

- target direction after bar t = sign of the sum of the enabled strategies' directions at t
  (a net vote: long, short or flat);
- when the target differs from the held direction, the open position is closed and, unless the
  target is flat, a new one opened with notional = equity x ``max_position_pct`` x ``leverage``;
  positions are not resized between changes;
- ``risk.stop_loss`` (a fraction of the entry price; 0 = none) is checked from the bar after
  the entry on: a long whose bar low reaches entry x (1 - stop) is closed at that price (at the
  bar's open if it opened beyond it), a short likewise on the high; the book then stays out of
  that direction until the vote changes;
- each fill pays ``fee_bps`` / 10 000 of its notional; a closed trade's pnl is net of both fees;
- equity_t = cash + units x close_t; when it reaches 0 or less the position is closed at that
  bar (a margin call) and the book stays flat from then on.

The book starts flat with ``initial_capital`` at the first bar of the window the feed returns.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from peaktrade_daemon.batcher import Batcher, each
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.config import PeakConfig
from peaktrade_daemon.errors import AuditError, ConfigError, DataError
from peaktrade_daemon.market.bars import Bars, FloatArray, timeframe_seconds
from peaktrade_daemon.market.feeds import MarketSource
from peaktrade_daemon.market.window_memo import WindowMemo
from peaktrade_daemon.portfolio.snapshot import ClosedTrade, PortfolioSnapshot, Position
from peaktrade_daemon.strategies.base import DirectionArray, Strategy, StrategyInputs, warmup
from peaktrade_daemon.strategies.registry import enabled_strategies

if TYPE_CHECKING:
    from peaktrade_daemon.portfolio.timeline import ParamsTimeline, Schedule


class ConfigLookup(Protocol):
    """Dotted-key access (:class:`PeakConfig` and the timeline's earlier segments)."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value at ``key``, or ``default``."""
        ...


def _number(config: ConfigLookup, key: str, default: float, *, positive: bool) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"must be a number, got {value!r}", key=key)
    if value < 0 or (positive and value == 0):
        raise ConfigError(f"must be {'> 0' if positive else '>= 0'}, got {value!r}", key=key)
    return float(value)


@dataclass(frozen=True, slots=True)
class PaperParams:
    """Sizing and costs from ``[portfolio]`` (and the stop from ``[risk]``) of the effective
    config."""

    initial_capital: float = 100_000.0
    leverage: float = 1.0
    fee_bps: float = 5.0
    max_position_pct: float = 0.25
    stop_loss: float = 0.0

    @classmethod
    def from_config(cls, config: ConfigLookup) -> PaperParams:
        """Read and validate ``portfolio.*`` (leverage as the overrides left it)."""
        return cls(
            initial_capital=_number(config, "portfolio.initial_capital", 100_000.0, positive=True),
            leverage=_number(config, "portfolio.leverage", 1.0, positive=True),
            fee_bps=_number(config, "portfolio.fee_bps", 5.0, positive=False),
            max_position_pct=_number(config, "portfolio.max_position_pct", 0.25, positive=True),
            stop_loss=_number(config, "risk.stop_loss", 0.0, positive=False),
        )


@dataclass(frozen=True, slots=True)
class PaperBook:
    """The simulated book: equity per bar, closed trades, the open position."""

    equity: FloatArray
    trades: tuple[ClosedTrade, ...]
    position: Position | None


def net_direction(directions: list[DirectionArray]) -> DirectionArray:
    """Sign of the sum of the strategies' directions, per bar (1-D)."""
    total = np.sum(np.stack(directions).astype(np.int64), axis=0)
    return np.asarray(np.sign(total), dtype=np.int8)


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
            direction=int(np.sign(self.units)),
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


def simulate(
    bars: Bars,
    target: DirectionArray,
    params: PaperParams,
    schedule: Sequence[tuple[int, PaperParams]] = (),
) -> PaperBook:
    """Run the book over one symbol's bars (see the module docstring). ``schedule`` holds
    (first bar index, params) of later parameter changes, in bar order: from that bar on, fills,
    new positions and the stop use the new params; the capital stays the first params'."""
    book = _Ledger(bars.symbol, params.fee_bps / 10_000.0, params.initial_capital)
    fraction = params.max_position_pct * params.leverage
    changes = iter(schedule)
    upcoming = next(changes, None)
    equity = np.empty(len(bars))
    trades: list[ClosedTrade] = []
    ruined = False
    stopped = 0  # direction last stopped out; not re-entered until the vote changes
    for t in range(len(bars)):
        while upcoming is not None and upcoming[0] <= t:
            params = upcoming[1]
            book.fee_rate = params.fee_bps / 10_000.0
            fraction = params.max_position_pct * params.leverage
            upcoming = next(changes, None)
        stamp, price = int(bars.timestamps[t]), float(bars.close[t])
        if book.units and params.stop_loss and t > book.entry_bar:
            fill = book.stop_fill(
                float(bars.open[t]), float(bars.high[t]), float(bars.low[t]), params.stop_loss
            )
            if fill is not None:
                stopped = int(np.sign(book.units))
                trades.append(book.close(stamp, fill))
        # A book whose equity is gone is liquidated (a margin call) and trades no more.
        ruined = ruined or book.cash + book.units * price <= 0
        want = 0 if ruined else int(target[t])
        if want != stopped:
            stopped = 0
        elif want:
            want = 0
        if want != int(np.sign(book.units)):
            if book.units:
                trades.append(book.close(stamp, price))
            if want and book.cash > 0:
                book.open(t, stamp, price, want, fraction)
        equity[t] = book.cash + book.units * price
    position = None
    if book.units:
        position = Position(bars.symbol, book.units, float(bars.close[-1]), book.entry_price)
    return PaperBook(equity=equity, trades=tuple(trades), position=position)


class PaperPortfolio:
    """A :class:`PortfolioSource` trading the strategies on the feed's bars of each symbol.

    With ``timeline`` (a blocking loader, run once per instance in a thread) and ``clock`` the
    book is path-dependent: live changes apply from the bar after they were made on
    (:mod:`peaktrade_daemon.portfolio.timeline`); without, the whole window uses ``config``.
    """

    name = "paper"

    def __init__(
        self,
        feeds: MarketSource,
        config: PeakConfig,
        history_bars: int,
        *,
        timeline: Callable[[], ParamsTimeline] | None = None,
        clock: Clock | None = None,
        replay_speed: float = 1.0,
    ) -> None:
        self._feeds = feeds
        self.params = PaperParams.from_config(config)
        self._strategies: tuple[Strategy, ...] = enabled_strategies(config)
        self._history_bars = history_bars
        self._load_timeline = timeline
        self._timeline: ParamsTimeline | None = None
        self._timeline_lock = asyncio.Lock()  # a cycle's symbols all ask at once: load it once
        self._clock = clock
        self._replay_speed = replay_speed
        # Cycles, the rollback guard and workflows ask for the same window until a bar is added;
        # the memo key holds the starting params and every switch, so a live change is a miss.
        self._books: WindowMemo[PaperBook] = WindowMemo()
        self._new_books: Batcher[tuple[Bars, PaperParams, Schedule], PaperBook] = Batcher(
            each(lambda job: self._book(*job)), "paper"
        )

    def _book(self, bars: Bars, params: PaperParams, schedule: Schedule) -> PaperBook:
        inputs = StrategyInputs(bars.high[None, :], bars.low[None, :], bars.close[None, :])
        target = net_direction([s.evaluate(inputs).direction[0] for s in self._strategies])
        book = simulate(bars, target, params, schedule)
        book.equity.setflags(write=False)  # shared by every later reader of the same window
        return self._books.put(bars.symbol, bars, (params, tuple(schedule)), book)

    async def _params(self, symbol: str, bars: Bars) -> tuple[PaperParams, Schedule]:
        if self._load_timeline is None or self._clock is None:
            return self.params, []
        if self._timeline is None:
            async with self._timeline_lock:
                try:
                    if self._timeline is None:
                        self._timeline = await asyncio.to_thread(self._load_timeline)
                except (ConfigError, AuditError, DataError) as exc:
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
