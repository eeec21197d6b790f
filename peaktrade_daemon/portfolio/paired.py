"""Paired evaluation (SPEC §9): the paper book run twice over the same windows, the live value
of one key against a candidate value, everything else equal.

Per symbol the strategies' vote and the regime are computed once over the bars (including the
bars before the window, their warm-up), then the book is simulated twice from the window's
first bar, flat, with ``initial_capital``: the *incumbent* with the effective config's params
and the *candidate* with the one key replaced. Deterministic: no clock, no randomness.

Each symbol's run (:class:`ScopeRun`) prefixes its equity curve with the initial capital C, so
its per-period returns compound exactly to its total return (a first bar's entry fee is a
period too). With E the curve [C, E_0, ..., E_{n-1}] and B the calendar's bars per year:

- ``total_return``  E_last / C - 1
- ``max_drawdown``  max over t of (max_{s<=t} E_s - E_t) / max_{s<=t} E_s
- ``sharpe``        mean(r) / std(r, ddof 1) x sqrt(B) over the n returns (NaN without variance)
- ``turnover``      traded notional (both legs of closed trades, the entry of an open position)
                    / C
- ``trades``        positions opened in the window (closed ones and an open one)
- ``returns``       r_t = E_t / E_{t-1} - 1, NaN where E_{t-1} <= 0 (a blown book)

Across symbols (:class:`BookRun`), equal capital per book: the total return and turnover of the
whole account are the means over symbols, ``max_drawdown`` is the worst symbol's (each book is
held to the risk limit, as the performance monitor reads them), ``sharpe`` the mean of the
defined ones, ``trades`` the sum, ``returns`` the symbols' returns one after the other in window
order. :class:`PairedRun` ``differences`` = candidate returns - incumbent returns, period by
period on the same bars, pooled in that order.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.market.bars import Bars, FloatArray, IntArray, timeframe_seconds
from peaktrade_daemon.market.feeds import MarketSource
from peaktrade_daemon.market.metrics import MarketParams
from peaktrade_daemon.portfolio.paper import PaperBook, simulate
from peaktrade_daemon.portfolio.params import ConfigLookup, ConfigOverlay, PaperParams
from peaktrade_daemon.portfolio.performance import max_drawdown, sharpe_ratio
from peaktrade_daemon.portfolio.signals import book_signals
from peaktrade_daemon.portfolio.timeline import TIMED_KEYS
from peaktrade_daemon.strategies.base import Strategy, warmup


def evaluable(key: str) -> bool:
    """Whether the paper book reads ``key`` at trade time (so a paired run can judge it)."""
    return key in TIMED_KEYS


@dataclass(frozen=True, slots=True)
class Window:
    """One symbol's bars for an evaluation: the books trade from bar ``start`` on, the bars
    before it only warm up the strategies and the regime. ``stale_reason``: why the feed's
    data is stale ("" when fresh)."""

    bars: Bars
    start: int
    bars_per_year: float
    stale_reason: str = ""

    @classmethod
    def recent(
        cls, bars: Bars, lookback_bars: int, bars_per_year: float, stale_reason: str = ""
    ) -> Window:
        """The last ``lookback_bars`` bars (all of them when there are fewer)."""
        return cls(bars, max(0, len(bars) - lookback_bars), bars_per_year, stale_reason)

    @classmethod
    def since(
        cls, bars: Bars, moment_ns: int, bars_per_year: float, stale_reason: str = ""
    ) -> Window:
        """The bars stamped after ``moment_ns`` (a canary: the bars since an apply)."""
        start = int(np.searchsorted(bars.timestamps, moment_ns, side="right"))
        return cls(bars, start, bars_per_year, stale_reason)


@dataclass(frozen=True, slots=True)
class ScopeRun:
    """One symbol's book over its window in one run (the module docstring has the formulas)."""

    symbol: str
    timestamps: IntArray
    equity: FloatArray
    returns: FloatArray
    total_return: float
    max_drawdown: float
    sharpe: float
    turnover: float
    trades: int


def _scope_run(bars: Bars, book: PaperBook, capital: float, bars_per_year: float) -> ScopeRun:
    curve = np.concatenate([[capital], book.equity])
    previous = curve[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(previous > 0, curve[1:] / previous - 1.0, np.nan)
    traded = sum(t.quantity * (t.entry_price + t.exit_price) for t in book.trades)
    opened = len(book.trades)
    if book.position is not None:
        traded += abs(book.position.quantity) * book.position.entry_price
        opened += 1
    # A blown book's returns are undefined from the blow-up on, and so is its Sharpe.
    defined = bool(np.isfinite(returns).all())
    return ScopeRun(
        symbol=bars.symbol,
        timestamps=bars.timestamps,
        equity=book.equity,
        returns=returns,
        total_return=float(curve[-1] / capital - 1.0),
        max_drawdown=max_drawdown(curve),
        sharpe=sharpe_ratio(returns, bars_per_year) if defined else math.nan,
        turnover=traded / capital,
        trades=opened,
    )


def _mean(values: Iterable[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


@dataclass(frozen=True, slots=True)
class BookRun:
    """One side of the pair over every window (the aggregates: module docstring)."""

    params: PaperParams
    scopes: tuple[ScopeRun, ...]

    @property
    def total_return(self) -> float:
        """Mean total return over the symbols (the account's, at equal capital)."""
        return _mean(s.total_return for s in self.scopes)

    @property
    def max_drawdown(self) -> float:
        """The worst symbol's max drawdown (0 with no symbols)."""
        return max((s.max_drawdown for s in self.scopes), default=0.0)

    @property
    def max_drawdowns(self) -> Mapping[str, float]:
        """Each symbol's max drawdown."""
        return {s.symbol: s.max_drawdown for s in self.scopes}

    @property
    def sharpe(self) -> float:
        """Mean annualised Sharpe over the symbols where it is defined (NaN if nowhere)."""
        return _mean(s.sharpe for s in self.scopes)

    @property
    def turnover(self) -> float:
        """Mean turnover over the symbols (the account's, at equal capital)."""
        return _mean(s.turnover for s in self.scopes)

    @property
    def trades(self) -> int:
        """Positions opened, all symbols."""
        return sum(s.trades for s in self.scopes)

    @property
    def returns(self) -> FloatArray:
        """Every symbol's per-period returns, one symbol after the other."""
        if not self.scopes:
            return np.empty(0)
        return np.concatenate([s.returns for s in self.scopes])


@dataclass(frozen=True, slots=True)
class PairedRun:
    """Incumbent and candidate over the same windows, and their paired differences.
    ``stale_reasons`` name the symbols whose data is stale; ``skipped`` the windows left out
    because the strategies could not trade on so few bars."""

    key: str
    incumbent_value: Any
    candidate_value: Any
    incumbent: BookRun
    candidate: BookRun
    stale_reasons: tuple[str, ...]
    skipped: tuple[str, ...] = ()

    @property
    def differences(self) -> FloatArray:
        """Candidate minus incumbent return, per period of every window (pooled)."""
        return self.candidate.returns - self.incumbent.returns


def book_runs(
    windows: Sequence[Window],
    strategies: tuple[Strategy, ...],
    market: MarketParams,
    params: Sequence[PaperParams],
) -> tuple[tuple[BookRun, ...], tuple[str, ...]]:
    """The book of each of ``params`` over every window, all on the same bars: the strategies'
    vote and the regime are computed once per window and shared by every run. Returns one
    :class:`BookRun` per entry of ``params`` (same order) and the windows left out because the
    strategies could not trade on so few bars."""
    sides: tuple[list[ScopeRun], ...] = tuple([] for _ in params)
    skipped: list[str] = []
    need = warmup(strategies)
    for window in windows:
        bars = window.bars.slice(window.start, len(window.bars))
        if len(window.bars) < need or len(bars) == 0:
            # A book that cannot trade would add periods of zero difference, not evidence.
            skipped.append(
                f"{window.bars.symbol}: {len(window.bars)} bars ({len(bars)} in the window), "
                f"the strategies need {need}"
            )
            continue
        signals = book_signals(window.bars, strategies, market).tail(window.start)
        for side, runs in zip(params, sides, strict=True):
            book = simulate(bars, signals, side)
            runs.append(_scope_run(bars, book, side.initial_capital, window.bars_per_year))
    return tuple(BookRun(p, tuple(r)) for p, r in zip(params, sides, strict=True)), tuple(skipped)


def paired_run(
    windows: Sequence[Window],
    strategies: tuple[Strategy, ...],
    market: MarketParams,
    config: ConfigLookup,
    key: str,
    candidate_value: Any,
) -> PairedRun:
    """Run the book with the effective ``config`` (incumbent) and with ``key`` set to
    ``candidate_value`` (candidate) over every window. ConfigError when the book does not read
    ``key`` or the candidate value is not one it can use."""
    if not evaluable(key):
        raise ConfigError(
            "the paper book does not read this key, so no paired evaluation can judge it",
            key=key,
        )
    incumbent = PaperParams.from_config(config)
    candidate = PaperParams.from_config(ConfigOverlay(config, {key: candidate_value}))
    (before, after), skipped = book_runs(windows, strategies, market, (incumbent, candidate))
    return PairedRun(
        key=key,
        incumbent_value=config.get(key),
        candidate_value=candidate_value,
        incumbent=before,
        candidate=after,
        stale_reasons=tuple(
            f"{w.bars.symbol}: {w.stale_reason}" for w in windows if w.stale_reason
        ),
        skipped=skipped,
    )


async def recent_windows(
    feeds: MarketSource,
    symbols: Sequence[str],
    strategies: tuple[Strategy, ...],
    market: MarketParams,
    lookback_bars: int,
) -> list[Window]:
    """Each symbol's latest ``lookback_bars`` bars from the feeds, with the warm-up bars before
    them that the strategies and the regime need, and whether the data is stale."""
    extra = max(warmup(strategies), market.long_lookback + 1)
    windows = []
    for symbol in symbols:
        bars = await feeds.bars(symbol, lookback_bars + extra)
        freshness = feeds.freshness(bars)
        tf_s = timeframe_seconds(bars.timeframe)
        per_year = feeds.calendar(symbol).bars_per_year(tf_s)
        reason = freshness.reason if freshness.stale else ""
        windows.append(Window.recent(bars, lookback_bars, per_year, reason))
    return windows


async def paired_evaluation(
    feeds: MarketSource,
    symbols: Sequence[str],
    strategies: tuple[Strategy, ...],
    market: MarketParams,
    config: ConfigLookup,
    key: str,
    candidate_value: Any,
    *,
    lookback_bars: int,
) -> PairedRun:
    """:func:`paired_run` over the recent windows of ``symbols`` (the simulation in a worker
    thread). Raises DataError (FeedError) when a feed has no data."""
    windows = await recent_windows(feeds, symbols, strategies, market, lookback_bars)
    return await asyncio.to_thread(
        paired_run, windows, strategies, market, config, key, candidate_value
    )
