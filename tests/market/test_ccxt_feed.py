"""The ccxt feed with the REAL ccxt async binance client against a local Binance stub."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from peaktrade_daemon.clock import ManualClock, SystemClock
from peaktrade_daemon.errors import FeedError
from peaktrade_daemon.market.bars import to_ns
from peaktrade_daemon.market.ccxt_feed import CcxtFeed
from peaktrade_daemon.market.feeds import Feeds
from peaktrade_daemon.monitors.market import MarketMonitor
from peaktrade_daemon.settings import DaemonSettings, load_settings
from tests.conftest import subprocess_env
from tests.market.binance_server import FakeBinance, btc_usdt_from_sample, start

KLINES = "/api/v3/klines"
TICKER = "/api/v3/ticker/24hr"


@pytest.fixture
async def binance(project_root: Path) -> AsyncIterator[FakeBinance]:
    """The stub serving the real BTCUSD monthly sample as BTCUSDT 1M klines."""
    state = btc_usdt_from_sample(project_root / "data/samples/BTCUSD.csv")
    # ETHBTC is listed in exchangeInfo but has no candles: its klines answer -1121.
    runner = await start(state)
    yield state
    state.release.set()
    await runner.cleanup()


SLOW_TIMEOUT_S = 0.3


def feed_settings(root: Path, url: str, **ccxt: Any) -> DaemonSettings:
    cfg: dict[str, Any] = {
        "urls": {"public": f"{url}/api/v3"},
        "options": {"fetchMarkets": {"types": ["spot"]}},
        # Generous, so a loaded machine does not turn an answer into a timeout; the tests of
        # slow answers pass SLOW_TIMEOUT_S against a stub that holds the request for 30 s.
        "timeout_s": 5.0,
        "max_retries": 2,
        "retry_initial_s": 0.01,
        "rate_limit_ms": 1,
    }
    cfg.update(ccxt)
    symbols = {
        "BTC/USDT": {"feed": "ccxt", "timeframe": "1M", "calendar": "crypto"},
        "ETH/BTC": {"feed": "ccxt", "timeframe": "1M", "calendar": "crypto"},
        "BTC/X": {"feed": "ccxt", "exchange_symbol": "BTC/USDT", "timeframe": "1M"},
    }
    return load_settings(root, cli_overrides={"ccxt": cfg, "symbols": symbols})


async def test_ohlcv_and_ticker_in_binance_format(project_root: Path, binance: FakeBinance) -> None:
    settings = feed_settings(project_root, binance.url)
    feed = CcxtFeed(settings, SystemClock())
    try:
        async with asyncio.timeout(10):
            bars = await feed.bars("BTC/X", settings.symbols["BTC/X"], 50)
            ticker = await feed.ticker("BTC/USDT", settings.symbols["BTC/USDT"])
    finally:
        await feed.close()
    frame = pd.read_csv(project_root / "data/samples/BTCUSD.csv", index_col=0, parse_dates=True)
    tail = frame.iloc[-50:]
    assert len(bars) == 50 and bars.symbol == "BTC/X"
    np.testing.assert_array_equal(bars.close, tail["Close"].to_numpy())
    np.testing.assert_array_equal(bars.volume, tail["Volume"].to_numpy())
    assert bars.timestamps[-1] == to_ns(datetime(2024, 12, 31, tzinfo=UTC))
    assert (ticker.bid, ticker.ask) == (93_370.0, 93_390.0)
    assert ticker.spread == pytest.approx(20.0 / 93_380.0, rel=1e-12)
    assert len(binance.hits("/api/v3/exchangeInfo")) == 1
    (kline_req,) = binance.hits(KLINES)
    assert kline_req.query == {"symbol": "BTCUSDT", "interval": "1M", "limit": "50"}
    assert binance.hits(TICKER)[0].query == {"symbol": "BTCUSDT"}


async def test_bad_symbol_error_is_not_retried(project_root: Path, binance: FakeBinance) -> None:
    settings = feed_settings(project_root, binance.url)
    feed = CcxtFeed(settings, SystemClock())
    try:
        with pytest.raises(FeedError, match="BadSymbol"):
            async with asyncio.timeout(10):
                await feed.bars("ETH/BTC", settings.symbols["ETH/BTC"], 10)
    finally:
        await feed.close()
    assert len(binance.hits(KLINES)) == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, {"code": -1001, "msg": "Internal error; unable to process your request."}),
        (429, {"code": -1003, "msg": "Too much request weight used; current limit is 6000."}),
    ],
)
async def test_transient_errors_are_retried(
    project_root: Path, binance: FakeBinance, status: int, body: dict[str, Any]
) -> None:
    settings = feed_settings(project_root, binance.url)
    binance.fail_next(KLINES, status, body, times=2)
    feed = CcxtFeed(settings, SystemClock())
    try:
        async with asyncio.timeout(10):
            bars = await feed.bars("BTC/USDT", settings.symbols["BTC/USDT"], 5)
    finally:
        await feed.close()
    assert len(bars) == 5
    assert len(binance.hits(KLINES)) == 3


async def test_errors_beyond_the_retry_budget_fail(
    project_root: Path, binance: FakeBinance
) -> None:
    settings = feed_settings(project_root, binance.url)
    binance.fail_next(KLINES, 503, {"code": -1001, "msg": "Internal error"}, times=3)
    feed = CcxtFeed(settings, SystemClock())
    try:
        with pytest.raises(FeedError, match="failed after 3 attempts"):
            async with asyncio.timeout(10):
                await feed.bars("BTC/USDT", settings.symbols["BTC/USDT"], 5)
    finally:
        await feed.close()
    assert len(binance.hits(KLINES)) == 3


async def test_slow_answer_times_out_then_retry_succeeds(
    project_root: Path, binance: FakeBinance
) -> None:
    settings = feed_settings(project_root, binance.url, timeout_s=SLOW_TIMEOUT_S)
    binance.delay_next(TICKER, 30.0)
    feed = CcxtFeed(settings, SystemClock())
    try:
        async with asyncio.timeout(10):
            ticker = await feed.ticker("BTC/USDT", settings.symbols["BTC/USDT"])
    finally:
        await feed.close()
    assert ticker.bid == 93_370.0
    assert len(binance.hits(TICKER)) == 2


async def test_always_slow_exchange_gives_feed_error(
    project_root: Path, binance: FakeBinance
) -> None:
    settings = feed_settings(project_root, binance.url, max_retries=1, timeout_s=SLOW_TIMEOUT_S)
    binance.delay_next(TICKER, 30.0, times=2)
    feed = CcxtFeed(settings, SystemClock())
    try:
        with pytest.raises(FeedError, match="failed after 2 attempts") as info:
            async with asyncio.timeout(10):
                await feed.ticker("BTC/USDT", settings.symbols["BTC/USDT"])
    finally:
        await feed.close()
    assert "RequestTimeout" in str(info.value) or "timed out" in str(info.value)


async def test_callers_sharing_a_market_load_another_caller_cancelled_get_feed_errors(
    project_root: Path, binance: FakeBinance
) -> None:
    # ccxt loads markets once for all concurrent callers; the first caller's timeout cancels
    # that shared load. The others must see a FeedError too, not a bare CancelledError (it
    # ended the daemon's cycle loop).
    binance.delay_next("/api/v3/exchangeInfo", 30.0, times=10)
    settings = feed_settings(project_root, binance.url, max_retries=1, timeout_s=SLOW_TIMEOUT_S)
    feed = CcxtFeed(settings, SystemClock())
    spec = settings.symbols["BTC/USDT"]
    try:
        first = asyncio.create_task(feed.bars("BTC/USDT", spec, 5))
        async with asyncio.timeout(10):
            while True:
                if binance.hits("/api/v3/exchangeInfo"):  # the shared load is in flight
                    break
                await asyncio.sleep(0.01)
        later = [asyncio.create_task(feed.bars("BTC/USDT", spec, 5)) for _ in range(2)]
        outcomes = await asyncio.wait_for(asyncio.gather(first, *later, return_exceptions=True), 20)
    finally:
        await feed.close()
    assert all(isinstance(o, FeedError) for o in outcomes), outcomes


async def test_rate_limit_spaces_requests(project_root: Path, binance: FakeBinance) -> None:
    settings = feed_settings(project_root, binance.url, rate_limit_ms=100)
    feed = CcxtFeed(settings, SystemClock())
    spec = settings.symbols["BTC/USDT"]
    try:
        async with asyncio.timeout(10):
            for _ in range(4):
                await feed.ticker("BTC/USDT", spec)
    finally:
        await feed.close()
    times = [r.at for r in binance.hits(TICKER)]
    gaps = [round(b - a, 4) for a, b in itertools.pairwise(times)]
    # binance's ticker/24hr costs 0.4 of the rate limit: ccxt releases a request every 40 ms,
    # 120 ms for the four. The server sees each one a little after its release, and a loaded
    # machine can delay one and not the next (a CI run saw a single gap under 35 ms), so the
    # span is checked, with 20 ms for the first request's delay; without the limit the four
    # take a few ms.
    assert times[-1] - times[0] >= 0.1, gaps


async def test_close_releases_the_session(project_root: Path, binance: FakeBinance) -> None:
    settings = feed_settings(project_root, binance.url)
    feed = CcxtFeed(settings, SystemClock())
    async with asyncio.timeout(10):
        await feed.ticker("BTC/USDT", settings.symbols["BTC/USDT"])
    exchange = feed._exchange
    assert exchange is not None and exchange.session is not None
    await feed.close()
    await feed.close()
    assert exchange.session is None
    with pytest.raises(FeedError, match="closed"):
        await feed.ticker("BTC/USDT", settings.symbols["BTC/USDT"])


async def test_market_monitor_over_ccxt_matches_replay(
    project_root: Path, binance: FakeBinance
) -> None:
    settings = feed_settings(project_root, binance.url)
    clock = ManualClock(datetime(2024, 12, 31, 6, tzinfo=UTC))
    feeds = Feeds(settings, clock)
    try:
        async with asyncio.timeout(10):
            live = await MarketMonitor(settings, feeds, clock).check_conditions("BTC/USDT")
            replayed = await MarketMonitor(
                settings, Feeds(settings, clock), clock
            ).check_conditions("BTC/USD")
    finally:
        await feeds.close()
    assert live.metrics["spread"] == pytest.approx(20.0 / 93_380.0, rel=1e-12)
    assert "spread" in replayed.missing
    for name, value in replayed.metrics.items():
        assert live.metrics[name] == pytest.approx(value, rel=1e-12), name


def test_embedded_default_does_not_import_ccxt(project_root: Path) -> None:
    code = (
        "import asyncio, json, sys\n"
        "from peaktrade_daemon.monitors.market import MarketMonitor\n"
        "r = asyncio.run(MarketMonitor().check_conditions('BTC/EUR'))\n"
        "print(json.dumps({'ccxt': 'ccxt' in sys.modules, 'n': len(r.metrics)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project_root,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"ccxt": False, "n": 7}


async def test_old_ticker_gives_no_spread(project_root: Path, binance: FakeBinance) -> None:
    settings = feed_settings(project_root, binance.url)
    # The stub stamps tickers with the wall clock; a monitor clock an hour later sees it as old.
    clock = ManualClock(datetime.now(UTC) + timedelta(hours=1))
    feeds = Feeds(settings, clock)
    try:
        async with asyncio.timeout(10):
            result = await MarketMonitor(settings, feeds, clock).check_conditions("BTC/USDT")
    finally:
        await feeds.close()
    reason = result.missing["spread"]
    assert reason.startswith("stale ticker: ") and reason.endswith("old (limit 300s)"), reason
