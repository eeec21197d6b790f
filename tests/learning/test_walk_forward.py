"""The walk-forward learner on constructed markets whose answer is known, and on the bundled
EURUSD history: the direction it proposes, its windows in data time, determinism, the patch
rule, and that a strong patch is promotable by the shipped policy."""

from __future__ import annotations

import ast
import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from peaktrade_daemon.config import load_config
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.governance.policy import AutoApplyBounds, AutoApplyPolicy
from peaktrade_daemon.governance.verdicts import Verdict, build_candidate, decide
from peaktrade_daemon.learning.emitter import snippet_bytes
from peaktrade_daemon.learning.models import LearningSignal
from peaktrade_daemon.learning.walk_forward import (
    SOURCE,
    TUNED_KEYS,
    WalkForwardResult,
    history_bars,
    run_walk_forward,
    walk_forward_patches,
    walk_forward_signals,
)
from peaktrade_daemon.market.bars import Bars, from_ns
from peaktrade_daemon.market.metrics import MarketParams
from peaktrade_daemon.market.ohlcv_csv import read_ohlcv_csv
from peaktrade_daemon.promotion.policy_file import load_policy
from peaktrade_daemon.settings import WalkForwardSettings
from tests.conftest import PROJECT_ROOT
from tests.learning.synthetic import (
    BARS_PER_YEAR,
    bars_of,
    reversing_legs,
    trending_legs,
)
from tests.market.samples import SAMPLES_DIR

CONFIG = load_config(PROJECT_ROOT / "config" / "config.toml")
POLICY = load_policy(PROJECT_ROOT / "config" / "promotion.toml")
MARKET = MarketParams()
SETTINGS = WalkForwardSettings(train_bars=600, test_bars=300)
N = 1100  # warm-up (101) + train + test, and some to spare
LEVERAGE = "portfolio.leverage"


def learn(
    bars: Bars | dict[str, Bars],
    *,
    config: Any = CONFIG,
    policy: AutoApplyPolicy = POLICY,
    settings: WalkForwardSettings = SETTINGS,
    as_of: datetime | None = None,
) -> WalkForwardResult:
    by_symbol = bars if isinstance(bars, dict) else {bars.symbol: bars}
    return run_walk_forward(
        by_symbol,
        config,
        policy,
        settings,
        as_of or max(b.as_of for b in by_symbol.values()),
        market=MARKET,
        bars_per_year=dict.fromkeys(by_symbol, BARS_PER_YEAR),
    )


def signal_for(result: WalkForwardResult, key: str) -> LearningSignal:
    return next(s for s in result.signals if s.recommendation["target"] == key)


def test_more_leverage_where_the_strategies_win_out_of_sample() -> None:
    config = CONFIG.with_updates({LEVERAGE: 1.5})
    signal = signal_for(learn(bars_of(trending_legs(N)), config=config), LEVERAGE)
    evidence = signal.evidence
    assert signal.recommendation["new_value"] == 2.0  # the top of bounds [1, 2]
    assert evidence["train_best"] == 2.0 and evidence["beats_out_of_sample"] is True
    test = evidence["test"]
    assert test["candidate"]["total_return"] > test["incumbent"]["total_return"] > 0.0
    assert signal.value == pytest.approx(
        test["candidate"]["total_return"] - test["incumbent"]["total_return"]
    )
    assert evidence["confidence"] >= 0.95
    assert evidence["is_live_ready"] is True and evidence["not_live_ready"] == []
    [patch] = [p for p in walk_forward_patches([signal])]
    assert (patch.old_value, patch.new_value) == (1.5, 2.0)
    assert patch.confidence_score == evidence["confidence"]


def test_less_leverage_where_the_strategies_lose_out_of_sample() -> None:
    config = CONFIG.with_updates({LEVERAGE: 1.5})
    signal = signal_for(learn(bars_of(reversing_legs(N)), config=config), LEVERAGE)
    test = signal.evidence["test"]
    assert signal.recommendation["new_value"] == 1.0  # the bottom of bounds [1, 2]
    assert test["incumbent"]["total_return"] < test["candidate"]["total_return"] < 0.0
    assert signal.evidence["confidence"] >= 0.95
    [patch] = walk_forward_patches([signal])
    assert (patch.old_value, patch.new_value, patch.is_live_ready) == (1.5, 1.0, True)


def test_no_patch_when_nothing_beats_the_incumbent() -> None:
    # Already at the top of the bounds on a market where more would be better.
    config = CONFIG.with_updates({LEVERAGE: 2.0})
    result = learn(bars_of(trending_legs(N)), config=config)
    signal = signal_for(result, LEVERAGE)
    assert signal.recommendation["new_value"] == 2.0
    assert signal.evidence["train_best"] == 2.0
    assert signal.evidence["confidence"] == 0.0  # the same book on both sides never wins
    assert LEVERAGE not in {p.target for p in walk_forward_patches(result.signals)}


def test_a_choice_that_loses_out_of_sample_is_not_proposed() -> None:
    # Trending while the learner chooses, reversing while it tests: the train winner (more
    # leverage) loses out of sample, so the signal keeps the live value.
    closes = np.concatenate([trending_legs(N - SETTINGS.test_bars), np.zeros(SETTINGS.test_bars)])
    closes[-SETTINGS.test_bars :] = reversing_legs(SETTINGS.test_bars) * closes[-301] / 100.0
    config = CONFIG.with_updates({LEVERAGE: 1.5})
    signal = signal_for(learn(bars_of(closes), config=config), LEVERAGE)
    assert signal.evidence["train_best"] == 2.0
    assert signal.evidence["beats_out_of_sample"] is False
    assert signal.evidence["test"]["mean_difference"] < 0.0
    assert signal.recommendation["new_value"] == 1.5
    assert walk_forward_patches([signal]) == []


def test_windows_are_the_last_test_bars_and_the_train_bars_before_them() -> None:
    bars = bars_of(trending_legs(N))
    as_of = from_ns(int(bars.timestamps[1049])) + timedelta(minutes=30)  # between two bars
    result = learn(bars, as_of=as_of)
    windows = signal_for(result, LEVERAGE).evidence["windows"]["SYN"]

    def stamp(i: int) -> str:
        return from_ns(int(bars.timestamps[i])).isoformat().replace("+00:00", "Z")

    assert windows["test"] == [stamp(750), stamp(1049)]  # 300 bars ending at as_of
    assert windows["train"] == [stamp(150), stamp(749)]  # the 600 bars before them
    assert all(s.observed_at == from_ns(int(bars.timestamps[1049])) for s in result.signals)
    # Bars after as_of change nothing: the same run on the bars known then.
    assert learn(bars.slice(0, 1050), as_of=as_of).signals == result.signals


def test_same_inputs_same_signals_patches_and_bytes() -> None:
    bars = bars_of(trending_legs(N))
    config = CONFIG.with_updates({LEVERAGE: 1.25})
    first, second = learn(bars, config=config), learn(bars, config=config)
    assert first == second
    assert snippet_bytes(walk_forward_patches(first.signals)) == snippet_bytes(
        walk_forward_patches(second.signals)
    )
    other_seed = learn(
        bars, config=config, settings=SETTINGS.model_copy(update={"seed": 7, "resamples": 2000})
    )
    assert [s.recommendation for s in other_seed.signals] == [
        s.recommendation for s in first.signals
    ]


def test_one_signal_per_whitelisted_tuned_key_in_whitelist_order() -> None:
    result = learn(bars_of(trending_legs(N)))
    assert [s.recommendation["target"] for s in result.signals] == list(POLICY.auto_apply_whitelist)
    for signal in result.signals:
        assert signal.source == SOURCE
        evidence = signal.evidence
        grid_values = [value for value, _ in evidence["train"]["grid"]]
        bounds = POLICY.bounds[str(signal.recommendation["target"])]
        assert grid_values[0] == bounds.min_value and grid_values[-1] == bounds.max_value
        assert 0.0 <= evidence["confidence"] <= 1.0
        assert evidence["tags"] == ["walk_forward"]


def test_keys_left_out_and_grid_points_the_firewall_refuses() -> None:
    policy = POLICY.model_copy(
        update={
            "auto_apply_whitelist": (LEVERAGE, "macro.regime_weight", "risk.stop_loss"),
            "blacklist": ("macro",),
            "bounds": {
                **POLICY.bounds,
                LEVERAGE: AutoApplyBounds(1.0, 5.0, 1.0),
                "risk.stop_loss": AutoApplyBounds(0.01, 0.05, 0.01),
            },
        }
    )
    result = learn(bars_of(trending_legs(N)), policy=policy)
    assert [s.recommendation["target"] for s in result.signals] == [LEVERAGE]  # stop_loss: untuned
    assert [v for v, _ in result.signals[0].evidence["train"]["grid"]] == [1.0, 2.0, 3.0]
    assert result.skipped == ("macro.regime_weight: blacklisted by policy entry 'macro'",)
    assert "risk.stop_loss" not in TUNED_KEYS


def test_a_symbol_with_too_few_bars_is_left_out_and_the_evidence_is_not_live_ready() -> None:
    result = learn({"SYN": bars_of(trending_legs(N)), "NEW": bars_of(trending_legs(400), "NEW")})
    assert result.symbols == ("SYN",)
    assert result.skipped == (
        "NEW: 400 bars at or before as_of, the learner needs 1001 "
        "(train_bars 600 + test_bars 300 + warm-up 101)",
    )
    for signal in result.signals:
        assert signal.evidence["is_live_ready"] is False
        assert "a symbol was left out (too few bars)" in signal.evidence["not_live_ready"]
    nothing = learn(bars_of(trending_legs(400)))
    assert nothing.signals == () and nothing.symbols == ()


def test_a_test_book_with_too_few_trades_is_not_live_ready() -> None:
    settings = SETTINGS.model_copy(update={"min_trades": 1000})
    signal = signal_for(learn(bars_of(trending_legs(N)), settings=settings), LEVERAGE)
    assert signal.evidence["is_live_ready"] is False
    assert any("fewer than min_trades 1000" in r for r in signal.evidence["not_live_ready"])


def test_symbols_and_strategies_settings() -> None:
    bars = {"SYN": bars_of(trending_legs(N)), "OTHER": bars_of(reversing_legs(N), "OTHER")}
    only = learn(bars, settings=SETTINGS.model_copy(update={"symbols": ("OTHER",)}))
    assert only.symbols == ("OTHER",)
    with pytest.raises(ConfigError) as missing:
        learn(bars, settings=SETTINGS.model_copy(update={"symbols": ("GONE",)}))
    assert missing.value.key == "learning.walk_forward.symbols"
    one = learn(bars, settings=SETTINGS.model_copy(update={"strategies": ("ma_crossover",)}))
    assert one.signals != learn(bars).signals
    with pytest.raises(ConfigError) as unknown:
        learn(bars, settings=SETTINGS.model_copy(update={"strategies": ("martingale",)}))
    assert unknown.value.key == "learning.walk_forward.strategies"
    assert "'martingale' is not enabled" in str(unknown.value)
    with pytest.raises(ValueError, match="aware"):
        learn(bars, as_of=datetime(2024, 3, 1))


def test_history_bars_is_warm_up_train_and_test() -> None:
    assert history_bars(CONFIG, SETTINGS, MARKET) == 101 + 600 + 300


def test_the_patch_carries_the_evidence_and_a_stable_id() -> None:
    config = CONFIG.with_updates({LEVERAGE: 1.5})
    signals = learn(bars_of(trending_legs(N)), config=config).signals
    leverage = next(p for p in walk_forward_patches(signals) if p.target == LEVERAGE)
    assert leverage.meta["signal_source"] == SOURCE
    assert leverage.tags == ("walk_forward",)
    carried = leverage.meta[SOURCE]
    assert (
        carried["test"]
        == signal_for(learn(bars_of(trending_legs(N)), config=config), LEVERAGE).evidence["test"]
    )
    assert {"confidence", "is_live_ready", "tags"}.isdisjoint(carried)
    assert leverage.reason is not None
    assert leverage.reason.startswith("walk_forward: oos_total_return_difference=")
    # The same data gives the same id whenever the learner runs (its signals are stamped with
    # the newest bar used), so promotion sees one patch, not a new one every run.
    again = learn(bars_of(trending_legs(N)), config=config).signals
    assert [p.id for p in walk_forward_patches(again)] == [
        p.id for p in walk_forward_patches(signals)
    ]


def test_a_strong_patch_is_promotable_by_the_shipped_policy() -> None:
    config = CONFIG.with_updates({LEVERAGE: 1.5})
    signals = learn(bars_of(trending_legs(N)), config=config).signals
    [patch] = [p for p in walk_forward_patches(signals) if p.target == LEVERAGE]
    candidate = build_candidate(patch, POLICY)
    assert candidate.eligible_for_live, candidate.eligibility_reasons
    decision = decide(candidate, POLICY, config.to_dict(), None)
    assert decision.verdict is Verdict.ACCEPTED_FOR_PROPOSAL
    assert decision.planned_steps == (1.75, 2.0)
    assert patch.confidence_score is not None
    assert patch.confidence_score >= POLICY.min_confidence_for_auto_apply


def test_the_bundled_eurusd_history() -> None:
    eurusd = read_ohlcv_csv(SAMPLES_DIR / "EURUSD.csv", symbol="EUR/USD", timeframe="1h")
    settings = WalkForwardSettings()
    inputs = ({"EUR/USD": eurusd}, CONFIG, POLICY, settings, eurusd.as_of)
    per_year = {"EUR/USD": 6000.0}
    result = run_walk_forward(*inputs, market=MARKET, bars_per_year=per_year)
    assert result.symbols == ("EUR/USD",) and result.skipped == ()
    assert len(result.signals) == 3
    for signal in result.signals:
        test = signal.evidence["test"]
        assert test["periods"] == settings.test_bars
        assert test["incumbent"]["trades"] >= settings.min_trades
        assert math.isfinite(signal.value)
    signals = walk_forward_signals(*inputs, market=MARKET, bars_per_year=per_year)
    assert signals == list(result.signals)


PURE = (
    PROJECT_ROOT / "peaktrade_daemon" / "learning" / "walk_forward.py",
    PROJECT_ROOT / "peaktrade_daemon" / "learning" / "tuning.py",
)
#: What the pure learner may use: values, the book, the governance core, the strategies.
ALLOWED_PREFIXES = (
    "__future__",
    "collections",
    "dataclasses",
    "datetime",
    "math",
    "typing",
    "numpy",
    "peaktrade_daemon.config",
    "peaktrade_daemon.errors",
    "peaktrade_daemon.governance.",
    "peaktrade_daemon.learning.models",
    "peaktrade_daemon.learning.tuning",
    "peaktrade_daemon.market.bars",
    "peaktrade_daemon.market.metrics",
    "peaktrade_daemon.portfolio.paired",
    "peaktrade_daemon.portfolio.params",
    "peaktrade_daemon.settings",
    "peaktrade_daemon.strategies.",
)


@pytest.mark.parametrize("path", PURE, ids=lambda p: p.name)
def test_the_learner_is_pure(path: Any) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    outside = sorted(m for m in imported if not m.startswith(ALLOWED_PREFIXES))
    assert not outside, f"{path.name} imports {outside}"
    text = path.read_text(encoding="utf-8")
    for call in ("datetime.now(", ".utcnow(", "time.time(", "open(", "read_text(", "write_"):
        assert call not in text, f"{path.name} calls {call}"


def test_of_several_runs_the_latest_signal_per_key_makes_the_patch() -> None:
    bars = bars_of(trending_legs(N))
    config = CONFIG.with_updates({LEVERAGE: 1.5})
    earlier = learn(bars, config=config, as_of=from_ns(int(bars.timestamps[1049]))).signals
    later = learn(bars, config=config).signals
    assert earlier[0].evidence["windows"] != later[0].evidence["windows"]
    for mixed in ([*later, *earlier], [*earlier, *later]):
        leverage = next(p for p in walk_forward_patches(mixed) if p.target == LEVERAGE)
        assert leverage.generated_at == later[0].observed_at
        assert leverage.meta[SOURCE]["windows"] == later[0].evidence["windows"]
