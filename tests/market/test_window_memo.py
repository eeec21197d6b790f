"""WindowMemo: a result is reused only for the same bars (every column) and equal parameters."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np

from peaktrade_daemon.market.bars import Bars
from peaktrade_daemon.market.window_memo import WindowMemo, same_window

AS_OF = datetime(2026, 3, 2, tzinfo=UTC)


def window(n: int = 50, shift: int = 0) -> Bars:
    ts = (np.arange(n, dtype=np.int64) + shift) * 3_600_000_000_000
    close = 100.0 + np.arange(n, dtype=np.float64) + shift
    volume = np.full(n, np.nan)  # no volume in the file: NaN must still compare equal
    return Bars("X", "1h", ts, close, close + 1, close - 1, close, volume, AS_OF)


def test_same_window_compares_every_column() -> None:
    a, b = window(), window()
    assert a.close is not b.close and same_window(a, b)
    assert same_window(a, dataclasses.replace(b, as_of=datetime(2030, 1, 1, tzinfo=UTC)))
    assert not same_window(a, window(shift=1))  # a new bar arrived
    assert not same_window(a, window(49))
    assert not same_window(a, dataclasses.replace(b, timeframe="1d"))
    for name in ("open", "high", "low", "close", "volume"):
        edited = getattr(window(), name).copy()
        edited[10] = 7.0  # a re-read file with one changed value
        assert not same_window(a, dataclasses.replace(b, **{name: edited})), name


def test_memo_hits_only_for_the_same_window_and_params() -> None:
    memo: WindowMemo[str] = WindowMemo()
    assert memo.get("X", window(), 1) is None
    assert memo.put("X", window(), 1, "first") == "first"
    assert memo.get("X", window(), 1) == "first"
    assert memo.get("X", window(), 2) is None  # other parameters
    assert memo.get("Y", window(), 1) is None  # other key
    assert memo.get("X", window(shift=1), 1) is None  # the window moved on
    memo.put("X", window(shift=1), 1, "second")
    assert memo.get("X", window(), 1) is None  # only the last window is kept
    assert memo.get("X", window(shift=1), 1) == "second"
    assert (memo.hits, memo.misses) == (2, 5)
    memo.clear()
    assert memo.get("X", window(shift=1), 1) is None
