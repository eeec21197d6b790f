"""Market data value types: a window of OHLCV bars, a top-of-book ticker, and timeframes.

Bars are column arrays (numpy) rather than a list of row objects, so indicators can work on them
(and on many symbols stacked into 2-D arrays) without copying. Timestamps are UTC nanoseconds
since the epoch (``int64``); a bar is labelled by the timestamp its source published.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

NS_PER_S = 1_000_000_000
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "M": 2_629_746, "y": 31_556_952}
_TIMEFRAME = re.compile(r"^(\d+)([smhdwMy])$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: int64 nanoseconds hold 1677-09-21 .. 2262-04-11; a timestamp outside cannot be stored in Bars.
NS_MIN, NS_MAX = -(2**63), 2**63 - 1


def timeframe_seconds(timeframe: str) -> float:
    """Length of a ccxt-style timeframe (``1m``, ``4h``, ``1d``, ``1w``, ``1M``) in seconds.

    A month is 1/12 of a Gregorian year (30.436875 days), so twelve monthly bars make a year.
    """
    match = _TIMEFRAME.match(timeframe)
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"unknown timeframe {timeframe!r}; use e.g. 1m, 1h, 1d, 1w, 1M")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def to_ns(moment: datetime) -> int:
    """UTC nanoseconds of an aware datetime (naive is taken as UTC, like the sample files)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000


def in_ns_range(ns: int) -> bool:
    """True when ``ns`` fits the int64 timestamps of :class:`Bars` (years 1677 to 2262)."""
    return NS_MIN <= ns <= NS_MAX


def from_ns(ns: int) -> datetime:
    """Aware UTC datetime of UTC nanoseconds (microsecond precision)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


@dataclass(frozen=True, slots=True, eq=False)
class Bars:
    """A window of consecutive OHLCV bars of one symbol, oldest first, as a feed saw them at
    ``as_of`` (the feed's "now": replay time or wall time)."""

    symbol: str
    timeframe: str
    timestamps: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    as_of: datetime
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.timestamps)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"bars of {self.symbol}: column {name} has a different length")

    def __len__(self) -> int:
        return len(self.timestamps)

    @property
    def empty(self) -> bool:
        """No bar at all (for example replay time before the file's first bar)."""
        return len(self.timestamps) == 0

    @property
    def last_time(self) -> datetime | None:
        """Timestamp of the newest bar, or None when empty."""
        return from_ns(int(self.timestamps[-1])) if len(self.timestamps) else None

    @property
    def age_s(self) -> float | None:
        """Seconds from the newest bar to ``as_of`` (wall-clock age, calendar-blind)."""
        last = self.last_time
        return None if last is None else (self.as_of - last).total_seconds()

    def tail(self, count: int) -> Bars:
        """The newest ``count`` bars (all of them when there are fewer)."""
        start = max(0, len(self) - count)
        return self.slice(start, len(self))

    def slice(self, start: int, stop: int) -> Bars:
        """Bars ``[start, stop)`` as a new window (views, no copies)."""
        return Bars(
            symbol=self.symbol,
            timeframe=self.timeframe,
            timestamps=self.timestamps[start:stop],
            open=self.open[start:stop],
            high=self.high[start:stop],
            low=self.low[start:stop],
            close=self.close[start:stop],
            volume=self.volume[start:stop],
            as_of=self.as_of,
            source=self.source,
        )


@dataclass(frozen=True, slots=True)
class Ticker:
    """Best bid and ask (and last trade) of one symbol at ``timestamp``."""

    symbol: str
    timestamp: datetime
    bid: float | None
    ask: float | None
    last: float | None = None
    raw: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    @property
    def spread(self) -> float | None:
        """(ask - bid) / mid, or None when either side is missing, crossed or not positive."""
        if self.bid is None or self.ask is None or self.bid <= 0 or self.ask < self.bid:
            return None
        mid = (self.ask + self.bid) / 2.0
        return (self.ask - self.bid) / mid
