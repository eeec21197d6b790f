"""The progress bar of a long replay: data time, share done and the estimated time left.

Drawn on the stream (stderr) only when it is a terminal, redrawn in place at most every
``interval_s`` of wall time, and cleared at the end; without a terminal it writes nothing, so
logs and pipes stay clean. The estimate assumes the rest of the data time goes as fast as the
part done so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from peaktrade_daemon.replay.inputs import iso_z

WIDTH = 30


def render(moment: datetime, done: float, elapsed_s: float) -> str:
    """One line: ``replay 2017-06-01T12:00:00Z [#####.....] 42% ETA 0:01:05``."""
    done = min(max(done, 0.0), 1.0)
    filled = round(done * WIDTH)
    left = elapsed_s * (1.0 - done) / done if done > 0 else None
    eta = "--:--:--" if left is None else _clock(left)
    return f"replay {iso_z(moment)} [{'#' * filled}{'.' * (WIDTH - filled)}] {done:4.0%} ETA {eta}"


def _clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class Progress:
    """Call with each data time reached; :meth:`close` when done."""

    def __init__(
        self,
        stream: TextIO,
        start: datetime,
        end: datetime,
        *,
        interval_s: float = 0.2,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._start, self._span = start, max((end - start).total_seconds(), 1e-9)
        self._interval_s = interval_s
        self._wall = wall
        self._began = wall()
        self._last = -float("inf")
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self._drawn = 0

    def __call__(self, moment: datetime) -> None:
        """Redraw for data time ``moment`` (rate-limited)."""
        if not self.enabled:
            return
        now = self._wall()
        if now - self._last < self._interval_s:
            return
        self._last = now
        done = (moment - self._start).total_seconds() / self._span
        line = render(moment, done, now - self._began)
        self._stream.write("\r" + line.ljust(self._drawn))
        self._stream.flush()
        self._drawn = len(line)

    def close(self) -> None:
        """Clear the bar."""
        if self.enabled and self._drawn:
            self._stream.write("\r" + " " * self._drawn + "\r")
            self._stream.flush()
            self._drawn = 0
