"""The replay feed (the embedded default): OHLCV CSV files played as "the latest N bars as of now
in replay time".

Replay time of a symbol = anchor + (clock now - feed start) x ``replay.speed``, where the anchor
is ``replay.start`` when set, else the symbol's last bar (so a fresh daemon sees fresh data, and
with the wall clock the data goes stale as real time runs past the end of the file). A bar is
visible once its timestamp is at or before replay time. Gaps in a file (weekends, holidays) are
kept as they are: bars are consecutive observations, never filled in.

Files are read with aiofiles, parsed in a worker thread and cached by (mtime, size), so an edited
file is re-read and an unchanged one costs nothing; the files a cycle's checks ask for together
are parsed in batches (:mod:`peaktrade_daemon.batcher`), each file once, with the bytes of at most
``FILES_IN_FLIGHT`` files held at a time (500 symbols are tens of megabytes of CSV). The cache keeps only the bars that can still be in a window: replay
time moves forward, so a bar more than ``count`` bars before replay time at loading is never
asked for again, and a desk replaying years of hourly history for hundreds of symbols holds a
few hundred bars of each. A window reaching before what is kept (a larger ``count``, a wall
clock stepped back) re-reads the file.

Without ``replay.start`` replay time is at or past each file's last bar, so a window is the
file's last ``count`` bars, and only those lines are parsed and checked
(:func:`~peaktrade_daemon.market.ohlcv_csv.parse_ohlcv_tail`): 500 hourly bars out of years of
history. With a ``start`` (replay time inside the file), or when the tail does not hold the
window, the whole file is parsed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiofiles.os
import numpy as np

from peaktrade_daemon.batcher import Batcher, each
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.errors import DataError
from peaktrade_daemon.lane import FIRST, ComputeLane
from peaktrade_daemon.market.bars import Bars, FloatArray, IntArray, Ticker, to_ns
from peaktrade_daemon.market.ohlcv_csv import parse_ohlcv_csv, parse_ohlcv_tail
from peaktrade_daemon.settings import DaemonSettings, SymbolSettings

logger = logging.getLogger(__name__)

#: Files read but not yet parsed and trimmed, at most: bounds the transient memory of a first
#: cycle over hundreds of files (their bytes would otherwise all arrive before the parsing).
FILES_IN_FLIGHT = 16


def replay_file(settings: DaemonSettings, symbol: str, spec: SymbolSettings) -> Path:
    """The file a replayed symbol reads: ``file`` under ``paths.data_dir``, else the symbol without
    separators plus ``.csv`` (``BTC/USD`` -> ``BTCUSD.csv``)."""
    name = spec.file or symbol.replace("/", "").replace(":", "") + ".csv"
    return settings.path(settings.paths.data_dir) / name


Columns = tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]


#: A file's bytes in one worker-thread hop (aiofiles' open, read and close are three, and 500
#: files a first cycle read that way cost the event loop twice the time).
_read_bytes = aiofiles.os.wrap(Path.read_bytes)


class _Loaded:
    """What the cache holds of one file: its ``(mtime, size)``, the kept bars (the file's newest,
    read-only; ``as_of`` is the file's last bar, replay time's anchor), whether they are all of
    the file's bars (``whole``), and the column slices of the window last asked for."""

    __slots__ = ("_last_ns", "_window", "bars", "key", "whole")

    def __init__(self, key: tuple[int, int], bars: Bars, whole: bool) -> None:
        self.key, self.bars, self.whole = key, bars, whole
        self._last_ns = int(bars.timestamps[-1]) if len(bars) else None
        self._window: tuple[int, int, Columns] | None = None

    def stop(self, now_ns: int) -> int:
        """The end (exclusive) of the kept bars visible at replay time ``now_ns``."""
        if self._last_ns is not None and now_ns >= self._last_ns:
            return len(self.bars)  # the usual case: replay time is past the file's end
        return int(np.searchsorted(self.bars.timestamps, now_ns, side="right"))

    def fits(self, stop: int, count: int) -> bool:
        """Whether the window of ``count`` bars ending at ``stop`` lies within the kept bars."""
        return self.whole or stop >= count

    def columns(self, start: int, stop: int) -> Columns:
        """The column slices ``[start, stop)``: the very arrays handed out the last time this
        window was asked for, so the monitors' memos know an unchanged window at a glance."""
        window = self._window
        if window is None or window[0] != start or window[1] != stop:
            b, cut = self.bars, slice(start, stop)
            columns: Columns = (
                b.timestamps[cut],
                b.open[cut],
                b.high[cut],
                b.low[cut],
                b.close[cut],
                b.volume[cut],
            )
            window = self._window = (start, stop, columns)
        return window[2]


@dataclass(frozen=True, slots=True)
class _Read:
    """A file to (re)read: its ``(mtime, size)`` when asked for and the window it must serve."""

    path: Path
    key: tuple[int, int]
    symbol: str
    timeframe: str
    count: int


class ReplayFeed:
    """Bars from files, as of replay time. No tickers: spread is unknown for replayed symbols.
    ``lane``: the thread the files are parsed on (:mod:`peaktrade_daemon.lane`)."""

    name = "replay"

    def __init__(
        self, settings: DaemonSettings, clock: Clock, lane: ComputeLane | None = None
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._started_at = clock.now()
        self._cache: dict[Path, _Loaded] = {}
        self._paths: dict[str, Path] = {}
        self._reading: dict[Path, asyncio.Future[_Loaded]] = {}
        self._in_flight = asyncio.Semaphore(FILES_IN_FLIGHT)
        # First on the lane: the monitors' batches wait and gather the windows parsed meanwhile.
        self._parses: Batcher[tuple[_Read, bytes], _Loaded] = Batcher(
            each(self._parse), "replay-parse", lane, FIRST
        )

    @property
    def settings(self) -> DaemonSettings:
        """The settings in force (``Feeds.reconfigure`` swaps them in place)."""
        return self._settings

    @settings.setter
    def settings(self, settings: DaemonSettings) -> None:
        self._settings = settings
        self._paths.clear()  # a reload may have moved the data directory or a symbol's file

    def _path(self, symbol: str, spec: SymbolSettings) -> Path:
        path = self._paths.get(symbol)
        if path is None:
            path = self._paths[symbol] = replay_file(self._settings, symbol, spec)
        return path

    def replay_time(self, full: Bars) -> datetime:
        """Now in replay time for a symbol whose file ends at ``full.as_of``."""
        start = self.settings.replay.start
        if start is None:
            anchor = full.as_of
        else:
            anchor = start if start.tzinfo else start.replace(tzinfo=UTC)
        elapsed = self._clock.now() - self._started_at
        return anchor + elapsed * self.settings.replay.speed

    async def _load(
        self, symbol: str, spec: SymbolSettings, count: int
    ) -> tuple[_Loaded, int, datetime]:
        """The cached file, the end (exclusive, into the kept bars) of the window of ``count``
        bars at replay time and that time, (re)reading the file when the cache cannot serve it."""
        path = self._path(symbol, spec)
        try:
            stat = os.stat(path)
        except OSError as exc:
            raise DataError(f"{path}: no market data file for {symbol}: {exc.strerror}") from exc
        key = (stat.st_mtime_ns, stat.st_size)
        while True:
            cached = self._cache.get(path)
            if cached is not None and cached.key == key:
                now = self.replay_time(cached.bars)
                stop = cached.stop(to_ns(now))
                if cached.fits(stop, count):
                    return cached, stop, now
            reading = self._reading.get(path)
            if reading is None:
                read = _Read(path, key, symbol, spec.timeframe, count)
                reading = asyncio.ensure_future(self._read(read))
                self._reading[path] = reading
                reading.add_done_callback(functools.partial(self._read_done, path))
            # Shielded: the read is shared by every check of this file, one timing out is not
            # all. A read made for a smaller window (or an older file) goes round again.
            loaded = await asyncio.shield(reading)
            current = self._cache.get(path)
            if current is None or current.key != key or not self._serves(current, count):
                self._cache[path] = loaded

    def _serves(self, loaded: _Loaded, count: int) -> bool:
        return loaded.fits(loaded.stop(to_ns(self.replay_time(loaded.bars))), count)

    async def _read(self, read: _Read) -> _Loaded:
        """The file's bytes (aiofiles), then parsed and trimmed in the next parse batch."""
        async with self._in_flight:
            try:
                raw = await _read_bytes(read.path)
            except OSError as exc:
                raise DataError(f"{read.path}: cannot read market data: {exc.strerror}") from exc
            return await self._parses.submit((read, raw))

    def _parse(self, job: tuple[_Read, bytes]) -> _Loaded:
        """Parse one file and keep what the window it was read for can still reach (blocking)."""
        read, raw = job
        whole_file = functools.partial(
            parse_ohlcv_csv, read.path, raw, symbol=read.symbol, timeframe=read.timeframe
        )
        if self.settings.replay.start is None:
            full, whole = parse_ohlcv_tail(
                read.path, raw, symbol=read.symbol, timeframe=read.timeframe, rows=read.count
            )
        else:
            full, whole = whole_file(), True
        visible = self._visible(full)
        if visible < read.count and not whole:  # replay time before the file's end (a clock
            full, whole = whole_file(), True  # stepped back): the window reaches before the tail
            visible = self._visible(full)
        first = max(0, visible - read.count)
        logger.debug(
            "replay: loaded %s bars of %s from %s, keeping %s",
            len(full),
            read.symbol,
            read.path,
            len(full) - first,
        )
        return _Loaded(read.key, _kept(full, first), whole and first == 0)

    def _visible(self, bars: Bars) -> int:
        """How many of ``bars`` are at or before replay time."""
        return int(np.searchsorted(bars.timestamps, to_ns(self.replay_time(bars)), "right"))

    def _read_done(self, path: Path, reading: asyncio.Future[_Loaded]) -> None:
        self._reading.pop(path, None)
        if not reading.cancelled():
            reading.exception()  # seen here too: every check that waited has re-raised it

    async def bars(self, symbol: str, spec: SymbolSettings, count: int) -> Bars:
        """The newest ``count`` bars at or before replay time (fewer, or none, near the start)."""
        loaded, stop, now = await self._load(symbol, spec, count)
        timestamps, open_, high, low, close, volume = loaded.columns(max(0, stop - count), stop)
        return Bars(
            symbol=symbol,
            timeframe=spec.timeframe,
            timestamps=timestamps,
            open=open_,
            high=high,
            low=low,
            close=close,
            volume=volume,
            as_of=now,
            source=loaded.bars.source,
        )

    async def ticker(self, symbol: str, spec: SymbolSettings) -> Ticker | None:
        """Replayed files carry no order book."""
        return None

    async def close(self) -> None:
        """Nothing to release; the cache goes with the object."""
        self._cache.clear()


def _kept(full: Bars, first: int) -> Bars:
    """``full`` from bar ``first`` on, read-only (copies, so the rest of the file is freed)."""
    columns = {}
    for name in ("timestamps", "open", "high", "low", "close", "volume"):
        column = getattr(full, name)[first:]
        if first:
            column = column.copy()
        column.setflags(write=False)
        columns[name] = column
    return Bars(
        symbol=full.symbol,
        timeframe=full.timeframe,
        as_of=full.as_of,
        source=full.source,
        **columns,
    )
