"""A minimal alert emitter for CLI commands that run without the daemon.

It appends one line to the alert log in the SPEC §6 format (tab-separated: ISO-8601 UTC time,
level, source, message, compact JSON context; tabs, newlines and backslashes escaped) and
echoes critical alerts to stderr. Deliberately small: when ``alerts/log.py`` (the daemon's
alert sink) lands, CLI commands should construct that instead and this module can go.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from peaktrade_daemon.alerts.model import AlertLevel


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class FileAlertEmitter:
    """``AlertEmitter`` that appends to the alert log file (O_APPEND, one write per line)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def emit_sync(
        self, level: AlertLevel, source: str, message: str, context: dict[str, Any] | None = None
    ) -> None:
        """Write the alert now (CLI code is synchronous)."""
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        ctx = json.dumps(context or {}, sort_keys=True, separators=(",", ":"), default=str)
        fields = [stamp, level.value, source, message, ctx]
        line = "\t".join(_escape(f) for f in fields) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as exc:  # an alert sink that is down must never hide the original error
            print(f"peaktrade-daemon: cannot write alert log {self.path}: {exc}", file=sys.stderr)
        if level is AlertLevel.CRITICAL:
            print(f"[{stamp}] [CRITICAL] [{source}] {message}", file=sys.stderr)

    async def emit(
        self, level: AlertLevel, source: str, message: str, context: dict[str, Any] | None = None
    ) -> None:
        """The async ``AlertEmitter`` interface."""
        self.emit_sync(level, source, message, context)
