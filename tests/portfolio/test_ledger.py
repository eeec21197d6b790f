"""The external ledger: both formats, round trips, bad records named by file and line, caching."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.errors import DataError
from peaktrade_daemon.portfolio.ledger import LedgerPortfolio, parse_fills, round_trips
from peaktrade_daemon.settings import load_settings

FILLS = [
    ("2024-03-01T10:00:00Z", "BTC/USD", "buy", 0.5, 60000.0, 15.0),
    ("2024-03-01T12:00:00Z", "BTC/USD", "buy", 0.5, 62000.0, 15.5),
    ("2024-03-02T09:00:00Z", "BTC/USD", "sell", 1.0, 63000.0, 31.5),  # closes: +2000 - 62
    ("2024-03-02T10:00:00Z", "GOOG", "sell", 10, 140.0, 1.0),  # opens a short
    ("2024-03-03T10:00:00Z", "GOOG", "buy", 30, 150.0, 3.0),  # covers (-100 - 2) and goes long 20
    ("2024-03-04T10:00:00Z", "EUR/USD", "buy", 1000, 1.08, 0.5),
    ("2024-03-04T11:00:00Z", "EUR/USD", "sell", 1000, 1.07, 0.5),  # -10 - 1
]


def write_ledger(root: Path, fmt: str) -> None:
    ledger = root / "data/ledger"
    ledger.mkdir(parents=True, exist_ok=True)
    keys = ("timestamp", "symbol", "side", "quantity", "price", "fee")
    equity = [
        (f"2024-03-0{d}T{h:02d}:00:00", 100_000 + 250 * d - 40 * h)
        for d in (1, 2, 3, 4)
        for h in (0, 12)
    ]
    if fmt == "csv":
        (ledger / "fills.csv").write_text(
            ",".join(keys) + "\n" + "".join(",".join(map(str, f)) + "\n" for f in FILLS)
        )
        (ledger / "equity.csv").write_text(
            "timestamp,equity,note\n" + "".join(f"{t},{e},x\n" for t, e in equity)
        )
    else:
        (ledger / "fills.jsonl").write_text(
            "".join(json.dumps(dict(zip(keys, f, strict=True))) + "\n" for f in FILLS)
        )
        (ledger / "equity.jsonl").write_text(
            "".join(json.dumps({"timestamp": t, "equity": e}) + "\n" for t, e in equity)
        )


def ledger_source(root: Path, fmt: str, clock: ManualClock) -> LedgerPortfolio:
    settings = load_settings(
        root,
        cli_overrides={
            "monitors": {
                "performance": {
                    "source": "ledger",
                    "ledger_fills": f"data/ledger/fills.{fmt}",
                    "ledger_equity": f"data/ledger/equity.{fmt}",
                }
            }
        },
    )
    return LedgerPortfolio(settings, clock, settings.monitors.performance.ledger_stale_after_s)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
async def test_both_formats_give_the_same_book(project_root: Path, fmt: str) -> None:
    write_ledger(project_root, fmt)
    clock = ManualClock(datetime(2024, 3, 5, tzinfo=UTC))
    async with asyncio.timeout(10):
        snap = await ledger_source(project_root, fmt, clock).snapshot("BTC/USD")
    assert snap.scope == "account" and len(snap.equity) == 8
    pnls = [round(t.pnl, 6) for t in snap.trades]
    assert pnls == [2000.0 - 62.0, -100.0 - 2.0, -10.0 - 1.0]
    assert [t.symbol for t in snap.trades] == ["BTC/USD", "GOOG", "EUR/USD"]
    (position,) = snap.positions
    assert (position.symbol, position.quantity, position.price) == ("GOOG", 20.0, 150.0)
    assert snap.bars_per_year == pytest.approx(365.2425 * 2)
    assert snap.stale_reason == ""


def test_crossing_fill_splits_its_fee() -> None:
    raw = (
        b"timestamp,symbol,side,quantity,price,fee\n"
        b"2024-01-01,X,buy,1,10,1\n2024-01-02,X,sell,3,12,3\n"
    )
    trades, positions = round_trips(parse_fills(Path("f.csv"), raw))
    assert trades[0].pnl == pytest.approx(2.0 - 1.0 - 1.0)
    assert positions[0].quantity == pytest.approx(-2.0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("2024-01-01,X,hold,1,10,0\n", "line 2: side 'hold'"),
        ("2024-01-01,X,buy,-1,10,0\n", "line 2: quantity and price must be > 0"),
        ("2024-01-01,X,buy,1,nan,0\n", "line 2: price is not finite"),
        ("2024-01-02,X,buy,1,10,0\n2024-01-01,X,sell,1,10,0\n", "line 3: timestamp earlier"),
        ("yesterday,X,buy,1,10,0\n", "line 2: timestamp 'yesterday' is not ISO 8601"),
    ],
)
def test_bad_fills_name_file_and_line(body: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_fills(
            Path("fills.csv"), b"timestamp,symbol,side,quantity,price,fee\n" + body.encode()
        )


async def test_stale_equity_and_mtime_cache(project_root: Path) -> None:
    write_ledger(project_root, "csv")
    clock = ManualClock(datetime(2024, 3, 20, tzinfo=UTC))
    source = ledger_source(project_root, "csv", clock)
    async with asyncio.timeout(10):
        first = await source.snapshot("GOOG")
        path = project_root / "data/ledger/equity.csv"
        path.write_text(path.read_text() + "2024-03-19T00:00:00,101000,x\n")
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
        second = await source.snapshot("GOOG")
    assert first.stale_reason.startswith("stale data: last equity point 15d")
    assert second.stale_reason == "" and second.equity[-1] == 101000.0


async def test_missing_ledger_is_a_data_error(project_root: Path) -> None:
    source = ledger_source(project_root, "csv", ManualClock())
    with pytest.raises(DataError, match=r"equity\.csv: ledger file unreadable"):
        await source.snapshot("GOOG")
