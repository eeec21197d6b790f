"""The signal metrics of the metric contract, over a window of bars, for many symbols at once.

With strategies k (the enabled ones), directions D_k and strengths S_k ``(symbols, bars)``,
signals E_k (bars where D_k becomes non-zero or flips), ``W`` = ``consistency_window`` and
``H`` = ``forward_bars``:

- ``signal_strength``     max_k S_k at the last bar (0 when every strategy is flat)
- ``signal_direction``    D at the last bar of the strategy with that maximum (first in the
                          enabled order on ties); 0 when all are flat
- ``signal_consistency``  of the last ``W`` signals of each strategy, pooled, the share whose
                          direction equals ``signal_direction``; NaN when flat or no signals
- ``false_signal_rate``   of the signals with ``H`` bars after them, the share where
                          D x (c_{t+H} / c_t - 1) < 0; NaN when none can be judged yet
- ``signal_frequency``    total signals of all strategies per 100 bars of the window

:mod:`peaktrade_daemon.strategies.history` computes the same numbers from the recorded, bounded
signal history; for a history built from one window they are equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from peaktrade_daemon.market.bars import FloatArray
from peaktrade_daemon.strategies.base import StrategyOutput, signal_mask


@dataclass(frozen=True, slots=True)
class SignalParams:
    """How the signal history is judged (from ``[monitors.signals]``)."""

    consistency_window: int = 10
    forward_bars: int = 5


def current_signal(outputs: Sequence[StrategyOutput]) -> tuple[FloatArray, FloatArray]:
    """(strength, direction) of the strongest current signal per symbol."""
    strengths = np.stack([o.strength[:, -1] for o in outputs])
    directions = np.stack([o.direction[:, -1] for o in outputs]).astype(np.float64)
    best = np.argmax(strengths, axis=0)
    cols = np.arange(strengths.shape[1])
    return strengths[best, cols], directions[best, cols]


def signal_metrics(
    outputs: Sequence[StrategyOutput], close: FloatArray, params: SignalParams
) -> dict[str, FloatArray]:
    """Every signal metric per symbol (see the module docstring)."""
    n_sym, n_bar = close.shape
    strength, direction = current_signal(outputs)
    horizon = params.forward_bars
    judged_bars = max(n_bar - horizon, 0)
    # Byte masks of the forward move, computed once (counting on bytes is far cheaper than
    # multiplying directions into float arrays per strategy).
    move = close[:, horizon:] / close[:, :judged_bars] if judged_bars else np.ones((n_sym, 0))
    fell, rose = move < 1.0, move > 1.0
    current = direction.astype(np.int8)[:, None]
    agree = np.zeros(n_sym, dtype=np.int64)
    recent = np.zeros(n_sym, dtype=np.int64)
    wrong = np.zeros(n_sym, dtype=np.int64)
    evaluated = np.zeros(n_sym, dtype=np.int64)
    count = np.zeros(n_sym, dtype=np.int64)
    for out in outputs:
        events = signal_mask(out.direction)
        total = np.count_nonzero(events, axis=1)
        # The last W signals: those with at most W - 1 signals after them.
        before = np.cumsum(events, axis=1, dtype=np.int32)
        last_w = events & (before > (total - params.consistency_window)[:, None])
        recent += np.count_nonzero(last_w, axis=1)
        agree += np.count_nonzero(last_w & (out.direction == current), axis=1)
        judge = events[:, :judged_bars]
        d = out.direction[:, :judged_bars]
        evaluated += np.count_nonzero(judge, axis=1)
        against = ((d > 0) & fell) | ((d < 0) & rose)
        wrong += np.count_nonzero(judge & against, axis=1)
        count += total
    with np.errstate(divide="ignore", invalid="ignore"):
        consistency = np.where((recent > 0) & (direction != 0), agree / recent, np.nan)
        false_rate = np.where(evaluated > 0, wrong / evaluated, np.nan)
    return {
        "signal_strength": strength,
        "signal_direction": direction,
        "signal_consistency": consistency,
        "false_signal_rate": false_rate,
        "signal_frequency": count / n_bar * 100.0 if n_bar else np.full(n_sym, np.nan),
    }
