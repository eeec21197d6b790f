"""A local stand-in for Binance's public spot REST API (the edge of the machine), on 127.0.0.1.

It answers the three endpoints ccxt's binance client calls for ``fetch_ohlcv`` and
``fetch_ticker`` in Binance's wire format: ``GET /api/v3/exchangeInfo``, ``GET /api/v3/klines``
and ``GET /api/v3/ticker/24hr``; unknown symbols get Binance's ``400 {"code":-1121}``. Tests can
queue failures (any status and body) and delays per path, and read every request it received.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from aiohttp import web

_FILTERS = [
    {
        "filterType": "PRICE_FILTER",
        "minPrice": "0.01000000",
        "maxPrice": "1000000.00000000",
        "tickSize": "0.01000000",
    },
    {
        "filterType": "LOT_SIZE",
        "minQty": "0.00001000",
        "maxQty": "9000.00000000",
        "stepSize": "0.00001000",
    },
    {
        "filterType": "NOTIONAL",
        "minNotional": "5.00000000",
        "applyMinToMarket": True,
        "maxNotional": "9000000.00000000",
        "applyMaxToMarket": False,
        "avgPriceMins": 5,
    },
]


def _symbol(symbol: str, base: str, quote: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": _FILTERS,
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


@dataclass
class Candle:
    """One kline: open time (ms) and OHLCV."""

    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass
class Received:
    """One request as the server saw it."""

    path: str
    query: dict[str, str]
    at: float


@dataclass
class FakeBinance:
    """State of the stub: candles and book per exchange symbol id, queued faults, request log."""

    candles: dict[str, list[Candle]] = field(default_factory=dict)
    book: dict[str, tuple[float, float]] = field(default_factory=dict)
    interval_ms: int = 3_600_000
    faults: dict[str, deque[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    delays: dict[str, deque[float]] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def fail_next(self, path: str, status: int, body: dict[str, Any], times: int = 1) -> None:
        """The next ``times`` requests to ``path`` answer ``status`` with ``body``."""
        self.faults.setdefault(path, deque()).extend([(status, body)] * times)

    def delay_next(self, path: str, seconds: float, times: int = 1) -> None:
        """The next ``times`` requests to ``path`` wait ``seconds`` before answering."""
        self.delays.setdefault(path, deque()).extend([seconds] * times)

    def hits(self, path: str) -> list[Received]:
        """Requests received for ``path``."""
        return [r for r in self.requests if r.path == path]

    @staticmethod
    def _bad_symbol() -> web.Response:
        return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests.append(Received(path, dict(request.query), time.monotonic()))
        delays = self.delays.get(path)
        if delays:
            # A slow answer; teardown sets ``release`` so no handler outlives the test.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), delays.popleft())
        faults = self.faults.get(path)
        if faults:
            status, body = faults.popleft()
            return web.Response(
                status=status, text=json.dumps(body), content_type="application/json"
            )
        if path == "/api/v3/exchangeInfo":
            return web.json_response(self.exchange_info())
        symbol = request.query.get("symbol", "")
        if path == "/api/v3/klines":
            if symbol not in self.candles:
                return self._bad_symbol()
            limit = int(request.query.get("limit", "500"))
            return web.json_response([self.kline(c) for c in self.candles[symbol][-limit:]])
        if path == "/api/v3/ticker/24hr":
            if symbol not in self.book:
                return self._bad_symbol()
            return web.json_response(self.ticker(symbol))
        return web.json_response({"code": -1, "msg": f"unknown path {path}"}, status=404)

    def exchange_info(self) -> dict[str, Any]:
        symbols = [
            _symbol("BTCUSDT", "BTC", "USDT"),
            _symbol("BTCEUR", "BTC", "EUR"),
            _symbol("ETHBTC", "ETH", "BTC"),
        ]
        return {
            "timezone": "UTC",
            "serverTime": int(time.time() * 1000),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                },
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {
                    "rateLimitType": "RAW_REQUESTS",
                    "interval": "MINUTE",
                    "intervalNum": 5,
                    "limit": 61000,
                },
            ],
            "exchangeFilters": [],
            "symbols": symbols,
        }

    def kline(self, c: Candle) -> list[Any]:
        return [
            c.open_ms,
            f"{c.open:.8f}",
            f"{c.high:.8f}",
            f"{c.low:.8f}",
            f"{c.close:.8f}",
            f"{c.volume:.8f}",
            c.open_ms + self.interval_ms - 1,
            f"{c.close * c.volume:.8f}",
            1000,
            f"{c.volume / 2:.8f}",
            f"{c.close * c.volume / 2:.8f}",
            "0",
        ]

    def ticker(self, symbol: str) -> dict[str, Any]:
        bid, ask = self.book[symbol]
        last = self.candles[symbol][-1] if self.candles.get(symbol) else None
        close_ms = int(time.time() * 1000)
        return {
            "symbol": symbol,
            "priceChange": "0.00000000",
            "priceChangePercent": "0.000",
            "weightedAvgPrice": f"{(bid + ask) / 2:.8f}",
            "prevClosePrice": f"{bid:.8f}",
            "lastPrice": f"{(last.close if last else bid):.8f}",
            "lastQty": "0.01000000",
            "bidPrice": f"{bid:.8f}",
            "bidQty": "1.50000000",
            "askPrice": f"{ask:.8f}",
            "askQty": "2.00000000",
            "openPrice": f"{bid:.8f}",
            "highPrice": f"{ask:.8f}",
            "lowPrice": f"{bid:.8f}",
            "volume": "1234.50000000",
            "quoteVolume": "99999.0",
            "openTime": close_ms - 86_400_000,
            "closeTime": close_ms,
            "firstId": 1,
            "lastId": 2,
            "count": 2,
        }


def btc_usdt_from_sample(sample: Path) -> FakeBinance:
    """A stub serving the real BTCUSD monthly sample (``sample``) as BTCUSDT 1M klines, with a
    fixed order book top (93,370 / 93,390)."""
    frame = pd.read_csv(sample, index_col=0, parse_dates=True)
    state = FakeBinance(interval_ms=30 * 86_400_000)
    state.candles["BTCUSDT"] = [
        Candle(int(ts.value // 1_000_000), r.Open, r.High, r.Low, r.Close, r.Volume)
        for ts, r in frame.iterrows()
    ]
    state.book["BTCUSDT"] = (93_370.0, 93_390.0)
    return state


async def start(state: FakeBinance) -> web.AppRunner:
    """Serve ``state`` on 127.0.0.1 (a free port); sets ``state.url``."""
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}"
    return runner
