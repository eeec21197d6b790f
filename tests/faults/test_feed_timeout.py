"""A feed that times out inside the running daemon (issue 8, item 2), on the real CLI process.

The daemon watches one symbol, ``BTC/USDT`` on the ``ccxt`` feed (the real ccxt binance
client), pointed at the local Binance REST stub (tests/market/binance_server.py), which at
first never answers: every request waits until the test releases it. With ``timeout_s = 0.3``
and one retry, each monitor's fetch fails with a FeedError. Checked:

- every cycle ends WAIT, nothing executed and no workflow run recorded; the decision names the
  exchange, the call and the symbol, and every criterion is *unknown* with no value (never a
  made-up 0). The cycle itself is stored as done (a WAIT is a successful cycle, §4.3/§5.1);
- with ``[monitors.market] stale_status = "critical"`` each cycle raises a critical alert
  "BTC/USDT: no market data: binance fetch_ohlcv ..." (with the shipped "warning" the outage
  shows in the decisions only: §5.1 alerts on critical monitor results);
- the daemon stays up and the next cycle runs;
- once the stub answers, cycles decide on data again.

Found with it: ccxt shares one ``load_markets`` task among concurrent callers, so the
monitors that did not time out themselves got a bare CancelledError, which ended the
daemon's cycle loop silently (no more cycles, the process still "running").
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.alerts.log import parse_line
from peaktrade_daemon.alerts.model import Alert
from tests.daemon_harness import SIGTERM, AlertTail, DaemonProcess, NotifySocket, set_toml
from tests.market.binance_server import FakeBinance, btc_usdt_from_sample, start

pytestmark = pytest.mark.slow

PATHS = ("/api/v3/exchangeInfo", "/api/v3/klines", "/api/v3/ticker/24hr")
SYMBOL = """
[symbols."BTC/USDT"]
feed = "ccxt"
timeframe = "1M"
calendar = "crypto"
"""


@pytest.fixture
async def silent_binance(project_root: Path) -> AsyncIterator[FakeBinance]:
    """The stub with the real BTCUSD monthly sample as BTCUSDT, holding every request."""
    state = btc_usdt_from_sample(project_root / "data/samples/BTCUSD.csv")
    for path in PATHS:
        state.delay_next(path, 3600.0, times=100_000)
    runner = await start(state)
    yield state
    state.release.set()
    await runner.cleanup()


def _configure(root: Path, url: str) -> None:
    daemon_toml = root / "config" / "daemon.toml"
    set_toml(daemon_toml, "timeout_s = 10", "timeout_s = 0.3")
    set_toml(daemon_toml, "max_retries = 3", "max_retries = 1")
    set_toml(daemon_toml, "retry_initial_s = 0.5", "retry_initial_s = 0.05")
    set_toml(
        daemon_toml,
        '# urls = { public = "https://api.binance.com/api/v3" }',
        f'urls = {{ public = "{url}/api/v3" }}\nrate_limit_ms = 1',
    )
    set_toml(daemon_toml, "symbols = []", 'symbols = ["BTC/USDT"]')
    # The market monitor's first stale_status: a feed without data is a critical alert.
    set_toml(daemon_toml, 'stale_status = "warning"', 'stale_status = "critical"')
    daemon_toml.write_text(daemon_toml.read_text() + SYMBOL)


def _alerts(root: Path) -> list[Alert]:
    text = (root / "logs" / "autonomous_alerts.log").read_text()
    return [parse_line(line) for line in text.splitlines() if line]


def _rows(db: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return list(conn.execute(query).fetchall())


async def _decisions(db: Path, count: int, timeout_s: float = 60.0) -> list[tuple[Any, ...]]:
    """The first ``count`` stored decisions (oldest first), with their cycle's summary."""
    query = (
        "select d.action, d.reasoning, d.criteria, c.executed, c.run_id from decisions d "
        "join cycle_summaries c on c.cycle_id = d.cycle_id order by d.id"
    )
    async with asyncio.timeout(timeout_s):
        while True:
            try:
                rows = _rows(db, query)
            except sqlite3.OperationalError:  # not created yet, or busy
                rows = []
            if len(rows) >= count:
                return rows[:count]
            await asyncio.sleep(0.05)


async def test_a_feed_that_never_answers_gives_wait_cycles_and_the_daemon_recovers(
    project_root: Path, notify: NotifySocket, tail: AlertTail, silent_binance: FakeBinance
) -> None:
    _configure(project_root, silent_binance.url)
    db = project_root / "state" / "peaktrade.db"
    daemon = DaemonProcess(project_root, "--poll-interval", "0.2", "--no-scheduler", notify=notify)
    await daemon.start()
    try:
        await notify.expect("READY")
        first_two = await _decisions(db, 2)  # the next cycle ran too
        for action, reasoning, criteria, executed, run_id in first_two:
            assert (action, executed, run_id) == ("WAIT", 0, None), reasoning
            assert "binance fetch_ohlcv BTC/USDT 1M" in reasoning, reasoning
            for criterion in json.loads(criteria):  # unknown, never a made-up value
                assert (criterion["value"], criterion["outcome"]) == (None, "unknown"), criterion
        down = [a for a in _alerts(project_root) if a.source == "monitor.market"]
        assert down and all(str(a.level) == "critical" for a in down), down
        assert down[0].message.startswith("BTC/USDT: no market data: binance fetch_ohlcv"), down
        assert not _rows(db, "select run_id from workflow_runs")
        assert daemon.proc is not None and daemon.proc.returncode is None
        assert silent_binance.hits("/api/v3/exchangeInfo"), "the daemon did ask the stub"

        silent_binance.release.set()  # the exchange answers again
        seen = len(_rows(db, "select id from decisions"))
        async with asyncio.timeout(60):
            while True:
                _, _, criteria, _, _ = (await _decisions(db, seen + 1))[seen]
                if any(c["value"] is not None for c in json.loads(criteria)):
                    break  # a cycle decided on data again
                seen += 1
        daemon.signal(SIGTERM)
        assert await daemon.wait(30) == 0
    finally:
        await daemon.kill()
    assert "Traceback" not in daemon.stderr
