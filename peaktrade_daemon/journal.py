"""journald's stream protocol: whether a stream is connected to the journal, and its priorities.

systemd sets ``JOURNAL_STREAM=<device>:<inode>`` for a service whose stdout or stderr is a
journal stream (both share one connection when both go there). A line written to that stream
that starts with ``<N>`` is stored at syslog priority N (``SyslogLevelPrefix=``, on by
default), so ``journalctl -p warning`` finds warnings. The variable is inherited by child
processes whose output goes elsewhere, so a stream is a journal stream only when its own
device and inode match: a shell or a test that redirects stderr gets no prefix.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import IO, Any

CRITICAL, ERROR, WARNING, INFO, DEBUG = 2, 3, 4, 6, 7


def priority(levelno: int) -> int:
    """The syslog priority of a :mod:`logging` level (custom levels round down to the nearest
    standard one: 25 is still info)."""
    if levelno >= logging.CRITICAL:
        return CRITICAL
    if levelno >= logging.ERROR:
        return ERROR
    if levelno >= logging.WARNING:
        return WARNING
    if levelno >= logging.INFO:
        return INFO
    return DEBUG


def _journal_id(environ: Mapping[str, str]) -> tuple[int, int] | None:
    device, sep, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    if not sep or not device.isdigit() or not inode.isdigit():
        return None
    return int(device), int(inode)


def is_journal(stream: IO[Any], environ: Mapping[str, str] | None = None) -> bool:
    """True when ``stream`` is the journal stream ``JOURNAL_STREAM`` names."""
    wanted = _journal_id(os.environ if environ is None else environ)
    if wanted is None:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # closed, or not a file (io.StringIO)
        return False
    return (st.st_dev, st.st_ino) == wanted


def prefix(stream: IO[Any], level: int, environ: Mapping[str, str] | None = None) -> str:
    """``<N>`` for a line at syslog priority ``level`` written to ``stream`` when that stream is
    the journal, else nothing."""
    return f"<{level}>" if is_journal(stream, environ) else ""
