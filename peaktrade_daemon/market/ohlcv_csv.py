"""Reading OHLCV CSV files (the replay feed's format), strictly.

Format: UTF-8 text (a byte-order mark is allowed), a header row, then one bar per row. The first
column is the timestamp (its header may be empty, as in the shipped samples, or any name); the
other columns are ``Open``, ``High``, ``Low``, ``Close``, ``Volume`` in any order and any letter
case. Timestamps are ISO 8601 dates or date-times; naive ones are UTC, aware ones are converted to
UTC. Blank lines are ignored.

Invalid data is rejected, never cleaned: market data we would have to guess about is not data to
trade on (fail closed). Each of these raises :class:`~peaktrade_daemon.errors.DataError` naming the
file and the line (1-based, the header is line 1):

- text that is not UTF-8; a missing column; a row with the wrong number of fields;
- an unparseable timestamp or number; NaN or infinite values; a price <= 0; a volume < 0;
- a bar whose high is below its open, close or low, or whose low is above its open or close;
- a timestamp equal to (duplicate) or earlier than (unsorted) the one before it, or outside the
  years 1677 to 2262 (int64 nanoseconds);
- text the CSV reader refuses (a field over its size limit);
- a file with no bars.

Line endings may be LF, CRLF or a bare CR.

A feed that serves "the latest N bars" reads only what it serves: :func:`parse_ohlcv_tail`
parses the header and the file's last ``rows`` lines, with every rule above, and leaves the
older lines unread while those are sound. Years of hourly history cost a first cycle what its
window costs, not what the file costs.
"""

from __future__ import annotations

import csv
import io
import math
from array import array
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from peaktrade_daemon.errors import DataError
from peaktrade_daemon.market.bars import Bars, from_ns, in_ns_range, to_ns
from peaktrade_daemon.market.ohlcv_columns import parse_regular

COLUMNS = ("open", "high", "low", "close", "volume")
_BOM = b"\xef\xbb\xbf"
_NL = ord("\n")
#: Bytes per line a tail read looks at first (the hourly samples' lines are 56).
_LINE_GUESS = 128


def _fail(path: Path, line: int, problem: str) -> DataError:
    return DataError(f"{path}: line {line}: {problem}")


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # utf-8-sig counts from after the byte-order mark; the file's offset includes it.
        at = exc.start + (len(_BOM) if raw.startswith(_BOM) else 0)
        line = raw.count(b"\n", 0, at) + 1
        raise _fail(path, line, f"not UTF-8 text (byte {at}); re-save the file as UTF-8") from exc


def _timestamp(path: Path, line: int, text: str) -> int:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise _fail(path, line, f"timestamp {text!r} is not an ISO 8601 date or date-time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    stamp = to_ns(moment)
    if not in_ns_range(stamp):
        raise _fail(path, line, f"timestamp {text.strip()!r} is outside the years 1677 to 2262")
    return stamp


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise _fail(path, line, f"{column} {text!r} is not a number") from exc
    if not math.isfinite(value):
        raise _fail(path, line, f"{column} is {text.strip()} (NaN and infinity are not prices)")
    return value


def _rows(path: Path, reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """``(line, fields)`` per record; the reader's own errors become a DataError naming the line."""
    line = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _fail(path, line, f"not readable as CSV ({exc})") from exc
        yield line, fields
        line += 1


def parse_ohlcv_csv(path: Path, raw: bytes, *, symbol: str, timeframe: str) -> Bars:
    """Parse and validate the bytes of one OHLCV CSV file (see the module docstring)."""
    # Most files have one regular shape that numpy parses a column at a time; the row-by-row
    # reader handles every other file and names the first bad line.
    regular = parse_regular(path, raw, symbol=symbol, timeframe=timeframe)
    if regular is not None:
        return regular
    return parse_rows(path, raw, symbol=symbol, timeframe=timeframe)


def _tail_cut(raw: bytes, rows: int) -> tuple[int, int] | None:
    """``(end of the header line, start of the last rows lines)`` as byte offsets, or None when
    the tail is the whole file or lines are not plainly records: a quote (a quoted field may
    hold a line feed), a bare CR (it ends a record too), a first line that is not the header
    (the strict reader skips blank lines before it)."""
    header_end = raw.find(b"\n") + 1
    if rows < 1 or not header_end or b"open" not in raw[:header_end].lower() or b'"' in raw:
        return None
    if b"\r" in raw and raw.count(b"\r") != raw.count(b"\r\n"):
        return None
    end = len(raw.rstrip(b"\r\n"))  # trailing line feeds end the file, they are no rows
    if end < header_end:
        return None  # no line after the header
    # The line feeds of a stretch of the file's end, widened until it holds ``rows`` of them
    # (or reaches the header's): one numpy pass over what the tail is made of.
    span = _LINE_GUESS * rows
    while True:
        low = max(header_end - 1, end - span)
        feeds = np.flatnonzero(np.frombuffer(raw, np.uint8, end - low, low) == _NL)
        if len(feeds) >= rows:
            at = low + int(feeds[-rows])  # the line feed before the tail's first line
            return None if at < header_end else (header_end, at + 1)
        if low == header_end - 1:
            return None
        span *= 4


def parse_ohlcv_tail(
    path: Path, raw: bytes, *, symbol: str, timeframe: str, rows: int
) -> tuple[Bars, bool]:
    """The bars of the file's last ``rows`` lines, and whether they are all the file's bars.

    At least ``rows`` bars, or all the file has, each checked as :func:`parse_ohlcv_csv` checks
    a file. The rows before the tail are not read while the tail is sound (not even the order
    of its first timestamp after the row before it): what a window never reaches is not data
    the daemon uses. The whole file is parsed instead when its lines are not plainly records,
    when the tail holds fewer than ``rows`` bars (blank lines), and when the strict reader
    refuses the tail: then the error is the whole file's, naming its first bad line and byte
    as the file counts them."""
    cut = _tail_cut(raw, rows)
    if cut is not None:
        header_end, start = cut
        try:
            tail = parse_ohlcv_csv(
                path, raw[:header_end] + raw[start:], symbol=symbol, timeframe=timeframe
            )
        except DataError:
            pass  # a bad row, or blank lines only: the whole file decides (a rare path)
        else:
            if len(tail) >= rows:
                return tail, False
    return parse_ohlcv_csv(path, raw, symbol=symbol, timeframe=timeframe), True


def parse_rows(path: Path, raw: bytes, *, symbol: str, timeframe: str) -> Bars:
    """The strict reader: one row at a time, every rule checked, the first bad line named."""
    # newline="" lets the csv module see every line ending (LF, CRLF, a bare CR) itself.
    reader = csv.reader(io.StringIO(_decode(path, raw), newline=""))
    header: list[str] | None = None
    index: dict[str, int] = {}
    # Values go straight into C arrays (8 bytes each): a list of row tuples held a tuple and five
    # float objects per row at once (about 200 bytes; a MiB for the hourly EUR/USD sample), and
    # the daemon's resident memory kept that high-water mark after the first cycle.
    stamps = array("q")
    opens, highs, lows, closes, volumes = (array("d") for _ in COLUMNS)
    for line, fields in _rows(path, reader):
        if not fields or all(not f.strip() for f in fields):
            continue
        if header is None:
            header = [f.strip().lower() for f in fields]
            missing = [c for c in COLUMNS if c not in header[1:]]
            if missing:
                raise _fail(
                    path, line, f"header lacks column(s) {', '.join(missing)}; got {fields}"
                )
            index = {c: header.index(c, 1) for c in COLUMNS}
            continue
        if len(fields) != len(header):
            raise _fail(path, line, f"{len(fields)} fields, the header has {len(header)}")
        stamp = _timestamp(path, line, fields[0])
        o, h, lo, c, v = (_number(path, line, col, fields[index[col]]) for col in COLUMNS)
        if min(o, h, lo, c) <= 0:
            raise _fail(path, line, "a price is zero or negative")
        if v < 0:
            raise _fail(path, line, f"volume {v} is negative")
        if h < max(o, c, lo) or lo > min(o, c):
            raise _fail(path, line, f"inconsistent bar: high {h} low {lo} open {o} close {c}")
        if stamps and stamp <= stamps[-1]:
            what = (
                "duplicate" if stamp == stamps[-1] else "earlier than the previous row (unsorted)"
            )
            raise _fail(path, line, f"timestamp {fields[0].strip()} is {what}")
        stamps.append(stamp)
        opens.append(o)
        highs.append(h)
        lows.append(lo)
        closes.append(c)
        volumes.append(v)
    if header is None or not stamps:
        raise DataError(f"{path}: no bars in the file")
    return Bars(
        symbol=symbol,
        timeframe=timeframe,
        timestamps=np.array(stamps, dtype=np.int64),
        open=np.array(opens, dtype=np.float64),
        high=np.array(highs, dtype=np.float64),
        low=np.array(lows, dtype=np.float64),
        close=np.array(closes, dtype=np.float64),
        volume=np.array(volumes, dtype=np.float64),
        as_of=from_ns(stamps[-1]),
        source=str(path),
    )


def read_ohlcv_csv(path: Path, *, symbol: str, timeframe: str) -> Bars:
    """Read and parse one file; a missing or unreadable file is a DataError naming it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read market data: {exc.strerror}") from exc
    return parse_ohlcv_csv(path, raw, symbol=symbol, timeframe=timeframe)
