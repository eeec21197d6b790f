"""Live market data from an exchange through ``ccxt.async_support``.

``ccxt`` is imported when the first request is made, never at module import, so a daemon that
only replays files does not pay for it. Behaviour, from ``[ccxt]`` in daemon.toml:

- rate limiting: ccxt's own throttle (``enable_rate_limit``, interval ``rate_limit_ms`` or the
  exchange's default), so requests are spaced out before they are sent;
- timeouts: ``timeout_s`` for each HTTP request (ccxt) and, as a guard, for each call as a whole;
- retries: transient failures (ccxt ``OperationFailed``, which includes ``NetworkError``:
  timeouts, 5xx, rate-limit answers, exchange-side "internal error" codes; our own
  timeout; a request ccxt shared with a concurrent call that was cancelled) are retried up
  to ``max_retries`` times, waiting ``retry_initial_s`` doubled each time up to
  ``retry_max_s`` on the injected clock; anything else (a bad symbol, an exchange error)
  fails at once. Either way the caller gets a :class:`FeedError`;
- ``urls`` replace entries of the exchange's ``urls['api']`` (a proxy, a testnet, a test server);
  ``options`` are passed to the exchange as its ccxt options;
- ``close()`` closes the HTTP session; the feed is then unusable.

Bars are the exchange's candles as returned (the newest one is usually still forming), stamped
``as_of`` the clock's now. Candles with missing, non-finite or non-positive prices, or unsorted
timestamps, are a DataError naming the exchange, symbol and candle index.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np

from peaktrade_daemon.clock import Clock
from peaktrade_daemon.errors import ConfigError, DataError, FeedError
from peaktrade_daemon.market.bars import Bars, Ticker
from peaktrade_daemon.settings import DaemonSettings, SymbolSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _candles_to_bars(
    exchange: str, symbol: str, spec: SymbolSettings, rows: list[list[Any]], as_of: datetime
) -> Bars:
    stamps: list[int] = []
    values: list[tuple[float, ...]] = []
    for i, row in enumerate(rows):
        where = f"{exchange} {symbol} candle {i}"
        try:
            stamp = int(row[0])
            o, h, lo, c, v = (float(x) for x in row[1:6])
        except (TypeError, ValueError, IndexError) as exc:
            raise DataError(
                f"{where}: not [time, open, high, low, close, volume]: {row!r}"
            ) from exc
        if not all(math.isfinite(x) for x in (o, h, lo, c, v)) or min(o, h, lo, c) <= 0 or v < 0:
            raise DataError(f"{where}: invalid values {row!r}")
        if stamps and stamp * 1_000_000 <= stamps[-1]:
            raise DataError(f"{where}: timestamp {stamp} is not after the previous candle")
        stamps.append(stamp * 1_000_000)
        values.append((o, h, lo, c, v))
    table = np.asarray(values, dtype=np.float64).reshape(-1, 5)
    return Bars(
        symbol=symbol,
        timeframe=spec.timeframe,
        timestamps=np.asarray(stamps, dtype=np.int64),
        open=table[:, 0].copy(),
        high=table[:, 1].copy(),
        low=table[:, 2].copy(),
        close=table[:, 3].copy(),
        volume=table[:, 4].copy(),
        as_of=as_of,
        source=f"ccxt:{exchange}",
    )


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _problem(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout_s:g}s"
    if isinstance(exc, asyncio.CancelledError):
        # ccxt shares one load_markets task among concurrent callers: when one caller's
        # timeout cancels it, the others get its CancelledError without being cancelled
        # themselves. Letting it through ended the daemon's cycle loop silently.
        return "request shared with a cancelled concurrent call"
    return str(exc)


class CcxtFeed:
    """OHLCV and tickers from one ccxt exchange (see the module docstring)."""

    name = "ccxt"

    def __init__(self, settings: DaemonSettings, clock: Clock) -> None:
        self._cfg = settings.ccxt
        self._clock = clock
        self._exchange: Any = None
        self._ccxt: Any = None
        self._closed = False

    def _client(self) -> Any:
        if self._closed:
            raise FeedError(f"ccxt feed for {self._cfg.exchange} is closed")
        if self._exchange is None:
            import ccxt.async_support as ccxt_async  # lazy on purpose: see the module docstring

            factory = getattr(ccxt_async, self._cfg.exchange, None)
            if factory is None or not isinstance(factory, type):
                raise ConfigError(
                    f"ccxt has no exchange {self._cfg.exchange!r}", key="ccxt.exchange"
                )
            params: dict[str, Any] = {
                "enableRateLimit": self._cfg.enable_rate_limit,
                "timeout": int(self._cfg.timeout_s * 1000),
                "options": copy.deepcopy(self._cfg.options),
            }
            if self._cfg.rate_limit_ms is not None:
                params["rateLimit"] = self._cfg.rate_limit_ms
            exchange = factory(params)
            for key, url in self._cfg.urls.items():
                if isinstance(exchange.urls.get("api"), dict):
                    exchange.urls["api"][key] = url
                else:
                    exchange.urls["api"] = url
            self._ccxt, self._exchange = ccxt_async, exchange
        return self._exchange

    async def _call(self, what: str, request: Callable[[], Awaitable[T]]) -> T:
        cfg = self._cfg
        delay = cfg.retry_initial_s
        for attempt in range(cfg.max_retries + 1):
            try:
                async with asyncio.timeout(cfg.timeout_s):
                    return await request()
            except (TimeoutError, asyncio.CancelledError, self._ccxt.OperationFailed) as exc:
                if isinstance(exc, asyncio.CancelledError) and _being_cancelled():
                    raise  # a timeout above us or shutdown: not ours to retry
                problem = _problem(exc, cfg.timeout_s)
                if attempt == cfg.max_retries:
                    raise FeedError(
                        f"{cfg.exchange} {what}: failed after {attempt + 1} attempts: "
                        f"{type(exc).__name__}: {problem}"
                    ) from exc
                logger.warning(
                    "ccxt %s %s: attempt %d failed (%s: %s); retrying in %.2fs",
                    cfg.exchange,
                    what,
                    attempt + 1,
                    type(exc).__name__,
                    problem,
                    delay,
                )
                await self._clock.sleep(delay)
                delay = min(delay * 2.0, cfg.retry_max_s)
            except self._ccxt.BaseError as exc:
                raise FeedError(f"{cfg.exchange} {what}: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def bars(self, symbol: str, spec: SymbolSettings, count: int) -> Bars:
        """The newest ``count`` candles of ``symbol`` (``exchange_symbol`` when set)."""
        exchange = self._client()
        market = spec.exchange_symbol or symbol
        rows = await self._call(
            f"fetch_ohlcv {market} {spec.timeframe}",
            lambda: exchange.fetch_ohlcv(market, spec.timeframe, limit=count),
        )
        return _candles_to_bars(self._cfg.exchange, symbol, spec, rows, self._clock.now())

    async def ticker(self, symbol: str, spec: SymbolSettings) -> Ticker:
        """Best bid/ask and last price of ``symbol``."""
        exchange = self._client()
        market = spec.exchange_symbol or symbol
        raw = await self._call(f"fetch_ticker {market}", lambda: exchange.fetch_ticker(market))

        def number(key: str) -> float | None:
            value = raw.get(key)
            return float(value) if isinstance(value, int | float) and math.isfinite(value) else None

        stamp = raw.get("timestamp")
        when = (
            datetime.fromtimestamp(stamp / 1000, tz=UTC)
            if isinstance(stamp, int | float)
            else self._clock.now()
        )
        return Ticker(
            symbol=symbol,
            timestamp=when,
            bid=number("bid"),
            ask=number("ask"),
            last=number("last"),
            raw=dict(raw),
        )

    async def close(self) -> None:
        """Close the exchange's HTTP session; idempotent."""
        self._closed = True
        exchange, self._exchange = self._exchange, None
        if exchange is not None:
            await exchange.close()
