"""What a portfolio source hands the PerformanceMonitor: an equity curve, closed trades and open
positions, plus whether the underlying data is stale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from peaktrade_daemon.market.bars import FloatArray, IntArray


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """A round trip: the position in ``symbol`` left zero and came back to it.
    ``pnl`` is net of every fee paid on the way in and out (account currency)."""

    symbol: str
    opened_ns: int
    closed_ns: int
    direction: int
    quantity: float
    entry_price: float
    exit_price: float
    fees: float
    pnl: float


@dataclass(frozen=True, slots=True)
class Position:
    """An open position marked at ``price``; ``notional`` is signed (short < 0).
    ``entry_price`` is known for the paper book (NaN for a ledger position)."""

    symbol: str
    quantity: float
    price: float
    entry_price: float = float("nan")

    @property
    def notional(self) -> float:
        """quantity x price."""
        return self.quantity * self.price


@dataclass(frozen=True, slots=True)
class PortfolioSnapshot:
    """Equity per point in time (UTC ns, increasing), trades and positions of one book."""

    source: str
    scope: str
    timestamps: IntArray
    equity: FloatArray
    trades: tuple[ClosedTrade, ...]
    positions: tuple[Position, ...]
    bars_per_year: float
    as_of: datetime
    stale_reason: str = ""
    insufficient: str = ""  # why there is no curve yet (too few bars), when that is the case


class PortfolioSource(Protocol):
    """Where performance comes from: the paper portfolio or an external ledger."""

    name: str

    async def snapshot(self, symbol: str) -> PortfolioSnapshot:
        """The book as of now (raises DataError when its data cannot be used)."""
        ...
