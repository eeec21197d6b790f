"""Built-in criteria: on the monitors' metrics, behaving as documented, fitting real data."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peaktrade_daemon.decision import (
    DEFAULT_CRITERIA,
    DecisionAction,
    DecisionCriteria,
    DecisionEngine,
)
from peaktrade_daemon.settings import WORKFLOW_TYPES

ROOT = Path(__file__).resolve().parents[2]

# The flat metric names of the metric contract (brief METRICS.md), by monitor.
MARKET = {
    "volatility",
    "volume_ratio",
    "price_change_1h",
    "spread",
    "activity_level",
    "is_market_hours",
    "trend_strength",
    "regime",
}
SIGNALS = {
    "signal_strength",
    "signal_direction",
    "signal_consistency",
    "false_signal_rate",
    "signal_frequency",
}
PERFORMANCE = {
    "current_drawdown",
    "max_drawdown",
    "win_rate",
    "daily_pnl_pct",
    "sharpe_ratio",
    "sortino_ratio",
    "total_trades",
    "position_size_pct",
    "exposure",
}
# Legitimately absent in the embedded default (no ticker feed; no closed trade yet).
ABSENT_IN_REPLAY = {"spread", "win_rate"}


def test_every_workflow_type_has_criteria_on_contract_metrics() -> None:
    assert set(DEFAULT_CRITERIA) == set(WORKFLOW_TYPES)
    for workflow_type, criteria in DEFAULT_CRITERIA.items():
        assert criteria, workflow_type
        metrics = {c.metric_name for c in criteria}
        assert metrics <= MARKET | SIGNALS | PERFORMANCE, workflow_type
        assert not metrics & ABSENT_IN_REPLAY, workflow_type
        assert len({c.name for c in criteria}) == len(criteria)


def test_engine_without_settings_uses_the_defaults() -> None:
    engine = DecisionEngine()
    for workflow_type in WORKFLOW_TYPES:
        assert engine.criteria_for(workflow_type) == DEFAULT_CRITERIA[workflow_type]


# Outcomes the defaults module documents, checked so the prose cannot drift from the numbers.
# Values are given in the order of each type's default criteria.
DOCUMENTED = [
    ("signal_analysis", (0.8, 0.2, 0.9), "EXECUTE", 4 / 6),
    ("signal_analysis", (0.3, 0.9, 0.1), "SKIP", 2 / 6),
    ("risk_check", (0.06, 0.5, 1.0, 10.0), "ALERT", 0.4),
    ("risk_check", (0.06, -2.5, 1.0, 10.0), "EXECUTE", 0.6),
    ("risk_check", (0.01, -3.0, 2.0, 40.0), "EXECUTE", 0.6),
    ("market_scan", (1.6, 0.2, 0.1, 1.0), "ALERT", 0.5),
    ("market_scan", (1.6, 0.8, 0.1, 1.0), "EXECUTE", 0.75),
    ("market_scan", (1.0, 0.3, 0.2, 0.0), "SKIP", 0.0),
    ("portfolio_analysis", (12.0, 0.04, 1.2), "EXECUTE", 0.6),
    ("portfolio_analysis", (2.0, 0.2, -0.3), "ALERT", 0.4),
]


@pytest.mark.parametrize(("workflow_type", "values", "action", "confidence"), DOCUMENTED)
def test_documented_outcomes(
    workflow_type: str, values: tuple[float, ...], action: str, confidence: float
) -> None:
    criteria = DEFAULT_CRITERIA[workflow_type]
    metrics = {c.metric_name: v for c, v in zip(criteria, values, strict=True)}
    decision = DecisionEngine().make_decision(workflow_type, metrics)
    assert decision.action is DecisionAction(action), decision.reasoning
    assert decision.confidence == pytest.approx(confidence)


def test_a_missing_metric_makes_every_default_type_wait() -> None:
    engine = DecisionEngine()
    for workflow_type, criteria in DEFAULT_CRITERIA.items():
        decision = engine.make_decision(workflow_type, {c.metric_name: 1.0 for c in criteria[1:]})
        assert decision.action is DecisionAction.WAIT
        assert decision.missing_metrics == (criteria[0].metric_name,)


def test_daemon_toml_documents_exactly_the_defaults() -> None:
    """The commented-out criteria in config/daemon.toml, uncommented, are the built-in ones."""
    text = (ROOT / "config/daemon.toml").read_text(encoding="utf-8")
    sections = re.findall(r"^\[decision\.(\w+)\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    found = {}
    for workflow_type, body in sections:
        block = re.search(r"^# criteria = \[\n(.*?)^# \]", body, re.M | re.S)
        if block is None:
            continue
        toml_text = "criteria = [\n" + re.sub(r"^# ", "", block.group(1), flags=re.M) + "]\n"
        found[workflow_type] = tuple(
            DecisionCriteria(**row) for row in tomllib.loads(toml_text)["criteria"]
        )
    assert found == dict(DEFAULT_CRITERIA)


def _volume_ratio(name: str, lookback: int = 20) -> pd.Series:
    bars = pd.read_csv(ROOT / "data/samples" / f"{name}.csv", index_col=0, parse_dates=True)
    return (bars["Volume"] / bars["Volume"].rolling(lookback).mean()).dropna()


@pytest.mark.parametrize("sample", ["BTCUSD", "EURUSD", "GOOG"])
def test_volume_threshold_marks_a_minority_of_real_bars(sample: str) -> None:
    """market_scan's volume_ratio >= 1.5 is unusual but not rare on every bundled sample."""
    (threshold,) = [
        c.threshold for c in DEFAULT_CRITERIA["market_scan"] if c.name == "volume_ratio"
    ]
    share = float(np.mean(_volume_ratio(sample) >= threshold))
    assert 0.05 <= share <= 0.30, share
