"""The strict OHLCV CSV reader: real samples load, every kind of bad data names file and line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peaktrade_daemon.errors import DataError
from peaktrade_daemon.market.bars import to_ns
from peaktrade_daemon.market.ohlcv_csv import parse_ohlcv_csv, read_ohlcv_csv
from tests.market.samples import NAMES, SAMPLES_DIR, frame

HEADER = ",Open,High,Low,Close,Volume\n"
GOOD = "2024-01-02,10,11,9,10.5,100\n2024-01-03,10.5,12,10,11,120\n"


def parse(text: str | bytes) -> object:
    raw = text.encode() if isinstance(text, str) else text
    return parse_ohlcv_csv(Path("x.csv"), raw, symbol="X", timeframe="1d")


@pytest.mark.parametrize("name", NAMES)
def test_real_samples_load_exactly(name: str) -> None:
    bars = read_ohlcv_csv(SAMPLES_DIR / f"{name}.csv", symbol=name, timeframe="1d")
    df = frame(name)
    assert len(bars) == len(df)
    np.testing.assert_array_equal(bars.close, df.Close.to_numpy())
    np.testing.assert_array_equal(bars.volume, df.Volume.to_numpy(dtype=float))
    assert bars.timestamps[0] == to_ns(df.index[0].to_pydatetime())
    assert bars.as_of == bars.last_time


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("2024-01-02,10,11,9,nan,100\n", 2, "NaN and infinity"),
        ("2024-01-02,10,inf,9,10,100\n", 2, "NaN and infinity"),
        ("2024-01-02,10,11,9,10,100\n2024-01-03,-1,11,-2,10,100\n", 3, "zero or negative"),
        ("2024-01-02,10,11,9,10,-5\n", 2, "negative"),
        ("2024-01-02,10,11,9,12,100\n", 2, "inconsistent bar"),
        (GOOD + "2024-01-03,10,11,9,10,1\n", 4, "duplicate"),
        (GOOD + "2024-01-01,10,11,9,10,1\n", 4, "unsorted"),
        ("2024-13-02,10,11,9,10,100\n", 2, "not an ISO 8601"),
        ("2024-01-02,10,11,9,ten,100\n", 2, "'ten' is not a number"),
        ("2024-01-02,10,11,9,10\n", 2, "5 fields, the header has 6"),
        ("", 0, "no bars"),
    ],
)
def test_bad_rows_are_refused_naming_file_and_line(body: str, line: int, words: str) -> None:
    with pytest.raises(DataError) as info:
        parse(HEADER + body)
    message = str(info.value)
    assert message.startswith("x.csv")
    if line:
        assert f"line {line}:" in message
    assert words in message


def test_wrong_encoding_names_the_line() -> None:
    raw = (HEADER + GOOD).encode() + "2024-01-04,1,1,1,1,1 caf\xe9\n".encode("latin-1")
    with pytest.raises(DataError, match=r"x\.csv: line 4: not UTF-8"):
        parse(raw)


def test_missing_column_is_named() -> None:
    with pytest.raises(DataError, match="header lacks column\\(s\\) volume"):
        parse(",Open,High,Low,Close\n2024-01-02,10,11,9,10\n")


def test_bom_blank_lines_named_header_and_aware_times() -> None:
    text = "\ufefftime,close,open,high,low,volume\n\n2024-01-02T10:00:00+01:00,10.5,10,11,9,100\n\n"
    bars = parse(text)
    assert bars.close.tolist() == [10.5]  # type: ignore[attr-defined]
    assert bars.last_time.isoformat() == "2024-01-02T09:00:00+00:00"  # type: ignore[attr-defined]


def test_a_bad_byte_after_a_byte_order_mark_names_the_files_line_and_byte() -> None:
    """Found by fuzzing: utf-8-sig counts from after the mark, so a bad byte in a line's first
    three bytes was blamed on the line before."""
    raw = b"\xef\xbb\xbf" + (HEADER + GOOD).encode() + b"\xff024-01-04,1,1,1,1,1\n"
    offset = raw.index(b"\xff")
    with pytest.raises(DataError, match=rf"x\.csv: line 4: not UTF-8 text \(byte {offset}\)"):
        parse(raw)
