"""How every log line looks, and which lines reach stderr.

A line is ``<UTC ISO-8601 time>Z LEVEL logger: message``, one line per event: a traceback or a
message with line breaks is folded into the same line (``\\n``), because journald and every
line-oriented tool would otherwise cut one event into several, the later ones without a level.
On a journal stream (:mod:`peaktrade_daemon.journal`) each line starts with its ``<N>`` syslog
priority.

Stderr's level: DEBUG with ``--verbose`` (the daemon's own DEBUG lines; the libraries' only
with ``PEAKTRADE_LOG_STDERR_LEVEL=DEBUG``, else one ``--once`` is hundreds of them); else
``PEAKTRADE_LOG_STDERR_LEVEL`` when set (the Docker image sets INFO, so ``docker logs`` shows
the daemon's INFO lines); else INFO when stderr is the journal (``journalctl -p warning`` then
filters); else WARNING (a terminal: INFO goes to ``logs/daemon.log`` only).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from typing import IO, Any

from peaktrade_daemon import journal
from peaktrade_daemon.errors import ConfigError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STDERR_LEVEL_ENV = "PEAKTRADE_LOG_STDERR_LEVEL"
LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING}
LEVELS |= {"ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL}


#: Control characters besides tab: a NUL starts a new journald record (whose "<0>" would be
#: read as its priority), ESC and BEL drive the terminal, LF and CR cut the line.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _shown(match: re.Match[str]) -> str:
    c = match.group()
    if c in "\n\r":
        return "\\n" if c == "\n" else "\\r"
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def one_line(text: str) -> str:
    """``text`` as one line that is safe on a terminal and the journal: LF and CR as ``\\n``
    and ``\\r`` (a traceback stays on its event's line), other control characters as
    ``\\xNN``. Log lines and error lines carry text from files (keys, symbols, file names)."""
    return _CONTROL.sub(_shown, text)


class LineFormatter(logging.Formatter):
    """One line per record, UTC with ``Z``; ``journal=True`` adds the ``<N>`` priority."""

    def __init__(self, *, journal: bool = False) -> None:
        super().__init__(LOG_FORMAT)
        self.journal = journal

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """``2026-12-06T09:30:00.123Z``, whatever the host's time zone."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        """The record (with its traceback, if any) as one line."""
        line = one_line(super().format(record))
        if self.journal:
            return f"<{journal.priority(record.levelno)}>{line}"
        return line


def stderr_level(
    *, verbose: bool, stream: IO[Any], environ: Mapping[str, str] | None = None
) -> int:
    """The level of the stderr handler (see the module docstring); a bad
    ``PEAKTRADE_LOG_STDERR_LEVEL`` is a configuration error naming it."""
    env = os.environ if environ is None else environ
    if verbose:
        return logging.DEBUG
    raw = env.get(STDERR_LEVEL_ENV, "").strip()
    if raw:
        level = LEVELS.get(raw.upper())
        if level is None:
            raise ConfigError(
                f"{raw!r} is not a log level (one of {', '.join(LEVELS)})",
                file="environment",
                key=STDERR_LEVEL_ENV,
            )
        return level
    return logging.INFO if journal.is_journal(stream, env) else logging.WARNING


def own_debug_only(record: logging.LogRecord) -> bool:
    """Keep a DEBUG line only when it is the daemon's own (``--verbose``)."""
    return record.levelno > logging.DEBUG or record.name.partition(".")[0] == "peaktrade_daemon"


def configure_stderr(
    *, verbose: bool, stream: IO[Any] | None = None, environ: Mapping[str, str] | None = None
) -> logging.Handler:
    """Log to ``stream`` (default stderr) at :func:`stderr_level` through the root logger."""
    out = sys.stderr if stream is None else stream
    level = stderr_level(verbose=verbose, stream=out, environ=environ)
    handler = logging.StreamHandler(out)
    handler.setFormatter(LineFormatter(journal=journal.is_journal(out, environ)))
    handler.setLevel(level)
    if verbose:
        handler.addFilter(own_debug_only)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
