"""The last result computed over a window of bars, reused while the window has not changed.

A daemon cycles every poll interval (300 s shipped) while a bar lasts an hour or a day, so most
cycles see exactly the window the previous one saw, and the indicators, strategy signals and
paper book over it are the same numbers again. Each of those computations is a pure function of
the window's columns and its parameters; :class:`WindowMemo` keeps, per key (a symbol), the
window it last saw, the parameters and the result, and hands the result back only when the new
window has the same timestamps and OHLCV values (compared element by element, so a re-read or
edited data file that changed a price is computed afresh) and the parameters compare equal.
``as_of`` is not part of the window: callers derive everything that depends on "now"
(freshness, market hours) outside the memoised function.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from peaktrade_daemon.market.bars import Bars

V = TypeVar("V")


def same_values(left: npt.NDArray[Any], right: npt.NDArray[Any], *, equal_nan: bool) -> bool:
    """True when both arrays hold the same values (compared only when they are not one object:
    the replay feed hands out the same read-only arrays for an unchanged window)."""
    return left is right or bool(np.array_equal(left, right, equal_nan=equal_nan))


def same_window(a: Bars, b: Bars) -> bool:
    """True when both windows hold the same bars (timestamps and every OHLCV value; NaN equals
    NaN, so a gap in volume does not defeat the comparison)."""
    if len(a) != len(b) or a.timeframe != b.timeframe:
        return False
    return (
        same_values(a.timestamps, b.timestamps, equal_nan=False)
        and same_values(a.close, b.close, equal_nan=True)
        and same_values(a.high, b.high, equal_nan=True)
        and same_values(a.low, b.low, equal_nan=True)
        and same_values(a.open, b.open, equal_nan=True)
        and same_values(a.volume, b.volume, equal_nan=True)
    )


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    bars: Bars
    params: object
    value: V


class WindowMemo(Generic[V]):
    """One remembered result per key; thread-safe, since callers compute in worker threads."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry[V]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str, bars: Bars, params: object) -> V | None:
        """The result remembered for ``key`` when it was computed over the same window with
        equal ``params``, else None."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry.params == params and same_window(entry.bars, bars):
            self.hits += 1
            return entry.value
        self.misses += 1
        return None

    def put(self, key: str, bars: Bars, params: object, value: V) -> V:
        """Remember ``value`` as the result over ``bars`` (replacing the key's previous one)."""
        with self._lock:
            self._entries[key] = _Entry(bars, params, value)
        return value

    def clear(self) -> None:
        """Forget every result."""
        with self._lock:
            self._entries.clear()
