"""Windows of many symbols stacked into the 2-D rows the indicators compute on.

The indicators, metrics and strategies take ``(symbols, bars)`` arrays and treat every row on
its own (``tests/market/test_stacks.py`` checks each row against the same window alone, bit for
bit). A first cycle over 500 symbols computed them one ``(1, bars)`` row at a time, and most
of that time was numpy's per-call overhead on tiny arrays. :func:`stacks` groups the windows
a batch holds by length (and by whatever else their computation depends on, the ``key``) into
stacks of at most ``ROWS`` rows: one call per stack then serves every window in it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from peaktrade_daemon.market.bars import Bars, FloatArray, IntArray

#: Rows per stack at most: a (64, 500) float64 array is 250 KiB, so a stack's arrays and the
#: indicators' temporaries stay small (the CPU cache; a worker thread's heap keeps its peak).
ROWS = 64


@dataclass(frozen=True, slots=True)
class Stack:
    """Windows of one length (and key) as rows: ``members`` are their indices in the batch."""

    members: tuple[int, ...]
    windows: tuple[Bars, ...]

    def column(self, name: str) -> FloatArray:
        """One OHLCV column of every window, a row each (a copy)."""
        rows: FloatArray = np.stack([getattr(w, name) for w in self.windows])
        return rows

    @property
    def timestamps(self) -> IntArray:
        """The timestamps of every window, a row each (a copy)."""
        rows: IntArray = np.stack([w.timestamps for w in self.windows])
        return rows


def stacks(
    windows: Sequence[Bars], keys: Sequence[Hashable] | None = None, rows: int = ROWS
) -> list[Stack]:
    """``windows`` grouped by (length, key), in stacks of at most ``rows``, in first-seen order."""
    groups: dict[tuple[int, Hashable], list[int]] = {}
    for i, window in enumerate(windows):
        groups.setdefault((len(window), None if keys is None else keys[i]), []).append(i)
    out = []
    for members in groups.values():
        for top in range(0, len(members), rows):
            chunk = tuple(members[top : top + rows])
            out.append(Stack(chunk, tuple(windows[i] for i in chunk)))
    return out
