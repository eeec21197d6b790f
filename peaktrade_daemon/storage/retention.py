"""The retention worker: applies the per-table row limits of ``[state.retention]`` periodically.

Each table's owner supplies a *rule*: a coroutine taking the retention settings and returning the
rows it deleted per table (``AlertStore.prune`` for alerts and the outbox). The composition root
registers the rules; the worker runs them at start-up and every ``state.retention_interval_s``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from peaktrade_daemon.clock import Clock
from peaktrade_daemon.settings import DaemonSettings, RetentionSection

logger = logging.getLogger(__name__)

RetentionRule = Callable[[RetentionSection], Awaitable[dict[str, int]]]


class RetentionWorker:
    """A daemon component pruning the oldest rows beyond each table's limit."""

    name = "retention"

    def __init__(
        self, settings: DaemonSettings, clock: Clock, rules: Sequence[RetentionRule]
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._rules = tuple(rules)
        self.last_pruned: dict[str, int] = {}
        # Held for a whole pass: drain() waits on it, so shutdown never cancels a pass in the
        # middle of a transaction (that leaves a pooled connection to be reset under cancellation).
        self._busy = asyncio.Lock()
        self._draining = False

    async def prune_once(self) -> dict[str, int]:
        """Run every rule once; returns rows deleted per table (nothing once draining)."""
        deleted: dict[str, int] = {}
        async with self._busy:
            if self._draining:
                return deleted
            for rule in self._rules:
                for table, n in (await rule(self._settings.state.retention)).items():
                    deleted[table] = deleted.get(table, 0) + n
        if any(deleted.values()):
            logger.info("retention pruned %s", ", ".join(f"{t}={n}" for t, n in deleted.items()))
        self.last_pruned = deleted
        return deleted

    async def start(self) -> None:
        """Nothing to acquire."""

    async def run(self) -> None:
        """Prune now, then every retention interval (errors propagate to the supervisor)."""
        while True:
            await self.prune_once()
            await self._clock.sleep(self._settings.state.retention_interval_s)

    async def reload(self, settings: DaemonSettings) -> None:
        """New limits apply from the next pass."""
        self._settings = settings

    async def drain(self) -> None:
        """Let a pass in progress finish and start no other."""
        self._draining = True
        async with self._busy:
            pass

    async def stop(self) -> None:
        """Nothing to release."""
