"""Table-driven tests of the pure policy: verdict order, segments, tags, gates; policy loading."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from peaktrade_daemon.errors import PolicyError
from peaktrade_daemon.governance.firewall import segments_match
from peaktrade_daemon.governance.holds import auto_apply_block
from peaktrade_daemon.governance.policy import AutoApplyMode, AutoApplyPolicy
from peaktrade_daemon.governance.verdicts import Verdict, build_candidate, decide
from peaktrade_daemon.promotion.policy_file import load_policy
from tests.promotion.conftest import T0, make_patch

BASE = {
    "portfolio": {"leverage": 1.0, "fee_bps": 5.0},
    "strategy": {"trigger_delay": 10.0, "name": "ma", "experimental": {"gain": 1.0}},
    "macro": {"regime_weight": 0.25},
    "risk": {"stop_loss": 0.02},
    "risky": {"x": 1.0},
    "environment": {"mode": "paper"},
}


@pytest.mark.parametrize(
    ("patch", "verdict", "reason"),
    [
        (make_patch("portfolio.leverage", 1.5), Verdict.ACCEPTED_FOR_PROPOSAL, "passed"),
        (make_patch("risk.stop_loss", 0.01), Verdict.REJECTED_BY_POLICY, "P0 BLACKLIST"),
        # Not under risk.* (whole segments), but without bounds it can never be written (§8.8).
        (make_patch("risky.x", 2.0), Verdict.REJECTED_BY_POLICY, "no bounds in the policy"),
        (
            make_patch("portfolio.leverage", 1.5, confidence=None),
            Verdict.REJECTED_BY_POLICY,
            "no confidence",
        ),
        (
            make_patch("portfolio.leverage", 1.5, live_ready=False),
            Verdict.REJECTED_BY_POLICY,
            "is_live_ready",
        ),
        (
            make_patch("portfolio.leverage", 1.5, tags=("r_and_d",)),
            Verdict.REJECTED_BY_POLICY,
            "r_and_d",
        ),
        (make_patch("strategy.experimental.gain", 2.0), Verdict.REJECTED_BY_POLICY, "experimental"),
        (make_patch("portfolio.nope", 1.0), Verdict.REJECTED_BY_SANITY_CHECK, "unknown key"),
        (
            make_patch("portfolio.leverage", "high"),
            Verdict.REJECTED_BY_SANITY_CHECK,
            "type mismatch",
        ),
        (make_patch("portfolio.leverage", True), Verdict.REJECTED_BY_SANITY_CHECK, "type mismatch"),
        (make_patch("environment.mode", "live"), Verdict.REJECTED_BY_SANITY_CHECK, "environment"),
        (make_patch("portfolio.leverage", 2.5), Verdict.REJECTED_BY_POLICY, "P0_BOUNDS"),
        (
            make_patch("portfolio.leverage", 3.5),
            Verdict.REJECTED_BY_SANITY_CHECK,
            "FIREWALL: leverage",
        ),
        (
            make_patch("strategy.name", "rsi"),
            Verdict.REJECTED_BY_POLICY,
            "P0_BOUNDS: no bounds in the policy",
        ),
        (make_patch("portfolio.fee_bps", 4.0), Verdict.REJECTED_BY_POLICY, "no bounds"),
        # Order: a blacklisted, ineligible patch is REJECTED_BY_POLICY for the blacklist first.
        (
            make_patch("risk.stop_loss", 0.01, live_ready=False),
            Verdict.REJECTED_BY_POLICY,
            "P0 BLACKLIST",
        ),
    ],
)
def test_verdicts(shipped_policy: AutoApplyPolicy, patch, verdict: Verdict, reason: str) -> None:
    decision = decide(build_candidate(patch, shipped_policy), shipped_policy, BASE, None)
    assert decision.verdict is verdict
    assert reason in decision.reasons[0]


def test_segments() -> None:
    assert segments_match("risk.stop_loss", "risk") and segments_match("risk", "risk")
    assert not segments_match("risky.x", "risk") and not segments_match("risk_x", "risk")


def test_a_key_without_bounds_is_rejected_with_every_reason(
    shipped_policy: AutoApplyPolicy,
) -> None:
    decision = decide(
        build_candidate(make_patch("strategy.name", "rsi"), shipped_policy),
        shipped_policy,
        BASE,
        None,
    )
    assert decision.verdict is Verdict.REJECTED_BY_POLICY
    assert decision.reasons == ("P0_BOUNDS: no bounds in the policy",)
    assert "non_numeric" in decision.safety_flags and "bounded" not in decision.safety_flags
    block = auto_apply_block(
        decision,
        shipped_policy,
        AutoApplyMode.BOUNDED_AUTO,
        live_value="ma",
        frozen=False,
        applies_in_last_day=0,
        last_change_at=None,
        now=T0,
    )
    assert block == "verdict REJECTED_BY_POLICY"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, None),
        ({"mode": AutoApplyMode.MANUAL_ONLY}, "mode manual_only"),
        ({"frozen": True}, "frozen"),
        ({"applies_in_last_day": 3}, "rate limit"),
        ({"last_change_at": T0 - timedelta(minutes=59)}, "cooldown"),
        ({"last_change_at": T0 - timedelta(minutes=60)}, None),
        ({"live_value": 0.5}, "outside bounds"),
        ({"live_value": 1.5}, "already at"),
    ],
)
def test_auto_apply_gates(shipped_policy: AutoApplyPolicy, kwargs, expected) -> None:
    decision = decide(
        build_candidate(make_patch("portfolio.leverage", 1.5), shipped_policy),
        shipped_policy,
        BASE,
        None,
    )
    args = {
        "live_value": 1.0,
        "frozen": False,
        "applies_in_last_day": 0,
        "last_change_at": None,
        "now": T0,
    }
    mode = kwargs.pop("mode", AutoApplyMode.BOUNDED_AUTO)
    block = auto_apply_block(decision, shipped_policy, mode, **{**args, **kwargs})
    assert (block is None) if expected is None else (expected in (block or ""))


def test_low_confidence_for_auto_apply_stays_manual(shipped_policy: AutoApplyPolicy) -> None:
    patch = make_patch(
        "portfolio.leverage", 1.5, confidence=0.78
    )  # eligible (>= 0.75), not auto (< 0.80)
    decision = decide(build_candidate(patch, shipped_policy), shipped_policy, BASE, None)
    assert decision.accepted
    block = auto_apply_block(
        decision,
        shipped_policy,
        AutoApplyMode.BOUNDED_AUTO,
        live_value=1.0,
        frozen=False,
        applies_in_last_day=0,
        last_change_at=None,
        now=T0,
    )
    assert block is not None and "min_confidence_for_auto_apply" in block


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('mode = "manual_only"', 'mode = "yolo"', "mode"),
        ("max_step = 0.25", "max_step = -0.25", "max_step"),
        ("min = 1.0\nmax = 2.0", "min = 2.0\nmax = 1.0", "above max"),
        ("min_confidence = 0.75", "min_confidence = 1.5", "min_confidence"),
        (
            "max_auto_applies_per_day = 3",
            "max_auto_applies_per_day = true",
            "max_auto_applies_per_day",
        ),
        (
            "global_promotion_lock = false",
            'global_promotion_lock = "false"',
            "global_promotion_lock",
        ),
        ("cooldown_minutes = 60", "cooldown_minutes = 60\nsurprise = 1", "surprise"),
        ("[rollback]", "[rollback_typo]", "rollback"),
        ('mode = "manual_only"', "mode = ", "invalid TOML"),
    ],
)
def test_invalid_policy_files(tmp_path: Path, old: str, new: str, message: str) -> None:
    shipped = (Path(__file__).resolve().parents[2] / "config/promotion.toml").read_text()
    assert old in shipped
    path = tmp_path / "promotion.toml"
    path.write_text(shipped.replace(old, new, 1))
    with pytest.raises(PolicyError, match=message):
        load_policy(path)


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "promotion.toml")


def test_shipped_policy_matches_the_spec(shipped_policy: AutoApplyPolicy) -> None:
    p = shipped_policy
    assert p.mode is AutoApplyMode.MANUAL_ONLY
    assert {k: (b.min_value, b.max_value, b.max_step) for k, b in p.bounds.items()} == {
        "portfolio.leverage": (1.0, 2.0, 0.25),
        "strategy.trigger_delay": (3.0, 15.0, 2.0),
        "macro.regime_weight": (0.0, 0.8, 0.1),
    }
    assert set(p.blacklist_tags) == {"r_and_d", "experimental", "untested"}
    assert "risk.stop_loss" in p.blacklist
    assert (p.min_confidence, p.min_confidence_for_auto_apply) == (0.75, 0.80)
    assert (p.max_auto_applies_per_day, p.cooldown_minutes, p.global_promotion_lock) == (
        3,
        60,
        False,
    )
