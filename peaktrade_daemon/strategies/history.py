"""The recorded signal history: bounded per strategy and symbol (default 1000 signals), built up
scan after scan, and the signal metrics computed from it.

Each scan passes the strategies' output over the latest window of bars. Signals on bars newer
than the previous scan are appended; signals whose ``forward_bars`` outcome is now visible are
judged (wrong when D x (c_{t+H} / c_t - 1) < 0). When the bound evicts old signals, the bars
they covered stop counting for the frequency too, so ``signal_frequency`` stays a rate over the
history that is actually kept. Formulas are those of
:mod:`peaktrade_daemon.strategies.signal_metrics`, which a history built from one window matches
exactly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from peaktrade_daemon.market.bars import FloatArray, IntArray
from peaktrade_daemon.strategies.base import DirectionArray, signal_mask
from peaktrade_daemon.strategies.signal_metrics import SignalParams


class SignalRecord(NamedTuple):
    """One recorded signal; ``wrong`` is None until its forward return can be judged. (A named
    tuple: a first scan of 500 symbols records some 30,000 of them, and a frozen dataclass took
    four times as long to build.)"""

    timestamp_ns: int
    direction: int
    strength: float
    price: float
    seq: int
    wrong: bool | None = None


class StrategyHistory:
    """The bounded signal history of one strategy on one symbol."""

    def __init__(self, limit: int) -> None:
        self.records: deque[SignalRecord] = deque(maxlen=limit)
        self.bars_seen = 0
        self.last_ts: int | None = None
        self._evicted = False

    @property
    def bars_covered(self) -> int:
        """Bars the kept history spans (all scanned bars until the bound evicts signals)."""
        if self._evicted and self.records:
            return self.bars_seen - self.records[0].seq
        return self.bars_seen

    def record(
        self,
        timestamps: IntArray,
        direction: DirectionArray,
        strength: FloatArray,
        close: FloatArray,
        forward_bars: int,
    ) -> None:
        """Add the signals of a scanned window (1-D arrays of one symbol) and judge old ones."""
        first_new = (
            0 if self.last_ts is None else int(np.searchsorted(timestamps, self.last_ts, "right"))
        )
        # Older signals first: judging is per signal, so this is the order-free equivalent of
        # judging every kept signal after appending (an evicted one is gone either way).
        self._judge(timestamps, close, forward_bars)
        events = signal_mask(direction[None, :])[0]
        at = np.flatnonzero(events[first_new:]) + first_new
        if len(at):
            # The new signals are judged on this window as they are made: one pass over arrays
            # instead of a search and a copy per signal.
            ahead = at + forward_bars
            judged = ahead < len(timestamps)
            move = close[np.minimum(ahead, len(timestamps) - 1)] / close[at] - 1.0
            wrong = direction[at] * move < 0
            limit = self.records.maxlen
            if limit is not None and len(self.records) + len(at) > limit:
                self._evicted = True
            seq0 = self.bars_seen - first_new
            for i, stamp, d, s, price, ok, bad in zip(
                at.tolist(),
                timestamps[at].tolist(),
                direction[at].tolist(),
                strength[at].tolist(),
                close[at].tolist(),
                judged.tolist(),
                wrong.tolist(),
                strict=True,
            ):
                self.records.append(
                    SignalRecord(stamp, d, s, price, seq0 + i, bool(bad) if ok else None)
                )
        self.bars_seen += len(timestamps) - first_new
        if len(timestamps):
            self.last_ts = int(timestamps[-1])

    def _judge(self, timestamps: IntArray, close: FloatArray, forward_bars: int) -> None:
        for pos, rec in enumerate(self.records):
            if rec.wrong is not None:
                continue
            idx = int(np.searchsorted(timestamps, rec.timestamp_ns))
            if idx >= len(timestamps) or timestamps[idx] != rec.timestamp_ns:
                continue
            if idx + forward_bars < len(timestamps):
                move = close[idx + forward_bars] / close[idx] - 1.0
                self.records[pos] = rec._replace(wrong=bool(rec.direction * move < 0))


def history_metrics(
    histories: Sequence[StrategyHistory], direction: float, params: SignalParams
) -> dict[str, float]:
    """consistency, false-signal rate and frequency from the histories of one symbol's strategies
    (NaN where undefined, see the module docstring)."""
    recent = [r for h in histories for r in list(h.records)[-params.consistency_window :]]
    judged = [r for h in histories for r in h.records if r.wrong is not None]
    rates = [len(h.records) / h.bars_covered * 100.0 for h in histories if h.bars_covered]
    consistency = (
        sum(r.direction == direction for r in recent) / len(recent)
        if recent and direction != 0
        else float("nan")
    )
    return {
        "signal_consistency": consistency,
        "false_signal_rate": sum(bool(r.wrong) for r in judged) / len(judged)
        if judged
        else float("nan"),
        "signal_frequency": sum(rates) if rates else float("nan"),
    }
