"""The auto-rollback guard (§8.5): watch auto-applied keys through their bake window and revert
the ones under which performance degrades.

Metrics come from a :class:`PerformanceSource` (the PerformanceMonitor in the daemon) as a
mapping of metric name to float; a missing (or non-finite) metric is *unknown*, never 0.

How unknown data is treated (fail closed, "unknown is never healthy enough to keep applying"):

* **Before an apply**: the baseline (``current_drawdown`` and ``sharpe_ratio``) must be known,
  otherwise no auto-apply happens (the worker holds every key with that reason).
* **During the bake window**: a *degraded* reading reverts and freezes the key at once. An
  *unknown* reading does not revert by itself (data gaps happen), but while any watched key's
  latest reading is unknown, every further auto-apply is held.
* **At the end of the window**: the latest reading decides. Healthy: the key passes and is no
  longer watched. Unknown (or no reading at all): the change is treated as unproven and reverted
  and frozen like a degradation, with the reason saying so.

Degradation, two ways:

* **The canary** (with ``[evidence]`` on, §9): a shadow book with the previous value runs on the
  same bars since the apply, and live is judged against it with the evidence rule
  (:func:`canary_health`). So a market-wide drawdown that hits both books alike is not a
  degradation, and a step that loses on its own is, however the market went. Too few paired
  periods since the apply (fewer than ``[evidence] min_periods``) is *inconclusive*: it does
  not revert, and past the end of the window the key stays watched, and held, until the canary
  can judge it: a bad step is never passed unjudged.
* **Before/after** (evidence off): against the pre-change baseline, thresholds from the
  policy's ``[rollback]``: ``current_drawdown`` up by more than ``max_drawdown_increase`` (also
  ``max_drawdown`` when both readings have it), or ``sharpe_ratio`` down by more than
  ``max_sharpe_drop``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from peaktrade_daemon.governance.evidence import EvidenceVerdict
from peaktrade_daemon.governance.policy import RollbackGuardPolicy

REQUIRED_METRICS = ("current_drawdown", "sharpe_ratio")


class PerformanceSource(Protocol):
    """Where the guard reads performance; a missing key means unknown."""

    async def performance_metrics(self) -> Mapping[str, float]:
        """The latest performance metrics (fractions for drawdowns, annualised Sharpe)."""
        ...


class Health(StrEnum):
    """One reading compared with the baseline (or, as a canary, the shadow book)."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNKNOWN = "unknown"
    #: The canary had too little to judge (few bars since the apply): not a degradation, and
    #: not unknown data either; the change stands at the end of its window.
    INCONCLUSIVE = "inconclusive"


def canary_health(
    verdict: EvidenceVerdict | None,
    reasons: tuple[str, ...],
    *,
    enough_periods: bool,
    stale: bool = False,
) -> tuple[Health, tuple[str, ...]]:
    """The canary's reading (§9): live judged against the shadow book with the evidence rule.
    FAIL degrades; PASS is healthy; INCONCLUSIVE for want of paired periods is inconclusive
    (more bars will come: the watch goes on past its window, the key held, so a bad step is
    never passed unjudged); INCONCLUSIVE with enough periods but too few trades is healthy (the
    books barely traded, so they cannot differ); stale data (whatever else the rule found first)
    or no verdict at all (the books could not be run) is unknown: more bars may never come, so
    waiting for them would hold the key for ever."""
    if verdict is EvidenceVerdict.FAIL:
        return Health.DEGRADED, tuple(f"canary FAIL: {r}" for r in reasons)
    if stale:
        return Health.UNKNOWN, ("canary unknown: the market data is stale", *reasons)
    if verdict is EvidenceVerdict.PASS:
        return Health.HEALTHY, ("canary PASS: live not worse than the shadow book",)
    if verdict is EvidenceVerdict.INCONCLUSIVE:
        if enough_periods:
            return Health.HEALTHY, tuple(f"canary: {r}" for r in reasons)
        return Health.INCONCLUSIVE, tuple(f"canary INCONCLUSIVE: {r}" for r in reasons)
    return Health.UNKNOWN, tuple(f"canary unknown: {r}" for r in reasons) or ("canary unknown",)


def known(metrics: Mapping[str, float], name: str) -> float | None:
    """The metric as a finite float, or None when missing or not finite."""
    value = metrics.get(name)
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def baseline_complete(metrics: Mapping[str, float]) -> bool:
    """True when every metric the guard compares is known."""
    return all(known(metrics, name) is not None for name in REQUIRED_METRICS)


def evaluate(
    baseline: Mapping[str, float], current: Mapping[str, float], policy: RollbackGuardPolicy
) -> tuple[Health, tuple[str, ...]]:
    """Compare a reading with the baseline (pure). A degradation found on any metric wins over
    unknown others; otherwise any unknown required metric makes the reading unknown."""
    degraded: list[str] = []
    unknown: list[str] = []
    for name in ("current_drawdown", "max_drawdown"):
        before, now = known(baseline, name), known(current, name)
        if before is None or now is None:
            if name in REQUIRED_METRICS:
                unknown.append(name)
            continue
        if now - before > policy.max_drawdown_increase:
            degraded.append(
                f"{name} up {now - before:.4f} ({before:.4f} -> {now:.4f}), "
                f"limit {policy.max_drawdown_increase}"
            )
    before, now = known(baseline, "sharpe_ratio"), known(current, "sharpe_ratio")
    if before is None or now is None:
        unknown.append("sharpe_ratio")
    elif before - now > policy.max_sharpe_drop:
        degraded.append(
            f"sharpe_ratio down {before - now:.3f} ({before:.3f} -> {now:.3f}), "
            f"limit {policy.max_sharpe_drop}"
        )
    if degraded:
        return Health.DEGRADED, tuple(degraded)
    if unknown:
        return Health.UNKNOWN, tuple(f"{name} unknown" for name in unknown)
    return Health.HEALTHY, ("within thresholds",)


@dataclass(slots=True)
class Watch:
    """One auto-applied change under observation."""

    record: Mapping[str, Any]
    baseline: Mapping[str, float]
    ends_at: datetime
    last_health: Health | None = None
    last_reasons: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The watched key."""
        return str(self.record["key"])


@dataclass(frozen=True, slots=True)
class GuardAction:
    """What a check decided for one watch: ``revert`` (with reasons) or ``passed``."""

    watch: Watch
    action: str
    reasons: tuple[str, ...]


@dataclass(slots=True)
class RollbackGuard:
    """The set of watched keys and the rules above; the worker feeds it readings and acts."""

    watches: dict[str, Watch] = field(default_factory=dict)

    def watch(
        self,
        record: Mapping[str, Any],
        baseline: Mapping[str, float],
        now: datetime,
        policy: RollbackGuardPolicy,
    ) -> None:
        """Start (or restart) observing the key changed by ``record``."""
        ends = now + timedelta(minutes=policy.bake_window_minutes)
        self.watches[str(record["key"])] = Watch(record, dict(baseline), ends)

    def hold_reason(self, key: str) -> str | None:
        """Why auto-apply must wait: the key is still baking, or some reading is unknown."""
        if key in self.watches:
            watch = self.watches[key]
            if watch.last_health is Health.INCONCLUSIVE:
                return f"held: {key} is under observation until its canary can judge it"
            return f"held: {key} is under observation until {watch.ends_at.isoformat()}"
        blind = [w.key for w in self.watches.values() if w.last_health is Health.UNKNOWN]
        if blind:
            return f"held: performance unknown while watching {', '.join(sorted(blind))}"
        return None

    def check(
        self,
        current: Mapping[str, float],
        now: datetime,
        policy: RollbackGuardPolicy,
        canary: Mapping[str, tuple[Health, tuple[str, ...]]] | None = None,
    ) -> list[GuardAction]:
        """Judge every watch against ``current`` (the before/after rule), or, with ``canary``
        (a reading per key, :func:`canary_health`), against its shadow book; returns the
        reverts and passes (and forgets those keys). Watches still inside their window with a
        healthy, inconclusive or unknown reading stay; at the end of the window a healthy or
        inconclusive change passes, an unknown one is reverted (unproven)."""
        actions: list[GuardAction] = []
        for key, watch in list(self.watches.items()):
            if canary is not None:
                health, reasons = canary.get(key, (Health.UNKNOWN, ("canary not run",)))
            else:
                health, reasons = evaluate(watch.baseline, current, policy)
            watch.last_health, watch.last_reasons = health, reasons
            if health is Health.DEGRADED:
                actions.append(GuardAction(watch, "revert", ("degraded: " + "; ".join(reasons),)))
            elif now >= watch.ends_at:
                if health is Health.INCONCLUSIVE:
                    continue  # the canary needs more bars: the key stays watched (and held)
                if health is Health.HEALTHY:
                    actions.append(GuardAction(watch, "passed", reasons))
                else:
                    why = "performance unknown at the end of the bake window: " + "; ".join(reasons)
                    actions.append(GuardAction(watch, "revert", (why,)))
            else:
                continue
            del self.watches[key]
        return actions
