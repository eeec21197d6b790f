"""The heartbeat file ``state/daemon.heartbeat``: the local health signal when HTTP is off.

The daemon rewrites it atomically every ``daemon.heartbeat_interval_s`` and on every run state
change, with its pid, run state, time and HTTP address. ``peaktrade-daemon health`` without an
HTTP listener calls the daemon healthy when the instance lock is held, the recorded pid is alive,
the run state is running (or reloading) and the file is younger than three intervals: a daemon
whose loop hangs stops refreshing it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peaktrade_daemon.clock import Clock
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.storage.atomic import atomic_write_text

logger = logging.getLogger(__name__)

HEARTBEAT_FILE = "daemon.heartbeat"
STALE_AFTER_INTERVALS = 3


def read_heartbeat(state_dir: Path) -> dict[str, Any] | None:
    """The last heartbeat written, or None when there is none (or it does not parse)."""
    try:
        data = json.loads((state_dir / HEARTBEAT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Heartbeat:
    """A daemon component refreshing the heartbeat file; ``status()`` supplies its content."""

    name = "heartbeat"

    def __init__(
        self, settings: DaemonSettings, clock: Clock, status: Callable[[], dict[str, Any]]
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._status = status
        self._path = settings.path(settings.paths.state_dir) / HEARTBEAT_FILE
        self._lock = asyncio.Lock()

    async def beat(self) -> None:
        """Write the file now (in a thread: it fsyncs)."""
        body = {
            **self._status(),
            "updated_at": self._clock.now().isoformat(),
            "interval_s": self._settings.daemon.heartbeat_interval_s,
        }
        text = json.dumps(body, sort_keys=True, default=str) + "\n"
        async with self._lock:
            await asyncio.to_thread(atomic_write_text, self._path, text)

    async def start(self) -> None:
        """Write a first heartbeat so ``health`` sees the daemon as soon as it is up."""
        await self.beat()

    async def run(self) -> None:
        """Refresh every interval."""
        while True:
            await self._clock.sleep(self._settings.daemon.heartbeat_interval_s)
            await self.beat()

    async def reload(self, settings: DaemonSettings) -> None:
        """A new interval applies from the next beat."""
        self._settings = settings

    async def drain(self) -> None:
        """Nothing in flight."""

    async def stop(self) -> None:
        """Leave a final heartbeat recording the stop."""
        try:
            await self.beat()
        except OSError as exc:
            logger.warning("final heartbeat not written: %s", exc)
