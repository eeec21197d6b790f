"""Column-wise parsing of OHLCV CSV files in the regular shape, the fast path of the replay feed.

A daemon replaying hundreds of symbols reads megabytes of CSV at its first cycle; the strict
reader (:mod:`peaktrade_daemon.market.ohlcv_csv`) takes a Python step per field. Almost every
real file has one regular shape, and that shape can be proved and parsed a column at a time
with numpy. :func:`parse_regular` returns the bars when the file has that shape *and* passes
every rule of the strict reader, and None otherwise; the strict reader then reads the file
itself and either accepts it (a shape this module does not handle) or names the first bad line.
So the result never depends on which path ran (``tests/market/test_ohlcv_columns.py`` checks
that both give the same bars, or the fast path declines).

The regular shape: the header (no quotes, no NUL) on the first line; then one bar per line, LF
or CRLF endings, no blank line except at the end; the body made of ASCII digits, ``. , + - e E
: T``, space and line feeds only; every line with as many commas as the header; the timestamp
first, in one form throughout: ``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM:SS`` (``T`` or a space
between date and time), naive (UTC), years 1678 to 2261. Numbers are parsed by ``np.loadtxt``,
which accepts exactly what ``float()`` accepts over that alphabet.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import numpy.typing as npt

from peaktrade_daemon.market.bars import NS_PER_S, Bars, FloatArray, IntArray, from_ns

COLUMNS = ("open", "high", "low", "close", "volume")
_BOM = b"\xef\xbb\xbf"
_BODY_BYTES = b"0123456789.,+-eE:T \n"
_NL, _COMMA = ord("\n"), ord(",")
#: Byte offsets of the digits of YYYY-MM-DD[ HH:MM:SS].
_DIGITS = {10: [0, 1, 2, 3, 5, 6, 8, 9], 19: [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]}
#: Byte offsets and values of the fixed punctuation, and of the comma after the field.
_FIXED = {
    width: (
        [*offsets, width],
        np.frombuffer(bytes([*(ord(c) for c in chars), ord(",")]), dtype=np.uint8),
    )
    for width, offsets, chars in ((10, [4, 7], "--"), (19, [4, 7, 13, 16], "--::"))
}


def _place_values(sizes: tuple[int, ...]) -> npt.NDArray[np.int64]:
    """A ``(digits, parts)`` matrix: the digits of a row times it give each part's number
    (sizes 4, 2, 2: Y Y Y Y M M D D -> year, month, day)."""
    matrix = np.zeros((sum(sizes), len(sizes)), dtype=np.int64)
    row = 0
    for part, size in enumerate(sizes):
        for k in range(size):
            matrix[row, part] = 10 ** (size - 1 - k)
            row += 1
    return matrix


#: Digits to (year, month, day[, hour, minute, second]).
_PLACES = {10: _place_values((4, 2, 2)), 19: _place_values((4, 2, 2, 2, 2, 2))}
#: Lines whose leading bytes one gather takes: an index of 2048 x 20 int64 is 320 KiB.
_GATHER_LINES = 2048
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
#: Strictly inside the years int64 nanoseconds hold (1677-09-21 .. 2262-04-11).
_YEARS = (1678, 2261)

U8Array = npt.NDArray[np.uint8]


def _header(line: bytes) -> list[str] | None:
    """The header's lower-cased names, as the strict reader derives them, or None."""
    if b'"' in line or b"\x00" in line:
        return None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    names = [f.strip().lower() for f in text.split(",")]
    if not any(names) or any(c not in names[1:] for c in COLUMNS):
        return None
    return names


def _line_bounds(body: U8Array, fields: int) -> tuple[IntArray, IntArray] | None:
    """Start and end (exclusive) offsets of every line of ``body`` (no trailing newline), or
    None unless every line has ``fields`` fields and no field is longer than the csv module
    takes (the strict reader then names the line)."""
    # Temporaries are kept few and small: the worker thread's heap keeps its high-water mark,
    # and a daemon's resident memory with it.
    newlines = np.flatnonzero(body == _NL)
    ends = np.append(newlines, len(body))
    starts = np.concatenate(([0], newlines + 1))
    commas = np.flatnonzero(body == _COMMA)
    # Every line has ``fields - 1`` commas exactly when there are that many per line in all
    # and each line feed falls between the last comma of its line and the first of the next
    # (by induction over the lines): two gathers instead of a search per line end and start.
    per_line = fields - 1
    if len(commas) != len(starts) * per_line:
        return None
    if len(newlines):
        before = commas[per_line - 1 : -1 : per_line]  # the last comma of each line but the last
        after = commas[per_line::per_line]  # the first comma of each line but the first
        if np.any(before > newlines) or np.any(after < newlines):
            return None
    limit = csv.field_size_limit()
    if int((ends - starts).max()) > limit:  # a field is no longer than its line: look closer
        separators = np.sort(np.concatenate((commas, newlines)))
        if np.diff(separators, prepend=-1, append=len(body)).max() - 1 > limit:
            return None
    return starts, ends


def _days_from_civil(year: IntArray, month: IntArray, day: IntArray) -> IntArray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's ``days_from_civil``)."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    days: IntArray = era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468
    return days


def _leading_bytes(body: U8Array, starts: IntArray, count: int) -> U8Array:
    """The first ``count`` bytes of every line as a ``(lines, count)`` array (every line is
    longer), gathered ``_GATHER_LINES`` lines at a time: the index temporary stays small even
    for a whole file (a whole file's index at once cost 5 MiB of RSS at 500 symbols)."""
    out = np.empty((len(starts), count), dtype=np.uint8)
    offsets = np.arange(count)
    for top in range(0, len(starts), _GATHER_LINES):
        chunk = starts[top : top + _GATHER_LINES]
        np.take(body, chunk[:, None] + offsets, out=out[top : top + len(chunk)])
    return out


def _timestamps(body: U8Array, starts: IntArray, ends: IntArray, width: int) -> IntArray | None:
    """UTC nanoseconds of the first field (``width`` bytes) of every line, or None when one is
    not in the regular form or not a real date and time."""
    if width not in _DIGITS or np.any(ends - starts <= width):
        return None
    # The field and the comma after it, a row per line: each check below is one operation over
    # all lines and byte offsets, and the calendar fields come out of one product.
    field = _leading_bytes(body, starts, width + 1)
    fixed = _FIXED[width]
    if np.any(field[:, fixed[0]] != fixed[1]):
        return None
    if width == 19:
        sep = field[:, 10]
        if np.any((sep != ord(" ")) & (sep != ord("T"))):
            return None
    digits = field[:, _DIGITS[width]] - np.uint8(ord("0"))  # a non-digit wraps above 9
    if np.any(digits > 9):
        return None
    parts = digits.astype(np.int64) @ _PLACES[width]  # year, month, day[, hour, minute, second]
    year, month, day = parts[:, 0], parts[:, 1], parts[:, 2]
    if np.any((year < _YEARS[0]) | (year > _YEARS[1]) | (month < 1) | (month > 12) | (day < 1)):
        return None
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    if np.any(day > _MONTH_DAYS[month] + (leap & (month == 2))):
        return None
    seconds = _days_from_civil(year, month, day) * 86_400
    if width == 19:
        hour, minute, second = parts[:, 3], parts[:, 4], parts[:, 5]
        if np.any((hour > 23) | (minute > 59) | (second > 59)):
            return None
        seconds += hour * 3600 + minute * 60 + second
    stamps: IntArray = seconds * NS_PER_S
    return stamps


def _numbers(body: bytes, columns: tuple[int, ...]) -> FloatArray | None:
    """The values of ``columns`` (field indices) per line, or None when a field is no number."""
    try:
        # From bytes with an encoding, loadtxt decodes a chunk at a time: a text copy of the
        # whole file (four bytes a character in StringIO) was a megabyte's transient peak.
        values: FloatArray = np.loadtxt(
            io.BytesIO(body),
            encoding="ascii",
            delimiter=",",
            usecols=columns,
            dtype=np.float64,
            comments=None,
            ndmin=2,
        )
    except ValueError:
        return None
    return values


def _valid_bars(o: FloatArray, h: FloatArray, lo: FloatArray, c: FloatArray, v: FloatArray) -> bool:
    """The strict reader's value rules, for every bar at once."""
    values = np.stack((o, h, lo, c, v))
    if not np.isfinite(values).all() or (values[:4] <= 0).any() or (v < 0).any():
        return False
    return not ((h < np.maximum(np.maximum(o, c), lo)) | (lo > np.minimum(o, c))).any()


def parse_regular(path: Path, raw: bytes, *, symbol: str, timeframe: str) -> Bars | None:
    """The bars of a file in the regular shape that passes every rule of the strict reader;
    None when it is not in that shape or breaks a rule (see the module docstring)."""
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    if b"\r" in raw:
        if raw.count(b"\r") != raw.count(b"\r\n"):
            return None  # bare CRs: the csv module's business
        raw = raw.replace(b"\r\n", b"\n")
    split = raw.find(b"\n")
    if split <= 0:
        return None
    names = _header(raw[:split])
    body = raw[split + 1 :].rstrip(b"\n")
    # A blank line needs no search of its own (a third of the time the checks take before
    # the numbers): it has no comma, and _line_bounds refuses a line without the header's.
    if names is None or not body or body.translate(None, _BODY_BYTES):
        return None
    array = np.frombuffer(body, dtype=np.uint8)
    bounds = _line_bounds(array, len(names))
    if bounds is None:
        return None
    starts, ends = bounds
    stamps = _timestamps(array, starts, ends, body.find(b","))
    if stamps is None or np.any(np.diff(stamps) <= 0):
        return None
    values = _numbers(body, tuple(names.index(c, 1) for c in COLUMNS))
    if values is None or len(values) != len(stamps):
        return None
    o, h, lo, c, v = (np.ascontiguousarray(values[:, i]) for i in range(len(COLUMNS)))
    if not _valid_bars(o, h, lo, c, v):
        return None
    return Bars(
        symbol=symbol,
        timeframe=timeframe,
        timestamps=stamps,
        open=o,
        high=h,
        low=lo,
        close=c,
        volume=v,
        as_of=from_ns(int(stamps[-1])),
        source=str(path),
    )
