"""Reading the fills and equity files an external trading system writes.

Two files, paths in ``[monitors.performance]`` (``ledger_fills``, ``ledger_equity``), each either
CSV (``.csv``: a header row, then one record per row) or JSON lines (``.jsonl`` / ``.ndjson``: one
JSON object per line), UTF-8:

equity, one point per record, timestamps strictly increasing::

    timestamp,equity
    2024-03-01T00:00:00Z,100000.0
    {"timestamp": "2024-03-01T01:00:00Z", "equity": 100250.5}

fills, one execution per record, timestamps non-decreasing::

    timestamp,symbol,side,quantity,price,fee
    2024-03-01T00:05:00Z,BTC/USD,buy,0.5,62000.0,15.5

- ``timestamp``: ISO 8601; naive means UTC. ``equity``: account equity (finite).
- ``side``: ``buy`` or ``sell``; ``quantity`` > 0 and ``price`` > 0 in the symbol's units;
  ``fee`` >= 0 in account currency (optional, default 0). Other columns/keys are ignored.
- In JSON lines numbers are JSON numbers or numeric strings (``true`` is not a number) and
  ``timestamp``, ``symbol`` and ``side`` are strings; timestamps lie in the years 1677 to 2262.

Derived facts: a closed trade is a round trip of one symbol's position from zero back to zero; a
fill that crosses zero closes the trade and opens the next with the rest (its fee split pro rata).
Trade pnl = the trade's cash flows (sell +, buy -) minus its fees. Open positions are marked at
the symbol's last fill price (the ledger is the external system's truth; no feed prices are mixed
in). Points per year for Sharpe and Sortino = a year / the median spacing of the equity points.

Invalid records are a DataError naming the file and line; nothing is guessed. Files are parsed
in a worker thread and cached by (mtime, size).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from peaktrade_daemon.clock import Clock
from peaktrade_daemon.errors import DataError
from peaktrade_daemon.market.bars import NS_PER_S, from_ns, in_ns_range, to_ns
from peaktrade_daemon.market.calendars import YEAR_S
from peaktrade_daemon.market.freshness import describe_age
from peaktrade_daemon.portfolio.snapshot import ClosedTrade, PortfolioSnapshot, Position
from peaktrade_daemon.settings import DaemonSettings


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution; ``quantity`` is signed (buy > 0, sell < 0)."""

    timestamp_ns: int
    symbol: str
    quantity: float
    price: float
    fee: float


def _records(path: Path, raw: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}: line {line}: not UTF-8 text") from exc
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for line, body in enumerate(text.splitlines(), start=1):
            if not body.strip():
                continue
            try:
                record = json.loads(body)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {line}: invalid JSON ({exc.msg})") from exc
            except (ValueError, RecursionError) as exc:  # a 5000-digit number, deep nesting
                raise DataError(f"{path}: line {line}: invalid JSON ({exc})") from exc
            if not isinstance(record, dict):
                raise DataError(f"{path}: line {line}: expected a JSON object")
            yield line, record
    elif path.suffix.lower() == ".csv":
        # newline="" lets the csv module see every line ending (LF, CRLF, a bare CR) itself.
        reader = csv.reader(io.StringIO(text, newline=""))
        header: list[str] | None = None
        for line, fields in _csv_rows(path, reader):
            if not fields or all(not f.strip() for f in fields):
                continue
            if header is None:
                header = [f.strip().lower() for f in fields]
                continue
            if len(fields) != len(header):
                raise DataError(
                    f"{path}: line {line}: {len(fields)} fields, the header has {len(header)}"
                )
            yield line, dict(zip(header, (f.strip() for f in fields), strict=True))
    else:
        raise DataError(f"{path}: unknown ledger format; use .csv or .jsonl")


def _csv_rows(path: Path, reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    line = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a field over the size limit, a NUL byte
            raise DataError(f"{path}: line {line}: not readable as CSV ({exc})") from exc
        yield line, fields
        line += 1


def _field(path: Path, line: int, record: dict[str, Any], key: str, default: Any = None) -> Any:
    if key in record and record[key] not in ("", None):
        return record[key]
    if default is not None:
        return default
    raise DataError(f"{path}: line {line}: missing {key!r}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(path: Path, line: int, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise DataError(f"{path}: line {line}: {key} {_shown(value)} is not a string")
    return value


def _time(path: Path, line: int, value: Any) -> int:
    text = _text(path, line, "timestamp", value)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise DataError(f"{path}: line {line}: timestamp {value!r} is not ISO 8601") from exc
    stamp = to_ns(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    if not in_ns_range(stamp):
        raise DataError(f"{path}: line {line}: timestamp {value!r} is outside 1677..2262")
    return stamp


def _float(path: Path, line: int, key: str, value: Any) -> float:
    problem = f"{path}: line {line}: {key} {_shown(value)} is not a number"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DataError(problem)
    try:
        number = float(value)
    except (ValueError, OverflowError) as exc:
        raise DataError(problem) from exc
    if not math.isfinite(number):
        raise DataError(f"{path}: line {line}: {key} is not finite")
    return number


def parse_equity(path: Path, raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps ns, equity) of an equity file."""
    stamps: list[int] = []
    values: list[float] = []
    for line, rec in _records(path, raw):
        stamp = _time(path, line, _field(path, line, rec, "timestamp"))
        if stamps and stamp <= stamps[-1]:
            raise DataError(f"{path}: line {line}: timestamp not after the previous point")
        stamps.append(stamp)
        values.append(_float(path, line, "equity", _field(path, line, rec, "equity")))
    if not stamps:
        raise DataError(f"{path}: no equity points")
    return np.asarray(stamps, dtype=np.int64), np.asarray(values, dtype=np.float64)


def parse_fills(path: Path, raw: bytes) -> list[Fill]:
    """Every fill of a fills file, validated."""
    fills: list[Fill] = []
    for line, rec in _records(path, raw):
        stamp = _time(path, line, _field(path, line, rec, "timestamp"))
        if fills and stamp < fills[-1].timestamp_ns:
            raise DataError(f"{path}: line {line}: timestamp earlier than the previous fill")
        side = _text(path, line, "side", _field(path, line, rec, "side")).lower()
        if side not in ("buy", "sell"):
            raise DataError(f"{path}: line {line}: side {side!r} is not buy or sell")
        qty = _float(path, line, "quantity", _field(path, line, rec, "quantity"))
        price = _float(path, line, "price", _field(path, line, rec, "price"))
        fee = _float(path, line, "fee", _field(path, line, rec, "fee", 0.0))
        if qty <= 0 or price <= 0 or fee < 0:
            raise DataError(f"{path}: line {line}: quantity and price must be > 0, fee >= 0")
        symbol = _text(path, line, "symbol", _field(path, line, rec, "symbol"))
        fills.append(Fill(stamp, symbol, qty if side == "buy" else -qty, price, fee))
    return fills


@dataclass(slots=True)
class _Open:
    direction: int
    opened_ns: int
    quantity: float = 0.0
    cash: float = 0.0
    fees: float = 0.0
    entry_value: float = 0.0


def round_trips(fills: list[Fill]) -> tuple[tuple[ClosedTrade, ...], tuple[Position, ...]]:
    """Closed trades and open positions from fills (see the module docstring)."""
    open_: dict[str, _Open] = {}
    held: dict[str, float] = {}
    last_price: dict[str, float] = {}
    trades: list[ClosedTrade] = []
    for fill in fills:
        last_price[fill.symbol] = fill.price
        remaining, fee_left = fill.quantity, fill.fee
        while abs(remaining) > 1e-12:
            pos = held.get(fill.symbol, 0.0)
            trade = open_.get(fill.symbol)
            if trade is None:
                trade = open_[fill.symbol] = _Open(int(np.sign(remaining)), fill.timestamp_ns)
            closing = pos != 0 and np.sign(remaining) != np.sign(pos)
            step = max(-abs(pos), min(abs(pos), remaining)) if closing else remaining
            share = step / fill.quantity
            fee = fill.fee * share if closing else fee_left
            trade.cash -= step * fill.price
            trade.fees += fee
            if not closing:
                trade.entry_value += abs(step) * fill.price
                trade.quantity += abs(step)
            fee_left -= fee
            remaining -= step
            held[fill.symbol] = pos + step
            if abs(held[fill.symbol]) <= 1e-12:
                held[fill.symbol] = 0.0
                trades.append(
                    ClosedTrade(
                        symbol=fill.symbol,
                        opened_ns=trade.opened_ns,
                        closed_ns=fill.timestamp_ns,
                        direction=trade.direction,
                        quantity=trade.quantity,
                        entry_price=trade.entry_value / trade.quantity,
                        exit_price=fill.price,
                        fees=trade.fees,
                        pnl=trade.cash - trade.fees,
                    )
                )
                del open_[fill.symbol]
    positions = tuple(
        Position(symbol, qty, last_price[symbol]) for symbol, qty in held.items() if qty != 0
    )
    return tuple(trades), positions


class LedgerPortfolio:
    """A :class:`PortfolioSource` over the external system's fills and equity files."""

    name = "ledger"

    def __init__(self, settings: DaemonSettings, clock: Clock, stale_after_s: float) -> None:
        cfg = settings.monitors.performance
        self.fills_path = settings.path(cfg.ledger_fills)
        self.equity_path = settings.path(cfg.ledger_equity)
        self._clock = clock
        self._stale_after_s = stale_after_s
        self._cache: dict[Path, tuple[tuple[int, int], Any]] = {}
        self._lock = asyncio.Lock()

    async def _load(self, path: Path, parse: Any) -> Any:
        try:
            stat = os.stat(path)
        except OSError as exc:
            raise DataError(f"{path}: ledger file unreadable: {exc.strerror}") from exc
        key = (stat.st_mtime_ns, stat.st_size)
        async with self._lock:
            hit = self._cache.get(path)
            if hit is not None and hit[0] == key:
                return hit[1]
            raw = await asyncio.to_thread(path.read_bytes)
            parsed = await asyncio.to_thread(parse, path, raw)
            self._cache[path] = (key, parsed)
            return parsed

    async def snapshot(self, symbol: str) -> PortfolioSnapshot:
        """The whole account (the ledger is account-wide; ``symbol`` only labels the result)."""
        stamps, equity = await self._load(self.equity_path, parse_equity)
        fills = await self._load(self.fills_path, parse_fills)
        trades, positions = await asyncio.to_thread(round_trips, fills)
        spacing_s = float(np.median(np.diff(stamps))) / NS_PER_S if len(stamps) > 1 else 0.0
        now = self._clock.now()
        age_s = (now - from_ns(int(stamps[-1]))).total_seconds()
        stale = (
            f"stale data: last equity point {describe_age(age_s)} old"
            if age_s > self._stale_after_s
            else ""
        )
        return PortfolioSnapshot(
            source=self.name,
            scope="account",
            timestamps=stamps,
            equity=equity,
            trades=trades,
            positions=positions,
            bars_per_year=YEAR_S / spacing_s if spacing_s > 0 else float("nan"),
            as_of=now,
            stale_reason=stale,
        )
