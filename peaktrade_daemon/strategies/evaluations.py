"""The strategies' output over a symbol's window of bars, computed once for every reader of it.

The signal monitor scans the enabled strategies over a symbol's latest bars, and the paper book
trades their directions over the same bars: both read ``history_bars`` bars (500 shipped) and
the replay feed hands both the very same arrays. At 500 symbols, evaluating every strategy a
second time for the book was a tenth of a first cycle. :class:`StrategyEvaluations` keeps, per
strategy and symbol, the output over the window last asked for (a
:class:`~peaktrade_daemon.market.window_memo.WindowMemo`: a changed window or changed
parameters are computed afresh, so sharing never changes a result) and computes what a window
lacks once, under the symbol's lock, while another reader of the same symbol waits for it.
"""

from __future__ import annotations

import threading

from peaktrade_daemon.market.bars import Bars
from peaktrade_daemon.market.window_memo import WindowMemo
from peaktrade_daemon.strategies.base import Strategy, StrategyInputs, StrategyOutput


class StrategyEvaluations:
    """Strategy outputs shared by the components of one composition (see the module
    docstring); thread-safe, since they are asked for from worker threads."""

    def __init__(self) -> None:
        self._memos: dict[str, WindowMemo[StrategyOutput]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, symbol: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(symbol)
            if lock is None:
                lock = self._locks[symbol] = threading.Lock()
            return lock

    def _memo(self, strategy: Strategy) -> WindowMemo[StrategyOutput]:
        with self._guard:
            memo = self._memos.get(strategy.name)
            if memo is None:
                memo = self._memos[strategy.name] = WindowMemo()
            return memo

    def outputs(self, bars: Bars, strategies: tuple[Strategy, ...]) -> list[StrategyOutput]:
        """Each of ``strategies`` evaluated over ``bars`` (one symbol's window), in order
        (blocking: call it from a worker thread)."""
        memos = [self._memo(s) for s in strategies]
        with self._lock(bars.symbol):
            found = [m.get(bars.symbol, bars, s) for m, s in zip(memos, strategies, strict=True)]
            if any(output is None for output in found):
                # One inputs object for all that are missing: it shares their ATR series.
                inputs = StrategyInputs(bars.high[None, :], bars.low[None, :], bars.close[None, :])
                for i, strategy in enumerate(strategies):
                    if found[i] is None:
                        found[i] = memos[i].put(
                            bars.symbol, bars, strategy, strategy.evaluate(inputs)
                        )
        return [output for output in found if output is not None]

    def clear(self) -> None:
        """Forget every output."""
        with self._guard:
            for memo in self._memos.values():
                memo.clear()
