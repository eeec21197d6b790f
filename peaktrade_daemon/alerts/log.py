"""The alert log ``logs/autonomous_alerts.log``: one tab-separated line per alert (§6).

Fields: ISO-8601 UTC timestamp, level, source, message, compact JSON context. Backslash, tab,
newline and carriage return inside any field are escaped (``\\\\``, ``\\t``, ``\\n``, ``\\r``), so a
line is always exactly five fields and one line, whatever a message contains; :func:`parse_line`
reverses it. The file is opened append-only and line-buffered, so each alert reaches the file as
one ``write`` when it is emitted and ``tail -f`` sees whole lines. ``reopen`` closes and reopens the
path (SIGHUP after logrotate moved the file away). With a size limit (``[logs] max_bytes``, for
hosts without logrotate) the daemon's writer rotates the file between two lines, by renaming it
(:mod:`peaktrade_daemon.rotation`); one-shot commands appending an alert never rotate.

Writes happen on the event loop: one short append to a local file costs microseconds, the same
trade-off the ``logging`` module makes, and it keeps the line's order identical to emit order.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from peaktrade_daemon.alerts.model import Alert, AlertLevel
from peaktrade_daemon.errors import present
from peaktrade_daemon.rotation import rotation_due, shift_backups

logger = logging.getLogger(__name__)

_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
#: What must not reach a log line or a terminal raw: the TSV separators, every other control
#: character (a NUL starts a new journald record, whose "<0>" would be read as a priority; ESC
#: drives the terminal), DEL, the C1 controls and the Unicode line separators.
_UNSAFE = re.compile(r"[\\\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(match: re.Match[str]) -> str:
    c = match.group()
    return _ESCAPES.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def escape_field(text: str) -> str:
    r"""Make ``text`` safe as one TSV field on one line: backslash, tab, LF and CR as ``\\``,
    ``\t``, ``\n``, ``\r``, any other control character as ``\xNN`` (``\uNNNN``)."""
    return _UNSAFE.sub(_escaped, text)


def unescape_field(text: str) -> str:
    """Reverse :func:`escape_field`."""
    if "\\" not in text:
        return text
    out: list[str] = []
    chars = iter(text)
    for c in chars:
        if c == "\\":
            nxt = next(chars, "")
            if nxt in ("x", "u"):
                digits = "".join(next(chars, "") for _ in range(2 if nxt == "x" else 4))
                try:
                    out.append(chr(int(digits, 16)))
                except ValueError:
                    out.append("\\" + nxt + digits)
                continue
            out.append(_UNESCAPES.get(nxt, "\\" + nxt))
        else:
            out.append(c)
    return "".join(out)


def format_timestamp(when: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a ``Z`` suffix."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def compact_json(context: dict[str, Any]) -> str:
    """Context as compact, key-sorted JSON; values JSON cannot express are written as strings."""
    return json.dumps(
        context, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False
    )


def format_line(alert: Alert) -> str:
    """The log line for ``alert``, with its trailing newline."""
    fields = (
        format_timestamp(alert.timestamp),
        str(alert.level),
        alert.source,
        alert.message,
        compact_json(alert.context),
    )
    return "\t".join(escape_field(f) for f in fields) + "\n"


def parse_line(line: str) -> Alert:
    """Read back one log line; raises ``ValueError`` for a line that is not five fields."""
    parts = line.rstrip("\n").split("\t")
    if len(parts) != 5:
        raise ValueError(f"alert log line has {len(parts)} fields, expected 5")
    ts, level, source, message, context = (unescape_field(p) for p in parts)
    try:
        found = json.loads(context)
    except RecursionError as exc:  # a context nested 100,000 deep (a tampered log)
        raise ValueError("alert log line's context nests too deep") from exc
    return Alert(
        timestamp=datetime.fromisoformat(ts),
        level=AlertLevel(level),
        source=source,
        message=message,
        context=found,
    )


class AlertLog:
    """The append-only alert log file; opened lazily, reopened on request, rotated past
    ``max_bytes`` when that is set (keeping ``backups`` renamed copies)."""

    def __init__(self, path: Path, *, max_bytes: int = 0, backups: int = 1) -> None:
        self.path = path
        self._file: TextIO | None = None
        self.max_bytes, self.backups = max_bytes, max(1, backups)

    def rotate_at(self, max_bytes: int, backups: int) -> None:
        """Change the size limit (a reload of ``[logs]``); 0 never rotates."""
        self.max_bytes, self.backups = max_bytes, max(1, backups)

    def _open(self) -> TextIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # buffering=1: line-buffered, every alert is flushed as one whole line.
        return self.path.open("a", buffering=1, encoding="utf-8")

    def write(self, alert: Alert) -> None:
        """Append one line; an I/O error is logged, never raised (alerts must not crash callers)."""
        line = format_line(alert)
        try:
            if self._file is None:
                self._file = self._open()
            if self.max_bytes and self._rotation_due(line):
                self.close()
                try:
                    shift_backups(self.path, self.backups)
                except OSError as exc:  # the line still goes to the file at the path
                    logger.error("cannot rotate alert log %s: %s", self.path, exc)
                self._file = self._open()
            self._file.write(line)
        except OSError as exc:
            logger.error("cannot write alert log %s: %s", self.path, exc)

    def _rotation_due(self, line: str) -> bool:
        file = present(self._file, "the open alert log")
        size = len(line.encode("utf-8"))
        return rotation_due(file.fileno(), self.path, size, self.max_bytes)

    def reopen(self, path: Path | None = None) -> None:
        """Close and reopen (logrotate), optionally at a new path (reload changed it)."""
        self.close()
        if path is not None:
            self.path = path

    def close(self) -> None:
        """Flush and close the file; the next write opens it again."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:
                logger.error("cannot close alert log %s: %s", self.path, exc)
            self._file = None
