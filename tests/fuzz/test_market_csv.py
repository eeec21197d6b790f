"""Market data CSVs (the replay feed's input) against malformed files.

Contract: every file either parses into bars that satisfy every invariant the monitors rely on,
or raises DataError naming the file and the line; nothing else escapes, and the market monitor
turns it into a critical result with the metrics missing instead of raising.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.errors import ConfigError, DataError
from peaktrade_daemon.market.bars import Bars
from peaktrade_daemon.market.ohlcv_csv import parse_ohlcv_csv
from peaktrade_daemon.market.replay import replay_file
from peaktrade_daemon.monitors.market import MarketMonitor
from peaktrade_daemon.settings import load_settings
from tests.conftest import PROJECT_ROOT
from tests.fuzz.mutations import damaged

SAMPLE = (PROJECT_ROOT / "data" / "samples" / "BTCUSD.csv").read_bytes()
PATH = Path("data/samples/X.csv")
HEADER = b",Open,High,Low,Close,Volume\n"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse(raw: bytes) -> Bars:
    return parse_ohlcv_csv(PATH, raw, symbol="X", timeframe="1d")


def assert_sound(bars: Bars) -> None:
    """What the indicators and monitors assume of every Bars the parser returns."""
    assert len(bars) > 0
    assert np.all(np.diff(bars.timestamps) > 0)
    columns = (bars.open, bars.high, bars.low, bars.close, bars.volume)
    assert all(np.all(np.isfinite(c)) for c in columns)
    assert np.all(np.minimum.reduce(columns[:4]) > 0)
    assert np.all(bars.volume >= 0)
    assert np.all(bars.high >= np.maximum.reduce((bars.open, bars.close, bars.low)))
    assert np.all(bars.low <= np.minimum(bars.open, bars.close))


def parse_or_data_error(raw: bytes) -> Bars | None:
    try:
        bars = parse(raw)
    except DataError as exc:
        assert str(exc).startswith(f"{PATH}: "), exc
        assert "line " in str(exc) or "no bars" in str(exc), exc
        return None
    assert_sound(bars)
    return bars


@FUZZ
@given(damaged(SAMPLE))
def test_damaged_sample_parses_soundly_or_names_file_and_line(raw: bytes) -> None:
    parse_or_data_error(raw)


NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e400", "", " ", "1_0", "0x10", "--1"]),
)
STAMP = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["2020-01-01", "2020-01-01", "0001-01-01", "9999-12-31", "2020-13-01", "x"]),
)


@FUZZ
@given(
    rows=st.lists(st.tuples(STAMP, NUMBER, NUMBER, NUMBER, NUMBER, NUMBER), max_size=12),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
)
def test_generated_rows_with_any_values_parse_soundly_or_fail_cleanly(
    rows: list[tuple[object, ...]], newline: str, bom: bool
) -> None:
    text = newline.join([",Open,High,Low,Close,Volume", *(",".join(map(str, r)) for r in rows)])
    parse_or_data_error((b"\xef\xbb\xbf" if bom else b"") + text.encode())


@FUZZ
@given(
    prices=st.lists(st.floats(0.01, 1e6), min_size=1, max_size=30),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    upper=st.booleans(),
)
def test_valid_rows_in_any_line_ending_round_trip(
    prices: list[float], newline: str, bom: bool, upper: bool
) -> None:
    header = ",Open,High,Low,Close,Volume"
    lines = [header.upper() if upper else header]
    for day, price in enumerate(prices):
        stamp = np.datetime64("2020-01-01") + np.timedelta64(day, "D")
        lines.append(f"{stamp},{price!r},{price * 2!r},{price / 2!r},{price!r},{day}")
    raw = (b"\xef\xbb\xbf" if bom else b"") + (newline.join(lines) + newline).encode()
    bars = parse(raw)
    assert_sound(bars)
    assert bars.close.tolist() == prices


BAD_FILES = {
    "empty": (b"", "no bars"),
    "header only": (HEADER, "no bars"),
    "header only CRLF": (HEADER.replace(b"\n", b"\r\n"), "no bars"),
    "blank lines only": (b"\n\n\r\n", "no bars"),
    "UTF-16": ((HEADER + b"2020-01-01,1,2,1,1,1\n").decode().encode("utf-16"), "line 1"),
    "Latin-1 byte": (HEADER + b"2020-01-01,1,2,1,1,1\xe9\n", "line 2"),
    "NaN price": (HEADER + b"2020-01-01,nan,2,1,1,1\n", "line 2: open is nan"),
    "inf price": (HEADER + b"2020-01-01,1,inf,1,1,1\n", "line 2: high is inf"),
    "overflow to inf": (HEADER + b"2020-01-01,1,1e400,1,1,1\n", "line 2: high is 1e400"),
    "negative price": (HEADER + b"2020-01-01,-1,2,-1,1,1\n", "line 2: a price is zero"),
    "zero price": (HEADER + b"2020-01-01,0,2,0,1,1\n", "line 2: a price is zero"),
    "negative volume": (HEADER + b"2020-01-01,1,2,1,1,-5\n", "line 2: volume -5.0 is negative"),
    "high below low": (HEADER + b"2020-01-01,1,1,2,1,1\n", "line 2: inconsistent bar"),
    "duplicate time": (
        HEADER + b"2020-01-01,1,2,1,1,1\n2020-01-01,1,2,1,1,1\n",
        "line 3: timestamp 2020-01-01 is duplicate",
    ),
    "unsorted": (
        HEADER + b"2020-01-02,1,2,1,1,1\n2020-01-01,1,2,1,1,1\n",
        "line 3: timestamp 2020-01-01 is earlier",
    ),
    "year 9999": (HEADER + b"9999-12-31,1,2,1,1,1\n", "line 2: timestamp '9999-12-31' is outside"),
    "year 1": (HEADER + b"0001-01-01,1,2,1,1,1\n", "line 2: timestamp '0001-01-01' is outside"),
    "bad time": (HEADER + b"yesterday,1,2,1,1,1\n", "line 2: timestamp 'yesterday'"),
    "short row": (HEADER + b"2020-01-01,1,2\n", "line 2: 3 fields"),
    "missing column": (b",Open,High,Low,Close\n2020-01-01,1,2,1,1\n", "line 1: header lacks"),
    "NUL byte": (HEADER + b"2020-01-01,1,2,1,1,\x001\n", "line 2: volume"),
    "huge field": (HEADER + b'2020-01-01,"' + b"1" * 200_000 + b'",2,1,1,1\n', "line 2: not"),
    "unclosed quote": (HEADER + b'2020-01-01,"1,2,1,1,1\n', "line 2"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_hand_picked_bad_file_is_refused_naming_file_and_line(name: str) -> None:
    raw, needle = BAD_FILES[name]
    with pytest.raises(DataError) as caught:
        parse(raw)
    assert str(caught.value).startswith(f"{PATH}: ")
    assert needle in str(caught.value)


def test_bom_crlf_and_bare_cr_files_parse_like_the_plain_one() -> None:
    plain = parse(SAMPLE)
    for variant in (
        b"\xef\xbb\xbf" + SAMPLE,
        SAMPLE.replace(b"\n", b"\r\n"),
        SAMPLE.replace(b"\n", b"\r"),
    ):
        bars = parse(variant)
        assert np.array_equal(bars.timestamps, plain.timestamps)
        assert np.array_equal(bars.close, plain.close)


def test_a_huge_file_parses_and_its_size_is_not_a_problem() -> None:
    stamps = np.datetime64("1700-01-01T00") + np.arange(200_000) * np.timedelta64(1, "h")
    body = "".join(f"{s},1.5,2.5,1.0,2.0,10\n" for s in stamps.astype(str))
    bars = parse(HEADER + body.encode())
    assert len(bars) == 200_000
    assert_sound(bars)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        HEADER,
        b"\xff\xfe\x00",
        HEADER + b"9999-01-01,1,2,1,1,1\n",
        SAMPLE.replace(b"\n", b"\r"),
    ],
    ids=["empty", "header-only", "binary", "year-9999", "bare-CR"],
)
async def test_market_monitor_reports_bad_data_as_missing_metrics(
    project_root: Path, raw: bytes
) -> None:
    (project_root / "data" / "samples" / "BTCUSD.csv").write_bytes(raw)
    settings = load_settings(project_root)
    monitor = MarketMonitor(settings, clock=ManualClock())
    try:
        result = await monitor.check_conditions("BTC/USD")
    finally:
        await monitor.close()
    if raw.endswith(b"\r") and len(raw) > 1000:  # bare CR is a valid file: real metrics
        assert math.isfinite(result.metrics["volatility"])
        return
    assert result.status == "critical"
    assert "volatility" not in result.metrics
    assert any("BTCUSD.csv" in alert for alert in result.alerts)


def test_the_shipped_samples_still_parse(tmp_path: Path) -> None:
    for name in ("BTCUSD", "EURUSD", "GOOG"):
        target = tmp_path / f"{name}.csv"
        shutil.copy(PROJECT_ROOT / "data" / "samples" / f"{name}.csv", target)
        assert_sound(parse_ohlcv_csv(target, target.read_bytes(), symbol=name, timeframe="1d"))


@settings(max_examples=150, deadline=None)
@given(
    symbol=st.one_of(
        st.text(min_size=1, max_size=30),
        st.sampled_from(["../../x", "..", "/etc/passwd", "a/../../b", "..\\..\\x", "C:\\x"]),
    )
)
def test_any_accepted_symbol_name_maps_to_a_file_inside_the_data_dir(symbol: str) -> None:
    try:
        settings_ = load_settings(PROJECT_ROOT, cli_overrides={"symbols": {symbol: {}}})
    except ConfigError:
        return
    data_dir = settings_.path(settings_.paths.data_dir)
    path = replay_file(settings_, symbol, settings_.symbols[symbol])
    assert path.parent == data_dir and path.name not in ("", ".", "..")
