"""The column-wise fast path never changes what a file means: it gives exactly the strict
reader's bars, or declines and the strict reader decides (accepting or naming the bad line)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_daemon.errors import DataError
from peaktrade_daemon.market.bars import Bars
from peaktrade_daemon.market.ohlcv_columns import parse_regular
from peaktrade_daemon.market.ohlcv_csv import parse_ohlcv_csv, parse_rows
from tests.market.samples import NAMES, SAMPLES_DIR

PATH = Path("x.csv")
COLUMNS = ("timestamps", "open", "high", "low", "close", "volume")


def strict(raw: bytes) -> Bars | str:
    try:
        return parse_rows(PATH, raw, symbol="X", timeframe="1h")
    except DataError as exc:
        return f"DataError: {exc}"


def combined(raw: bytes) -> Bars | str:
    try:
        return parse_ohlcv_csv(PATH, raw, symbol="X", timeframe="1h")
    except DataError as exc:
        return f"DataError: {exc}"


def assert_same_bars(a: Bars, b: Bars) -> None:
    for name in COLUMNS:
        left, right = getattr(a, name), getattr(b, name)
        assert left.dtype == right.dtype, name
        np.testing.assert_array_equal(left, right, err_msg=name)
    assert (a.symbol, a.timeframe, a.as_of, a.source) == (b.symbol, b.timeframe, b.as_of, b.source)


def assert_agrees(raw: bytes) -> Bars | None:
    """The fast path's answer is the strict reader's, and so is the reader's as a whole."""
    fast = parse_regular(PATH, raw, symbol="X", timeframe="1h")
    reference = strict(raw)
    if fast is not None:
        assert isinstance(reference, Bars), (
            f"fast path accepted what the strict reader refuses: {reference}"
        )
        assert_same_bars(fast, reference)
    whole = combined(raw)
    if isinstance(reference, Bars):
        assert isinstance(whole, Bars)
        assert_same_bars(whole, reference)
    else:
        assert whole == reference
    return fast


@pytest.mark.parametrize("name", NAMES)
def test_the_samples_take_the_fast_path_and_read_the_same(name: str) -> None:
    raw = (SAMPLES_DIR / f"{name}.csv").read_bytes()
    assert assert_agrees(raw) is not None


@pytest.mark.parametrize(
    ("text", "fast"),
    [
        (",Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10.5,100\n", True),
        ("\ufeffDate,open,HIGH,low,Close,volume\r\n2024-01-02 10:00:00,10,11,9,10.5,100\r\n", True),
        ("t,close,volume,open,high,low,extra\n2024-01-02T10:00:00,10.5,1e2,10,11,9,3\n", True),
        (",Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10.5,100\n\n\n", True),
        (",Open,High,Low,Close,Volume\r2024-01-02,10,11,9,10.5,100\r", False),  # bare CR
        (",Open,High,Low,Close,Volume\n\n2024-01-02,10,11,9,10.5,100\n", False),  # blank line
        (',Open,High,Low,Close,Volume\n"2024-01-02",10,11,9,10.5,100\n', False),  # quotes
        (",Open,High,Low,Close,Volume\n2024-01-02T10:00:00+01:00,10,11,9,10.5,100\n", False),
        (",Open,High,Low,Close,Volume\n2024-01-02 10:00,10,11,9,10.5,100\n", False),
        (",Open,High,Low,Close,Volume\n2024-02-30,10,11,9,10.5,100\n", False),  # no such day
        (",Open,High,Low,Close,Volume\n2023-02-29,10,11,9,10.5,100\n", False),  # not a leap year
        (",Open,High,Low,Close,Volume\n2024-02-29,10,11,9,10.5,100\n", True),
        (",Open,High,Low,Close,Volume\n2024-01-02 24:00:00,10,11,9,10.5,100\n", False),
        (",Open,High,Low,Close,Volume\n1677-01-02,10,11,9,10.5,100\n", False),  # ns range edge
        (",Open,High,Low,Close,Volume\n2024-01-02,10,11,9,nan,100\n", False),
        (",Open,High,Low,Close,Volume\n2024-01-02,10,11,9,1e999,100\n", False),
        (",Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10.5,1_000\n", False),
        (",Open,High,Low,Close,Volume\n2024-01-02,10,11,9,,100\n", False),
        (",Open,High,Low,Close,Volume\n2024-01-02,10,11,9,12,100\n", False),  # close > high
        (",Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10.5,-5\n", False),
        (",Open,High,Low,Close,Volume\n2024-01-02,10,11,0,10.5,5\n", False),
        (",Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10.5,-0\n", True),
        (",Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10,1\n2024-01-02,10,11,9,10,1\n", False),
        (",Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10,1,7\n", False),  # 7 fields
        (",Open,High,Low,Close\n2024-01-02,10,11,9,10\n", False),
        (",Open,High,Low,Close,Volume\n", False),
    ],
)
def test_what_the_fast_path_takes_and_what_it_leaves(text: str, fast: bool) -> None:
    result = assert_agrees(text.encode())
    assert (result is not None) == fast


def test_a_field_longer_than_the_csv_limit_is_left_to_the_strict_reader() -> None:
    long = "1" * 131_073
    raw = f",Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10,{long}\n".encode()
    assert assert_agrees(raw) is None
    assert "not readable as CSV" in str(combined(raw))


@st.composite
def regular_files(draw: st.DrawFn) -> bytes:
    """Mostly regular files: shuffled columns, varied number forms, two timestamp forms."""
    rows = draw(st.integers(1, 25))
    hourly = draw(st.booleans())
    sep = draw(st.sampled_from([" ", "T"]))
    start = np.datetime64("2020-02-27") + np.timedelta64(draw(st.integers(0, 400)), "D")
    step = np.timedelta64(1, "h") if hourly else np.timedelta64(1, "D")
    stamps = [start + i * step for i in range(rows)]
    order = draw(st.permutations(["Open", "High", "Low", "Close", "Volume"]))
    extra = draw(st.booleans())
    header = ",".join(["", *order, *(["Adj"] if extra else [])])
    number = st.one_of(
        st.integers(1, 10_000).map(str),
        st.floats(0.01, 10_000, allow_nan=False).map(lambda v: f"{v:.5f}"),
        st.floats(0.01, 10_000, allow_nan=False).map(repr),
        st.floats(0.01, 100, allow_nan=False).map(lambda v: f"{v:e}"),
    )
    lines = [header]
    for stamp in stamps:
        text = str(stamp.astype("datetime64[s]")).replace("T", sep)
        if not hourly:
            text = text[:10]
        low = float(draw(number))
        values = {"Low": low, "Open": low * 1.01, "Close": low * 1.02, "High": low * 1.03}
        cells = {k: repr(v) for k, v in values.items()} | {"Volume": draw(number)}
        lines.append(",".join([text, *(cells[c] for c in order), *(["1"] if extra else [])]))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return (ending.join(lines) + ending).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(regular_files())
def test_regular_files_are_read_as_the_strict_reader_reads_them(raw: bytes) -> None:
    assert assert_agrees(raw) is not None


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    regular_files(),
    st.lists(
        st.tuples(
            st.integers(0, 10_000),
            st.sampled_from(["", *'0123456789.,+-eE:T \n\r"x\x00-', "\ufeff", "é"]),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_any_damage_is_read_as_the_strict_reader_reads_it(
    raw: bytes, edits: list[tuple[int, str]]
) -> None:
    data = bytearray(raw)
    for position, text in edits:
        at = position % (len(data) + 1)
        data[at : at + 1] = text.encode()  # replace one byte (or delete it, or append)
    assert_agrees(bytes(data))


def test_a_long_file_is_read_whole() -> None:
    # Twenty thousand lines read as the strict reader reads them, and one bad date far down
    # still sends the file there.
    lines = 20_000
    start = np.datetime64("2020-01-01T00:00:00")
    stamps = [str(start + np.timedelta64(i, "h")).replace("T", " ") for i in range(lines)]
    rows = [f"{stamp},10,11,9,10.5,{i}" for i, stamp in enumerate(stamps)]
    raw = ("\n".join([",Open,High,Low,Close,Volume", *rows]) + "\n").encode()
    fast = assert_agrees(raw)
    assert fast is not None and len(fast) == lines
    late = 17_007
    rows[late] = rows[late].replace(stamps[late][:10], stamps[late][:8] + "32")
    assert (
        assert_agrees(("\n".join([",Open,High,Low,Close,Volume", *rows]) + "\n").encode()) is None
    )
