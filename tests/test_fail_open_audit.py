"""Audit for fail-open defaults (SPEC principle 1: missing or malformed input takes the safe
outcome, loudly; never "no limits").

The tests above the "checked and found safe" marker are the confirmed findings: each asserted
the safe behaviour and failed on the code as audited, before the fixes that came with them. The
tests below the marker record suspicions that were checked and were handled safely already.

Real objects throughout (the shipped config files, the real loaders).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from peaktrade_daemon.config import load_config
from peaktrade_daemon.decision.criteria import CriterionError, DecisionCriteria
from peaktrade_daemon.decision.engine import DecisionEngine
from peaktrade_daemon.decision.record import DecisionAction
from peaktrade_daemon.errors import ConfigError, PolicyError
from peaktrade_daemon.governance.evidence import EvidencePolicy, EvidenceVerdict, judge
from peaktrade_daemon.governance.guard import Health, baseline_complete, evaluate
from peaktrade_daemon.governance.holds import auto_apply_block
from peaktrade_daemon.governance.policy import AutoApplyMode
from peaktrade_daemon.governance.verdicts import (
    PromotionCandidate,
    PromotionDecision,
    build_candidate,
    decide,
)
from peaktrade_daemon.learning.models import ConfigPatch
from peaktrade_daemon.portfolio.paired import BookRun
from peaktrade_daemon.portfolio.params import PaperParams
from peaktrade_daemon.promotion.policy_file import load_policy
from peaktrade_daemon.settings import load_settings
from peaktrade_daemon.trading_config import check_trading_config
from peaktrade_daemon.workflows import risk_check
from tests.conftest import PROJECT_ROOT
from tests.promotion.conftest import make_patch

BASE = {
    "portfolio": {"leverage": 1.0},
    "strategy": {"trigger_delay": 10.0},
    "macro": {"regime_weight": 0.25},
    "risk": {"stop_loss": 0.02, "max_drawdown": 0.2},
    "environment": {"mode": "paper"},
}


def _shipped_policy_text() -> str:
    return (PROJECT_ROOT / "config" / "promotion.toml").read_text()


# --------------------------------------------------------------------------------------------
# Confirmed findings (these FAIL on the audited code)
# --------------------------------------------------------------------------------------------


def test_nan_risk_limit_is_never_an_ok_check() -> None:
    """A NaN limit compares False with every value, so ``value > nan`` is never a breach:
    risk_check reports the check ``ok``. It must be ``unknown`` (or the config refused)."""
    record = risk_check.evaluate("drawdown", "GOOG", 0.9, math.nan)
    assert record["status"] != "ok", record


@pytest.mark.parametrize(
    "key", ["max_drawdown", "max_exposure", "max_leverage", "daily_loss_limit"]
)
@pytest.mark.parametrize("bad", ["nan", "inf", "-0.1", "0", '"0.2"'])
def test_a_risk_limit_that_is_no_positive_finite_number_is_refused_at_load(
    tmp_path: Path, key: str, bad: str
) -> None:
    """``[risk] max_drawdown = nan`` (valid TOML) passed ``check_trading_config`` (config
    check, start-up, reload), and the risk_check workflow then reported the check ``ok``
    whatever the drawdown: the limit silently became "no limit". Now it is refused, naming it."""
    config = tmp_path / "config.toml"
    text = (PROJECT_ROOT / "config" / "config.toml").read_text()
    lines = [
        f"{key} = {bad}" if line.startswith(f"{key} =") else line for line in text.splitlines()
    ]
    config.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as caught:
        check_trading_config(load_config(config), config)
    assert caught.value.key == f"risk.{key}"
    assert "positive finite number" in caught.value.problem


def test_env_override_of_one_threshold_keeps_the_other_thresholds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no daemon.toml (all defaults, allowed), tuning one level from the environment
    (``PEAKTRADE_MONITORS__PERFORMANCE__THRESHOLDS__EXPOSURE__WARNING=1.3``) replaces the whole
    default thresholds table: ``current_drawdown`` and ``daily_pnl_pct`` lose their warning and
    critical levels without a word, so the performance monitor never goes critical on a
    drawdown again. Safe: the other defaults stay (or the override is refused)."""
    root = tmp_path / "root"
    root.mkdir()
    defaults = load_settings(root).monitors.performance.thresholds
    assert {"current_drawdown", "daily_pnl_pct", "exposure"} <= set(defaults)
    monkeypatch.setenv("PEAKTRADE_MONITORS__PERFORMANCE__THRESHOLDS__EXPOSURE__WARNING", "1.3")
    thresholds = load_settings(root).monitors.performance.thresholds
    assert thresholds["exposure"].warning == 1.3
    assert thresholds["exposure"].critical == defaults["exposure"].critical  # its other level
    assert thresholds.get("current_drawdown") == defaults["current_drawdown"], thresholds
    assert thresholds.get("daily_pnl_pct") == defaults["daily_pnl_pct"], thresholds


@pytest.mark.parametrize("field", ["blacklist_tags", "blacklist"])
def test_a_policy_without_its_blacklists_is_refused(tmp_path: Path, field: str) -> None:
    """promotion.toml without its ``blacklist_tags`` line was a valid policy whose tag
    blacklist was empty: a patch tagged ``experimental`` on a whitelisted, bounded key became
    ACCEPTED_FOR_PROPOSAL (and could be auto-applied in bounded_auto). A missing restriction
    silently meant "no restriction"; now the policy is refused (an empty list must be said)."""
    text = _shipped_policy_text()
    lines = text.splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.startswith(f"{field} =")]
    path = tmp_path / "promotion.toml"
    path.write_text("\n".join(lines[:at] + lines[at + 1 :]) + "\n")
    with pytest.raises(PolicyError, match=field):
        load_policy(path)
    path.write_text("\n".join([*lines[:at], f"{field} = []", *lines[at + 1 :]]) + "\n")
    load_policy(path)  # said empty: accepted


# --------------------------------------------------------------------------------------------
# Checked and found safe (these pass)
# --------------------------------------------------------------------------------------------


def test_safe_decision_nan_inf_none_and_bool_metrics_are_unknown_and_wait() -> None:
    engine = DecisionEngine()
    for bad in (math.nan, math.inf, None, True, "0.1", np.float64("nan")):
        metrics: dict[str, Any] = {
            "current_drawdown": bad,
            "daily_pnl_pct": -5.0,
            "exposure": 2.0,
            "position_size_pct": 50.0,
        }
        decision = engine.make_decision("risk_check", metrics)
        assert decision.action is DecisionAction.WAIT, (bad, decision.reasoning)
        assert "current_drawdown" in decision.metadata["missing_metrics"]


def test_safe_decision_unknown_type_and_empty_criteria_skip() -> None:
    engine = DecisionEngine()
    assert engine.make_decision("no_such_type", {}).action is DecisionAction.SKIP
    with pytest.raises(CriterionError):
        DecisionCriteria("x", math.nan)


def test_safe_risk_check_missing_limit_or_metric_is_unknown() -> None:
    assert risk_check.evaluate("drawdown", "X", 0.5, None)["status"] == "unknown"
    assert risk_check.evaluate("drawdown", "X", None, 0.2)["status"] == "unknown"
    assert risk_check._number("0.2") is None  # a string limit is unknown, never a number


def test_safe_evidence_refuses_nan_risk_limit_and_empty_books() -> None:
    policy = EvidencePolicy(
        enabled=True,
        lookback_bars=500,
        min_periods=100,
        min_trades=0,
        tolerance=0.0,
        max_drawdown_increase=0.025,
    )
    empty = BookRun(PaperParams(), ())
    with pytest.raises(ValueError):
        judge(empty, empty, risk_max_drawdown=math.nan, policy=policy, stale=False, seed=1)
    verdict = judge(empty, empty, risk_max_drawdown=0.2, policy=policy, stale=False, seed=1)
    assert verdict.verdict is EvidenceVerdict.INCONCLUSIVE  # no symbols: never PASS


def test_safe_guard_unknown_metrics_are_not_healthy(tmp_path: Path) -> None:
    policy = load_policy(PROJECT_ROOT / "config" / "promotion.toml").rollback
    assert not baseline_complete({})
    assert not baseline_complete({"current_drawdown": math.nan, "sharpe_ratio": 1.0})
    baseline = {"current_drawdown": 0.01, "sharpe_ratio": 1.0}
    health, _ = evaluate(baseline, {"current_drawdown": math.nan, "sharpe_ratio": 1.0}, policy)
    assert health is Health.UNKNOWN
    health, _ = evaluate(baseline, {}, policy)
    assert health is Health.UNKNOWN


def test_safe_policy_missing_required_fields_is_refused(tmp_path: Path) -> None:
    text = _shipped_policy_text()
    for prefix in (
        "max_auto_applies_per_day",
        "cooldown_minutes",
        "min_confidence =",
        "[evidence]",
    ):
        lines = text.splitlines()
        if prefix == "[evidence]":
            kept = lines[: next(i for i, line in enumerate(lines) if line.startswith(prefix))]
        else:
            kept = [line for line in lines if not line.startswith(prefix)]
        path = tmp_path / "promotion.toml"
        path.write_text("\n".join(kept) + "\n")
        with pytest.raises(PolicyError):
            load_policy(path)
    path.write_text(text.replace("max_step = 0.25", "max_step = nan"))
    with pytest.raises(PolicyError):
        load_policy(path)


def test_safe_auto_apply_without_confidence_or_with_zero_rate_limit_is_held(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    policy = load_policy(PROJECT_ROOT / "config" / "promotion.toml")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    patch = make_patch("portfolio.leverage", 1.25)
    decision = decide(build_candidate(patch, policy), policy, BASE, None)
    assert decision.accepted
    no_score = decision.candidate.patch.evolved(confidence_score=None)
    held = auto_apply_block(
        PromotionDecision(PromotionCandidate(no_score, (), True), decision.verdict, (), (), 1.0),
        policy,
        AutoApplyMode.BOUNDED_AUTO,
        live_value=1.0,
        frozen=False,
        applies_in_last_day=0,
        last_change_at=None,
        now=now,
    )
    assert held is not None and "confidence" in held
    zero = policy.model_copy(update={"max_auto_applies_per_day": 0})
    held = auto_apply_block(
        decision,
        zero,
        AutoApplyMode.BOUNDED_AUTO,
        live_value=1.0,
        frozen=False,
        applies_in_last_day=0,
        last_change_at=None,
        now=now,
    )
    assert held is not None and "rate limit" in held


def test_safe_patch_with_nan_confidence_or_value_is_refused() -> None:
    with pytest.raises(ValueError):
        ConfigPatch(id="p", target="portfolio.leverage", old_value=None, new_value=math.nan)
    with pytest.raises(ValueError):
        ConfigPatch(
            id="p",
            target="portfolio.leverage",
            old_value=None,
            new_value=1.5,
            confidence_score=math.nan,
        )
