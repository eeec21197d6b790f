"""De-duplication of repeated alerts within a window (§6).

Two alerts are "the same" when their fingerprint matches: source, level, the message *template*
(every number replaced by ``#``, so "drawdown 12.1%" and "drawdown 12.4%" are one alert) and the
values of the identifying context keys (:data:`KEY_CONTEXT_FIELDS`, e.g. the symbol: BTC and ETH
breaching are two alerts). The first alert opens a window of ``window_s``; repeats inside it are
counted, not emitted. When the window closes with repeats, one summary alert reports how many were
suppressed. A repeat after the window opens a new one and is emitted again.

Pure bookkeeping: time comes in as arguments, so the dispatcher's clock (real or manual) drives it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from peaktrade_daemon.alerts.log import format_timestamp
from peaktrade_daemon.alerts.model import Alert

#: Context keys that identify *what* an alert is about; other context (values, timings) varies
#: between repeats of one condition and must not split the fingerprint.
KEY_CONTEXT_FIELDS = (
    "symbol",
    "workflow_type",
    "job",
    "key",
    "sink",
    "component",
    "strategy",
    "monitor",
    "proposal_id",
    "file",
)

_NUMBER = re.compile(r"[-+]?\d+(?:[.,:]\d+)*(?:[eE][-+]?\d+)?")


def message_template(message: str) -> str:
    """``message`` with every number replaced by ``#``."""
    return _NUMBER.sub("#", message)


def key_context(context: dict[str, Any]) -> dict[str, Any]:
    """The identifying subset of ``context``."""
    return {k: context[k] for k in KEY_CONTEXT_FIELDS if k in context}


def fingerprint(alert: Alert) -> str:
    """A stable hex id of the alert's identity (see module docstring)."""
    identity = [alert.source, str(alert.level), message_template(alert.message)]
    blob = json.dumps([*identity, key_context(alert.context)], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass(slots=True)
class _Window:
    first: Alert
    closes_at: datetime
    suppressed: int = 0
    last_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Suppressed:
    """A closed window in which repeats were suppressed."""

    fingerprint: str
    first: Alert
    count: int
    last_at: datetime
    window_s: float

    def summary(self, now: datetime) -> Alert:
        """The summary alert written when the window closes."""
        context = {
            **key_context(self.first.context),
            "suppressed": self.count,
            "fingerprint": self.fingerprint,
            "first_at": format_timestamp(self.first.timestamp),
            "last_at": format_timestamp(self.last_at),
            "window_s": self.window_s,
        }
        message = (
            f"{message_template(self.first.message)} "
            f"(repeated {self.count} more time{'s' if self.count != 1 else ''} "
            f"within {self.window_s:g}s)"
        )
        return Alert(now, self.first.level, self.first.source, message, context)


class Deduplicator:
    """Tracks open windows per fingerprint; ``window_s == 0`` turns de-duplication off."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._windows: dict[str, _Window] = {}

    def offer(self, alert: Alert, now: datetime) -> tuple[bool, str]:
        """Whether ``alert`` should be emitted, and its fingerprint. Call :meth:`expire` first."""
        fp = fingerprint(alert)
        if self.window_s <= 0:
            return True, fp
        window = self._windows.get(fp)
        if window is not None and now < window.closes_at:
            window.suppressed += 1
            window.last_at = now
            return False, fp
        self._windows[fp] = _Window(alert, now + timedelta(seconds=self.window_s))
        return True, fp

    def expire(self, now: datetime) -> list[Suppressed]:
        """Close every window whose time is up; returns those that suppressed something."""
        done = [fp for fp, w in self._windows.items() if w.closes_at <= now]
        return self._close(done)

    def flush(self) -> list[Suppressed]:
        """Close every window now (shutdown), returning the ones with suppressed repeats."""
        return self._close(list(self._windows))

    def next_close_at(self) -> datetime | None:
        """When the earliest open window closes."""
        return min((w.closes_at for w in self._windows.values()), default=None)

    @property
    def open_windows(self) -> int:
        """Number of fingerprints currently inside their window."""
        return len(self._windows)

    def _close(self, fingerprints: list[str]) -> list[Suppressed]:
        out: list[Suppressed] = []
        for fp in fingerprints:
            w = self._windows.pop(fp)
            if w.suppressed:
                out.append(
                    Suppressed(fp, w.first, w.suppressed, w.last_at or w.closes_at, self.window_s)
                )
        return out
