"""Ledger files (fills and equity, CSV and JSON lines) against malformed records.

Contract: a file either parses into records the portfolio maths can use (finite numbers, prices
and quantities > 0, ordered timestamps in the int64 range) or raises DataError naming the file
and the line; the performance monitor turns that into a critical result, never an exception.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.errors import DataError
from peaktrade_daemon.monitors.performance import PerformanceMonitor
from peaktrade_daemon.portfolio.ledger import parse_equity, parse_fills, round_trips
from peaktrade_daemon.settings import load_settings
from tests.fuzz.mutations import damaged
from tests.portfolio.test_ledger import FILLS, write_ledger

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FILL_KEYS = ("timestamp", "symbol", "side", "quantity", "price", "fee")
FILLS_CSV = (
    ",".join(FILL_KEYS) + "\n" + "".join(",".join(map(str, f)) + "\n" for f in FILLS)
).encode()
FILLS_JSONL = "".join(json.dumps(dict(zip(FILL_KEYS, f, strict=True))) + "\n" for f in FILLS)
EQUITY_CSV = b"timestamp,equity\n2024-03-01T00:00:00Z,100000\n2024-03-01T01:00:00Z,100250.5\n"

JSON_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["2024-03-01", "buy", "sell", "BTC/USD", "1e400", "nan", "9999-01-01"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


def check_fills(path: Path, raw: bytes) -> None:
    try:
        fills = parse_fills(path, raw)
    except DataError as exc:
        assert str(exc).startswith(f"{path}: "), exc
        return
    stamps = [f.timestamp_ns for f in fills]
    assert stamps == sorted(stamps)
    for fill in fills:
        assert isinstance(fill.symbol, str)
        assert math.isfinite(fill.quantity) and fill.quantity != 0
        assert math.isfinite(fill.price) and fill.price > 0
        assert math.isfinite(fill.fee) and fill.fee >= 0
    round_trips(fills)


def check_equity(path: Path, raw: bytes) -> None:
    try:
        stamps, equity = parse_equity(path, raw)
    except DataError as exc:
        assert str(exc).startswith(f"{path}: "), exc
        return
    assert len(stamps) > 0 and np.all(np.diff(stamps) > 0)
    assert np.all(np.isfinite(equity))


@FUZZ
@given(records=st.lists(st.dictionaries(st.sampled_from(FILL_KEYS), JSON_VALUE), max_size=6))
def test_generated_fill_records_parse_soundly_or_name_file_and_line(
    records: list[dict[str, Any]],
) -> None:
    raw = "".join(json.dumps(r) + "\n" for r in records).encode()
    check_fills(Path("fills.jsonl"), raw)


@FUZZ
@given(lines=st.lists(JSON_VALUE.map(json.dumps), max_size=6))
def test_any_json_lines_as_equity_parse_soundly_or_fail_cleanly(lines: list[str]) -> None:
    check_equity(Path("equity.jsonl"), "\n".join(lines).encode())


@FUZZ
@given(damaged(FILLS_CSV), damaged(FILLS_JSONL.encode()), damaged(EQUITY_CSV))
def test_damaged_ledger_files_parse_soundly_or_fail_cleanly(
    fills_csv: bytes, fills_jsonl: bytes, equity_csv: bytes
) -> None:
    check_fills(Path("fills.csv"), fills_csv)
    check_fills(Path("fills.jsonl"), fills_jsonl)
    check_equity(Path("equity.csv"), equity_csv)


ROW = '{"timestamp": "2024-03-01", "symbol": "X", "side": "buy", "quantity": %s, "price": 1}\n'
BAD_FILLS = {
    "quantity true": (ROW % "true", "line 1: quantity True is not a number"),
    "quantity 400 digits": (ROW % ("1" + "0" * 400), "line 1: quantity 1000"),
    "quantity NaN": (ROW % "NaN", "line 1: quantity is not finite"),
    "quantity Infinity": (ROW % "Infinity", "line 1: quantity is not finite"),
    "quantity negative": (ROW % "-1", "line 1: quantity and price must be > 0"),
    "quantity 5000 digits": (ROW % ("1" * 5000), "line 1: invalid JSON"),
    "nested 100000 deep": ("[" * 100_000 + "]" * 100_000 + "\n", "line 1: invalid JSON"),
    "array record": ("[1, 2]\n", "line 1: expected a JSON object"),
    "symbol object": (ROW.replace('"X"', '{"a": 1}') % "1", "line 1: symbol {'a': 1} is not"),
    "side list": (ROW.replace('"buy"', '["buy"]') % "1", "line 1: side ['buy'] is not"),
    "side hold": (ROW.replace('"buy"', '"hold"') % "1", "line 1: side 'hold' is not buy"),
    "timestamp number": (ROW.replace('"2024-03-01"', "20240301") % "1", "line 1: timestamp"),
    "timestamp 9999": (ROW.replace("2024", "9999") % "1", "line 1: timestamp '9999-03-01' is"),
    "missing price": ('{"timestamp": "2024-03-01", "symbol": "X", "side": "buy"}\n', "line 1"),
    "truncated": (ROW[:40], "line 1: invalid JSON"),
    "second line out of order": (
        ROW % "1" + ROW.replace("03-01", "02-01") % "1",
        "line 2: timestamp earlier than the previous fill",
    ),
    "Latin-1": ((ROW % "1").replace("X", "\xe9"), "line 1: not UTF-8"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILLS))
def test_hand_picked_bad_fills_jsonl(name: str) -> None:
    text, needle = BAD_FILLS[name]
    raw = text.encode("latin-1") if name == "Latin-1" else text.encode()
    with pytest.raises(DataError) as caught:
        parse_fills(Path("fills.jsonl"), raw)
    assert str(caught.value).startswith("fills.jsonl: ")
    assert needle in str(caught.value)
    assert len(str(caught.value)) < 300


BAD_EQUITY_CSV = {
    "empty": (b"", "no equity points"),
    "header only": (b"timestamp,equity\n", "no equity points"),
    "NaN": (b"timestamp,equity\n2024-03-01,nan\n", "line 2: equity is not finite"),
    "inf": (b"timestamp,equity\n2024-03-01,inf\n", "line 2: equity is not finite"),
    "duplicate time": (
        b"timestamp,equity\n2024-03-01,1\n2024-03-01,2\n",
        "line 3: timestamp not after",
    ),
    "unsorted": (b"timestamp,equity\n2024-03-02,1\n2024-03-01,2\n", "line 3: timestamp not after"),
    "year 1": (b"timestamp,equity\n0001-01-01,1\n", "line 2: timestamp '0001-01-01' is outside"),
    "huge field": (b'timestamp,equity\n2024-03-01,"' + b"1" * 200_000 + b'"\n', "line 2: not"),
    "UTF-16": ("timestamp,equity\n2024-03-01,1\n".encode("utf-16"), "line 1: not UTF-8"),
    "wrong field count": (b"timestamp,equity\n2024-03-01,1,2\n", "line 2: 3 fields"),
    "missing column": (b"time,equity\n2024-03-01,1\n", "line 2: missing 'timestamp'"),
}


@pytest.mark.parametrize("name", sorted(BAD_EQUITY_CSV))
def test_hand_picked_bad_equity_csv(name: str) -> None:
    raw, needle = BAD_EQUITY_CSV[name]
    with pytest.raises(DataError) as caught:
        parse_equity(Path("equity.csv"), raw)
    assert str(caught.value).startswith("equity.csv: ")
    assert needle in str(caught.value)


def test_bom_crlf_and_bare_cr_equity_parse_like_the_plain_file() -> None:
    plain = parse_equity(Path("e.csv"), EQUITY_CSV)
    for variant in (
        b"\xef\xbb\xbf" + EQUITY_CSV,
        EQUITY_CSV.replace(b"\n", b"\r\n"),
        EQUITY_CSV.replace(b"\n", b"\r"),
    ):
        stamps, equity = parse_equity(Path("e.csv"), variant)
        assert stamps.tolist() == plain[0].tolist() and equity.tolist() == plain[1].tolist()


@pytest.mark.parametrize(
    "fills",
    [b"", b"\x00\xff", ("[" * 50_000).encode(), (ROW % "true").encode(), (ROW % "1e999").encode()],
    ids=["empty", "binary", "deep", "bool", "overflow"],
)
async def test_performance_monitor_reports_a_bad_ledger_as_critical(
    project_root: Path, fills: bytes
) -> None:
    write_ledger(project_root, "jsonl")
    (project_root / "data" / "ledger" / "fills.jsonl").write_bytes(fills)
    settings = load_settings(
        project_root,
        cli_overrides={
            "monitors": {
                "performance": {
                    "source": "ledger",
                    "ledger_fills": "data/ledger/fills.jsonl",
                    "ledger_equity": "data/ledger/equity.jsonl",
                }
            }
        },
    )
    monitor = PerformanceMonitor(settings, clock=ManualClock())
    try:
        async with asyncio.timeout(10):
            result = await monitor.check_conditions("GOOG")
    finally:
        await monitor.close()
    if fills == b"":  # no fills is a valid (idle) book
        assert "win_rate" in result.missing or "total_trades" in result.metrics
        return
    assert result.status == "critical" and result.metrics == {}
    assert "fills.jsonl: line 1" in result.missing["win_rate"]
