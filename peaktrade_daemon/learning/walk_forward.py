"""The built-in ``walk_forward`` learner (§10): a LearningSignal source for the paper book's
tuned keys, and the rule that turns its signals into ConfigPatches.

Pure: bars, the effective config, the policy and the settings in, signals out; no file, no
clock, no randomness but the seeded bootstrap. The daemon's job (``workflows/walk_forward.py``)
and replay read the data and call :func:`run_walk_forward` / :func:`walk_forward_signals`.

**Data time.** ``as_of`` is the run's data time. A symbol's usable bars are those stamped at or
before it (a bar is visible once its timestamp has passed, as the replay feed shows them). Of
those N bars, counted back from the newest:

- the *test* window is the last ``test_bars`` bars, ``[N - test_bars, N)``;
- the *train* window is the ``train_bars`` bars just before it,
  ``[N - test_bars - train_bars, N - test_bars)``;
- the bars before the train window (at least the strategies' and the regime's warm-up) only
  feed the strategies' vote and the regime.

"Train on the last ``train_bars``, test on the next ``test_bars``": the choice sees nothing of
the test window, and the test window ends at the newest bar known at ``as_of``, so its evidence
is out of sample and as fresh as the data. Each book starts flat with the initial capital at
its window's first bar (the test books' signals look back into the train bars, as live trading
would). A symbol with fewer than ``train_bars + test_bars`` + warm-up bars is left out, named in
:attr:`WalkForwardResult.skipped`.

**Keys.** Each key of the policy's ``auto_apply_whitelist`` that is one of :data:`TUNED_KEYS`
(the three the paper book reads) and not blacklisted, one key at a time: every other key keeps
its live value. The *incumbent* is the live value (the effective config; the book's default
when the key is absent).

**Grid** (``tuning.grid``): ``min, min + max_step, min + 2 max_step, ...`` up to ``max``
(``max`` itself last when the steps do not land on it), rounded to 10 decimals (binary noise
only: the bounds stay exact); points the book cannot use (a leverage of 0, a regime weight
above 1) or the firewall refuses are dropped. A key whose grid would exceed
``tuning.MAX_GRID_POINTS`` points is skipped.

**Choice on the train window** (``tuning.train_score``, ``tuning.choose``): a book's score is its
mean per-period return over the train window, every symbol's periods pooled (the paired runs'
returns); it is infeasible when some period's return is undefined (the book was blown) or on
some symbol its max drawdown exceeds ``risk.max_drawdown``. The best feasible grid point is
chosen when its score is strictly above the incumbent's (any feasible point beats an infeasible
incumbent); ties go to the point nearest the incumbent, then the lower one. No feasible point,
or none better: the incumbent.

**Out of sample, on the test window**: the incumbent's and the chosen candidate's books, paired
period by period; ``d`` = candidate minus incumbent return. *confidence* (``tuning.confidence``)
= the share of ``resamples`` circular block bootstrap means of ``d`` (the evidence module's
resampling, PCG64 from ``seed``) that are above 0: how often the candidate beats the incumbent
out of sample; 0 when ``d`` has fewer than 2 periods or an undefined one.

**Signal** (one per key): source ``walk_forward``, metric ``oos_total_return_difference``,
value = candidate minus incumbent total return over the test window, observed at the newest
bar used (so the same data gives the same signal, and the same patch id, whenever it runs).
It recommends the chosen candidate when that differs from the incumbent *and* beats it out of
sample (mean of ``d`` above 0); otherwise it recommends the incumbent, which gives no patch.
Its evidence holds ``confidence``, ``is_live_ready``, ``tags`` and the figures: the grid with
each point's train score, the windows, both test books' metrics, the bootstrap's parameters.

- ``is_live_ready`` is true when the out-of-sample evidence is complete: no symbol was left out,
  every test-window return is defined, both test books made at least ``min_trades`` trades, and
  the candidate's test-window max drawdown is within ``risk.max_drawdown`` on every symbol.
  Otherwise false, and ``not_live_ready`` says why.
- ``tags`` is ``["walk_forward"]``: none of the shipped policy's blacklisted tags, so a patch
  with strong evidence (confidence at or above ``min_confidence``) is eligible for live.

**Patch rule** (:func:`walk_forward_patches`): :func:`~peaktrade_daemon.learning.models.
patches_from_signals` against the incumbents the signals carry (a signal recommending the live
value gives nothing; ``confidence_score`` = the confidence; ``meta`` gets ``tags``,
``is_live_ready``, ``signal_source``), plus ``meta.walk_forward``: the evidence figures, so an
operator sees the out-of-sample numbers in the proposal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from peaktrade_daemon.config import PeakConfig
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.governance.evidence import block_length
from peaktrade_daemon.governance.firewall import blacklist_entry, firewall_reasons
from peaktrade_daemon.governance.policy import AutoApplyPolicy
from peaktrade_daemon.learning.models import ConfigPatch, LearningSignal, patches_from_signals
from peaktrade_daemon.learning.tuning import choose, confidence, grid, train_score
from peaktrade_daemon.market.bars import Bars, from_ns, to_ns
from peaktrade_daemon.market.metrics import MarketParams
from peaktrade_daemon.portfolio.paired import BookRun, Window, book_runs
from peaktrade_daemon.portfolio.params import ConfigOverlay, PaperParams
from peaktrade_daemon.settings import WalkForwardSettings
from peaktrade_daemon.strategies.base import Strategy, warmup
from peaktrade_daemon.strategies.registry import enabled_strategies

SOURCE = "walk_forward"
METRIC = "oos_total_return_difference"
TAGS = ("walk_forward",)
#: The keys the paper book reads that the learning loop tunes, and the book's field for each.
TUNED_KEYS: Mapping[str, str] = {
    "portfolio.leverage": "leverage",
    "strategy.trigger_delay": "trigger_delay_h",
    "macro.regime_weight": "regime_weight",
}


@dataclass(frozen=True, slots=True)
class WalkForwardResult:
    """One learner run: its data time, the signals (one per evaluated key), the symbols it
    learned on, and what it left out with the reason (symbols with too few bars, keys)."""

    as_of: datetime
    signals: tuple[LearningSignal, ...]
    symbols: tuple[str, ...]
    skipped: tuple[str, ...]


def learner_strategies(config: PeakConfig, settings: WalkForwardSettings) -> tuple[Strategy, ...]:
    """The enabled strategies, or those of them ``settings.strategies`` names; a name that is
    not enabled is a ConfigError naming ``learning.walk_forward.strategies``."""
    enabled = enabled_strategies(config)
    if not settings.strategies:
        return enabled
    names = {s.name for s in enabled}
    unknown = [name for name in settings.strategies if name not in names]
    if unknown:
        raise ConfigError(
            f"strategy {unknown[0]!r} is not enabled (strategy.enabled: "
            f"{', '.join(sorted(names)) or 'none'})",
            key="learning.walk_forward.strategies",
        )
    return tuple(s for s in enabled if s.name in settings.strategies)


def warmup_bars(strategies: tuple[Strategy, ...], market: MarketParams) -> int:
    """Bars before the train window that the strategies and the regime need."""
    return max(warmup(strategies), market.long_lookback + 1)


def history_bars(config: PeakConfig, settings: WalkForwardSettings, market: MarketParams) -> int:
    """How many of a symbol's newest bars one run reads: warm-up, train and test windows."""
    strategies = learner_strategies(config, settings)
    return warmup_bars(strategies, market) + settings.train_bars + settings.test_bars


def _windows(
    bars: Bars, cut_ns: int, settings: WalkForwardSettings, extra: int, bars_per_year: float
) -> tuple[Window, Window, dict[str, Any]] | str:
    """The train and test windows of one symbol, with their times; a reason when too short."""
    visible = int(np.searchsorted(bars.timestamps, cut_ns, side="right"))
    train, test = settings.train_bars, settings.test_bars
    need = train + test + extra
    if visible < need:
        return (
            f"{bars.symbol}: {visible} bars at or before as_of, the learner needs {need} "
            f"(train_bars {train} + test_bars {test} + warm-up {extra})"
        )
    bars = bars.slice(0, visible)
    stamps = bars.timestamps
    times = {
        "train": [_iso(stamps[visible - test - train]), _iso(stamps[visible - test - 1])],
        "test": [_iso(stamps[visible - test]), _iso(stamps[visible - 1])],
    }
    return (
        Window(bars.slice(0, visible - test), visible - test - train, bars_per_year),
        Window(bars, visible - test, bars_per_year),
        times,
    )


def _iso(ns: np.int64) -> str:
    return from_ns(int(ns)).isoformat().replace("+00:00", "Z")


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _metrics(run: BookRun) -> dict[str, Any]:
    return {
        "total_return": _finite(run.total_return),
        "max_drawdown": _finite(run.max_drawdown),
        "sharpe": _finite(run.sharpe),
        "turnover": _finite(run.turnover),
        "trades": run.trades,
    }


def _risk_limit(config: PeakConfig) -> float:
    """``risk.max_drawdown`` when it is a positive number, else no limit."""
    limit = config.get("risk.max_drawdown")
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0:
        return math.inf
    return float(limit)


@dataclass(frozen=True, slots=True)
class _KeyPlan:
    key: str
    incumbent: Any
    incumbent_value: float
    values: tuple[float, ...]
    params: tuple[PaperParams, ...]


def _plan(
    key: str, config: PeakConfig, policy: AutoApplyPolicy, incumbent: PaperParams
) -> _KeyPlan | str:
    """The usable grid of ``key``, or why the key is left out."""
    entry = blacklist_entry(key, policy.blacklist)
    if entry is not None:
        return f"{key}: blacklisted by policy entry {entry!r}"
    try:
        candidates = grid(policy.bounds[key])
    except ValueError as exc:
        return f"{key}: grid over bounds.{key}: {exc}"
    values: list[float] = []
    params: list[PaperParams] = []
    for value in candidates:
        if firewall_reasons(key, value):
            continue
        try:
            params.append(PaperParams.from_config(ConfigOverlay(config, {key: value})))
        except ConfigError:
            continue  # a value the paper book cannot use
        values.append(value)
    if not values:
        return f"{key}: no grid point of bounds.{key} is a value the paper book can use"
    raw = config.get(key)
    live = float(getattr(incumbent, TUNED_KEYS[key]))
    return _KeyPlan(key, live if raw is None else raw, live, tuple(values), tuple(params))


def run_walk_forward(
    bars_by_symbol: Mapping[str, Bars],
    config: PeakConfig,
    policy: AutoApplyPolicy,
    settings: WalkForwardSettings,
    as_of: datetime,
    *,
    market: MarketParams,
    bars_per_year: Mapping[str, float],
) -> WalkForwardResult:
    """One learner run as of ``as_of`` (aware) over ``bars_by_symbol`` (each symbol's bars,
    oldest first; bars after ``as_of`` are ignored). ``settings.symbols`` picks the symbols
    (all of ``bars_by_symbol`` when empty); ``market`` is the regime's windows and thresholds
    (``[monitors.market]``), ``bars_per_year`` each symbol's calendar figure (for the Sharpe
    ratio). ``config`` is the effective config: the incumbents and everything held equal.

    Raises ConfigError for a setting that names a symbol without bars or a strategy that is
    not enabled, or a config the paper book cannot read; ValueError for a naive ``as_of``."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware datetime (data time, UTC)")
    strategies = learner_strategies(config, settings)
    symbols = settings.symbols or tuple(bars_by_symbol)
    missing = [s for s in symbols if s not in bars_by_symbol]
    if missing:
        raise ConfigError(f"no bars for symbol {missing[0]!r}", key="learning.walk_forward.symbols")
    extra = warmup_bars(strategies, market)
    cut_ns = to_ns(as_of)
    train_windows: list[Window] = []
    test_windows: list[Window] = []
    times: dict[str, Any] = {}
    skipped: list[str] = []
    for symbol in symbols:
        found = _windows(bars_by_symbol[symbol], cut_ns, settings, extra, bars_per_year[symbol])
        if isinstance(found, str):
            skipped.append(found)
            continue
        train_windows.append(found[0])
        test_windows.append(found[1])
        times[symbol] = found[2]
    used = tuple(times)
    incumbent = PaperParams.from_config(config)
    plans: list[_KeyPlan] = []
    for key in policy.auto_apply_whitelist:
        if key in TUNED_KEYS:
            plan = _plan(key, config, policy, incumbent)
            if isinstance(plan, str):
                skipped.append(plan)
            else:
                plans.append(plan)
    if not used or not plans:
        return WalkForwardResult(as_of, (), used, tuple(skipped))
    flat = [incumbent, *(p for plan in plans for p in plan.params)]
    train_runs, _ = book_runs(train_windows, strategies, market, flat)
    limit = _risk_limit(config)
    incumbent_score = train_score(train_runs[0], limit)
    choices: list[_Choice] = []
    offset = 1
    for plan in plans:
        scores = [train_score(run, limit) for run in train_runs[offset : offset + len(plan.values)]]
        offset += len(plan.values)
        best = choose(plan.values, scores, plan.incumbent_value, incumbent_score)
        params = incumbent if best == plan.incumbent_value else plan.params[plan.values.index(best)]
        choices.append(_Choice(plan, best, params, tuple(scores)))
    test_runs, _ = book_runs(
        test_windows, strategies, market, [incumbent, *(c.params for c in choices)]
    )
    newest = from_ns(max(int(w.bars.timestamps[-1]) for w in test_windows))
    evidence = _Evidence(
        settings, newest, times, incumbent_score, limit, complete=len(used) == len(symbols)
    )
    signals = tuple(
        evidence.signal(choice, test_runs[0], run)
        for choice, run in zip(choices, test_runs[1:], strict=True)
    )
    return WalkForwardResult(as_of, signals, used, tuple(skipped))


@dataclass(frozen=True, slots=True)
class _Choice:
    plan: _KeyPlan
    value: float
    params: PaperParams
    scores: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class _Evidence:
    """What every signal of one run shares, and how one signal is built."""

    settings: WalkForwardSettings
    observed_at: datetime
    windows: Mapping[str, Any]
    incumbent_score: float
    limit: float
    complete: bool

    def _not_ready(self, before: BookRun, after: BookRun, defined: bool) -> list[str]:
        """Why the out-of-sample evidence is not complete (the ``is_live_ready`` rule)."""
        reasons = []
        if not self.complete:
            reasons.append("a symbol was left out (too few bars)")
        if not defined:
            reasons.append("some test-window return is undefined (a book was blown)")
        trades = min(before.trades, after.trades)
        if trades < self.settings.min_trades:
            reasons.append(
                f"{trades} trades in a test book, fewer than min_trades {self.settings.min_trades}"
            )
        worst = max(after.max_drawdowns.items(), key=lambda item: item[1], default=None)
        if worst is not None and worst[1] > self.limit:
            reasons.append(
                f"{worst[0]}: candidate max drawdown {worst[1]:.4f} above risk.max_drawdown "
                f"{self.limit:g} on the test window"
            )
        return reasons

    def signal(self, choice: _Choice, before: BookRun, after: BookRun) -> LearningSignal:
        """The signal of one key from its choice and the two test-window books."""
        plan, settings = choice.plan, self.settings
        differences = after.returns - before.returns
        defined = bool(np.isfinite(differences).all()) and len(differences) > 0
        mean = float(differences.mean()) if defined else math.nan
        beats = choice.value != plan.incumbent_value and defined and mean > 0.0
        not_ready = self._not_ready(before, after, defined)
        return LearningSignal(
            source=SOURCE,
            metric=METRIC,
            value=float(after.total_return - before.total_return),
            observed_at=self.observed_at,
            recommendation={
                "target": plan.key,
                "new_value": choice.value if beats else plan.incumbent,
            },
            evidence={
                "confidence": confidence(differences, settings.seed, settings.resamples),
                "is_live_ready": not not_ready,
                "tags": list(TAGS),
                "not_live_ready": not_ready,
                "incumbent": plan.incumbent,
                "train_best": choice.value,
                "beats_out_of_sample": beats,
                "train": {
                    "bars": settings.train_bars,
                    "incumbent_score": _finite(self.incumbent_score),
                    "grid": [
                        [value, _finite(score)]
                        for value, score in zip(plan.values, choice.scores, strict=True)
                    ],
                },
                "test": {
                    "bars": settings.test_bars,
                    "periods": len(differences),
                    "mean_difference": _finite(mean),
                    "incumbent": _metrics(before),
                    "candidate": _metrics(after),
                },
                "bootstrap": {
                    "resamples": settings.resamples,
                    "seed": settings.seed,
                    "block_periods": block_length(len(differences)),
                },
                "windows": dict(self.windows),
            },
        )


def walk_forward_signals(
    bars_by_symbol: Mapping[str, Bars],
    config: PeakConfig,
    policy: AutoApplyPolicy,
    settings: WalkForwardSettings,
    as_of: datetime,
    *,
    market: MarketParams,
    bars_per_year: Mapping[str, float],
) -> list[LearningSignal]:
    """The signals of :func:`run_walk_forward` (for replay: no file I/O, deterministic)."""
    result = run_walk_forward(
        bars_by_symbol,
        config,
        policy,
        settings,
        as_of,
        market=market,
        bars_per_year=bars_per_year,
    )
    return list(result.signals)


#: Evidence entries the patch carries elsewhere (confidence_score, meta.tags, ...).
_IN_PATCH = frozenset({"confidence", "is_live_ready", "tags"})


def walk_forward_patches(signals: Sequence[LearningSignal]) -> list[ConfigPatch]:
    """The patch rule (module docstring): one ``PROPOSED`` patch per key whose signal
    recommends a value other than the live one."""
    # The signal each patch came from: the latest per target, as patches_from_signals picks it.
    latest = sorted(signals, key=lambda s: s.observed_at)
    current = {str(s.recommendation["target"]): s.evidence["incumbent"] for s in latest}
    evidence = {str(s.recommendation["target"]): s.evidence for s in latest}
    return [
        patch.evolved(
            meta={
                **patch.meta,
                SOURCE: {k: v for k, v in evidence[patch.target].items() if k not in _IN_PATCH},
            }
        )
        for patch in patches_from_signals(signals, current)
    ]
