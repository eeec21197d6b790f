"""The performance reading auto-apply is guarded by (§8.5, §8.8), for the daemon and the CLI.

:class:`PortfolioMetrics` is the rollback guard's
:class:`~peaktrade_daemon.governance.guard.PerformanceSource`: the performance monitor over
every cycle symbol, reduced to the worst reading (largest drawdowns, lowest Sharpe), so a book
that degrades under a change shows whichever it is. A metric unknown for any symbol is left out
(unknown, which holds or reverts auto-applies; never a healthier number from the other books).

:func:`cli_hold` gives ``promote --auto-apply-mode bounded_auto`` the holds the daemon's worker
applies, computed from the root's own data with the same paper book, so no running daemon is
needed: no step without a known baseline, and none for a key whose last bounded apply is still
inside its bake window (freezes are in auto.toml and held by the planner itself).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from peaktrade_daemon.audit_records import aborted_writes
from peaktrade_daemon.governance.guard import baseline_complete
from peaktrade_daemon.governance.policy import AutoApplyPolicy
from peaktrade_daemon.monitors.performance import PerformanceMonitor
from peaktrade_daemon.promotion.live_changes import audited_live_changes
from peaktrade_daemon.promotion.observation import watchable
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.workflows.sources import cycle_symbols

logger = logging.getLogger(__name__)

Hold = Callable[[str], str | None]


class PortfolioMetrics:
    """The worst known reading per guarded metric across the cycle symbols (see above)."""

    def __init__(self, monitor: PerformanceMonitor) -> None:
        self._monitor = monitor

    async def performance_metrics(self) -> Mapping[str, float]:
        """The worst known reading per guarded metric across the cycle symbols."""
        symbols = cycle_symbols(self._monitor.settings)
        results = await asyncio.gather(*(self._monitor.check_conditions(s) for s in symbols))
        out: dict[str, float] = {}
        for name, worst in (
            ("current_drawdown", max),
            ("max_drawdown", max),
            ("sharpe_ratio", min),
        ):
            values = [r.metrics.get(name) for r in results]
            known = [v for v in values if v is not None]
            if known and len(known) == len(values):
                out[name] = worst(known)
        return out


def baking(
    records: Sequence[Mapping[str, Any]], policy: AutoApplyPolicy, now: datetime
) -> dict[str, datetime]:
    """Keys whose last bounded apply is inside its bake window, with the window's end (none
    with the guard off; a change undone since no longer bakes)."""
    if not policy.rollback.enabled:
        return {}
    window = timedelta(minutes=policy.rollback.bake_window_minutes)
    aborted = aborted_writes(records)
    ends: dict[str, datetime] = {}
    for record in records:
        if record.get("write_id") in aborted or record.get("event") != "change":
            continue
        key = str(record.get("key"))
        if "undoes" in record or record.get("actor") == "rollback-guard":
            ends.pop(key, None)
            continue
        if not watchable(record):
            continue
        try:
            applied = datetime.fromisoformat(str(record["time"]))
        except ValueError:
            continue
        if applied.tzinfo is not None and applied + window > now:
            ends[key] = applied + window
    return ends


async def cli_hold(
    settings: DaemonSettings,
    policy: AutoApplyPolicy,
    records: Sequence[Mapping[str, Any]],
    now: datetime,
) -> tuple[Hold, Mapping[str, float]]:
    """The worker's holds for a one-shot command, and the baseline reading they rest on."""
    # The same paper book as the daemon's: live changes apply from when they were made.
    monitor = PerformanceMonitor(settings, live_changes=audited_live_changes)
    try:
        reading = dict(await PortfolioMetrics(monitor).performance_metrics())
    except Exception as exc:  # a failing monitor is unknown data, never healthy data
        logger.warning("performance baseline unavailable: %s", exc)
        reading = {}
    finally:
        await monitor.close()
    if not baseline_complete(reading):
        return (lambda key: "held: performance baseline unknown"), reading
    ends = baking(records, policy, now)

    def hold(key: str) -> str | None:
        if key in ends:
            return f"held: {key} is under observation until {ends[key].isoformat()}"
        return None

    return hold, reading
