"""config/promotion.toml (the governance policy) against malformed files.

Contract: load_policy returns a policy every promotion computation can use (finite numbers,
durations datetime arithmetic can add, ordered bounds, non-empty dotted keys), or raises
PolicyError naming the file and key: fail closed, never "no limits". The CLI exits 3, raises a
critical alert and writes nothing.
"""

from __future__ import annotations

import json
import math
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings

from peaktrade_daemon.cli.app import main
from peaktrade_daemon.config.loader import load_config
from peaktrade_daemon.errors import PolicyError
from peaktrade_daemon.governance.holds import auto_apply_block
from peaktrade_daemon.governance.policy import AutoApplyMode, AutoApplyPolicy
from peaktrade_daemon.governance.verdicts import build_candidate, decide
from peaktrade_daemon.promotion.policy_file import load_policy
from tests.conftest import PROJECT_ROOT
from tests.fuzz.conftest import OutsideWatch, run_cli_many
from tests.fuzz.mutations import damaged, mutated_document
from tests.promotion.conftest import make_patch

SHIPPED = (PROJECT_ROOT / "config" / "promotion.toml").read_bytes()
BASE = load_config(PROJECT_ROOT / "config" / "config.toml").to_dict()
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def exercise(policy: AutoApplyPolicy) -> None:
    """Everything promotion computes from a policy, on patches inside and outside its bounds."""
    numbers = [policy.min_confidence, policy.min_confidence_for_auto_apply, policy.cooldown_minutes]
    assert all(math.isfinite(n) for n in numbers)
    NOW + timedelta(minutes=policy.cooldown_minutes)
    NOW + timedelta(minutes=policy.rollback.bake_window_minutes)
    for key, bounds in policy.bounds.items():
        assert bounds.min_value <= bounds.max_value and bounds.max_step > 0
        assert key and all(key.split("."))
    for target, value in (("portfolio.leverage", 1.25), ("macro.regime_weight", 5.0)):
        decision = decide(build_candidate(make_patch(target, value), policy), policy, BASE, None)
        for mode in AutoApplyMode:
            auto_apply_block(
                decision,
                policy,
                mode,
                live_value=1.0,
                frozen=False,
                applies_in_last_day=0,
                last_change_at=NOW - timedelta(minutes=1),
                now=NOW,
            )


def load_or_refuse(path: Path) -> None:
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        assert str(exc).startswith(f"{path}: "), exc
        assert str(exc).endswith("nothing promoted"), exc
        return
    exercise(policy)


@FUZZ
@given(document=mutated_document(tomllib.loads(SHIPPED.decode())))
def test_structurally_mutated_policy_is_usable_or_refused(
    tmp_path_factory: pytest.TempPathFactory, document: dict[str, object]
) -> None:
    path = tmp_path_factory.mktemp("policy") / "promotion.toml"
    path.write_text(tomlkit.dumps(document))
    load_or_refuse(path)


@FUZZ
@given(raw=damaged(SHIPPED))
def test_byte_damaged_policy_is_usable_or_refused(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    path = tmp_path_factory.mktemp("policy") / "promotion.toml"
    path.write_bytes(raw)
    load_or_refuse(path)


def edit(old: str, new: str) -> bytes:
    assert old.encode() in SHIPPED
    return SHIPPED.replace(old.encode(), new.encode(), 1)


BAD_POLICIES = {
    "cooldown inf": (edit("cooldown_minutes = 60", "cooldown_minutes = inf"), "'cooldown_minutes'"),
    "cooldown 1e300": (
        edit("cooldown_minutes = 60", "cooldown_minutes = 1e300"),
        "'cooldown_minutes': Input should be less than or equal to 527040",
    ),
    "bake window inf": (
        edit("bake_window_minutes = 60", "bake_window_minutes = inf"),
        "'rollback.bake_window_minutes': Input should be a finite number",
    ),
    "bound nan": (edit("max = 2.0", "max = nan"), "'bounds.max_value': Input should be a finite"),
    "bound missing": (edit("max_step = 0.25\n", ""), "'bounds.max_step'"),
    "bound as string": (edit("max = 2.0", 'max = "2.0"'), "Input should be a valid number"),
    "min above max": (edit("min = 1.0", "min = 5.0"), "min 5.0 is above max 2.0"),
    "empty blacklist entry": (
        edit('blacklist = ["risk.stop_loss"', 'blacklist = ["", "risk.stop_loss"'),
        "key 'blacklist': Value error, '' is not a dotted config key",
    ),
    "padded whitelist entry": (
        edit('auto_apply_whitelist = ["portfolio.leverage"', 'auto_apply_whitelist = [" x"'),
        "' x' is not a dotted config key",
    ),
    "empty blacklist tag": (
        edit('blacklist_tags = ["r_and_d"', 'blacklist_tags = [" "'),
        "empty tag",
    ),
    "bool as number": (edit("min_confidence = 0.75", "min_confidence = true"), "'min_confidence'"),
    "mode typo": (edit('mode = "manual_only"', 'mode = "manual"'), "key 'mode'"),
    "unknown key": (SHIPPED + b"\nauto_apply = true\n", "Extra inputs are not permitted"),
    "whitelisted without bounds": (
        edit('auto_apply_whitelist = ["portfolio.leverage"', 'auto_apply_whitelist = ["a.b"'),
        "whitelisted keys without bounds: a.b",
    ),
    "lock as string": (
        edit("global_promotion_lock = false", 'global_promotion_lock = "false"'),
        "'global_promotion_lock'",
    ),
    "empty file": (b"", "Field required"),
    "UTF-16": (SHIPPED.decode().encode("utf-16"), "unreadable"),
    "BOM": (b"\xef\xbb\xbf" + SHIPPED, "invalid TOML"),
    "truncated": (SHIPPED[: SHIPPED.index(b"[bounds") + 10], "invalid TOML"),
}


@pytest.mark.parametrize("name", sorted(BAD_POLICIES))
def test_hand_picked_bad_policy_is_refused_naming_file_and_key(tmp_path: Path, name: str) -> None:
    raw, needle = BAD_POLICIES[name]
    path = tmp_path / "promotion.toml"
    path.write_bytes(raw)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert needle in str(caught.value)


def test_the_shipped_policy_in_crlf_loads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "promotion.toml"
    path.write_bytes(SHIPPED.replace(b"\n", b"\r\n"))
    assert load_policy(path) == load_policy(PROJECT_ROOT / "config" / "promotion.toml")


@pytest.mark.slow
def test_promotion_cli_refuses_a_bad_policy_with_exit_3_and_writes_nothing(
    project_root: Path, outside_root: OutsideWatch
) -> None:
    patches = project_root / "patches.json"
    patches.write_text(json.dumps([make_patch("portfolio.leverage", 1.25).to_dict()]))
    picked = ("cooldown inf", "empty blacklist entry", "UTF-16", "truncated")
    roots = {name: outside_root.clone(f"root-{i}") for i, name in enumerate(picked)}
    for name in picked:
        (roots[name] / "config" / "promotion.toml").write_bytes(BAD_POLICIES[name][0])
    results = run_cli_many(
        [(roots[name], ("promote", "--auto-apply-mode", "bounded_auto", "--input", str(patches)))
         for name in picked]
    )  # fmt: skip
    for name, result in zip(picked, results, strict=True):
        root = roots[name]
        result.assert_clean_failure(3, "promotion.toml", "nothing promoted")
        assert not (root / "reports" / "live_promotion").exists()
        assert not (root / "reports" / "promotion_audit").exists()
        auto = root / "config" / "live_overrides" / "auto.toml"
        assert auto.read_bytes() == (project_root / "config/live_overrides/auto.toml").read_bytes()
        alert_log = (root / "logs" / "autonomous_alerts.log").read_text()
        assert "\tcritical\tpromotion\t" in alert_log and "promotion.toml" in alert_log


def test_config_check_reports_a_bad_policy(
    project_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = project_root / "config" / "promotion.toml"
    policy.write_bytes(BAD_POLICIES["cooldown inf"][0])
    assert main(["--root", str(project_root), "config", "check"]) == 1
    out = capsys.readouterr().out
    assert f"BAD  promotion policy ({policy})" in out and "'cooldown_minutes'" in out
    policy.unlink()
    assert main(["--root", str(project_root), "config", "check"]) == 1
    assert "promotion policy not found" in capsys.readouterr().out
