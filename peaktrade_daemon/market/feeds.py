"""Which feed serves which symbol: ``[symbols."<name>"]`` in daemon.toml picks ``replay`` or
``ccxt`` and the trading calendar. :class:`Feeds` is what monitors and workflows hold.

The ccxt feed is built (and ``ccxt`` imported) only when a ccxt symbol is first asked for, so the
embedded default never pays for the import.
"""

from __future__ import annotations

from typing import Protocol

from peaktrade_daemon.clock import Clock
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.lane import ComputeLane
from peaktrade_daemon.market.bars import Bars, Ticker
from peaktrade_daemon.market.calendars import TradingCalendar
from peaktrade_daemon.market.freshness import Freshness, FreshnessMemo
from peaktrade_daemon.market.replay import ReplayFeed
from peaktrade_daemon.settings import DaemonSettings, SymbolSettings


class Feed(Protocol):
    """One kind of market data source."""

    name: str

    async def bars(self, symbol: str, spec: SymbolSettings, count: int) -> Bars:
        """The newest ``count`` bars as of the feed's now; raises DataError/FeedError."""
        ...

    async def ticker(self, symbol: str, spec: SymbolSettings) -> Ticker | None:
        """Best bid/ask, or None when this feed has no tickers."""
        ...

    async def close(self) -> None:
        """Release connections; idempotent."""
        ...


class MarketSource(Protocol):
    """What monitors need from market data (``Feeds`` is the real one)."""

    def spec(self, symbol: str) -> SymbolSettings:
        """The configured feed settings of ``symbol``; ConfigError when unknown."""
        ...

    def calendar(self, symbol: str) -> TradingCalendar:
        """The symbol's trading calendar."""
        ...

    async def bars(self, symbol: str, count: int) -> Bars:
        """Newest bars of ``symbol``."""
        ...

    async def ticker(self, symbol: str) -> Ticker | None:
        """Ticker of ``symbol`` or None."""
        ...

    def freshness(self, bars: Bars) -> Freshness:
        """Staleness of a window of ``bars`` under the symbol's calendar."""
        ...


class Feeds:
    """Routes each configured symbol to its feed and calendar."""

    def __init__(
        self, settings: DaemonSettings, clock: Clock, lane: ComputeLane | None = None
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._lane = lane  # where the replay feed parses its files (the composition's)
        self._replay = ReplayFeed(settings, clock, lane)
        self._ccxt: Feed | None = None
        self._calendars = _calendars(settings)
        self._freshness = FreshnessMemo()

    async def reconfigure(self, settings: DaemonSettings) -> None:
        """Adopt reloaded settings (symbols, calendars, replay, ccxt) in place, so every monitor
        holding this object sees them. Replay restarts its clock only when ``[replay]`` changed
        (a new ``start`` or ``speed`` means a new replay); a changed ``[ccxt]`` closes the old
        exchange client, and the next ccxt symbol asked for opens a new one."""
        old, self.settings = self.settings, settings
        self._calendars = _calendars(settings)
        replay, before = settings.replay, old.replay
        if (replay.start, replay.speed) != (before.start, before.speed):
            await self._replay.close()
            self._replay = ReplayFeed(settings, self._clock, self._lane)
        else:
            self._replay.settings = settings
        if self._ccxt is not None and settings.ccxt != old.ccxt:
            ccxt, self._ccxt = self._ccxt, None
            await ccxt.close()

    def spec(self, symbol: str) -> SymbolSettings:
        """Settings of ``symbol``; a symbol not in ``[symbols]`` is a configuration error."""
        try:
            return self.settings.symbols[symbol]
        except KeyError:
            known = ", ".join(sorted(self.settings.symbols)) or "none"
            raise ConfigError(
                f"unknown symbol {symbol!r} (configured: {known})", key=f'symbols."{symbol}"'
            ) from None

    def calendar(self, symbol: str) -> TradingCalendar:
        """The calendar named by the symbol's ``calendar`` setting."""
        name = self.spec(symbol).calendar
        try:
            return self._calendars[name]
        except KeyError:
            raise ConfigError(
                f"calendar {name!r} is not defined in [calendars]",
                key=f'symbols."{symbol}".calendar',
            ) from None

    def _feed(self, spec: SymbolSettings) -> Feed:
        if spec.feed == "replay":
            return self._replay
        if self._ccxt is None:
            from peaktrade_daemon.market.ccxt_feed import CcxtFeed  # lazy: imports ccxt

            self._ccxt = CcxtFeed(self.settings, self._clock)
        return self._ccxt

    async def bars(self, symbol: str, count: int) -> Bars:
        """Newest ``count`` bars of ``symbol`` from its feed."""
        spec = self.spec(symbol)
        return await self._feed(spec).bars(symbol, spec, count)

    async def ticker(self, symbol: str) -> Ticker | None:
        """Ticker of ``symbol`` from its feed (None for replay)."""
        spec = self.spec(symbol)
        return await self._feed(spec).ticker(symbol, spec)

    def freshness(self, bars: Bars) -> Freshness:
        """Staleness of ``bars`` under its symbol's calendar and ``replay.stale_after_bars``."""
        return self._freshness.assess(
            bars, self.calendar(bars.symbol), self.settings.replay.stale_after_bars
        )

    async def close(self) -> None:
        """Close every feed that was opened."""
        await self._replay.close()
        if self._ccxt is not None:
            await self._ccxt.close()


def _calendars(settings: DaemonSettings) -> dict[str, TradingCalendar]:
    return {name: TradingCalendar(cal, name) for name, cal in settings.calendars.items()}
