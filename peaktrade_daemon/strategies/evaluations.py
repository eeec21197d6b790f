"""The strategies' output over a symbol's window of bars, computed once for every reader of it.

The signal monitor scans the enabled strategies over a symbol's latest bars, and the paper book
trades their directions over the same bars: both read ``history_bars`` bars (500 shipped) and
the replay feed hands both the very same arrays. At 500 symbols, evaluating every strategy a
second time for the book was a tenth of a first cycle. :class:`StrategyEvaluations` keeps, per
strategy and symbol, the output over the window last asked for (a
:class:`~peaktrade_daemon.market.window_memo.WindowMemo`: a changed window or changed
parameters are computed afresh, so sharing never changes a result) and computes what a window
lacks once, under the symbol's lock, while another reader of the same symbol waits for it.

:meth:`StrategyEvaluations.outputs_many` serves a whole batch of windows, evaluating what
they lack stacked (:mod:`peaktrade_daemon.market.stacks`: one call per stack of windows of
one length instead of one per window; the per-call overhead on (1, bars) arrays was most of
the signal scans' time at 500 symbols). Rows are copied out of the stack, so a memo entry
holds only its own window's output, as one evaluated alone would.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from peaktrade_daemon.market.bars import Bars
from peaktrade_daemon.market.stacks import stacks
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

    def outputs_many(
        self, windows: Sequence[Bars], strategies: tuple[Strategy, ...]
    ) -> list[list[StrategyOutput]]:
        """``outputs(bars, strategies)`` for each of ``windows`` (one symbol's window each),
        what the memo lacks evaluated stacked (blocking: call it from a worker thread).
        Another reader of a symbol asking meanwhile may evaluate its window too: the same
        numbers, computed twice."""
        memos = [self._memo(s) for s in strategies]
        found: list[list[StrategyOutput | None]] = []
        for bars in windows:
            with self._lock(bars.symbol):
                found.append(
                    [m.get(bars.symbol, bars, s) for m, s in zip(memos, strategies, strict=True)]
                )
        lacking = [i for i, outputs in enumerate(found) if any(o is None for o in outputs)]
        missing = [tuple(k for k, o in enumerate(found[i]) if o is None) for i in lacking]
        for stack in stacks([windows[i] for i in lacking], missing):
            inputs = StrategyInputs(
                stack.column("high"), stack.column("low"), stack.column("close")
            )
            for k in missing[stack.members[0]]:
                output = strategies[k].evaluate(inputs)
                for row, member in enumerate(stack.members):
                    bars = stack.windows[row]
                    # A copy: the memo holds this window's output only, as if evaluated alone.
                    own = StrategyOutput(
                        output.direction[row : row + 1].copy(),
                        output.strength[row : row + 1].copy(),
                    )
                    with self._lock(bars.symbol):
                        found[lacking[member]][k] = memos[k].put(
                            bars.symbol, bars, strategies[k], own
                        )
        return [[o for o in outputs if o is not None] for outputs in found]

    def clear(self) -> None:
        """Forget every output."""
        with self._guard:
            for memo in self._memos.values():
                memo.clear()
