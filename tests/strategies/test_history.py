"""The signal history records and judges each signal exactly as the per-signal walk it replaced.

``walk_record`` below is the original algorithm (append every new signal unjudged, then search
each unjudged signal's bar and judge it when its forward bar is in the window), kept as the
reference: the vectorised ``StrategyHistory.record`` must leave the same records, counts and
eviction state after any sequence of overlapping, gapped or repeated windows.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_daemon.strategies.base import signal_mask
from peaktrade_daemon.strategies.history import SignalRecord, StrategyHistory


class WalkHistory:
    """The reference: the per-signal loop of the first release."""

    def __init__(self, limit: int) -> None:
        self.records: deque[SignalRecord] = deque(maxlen=limit)
        self.bars_seen = 0
        self.last_ts: int | None = None
        self.evicted = False

    def record(
        self,
        timestamps: np.ndarray,
        direction: np.ndarray,
        strength: np.ndarray,
        close: np.ndarray,
        forward_bars: int,
    ) -> None:
        first_new = (
            0 if self.last_ts is None else int(np.searchsorted(timestamps, self.last_ts, "right"))
        )
        events = signal_mask(direction[None, :])[0]
        for i in np.flatnonzero(events[first_new:]) + first_new:
            if len(self.records) == self.records.maxlen:
                self.evicted = True
            self.records.append(
                SignalRecord(
                    timestamp_ns=int(timestamps[i]),
                    direction=int(direction[i]),
                    strength=float(strength[i]),
                    price=float(close[i]),
                    seq=self.bars_seen + int(i) - first_new,
                )
            )
        self.bars_seen += len(timestamps) - first_new
        if len(timestamps):
            self.last_ts = int(timestamps[-1])
        for pos, rec in enumerate(self.records):
            if rec.wrong is not None:
                continue
            idx = int(np.searchsorted(timestamps, rec.timestamp_ns))
            if idx >= len(timestamps) or timestamps[idx] != rec.timestamp_ns:
                continue
            if idx + forward_bars < len(timestamps):
                move = close[idx + forward_bars] / close[idx] - 1.0
                self.records[pos] = rec._replace(wrong=bool(rec.direction * move < 0))


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    bars=st.integers(5, 120),
    limit=st.integers(1, 40),
    forward=st.integers(1, 8),
    windows=st.lists(st.tuples(st.integers(0, 119), st.integers(1, 60)), min_size=1, max_size=8),
)
def test_record_matches_the_per_signal_walk(
    seed: int, bars: int, limit: int, forward: int, windows: list[tuple[int, int]]
) -> None:
    rng = np.random.default_rng(seed)
    stamps = np.cumsum(rng.integers(1, 4, bars)).astype(np.int64)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, bars)))
    direction = rng.choice(np.array([-1, 0, 1], dtype=np.int8), bars)
    strength = np.where(direction != 0, rng.uniform(0.01, 1, bars), 0.0)
    fast, walk = StrategyHistory(limit), WalkHistory(limit)
    for end, length in windows:
        stop = min(end + 1, bars)
        start = max(0, stop - length)
        cut = slice(start, stop)
        for history in (fast, walk):
            history.record(stamps[cut], direction[cut], strength[cut], close[cut], forward)
        assert list(fast.records) == list(walk.records)
        assert (fast.bars_seen, fast.last_ts) == (walk.bars_seen, walk.last_ts)
        assert fast.bars_covered == (
            walk.bars_seen - walk.records[0].seq
            if walk.evicted and walk.records
            else walk.bars_seen
        )
