"""Evidence before every live change (§9): the adapter that runs the paired evaluation on the
root's own data and asks the pure rule (:func:`peaktrade_daemon.governance.evidence.judge`).

For each candidate the policy accepted, the paper book runs twice over the same recent bars of
every cycle symbol with every enabled strategy: the live value (auto.toml's, else the base
config's) against the *next step* (what bounded auto-apply would write now) and, separately,
against the final proposed value. The next step's verdict gates that step; the final value's is
shown for the operator. The same code serves the daemon's promotion worker (its own feeds) and
the one-shot commands (``promote``, ``proposals approve``), which compute it themselves: no
running daemon is needed.

A candidate that cannot be evaluated (the book does not read the key, a feed has no data, the
base config has no ``risk.max_drawdown``) has no verdict: it is held like an INCONCLUSIVE one,
with the problem as the reason (never a PASS by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peaktrade_daemon.clock import Clock, SystemClock
from peaktrade_daemon.config import PeakConfig
from peaktrade_daemon.config.overrides import lookup
from peaktrade_daemon.errors import PeakTradeError
from peaktrade_daemon.governance.evidence import Evidence, EvidencePolicy, EvidenceVerdict, judge
from peaktrade_daemon.governance.firewall import is_numeric
from peaktrade_daemon.governance.guard import Health, canary_health
from peaktrade_daemon.governance.policy import AutoApplyPolicy
from peaktrade_daemon.governance.steps import next_step
from peaktrade_daemon.governance.verdicts import PromotionDecision
from peaktrade_daemon.learning.models import Scalar
from peaktrade_daemon.market.bars import to_ns
from peaktrade_daemon.market.feeds import Feeds, MarketSource
from peaktrade_daemon.monitors.market import market_params
from peaktrade_daemon.portfolio.paired import (
    PairedRun,
    Window,
    evaluable,
    paired_run,
    recent_windows,
)
from peaktrade_daemon.portfolio.params import ConfigOverlay
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.strategies.registry import enabled_strategies
from peaktrade_daemon.workflows.sources import cycle_symbols

logger = logging.getLogger(__name__)

#: The bootstrap's seed: fixed, so the same inputs always give the same verdict (§9).
EVIDENCE_SEED = 90210


@dataclass(frozen=True, slots=True)
class CandidateEvidence:
    """The evidence for one candidate: its next step and its final value against the live one.
    ``runs`` (step, final) feed the chart and are not recorded."""

    patch_id: str
    key: str
    live_value: Scalar | None
    step_value: float | None
    target_value: Scalar
    step: Evidence | None = None
    final: Evidence | None = None
    problem: str | None = None
    runs: tuple[PairedRun | None, PairedRun | None] = (None, None)

    @property
    def verdict(self) -> EvidenceVerdict:
        """The next step's verdict; INCONCLUSIVE when it could not be evaluated."""
        return self.step.verdict if self.step is not None else EvidenceVerdict.INCONCLUSIVE

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why: the rule's reasons, or the problem that kept it from judging."""
        if self.step is not None:
            return self.step.reasons
        return (f"not evaluated: {self.problem}",)

    def summary(self) -> dict[str, Any]:
        """What the sealed ``config_patches.json`` and the audit trail keep of it."""
        return {
            "verdict": self.verdict.value,
            "step_value": self.step_value,
            "final_verdict": None if self.final is None else self.final.verdict.value,
            "reasons": list(self.reasons),
        }

    def record(self) -> dict[str, Any]:
        """The full entry of ``evidence.json``: both evaluations with both books' metrics."""
        record: dict[str, Any] = _plain(
            {
                "patch_id": self.patch_id,
                "target": self.key,
                "live_value": self.live_value,
                "step_value": self.step_value,
                "target_value": self.target_value,
                **self.summary(),
                "problem": self.problem,
                "step": None if self.step is None else self.step.model_dump(mode="python"),
                "final": None if self.final is None else self.final.model_dump(mode="python"),
            }
        )
        return record


def _plain(value: Any) -> Any:
    """JSON-safe: non-finite floats become None (strict JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class EvidenceRunner:
    """Runs the paired evaluations of a batch over one set of windows (the same bars for every
    candidate of the batch)."""

    def __init__(self, settings: Callable[[], DaemonSettings], feeds: MarketSource) -> None:
        self._settings = settings  # the current snapshot's (symbols move with a reload)
        self._feeds = feeds

    async def evaluate(
        self,
        decisions: Sequence[PromotionDecision],
        live: Mapping[str, Scalar],
        policy: AutoApplyPolicy,
        base: Mapping[str, Any],
    ) -> dict[str, CandidateEvidence]:
        """Evidence per patch id for the ``decisions`` the policy accepted (none when evidence is
        off). ``live`` holds auto.toml's values; ``base`` is the base config."""
        rule = policy.evidence
        if not rule.enabled:
            return {}
        wanted = [d for d in decisions if d.accepted]
        if not wanted:
            return {}
        config = ConfigOverlay(PeakConfig(base), dict(live))
        out: dict[str, CandidateEvidence] = {}
        try:
            strategies = enabled_strategies(PeakConfig(base))
            settings = self._settings()
            market = market_params(settings.monitors.market)
            windows = await recent_windows(
                self._feeds,
                cycle_symbols(settings),
                strategies,
                market,
                rule.lookback_bars,
            )
        except (PeakTradeError, OSError, ValueError) as exc:
            for decision in wanted:
                out[decision.candidate.patch.id] = _unjudged(decision, policy, config, str(exc))
            return out
        risk = lookup(base, "risk.max_drawdown", None)
        for decision in wanted:
            out[decision.candidate.patch.id] = await asyncio.to_thread(
                _judge_candidate, decision, policy, config, windows, strategies, market, risk
            )
        return out

    async def canary(
        self,
        records: Sequence[Mapping[str, Any]],
        policy: AutoApplyPolicy,
        base: Mapping[str, Any],
        live: Mapping[str, Scalar],
        now: datetime,
    ) -> dict[str, tuple[Health, tuple[str, ...]]]:
        """The canary reading (§9) of each watched change ``record``: live judged against a
        shadow book with the previous value, on the same bars since the apply. Clock time maps
        to bar time as the paper book maps it (a change made ``age`` ago took effect at the
        feed's ``as_of - age x speed``)."""
        rule = policy.evidence
        settings = self._settings()
        out: dict[str, tuple[Health, tuple[str, ...]]] = {}
        try:
            strategies = enabled_strategies(PeakConfig(base))
            market = market_params(settings.monitors.market)
            symbols = cycle_symbols(settings)
            windows = await recent_windows(
                self._feeds, symbols, strategies, market, rule.lookback_bars
            )
        except (PeakTradeError, OSError, ValueError) as exc:
            return {str(r["key"]): (Health.UNKNOWN, (f"canary not run: {exc}",)) for r in records}
        risk = lookup(base, "risk.max_drawdown", None)
        for record in records:
            key = str(record["key"])
            try:
                applied = datetime.fromisoformat(str(record["time"]))
                since = [
                    Window.since(
                        w.bars,
                        to_ns(w.bars.as_of - (now - applied) * self._speed(settings, w)),
                        w.bars_per_year,
                        w.stale_reason,
                    )
                    for w in windows
                ]
                before = record.get("before")
                shadow = lookup(base, key, None) if before is None else before
                config = ConfigOverlay(PeakConfig(base), {**live, key: shadow})
                run = await asyncio.to_thread(
                    paired_run, since, strategies, market, config, key, record.get("after")
                )
                if not is_numeric(risk) or not float(risk) > 0:
                    raise ValueError("the base config has no risk.max_drawdown")
                evidence = _verdict(run, rule, float(risk), bound_when_short=False)
            except (PeakTradeError, ValueError, TypeError) as exc:
                out[key] = (Health.UNKNOWN, (f"canary not run: {exc}",))
                continue
            out[key] = canary_health(
                evidence.verdict,
                evidence.reasons,
                enough_periods=evidence.periods >= rule.min_periods,
                stale=bool(run.stale_reasons),
            )
        return out

    @staticmethod
    def _speed(settings: DaemonSettings, window: Window) -> float:
        spec = settings.symbols.get(window.bars.symbol)
        return settings.replay.speed if spec is not None and spec.feed == "replay" else 1.0


def _step_of(
    decision: PromotionDecision, policy: AutoApplyPolicy, config: ConfigOverlay
) -> tuple[Scalar | None, float | None]:
    key = decision.target
    live = config.get(key)
    target = decision.candidate.patch.new_value
    bounds = policy.bounds.get(key)
    if bounds is None or not is_numeric(live) or not is_numeric(target):
        return live, None
    return live, next_step(float(live), float(target), bounds)


def _unjudged(
    decision: PromotionDecision, policy: AutoApplyPolicy, config: ConfigOverlay, problem: str
) -> CandidateEvidence:
    live, step = _step_of(decision, policy, config)
    patch = decision.candidate.patch
    return CandidateEvidence(patch.id, patch.target, live, step, patch.new_value, problem=problem)


def _judge_candidate(
    decision: PromotionDecision,
    policy: AutoApplyPolicy,
    config: ConfigOverlay,
    windows: Sequence[Window],
    strategies: Any,
    market: Any,
    risk: Any,
) -> CandidateEvidence:
    """Both evaluations of one candidate (blocking: the book is simulated here)."""
    patch = decision.candidate.patch
    live, step = _step_of(decision, policy, config)
    if step is None:
        return _unjudged(decision, policy, config, "not a bounded numeric change")
    if not evaluable(patch.target):
        return _unjudged(decision, policy, config, "the paper book does not read this key")
    if not is_numeric(risk) or not float(risk) > 0:
        return _unjudged(decision, policy, config, "the base config has no risk.max_drawdown")
    try:
        step_run = paired_run(windows, strategies, market, config, patch.target, step)
        final_run = (
            step_run
            if float(patch.new_value) == step
            else paired_run(windows, strategies, market, config, patch.target, patch.new_value)
        )
        step_evidence = _verdict(step_run, policy.evidence, float(risk))
        final_evidence = (
            step_evidence
            if final_run is step_run
            else _verdict(final_run, policy.evidence, float(risk))
        )
    except (PeakTradeError, ValueError) as exc:
        return _unjudged(decision, policy, config, str(exc))
    return CandidateEvidence(
        patch.id,
        patch.target,
        live,
        step,
        patch.new_value,
        step_evidence,
        final_evidence,
        runs=(step_run, final_run),
    )


def _verdict(
    run: PairedRun, rule: EvidencePolicy, risk: float, *, bound_when_short: bool = True
) -> Evidence:
    stale = bool(run.stale_reasons)
    evidence = judge(
        run.incumbent,
        run.candidate,
        risk_max_drawdown=risk,
        policy=rule,
        stale=stale,
        seed=EVIDENCE_SEED,
        bound_when_short=bound_when_short,
    )
    if run.skipped:
        extra = tuple(f"left out: {s}" for s in run.skipped)
        evidence = evidence.model_copy(update={"reasons": (*evidence.reasons, *extra)})
    return evidence


@contextlib.asynccontextmanager
async def root_evidence(
    settings: DaemonSettings, clock: Clock | None = None
) -> AsyncIterator[EvidenceRunner]:
    """An evidence runner on the root's own feeds (for one-shot commands); closes the feeds."""
    feeds = Feeds(settings, clock or SystemClock())
    try:
        yield EvidenceRunner(lambda: settings, feeds)
    finally:
        await feeds.close()
