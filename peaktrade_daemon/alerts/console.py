"""Alerts echoed to the terminal: ``[ts] [LEVEL] [source] message``; critical goes to stderr.

Under systemd the streams are the journal: each line then starts with its syslog priority
(critical ``<2>``, warning ``<4>``, info ``<6>``), so ``journalctl -p crit`` shows critical
alerts (see :mod:`peaktrade_daemon.journal`).
"""

from __future__ import annotations

import contextlib
import sys
from typing import TextIO

from peaktrade_daemon import journal
from peaktrade_daemon.alerts.log import escape_field, format_timestamp
from peaktrade_daemon.alerts.model import Alert, AlertLevel

PRIORITIES = {
    AlertLevel.CRITICAL: journal.CRITICAL,
    AlertLevel.WARNING: journal.WARNING,
    AlertLevel.INFO: journal.INFO,
}


def format_console(alert: Alert) -> str:
    """One console line (no newline); source and message are escaped so it stays one line and
    sends no control character to the terminal or the journal."""
    return (
        f"[{format_timestamp(alert.timestamp)}] [{alert.level.upper()}] "
        f"[{escape_field(alert.source)}] {escape_field(alert.message)}"
    )


class ConsoleSink:
    """Prints alerts; streams are injectable for tests (default: the process's stdout/stderr)."""

    def __init__(self, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self._stdout = stdout
        self._stderr = stderr

    def write(self, alert: Alert) -> None:
        """Print ``alert``; critical to stderr, everything else to stdout."""
        critical = alert.level is AlertLevel.CRITICAL
        stream = (self._stderr or sys.stderr) if critical else (self._stdout or sys.stdout)
        # A closed terminal must not take alerting down; the log file still has the alert.
        with contextlib.suppress(OSError, ValueError):
            tag = journal.prefix(stream, PRIORITIES[alert.level])
            print(tag + format_console(alert), file=stream, flush=True)
