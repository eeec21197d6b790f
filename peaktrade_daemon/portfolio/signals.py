"""What the paper book trades on, per bar, and the two rules of the tuned keys that read it.

:class:`BookSignals` does not depend on the book's parameters, so one window's signals serve
every book run over it (paired evaluation runs two):

- ``vote``: the net direction of the enabled strategies, sign of the sum of their directions
  (long, short or flat);
- ``held``: how many bars the vote has had its current value, that bar included, counted from
  the first bar the caller had (so a window cut from a longer history knows what came before);
- ``regime``: the market regime per bar (:mod:`peaktrade_daemon.market.regime`: 2 volatile,
  +1/-1 trending up/down, 0 ranging, NaN unknown) from the bars up to that bar only.

``strategy.trigger_delay`` (:func:`effective_target`): with the delay rounded up to ``d`` whole
bars, the book's target at bar t is vote_t when the vote was the same on bars t-d..t
(``held_t >= d + 1``), else the previous target; flat before the first. ``d = 0`` acts at once.

``macro.regime_weight`` ``w`` (:func:`regime_score`): a new position's size is multiplied by
``1 - w + w x score``, the score by the regime at the entry bar and the position's direction:

============================================  =====
trending the position's way (up for a long)    1.0
ranging, or unknown (too few bars, no moves)   0.5
trending against the position                  0.0
volatile                                       0.0
============================================  =====

Unknown counts as ranging: no view either way, neither a reason to size up nor to stay out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from peaktrade_daemon.market.bars import Bars, FloatArray, IntArray
from peaktrade_daemon.market.metrics import MarketParams
from peaktrade_daemon.market.regime import regime_series
from peaktrade_daemon.market.stacks import stacks
from peaktrade_daemon.strategies.base import (
    DirectionArray,
    Strategy,
    StrategyInputs,
    StrategyOutput,
)
from peaktrade_daemon.strategies.evaluations import StrategyEvaluations

VOLATILE = 2.0
#: Score of a ranging or unknown regime (see the module docstring).
NEUTRAL_SCORE = 0.5


def net_direction(directions: list[DirectionArray]) -> DirectionArray:
    """Sign of the sum of the strategies' directions, per bar (1-D)."""
    total = np.sum(np.stack(directions).astype(np.int64), axis=0)
    return np.asarray(np.sign(total), dtype=np.int8)


def held_bars(vote: DirectionArray) -> IntArray:
    """Per bar, how many bars the vote has had its current value (1 on the bar it changed)."""
    index = np.arange(len(vote), dtype=np.int64)
    changed = np.ones(len(vote), dtype=bool)
    changed[1:] = vote[1:] != vote[:-1]
    last_change = np.maximum.accumulate(np.where(changed, index, 0))
    return np.asarray(index - last_change + 1, dtype=np.int64)


def effective_target(
    vote: DirectionArray, held: IntArray, delay_bars: IntArray | int
) -> DirectionArray:
    """The target the book acts on under a trigger delay of ``delay_bars`` (per bar or one for
    all): vote_t where it has held ``delay_bars + 1`` bars, else the last such vote (0 before)."""
    acts = held >= np.asarray(delay_bars) + 1
    index = np.arange(len(vote), dtype=np.int64)
    last = np.maximum.accumulate(np.where(acts, index, -1))
    target = np.where(last >= 0, vote[np.maximum(last, 0)], 0)
    return np.asarray(target, dtype=np.int8)


def regime_score(regime: FloatArray, direction: int) -> FloatArray:
    """The regime score in [0, 1] of a position in ``direction`` (+1 or -1) at each bar."""
    score = np.full(regime.shape, NEUTRAL_SCORE)
    score[regime == direction] = 1.0
    score[(regime == -direction) | (regime == VOLATILE)] = 0.0
    return score


@dataclass(frozen=True, slots=True)
class BookSignals:
    """The per-bar inputs of one book (see the module docstring). ``regime`` None: not known,
    which only a book without the regime filter (``regime_weight`` 0) accepts."""

    vote: DirectionArray
    held: IntArray
    regime: FloatArray | None = None

    @classmethod
    def of(cls, vote: npt.ArrayLike, regime: FloatArray | None = None) -> BookSignals:
        """Signals of a vote series that starts at its first bar (``held`` counted from there)."""
        array = np.asarray(vote, dtype=np.int8)
        return cls(array, held_bars(array), regime)

    def tail(self, start: int) -> BookSignals:
        """The signals from bar ``start`` on (``held`` keeps counting the bars before)."""
        regime = None if self.regime is None else self.regime[start:]
        return BookSignals(self.vote[start:], self.held[start:], regime)


def book_signals(
    bars: Bars,
    strategies: tuple[Strategy, ...],
    market: MarketParams,
    outputs: Sequence[StrategyOutput] | None = None,
    regime: FloatArray | None = None,
) -> BookSignals:
    """The vote of ``strategies`` and the regime at every bar of ``bars``; ``outputs`` and
    ``regime``: the strategies' output and the regime over ``bars`` when they are already known
    (computed here otherwise)."""
    if outputs is None:
        inputs = StrategyInputs(bars.high[None, :], bars.low[None, :], bars.close[None, :])
        outputs = [s.evaluate(inputs) for s in strategies]
    if regime is None:
        regime = regime_series(bars.close[None, :], market)[0]
    vote = net_direction([output.direction[0] for output in outputs])
    return BookSignals(vote, held_bars(vote), regime)


def book_signals_many(
    windows: Sequence[Bars],
    strategies: tuple[Strategy, ...],
    market: MarketParams,
    evaluations: StrategyEvaluations | None = None,
) -> list[BookSignals]:
    """:func:`book_signals` of each of ``windows`` (one symbol's window each), the strategies
    and the regime computed on stacks of windows of one length
    (:mod:`peaktrade_daemon.market.stacks`: the same numbers as one window at a time, without
    numpy's per-call overhead on each). ``evaluations``: the shared memo the outputs come from
    and go to (a throwaway one otherwise). Blocking: call it from a worker thread."""
    memo = evaluations if evaluations is not None else StrategyEvaluations()
    outputs = memo.outputs_many(windows, strategies)
    regimes: list[FloatArray] = [np.empty(0)] * len(windows)
    for stack in stacks(windows):
        rows = regime_series(stack.column("close"), market)
        for row, member in enumerate(stack.members):
            regimes[member] = rows[row].copy()  # its own: not a view holding the whole stack
    return [
        book_signals(bars, strategies, market, outs, regime)
        for bars, outs, regime in zip(windows, outputs, regimes, strict=True)
    ]
