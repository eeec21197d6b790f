"""The systemd watchdog proves progress, not only a live event loop (SPEC §11).

``WATCHDOG=1`` goes out every half ``WATCHDOG_USEC`` only while the daemon makes progress:

- the last autonomous cycle finished no longer ago than ``daemon.watchdog_grace_s`` (default
  2 x the poll interval + 60 s; start-up counts as on time until then, and a daemon without a
  cycle runner has no cycles to prove), and
- every supervised component's task is alive: the scheduler's and the promotion worker's among
  them. A ``run()`` that returned (nothing long-running) is fine; one that ended any other way
  (cancelled from inside a library, the supervisor itself failing) means that part is gone.

When either fails the ping is withheld, so systemd kills and restarts the daemon after
``WatchdogSec``; a critical alert and the unit's status line say why, once per episode, and the
daemon logs when progress resumes. The verdict (:func:`judge`) is pure; :class:`Watchdog` only
sends what it says.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from peaktrade_daemon.clock import Clock
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.systemd import SystemdNotifier

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether to ping, and why not."""

    ok: bool
    reason: str = ""


def grace_s(settings: DaemonSettings) -> float:
    """How long a cycle may take to finish before the watchdog stops pinging."""
    configured = settings.daemon.watchdog_grace_s
    if configured is not None:
        return configured
    return 2 * settings.daemon.poll_interval_s + 60.0


def judge(*, since_progress_s: float | None, grace_s: float, ended: Sequence[str] = ()) -> Verdict:
    """The ping verdict: ``since_progress_s`` is the time since the last cycle finished (or
    start-up, before the first one; None when no cycles run), ``ended`` the supervised
    components whose task is gone."""
    if ended:
        return Verdict(False, f"component task ended: {', '.join(ended)}")
    if since_progress_s is not None and since_progress_s > grace_s:
        return Verdict(
            False, f"no cycle finished for {since_progress_s:.0f} s (grace {grace_s:.0f} s)"
        )
    return Verdict(True)


class Watchdog:
    """Sends ``WATCHDOG=1`` every ``interval_s`` while ``verdict()`` says so."""

    def __init__(
        self,
        notifier: SystemdNotifier,
        clock: Clock,
        interval_s: float,
        verdict: Callable[[], Verdict],
        on_withheld: Callable[[str], Awaitable[None]],
    ) -> None:
        self._notifier = notifier
        self._clock = clock
        self._interval_s = interval_s
        self._verdict = verdict
        self._on_withheld = on_withheld
        #: The reason pings are withheld now, or "" while they are sent.
        self.withheld = ""

    async def check(self) -> Verdict:
        """Judge once: ping, or withhold (alerting on the first withheld check)."""
        verdict = self._verdict()
        if verdict.ok:
            if self.withheld:
                logger.info("watchdog: progress again, pinging (was: %s)", self.withheld)
                self.withheld = ""
            self._notifier.watchdog()
            return verdict
        if not self.withheld:
            self.withheld = verdict.reason
            logger.critical("watchdog: WATCHDOG=1 withheld: %s", verdict.reason)
            self._notifier.status(f"watchdog withheld: {verdict.reason}")
            await self._on_withheld(verdict.reason)
        return verdict

    async def run(self) -> None:
        """Check now, then every interval, until cancelled."""
        while True:
            await self.check()
            await self._clock.sleep(self._interval_s)
