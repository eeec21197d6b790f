"""The tail read: a file's last ``rows`` lines give exactly the whole file's last bars, every
rule is checked on them with the file's own line numbers, and lines before them are not read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_daemon.errors import DataError
from peaktrade_daemon.market.bars import Bars
from peaktrade_daemon.market.ohlcv_csv import parse_ohlcv_csv, parse_ohlcv_tail
from tests.market.samples import NAMES, SAMPLES_DIR
from tests.market.test_ohlcv_columns import COLUMNS, regular_files

PATH = Path("x.csv")
HEADER = ",Open,High,Low,Close,Volume\n"


def tail(raw: bytes, rows: int) -> tuple[Bars, bool]:
    return parse_ohlcv_tail(PATH, raw, symbol="X", timeframe="1h", rows=rows)


def whole(raw: bytes) -> Bars:
    return parse_ohlcv_csv(PATH, raw, symbol="X", timeframe="1h")


def assert_suffix(part: Bars, full: Bars, rows: int) -> None:
    """``part`` is at least the last ``rows`` bars of ``full`` (all of them if it has fewer),
    bit for bit, and its newest bar is the file's."""
    assert min(rows, len(full)) <= len(part) <= len(full)
    for name in COLUMNS:
        np.testing.assert_array_equal(getattr(part, name), getattr(full, name)[-len(part) :])
    assert part.as_of == full.as_of and part.source == full.source


def bars_file(count: int) -> str:
    days = np.datetime64("2024-01-01") + np.arange(count)
    return HEADER + "".join(f"{d},10,11,9,10.5,{100 + i}\n" for i, d in enumerate(days))


@pytest.mark.parametrize("name", NAMES)
def test_the_samples_tail_is_the_files_last_bars(name: str) -> None:
    raw = (SAMPLES_DIR / f"{name}.csv").read_bytes()
    full = whole(raw)
    for rows in (1, 50, 500, len(full) - 1, len(full), len(full) + 5):
        part, is_whole = tail(raw, rows)
        assert_suffix(part, full, rows)
        assert len(part) == min(rows, len(full))
        assert is_whole == (rows >= len(full))


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("2024-03-01,10,11,9,nan,1", "NaN and infinity"),  # refused by the column-wise path
        ("2024-03-01,10,11,9,ten,1", "'ten' is not a number"),  # and by the row reader
        ("2024-03-01,10,11,9,10", "5 fields, the header has 6"),
        ("2024-03-01,10,11,9,12,1", "inconsistent bar"),
        ("2023-12-01,10,11,9,10,1", "unsorted"),
    ],
)
def test_a_bad_line_in_the_tail_is_named_by_its_line_in_the_file(damage: str, words: str) -> None:
    lines = bars_file(100).splitlines()
    lines[95] = damage  # line 96 of the file, inside the last 10
    with pytest.raises(DataError, match=rf"^x\.csv: line 96: .*{words}"):
        tail(("\n".join(lines) + "\n").encode(), 10)


def test_text_that_is_not_utf8_in_the_tail_names_its_line_and_byte() -> None:
    raw = bars_file(100).encode() + "2024-04-10,1,1,1,1,1 caf\xe9\n".encode("latin-1")
    with pytest.raises(DataError) as whole_file:
        whole(raw)
    with pytest.raises(DataError, match=r"x\.csv: line 102: not UTF-8") as tail_read:
        tail(raw, 10)
    assert str(tail_read.value) == str(whole_file.value)  # the same line and byte offset


def test_lines_before_the_tail_are_not_read() -> None:
    lines = bars_file(100).splitlines()
    lines[5] = "garbage,,"  # line 6: the whole file is refused, its last 10 bars are not
    raw = ("\n".join(lines) + "\n").encode()
    with pytest.raises(DataError, match="line 6"):
        whole(raw)
    part, is_whole = tail(raw, 10)
    assert len(part) == 10 and not is_whole
    assert part.volume.tolist() == [100.0 + i for i in range(90, 100)]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (bars_file(30).replace("2024-01-29,", "\n2024-01-29,"), "a blank line in the tail"),
        (bars_file(30).replace("\n", "\r"), "bare CRs end records too"),
        ("\n" + bars_file(30), "a blank first line: the header comes later"),
        (bars_file(30).replace("2024-01-02,", '"2024-01-02",'), "a quote may hold a line feed"),
    ],
)
def test_files_whose_lines_are_not_plainly_records_are_read_whole(text: str, why: str) -> None:
    raw = text.encode()
    part, is_whole = tail(raw, 5)
    assert is_whole, why
    assert_suffix(part, whole(raw), 30)


def test_trailing_line_feeds_are_no_rows() -> None:
    raw = (bars_file(30) + "\n\n").encode()
    part, is_whole = tail(raw, 5)
    assert len(part) == 5 and not is_whole
    assert part.volume[-1] == 129.0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(regular_files(), st.integers(1, 30), st.lists(st.integers(0, 30), max_size=3))
def test_any_tail_of_a_good_file_is_its_last_bars(raw: bytes, rows: int, blanks: list[int]) -> None:
    lines = raw.splitlines(keepends=True)
    for at in sorted(blanks, reverse=True):  # blank lines anywhere after the header
        lines.insert(min(1 + at, len(lines)), lines[0][-1:] if lines[0].endswith(b"\n") else b"\n")
    raw = b"".join(lines)
    assert_suffix(tail(raw, rows)[0], whole(raw), rows)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(regular_files(), st.integers(1, 30), st.integers(0, 30), st.sampled_from(["nan", "x"]))
def test_damage_is_refused_exactly_when_the_tail_holds_it(
    raw: bytes, rows: int, at: int, bad: str
) -> None:
    lines = raw.splitlines(keepends=True)
    index = 1 + at % (len(lines) - 1)  # a bar's line (0 is the header)
    ending = b"\r\n" if lines[index].endswith(b"\r\n") else b"\n"
    fields = lines[index].rstrip(b"\r\n").split(b",")
    fields[1] = bad.encode()
    damaged = b"".join([*lines[:index], b",".join(fields) + ending, *lines[index + 1 :]])
    full = whole(raw)
    if index >= len(lines) - rows:  # among the last ``rows`` lines
        with pytest.raises(DataError, match=rf"line {index + 1}:"):
            tail(damaged, rows)
    else:
        assert_suffix(tail(damaged, rows)[0], full, rows)


def test_lines_longer_than_the_first_guess_widen_the_search() -> None:
    days = np.datetime64("2024-01-01") + np.arange(40)
    pad = "7" * 300  # an extra column: lines of 330 bytes, more than the first look assumes
    text = ",Open,High,Low,Close,Volume,Note\n" + "".join(
        f"{d},10,11,9,10.5,{100 + i},{pad}\n" for i, d in enumerate(days)
    )
    raw = text.encode()
    for rows in (1, 3, 10, 39):
        part, is_whole = tail(raw, rows)
        assert not is_whole and len(part) == rows
        assert_suffix(part, whole(raw), rows)
    assert tail(raw, 40)[1]


@pytest.mark.parametrize(
    "ending", [b" \n", b",,,,,\n", "\u00a0\n".encode(), b" \r\n", b"\t", b"\n \n", b" \n\n"]
)
def test_a_tail_of_blank_looking_lines_falls_back_to_the_whole_file(ending: bytes) -> None:
    """Found by fuzzing: a tail the strict reader finds no bar in is no reason to refuse a file
    whose bars are all sound."""
    raw = bars_file(3).encode() + ending
    for rows in (1, 2):
        part, is_whole = tail(raw, rows)
        assert is_whole
        assert_suffix(part, whole(raw), 3)


def test_no_rows_asked_for_reads_the_whole_file() -> None:
    raw = bars_file(5).encode()
    assert tail(raw, 0)[1] and len(tail(raw, 0)[0]) == 5
