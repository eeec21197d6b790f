"""The replay feed (the embedded default): OHLCV CSV files played as "the latest N bars as of now
in replay time".

Replay time of a symbol = anchor + (clock now - feed start) x ``replay.speed``, where the anchor
is ``replay.start`` when set, else the symbol's last bar (so a fresh daemon sees fresh data, and
with the wall clock the data goes stale as real time runs past the end of the file). A bar is
visible once its timestamp is at or before replay time. Gaps in a file (weekends, holidays) are
kept as they are: bars are consecutive observations, never filled in.

Files are read with aiofiles, parsed in a worker thread and cached by (mtime, size), so an edited
file is re-read and an unchanged one costs nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import aiofiles
import numpy as np

from peaktrade_daemon.clock import Clock
from peaktrade_daemon.errors import DataError
from peaktrade_daemon.market.bars import Bars, Ticker, to_ns
from peaktrade_daemon.market.ohlcv_csv import parse_ohlcv_csv
from peaktrade_daemon.settings import DaemonSettings, SymbolSettings

logger = logging.getLogger(__name__)


def replay_file(settings: DaemonSettings, symbol: str, spec: SymbolSettings) -> Path:
    """The file a replayed symbol reads: ``file`` under ``paths.data_dir``, else the symbol without
    separators plus ``.csv`` (``BTC/USD`` -> ``BTCUSD.csv``)."""
    name = spec.file or symbol.replace("/", "").replace(":", "") + ".csv"
    return settings.path(settings.paths.data_dir) / name


class ReplayFeed:
    """Bars from files, as of replay time. No tickers: spread is unknown for replayed symbols."""

    name = "replay"

    def __init__(self, settings: DaemonSettings, clock: Clock) -> None:
        self.settings = settings
        self._clock = clock
        self._started_at = clock.now()
        self._cache: dict[Path, tuple[tuple[int, int], Bars]] = {}
        self._lock = asyncio.Lock()

    def replay_time(self, full: Bars) -> datetime:
        """Now in replay time for a symbol whose whole file is ``full``."""
        start = self.settings.replay.start
        if start is None:
            anchor = full.as_of
        else:
            anchor = start if start.tzinfo else start.replace(tzinfo=UTC)
        elapsed = self._clock.now() - self._started_at
        return anchor + elapsed * self.settings.replay.speed

    async def history(self, symbol: str, spec: SymbolSettings) -> Bars:
        """Every bar in the symbol's file (cached), ``as_of`` its last bar."""
        path = replay_file(self.settings, symbol, spec)
        try:
            stat = os.stat(path)
        except OSError as exc:
            raise DataError(f"{path}: no market data file for {symbol}: {exc.strerror}") from exc
        key = (stat.st_mtime_ns, stat.st_size)
        async with self._lock:
            cached = self._cache.get(path)
            if cached is not None and cached[0] == key:
                return dataclasses.replace(cached[1], symbol=symbol)
            try:
                async with aiofiles.open(path, "rb") as file:
                    raw = await file.read()
            except OSError as exc:
                raise DataError(f"{path}: cannot read market data: {exc.strerror}") from exc
            full = await asyncio.to_thread(
                parse_ohlcv_csv, path, raw, symbol=symbol, timeframe=spec.timeframe
            )
            self._cache[path] = (key, full)
            logger.debug("replay: loaded %s bars of %s from %s", len(full), symbol, path)
            return full

    async def bars(self, symbol: str, spec: SymbolSettings, count: int) -> Bars:
        """The newest ``count`` bars at or before replay time (fewer, or none, near the start)."""
        full = await self.history(symbol, spec)
        now = self.replay_time(full)
        stop = int(np.searchsorted(full.timestamps, to_ns(now), side="right"))
        window = full.slice(max(0, stop - count), stop)
        return dataclasses.replace(window, as_of=now, symbol=symbol)

    async def ticker(self, symbol: str, spec: SymbolSettings) -> Ticker | None:
        """Replayed files carry no order book."""
        return None

    async def close(self) -> None:
        """Nothing to release; the cache goes with the object."""
        self._cache.clear()
