"""Property tests of the §8.4 invariants: for random policies, live values and patch streams,
after every pipeline run

* no auto-written value is outside its key's bounds, and no single change exceeds ``max_step``
  from the live value it started at;
* only whitelisted keys are auto-applied; environment.*, secrets and leverage above 3.0 never;
* manual_only and disabled never touch auto.toml (bytes identical);
* the rate limit and the per-key cooldown hold over the whole history;
* the audit trail verifies and agrees with auto.toml.
"""

from __future__ import annotations

import math
import tempfile
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_daemon.audit_records import changes_since
from peaktrade_daemon.governance.firewall import firewall_reasons
from peaktrade_daemon.governance.plans import WriteKind, plan_adopt
from peaktrade_daemon.governance.policy import AutoApplyBounds, AutoApplyMode, AutoApplyPolicy
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.promotion.engine import run_promotion
from peaktrade_daemon.promotion.writer import GateContext, OverridesWriter
from tests.promotion.conftest import T0, make_patch, write

# A base config with the tuned keys plus keys the firewall must protect whatever the policy says.
BASE: dict[str, Any] = {
    "environment": {"mode": "live", "risk_scale": 1.0},
    "portfolio": {"leverage": 1.0, "fee_bps": 5.0},
    "strategy": {"trigger_delay": 10.0},
    "macro": {"regime_weight": 0.25},
    "exchange": {"api_token_ttl": 30.0},
    "risk": {"stop_loss": 0.02},
}
KEYS = [
    "portfolio.leverage",
    "strategy.trigger_delay",
    "macro.regime_weight",
    "environment.risk_scale",
    "exchange.api_token_ttl",
    "risk.stop_loss",
    "portfolio.fee_bps",
]

NUMERIC = {key: float(BASE[key.split(".")[0]][key.split(".")[1]]) for key in KEYS}
finite = st.floats(min_value=-20, max_value=20, allow_nan=False, allow_infinity=False)
spread = st.floats(min_value=0, max_value=6, allow_nan=False)


def near(key: str) -> st.SearchStrategy[float]:
    """Values around the key's base value (in and out of typical bounds)."""
    return st.builds(lambda d: round(NUMERIC[key] + d, 3), st.floats(min_value=-4, max_value=4))


@st.composite
def policies(draw: st.DrawFn) -> AutoApplyPolicy:
    # Most keys bounded around their base value and whitelisted, so applies actually happen and
    # the firewall, bounds and step rules are exercised rather than vacuously true.
    bounded = [k for k in KEYS if draw(st.integers(0, 4))]
    bounds = {}
    for key in bounded:
        low = NUMERIC[key] - draw(spread)
        high = NUMERIC[key] + draw(spread)
        step = draw(st.floats(min_value=0.05, max_value=3))
        bounds[key] = AutoApplyBounds(low, high, step)
    min_conf = draw(st.floats(min_value=0, max_value=0.9))
    return AutoApplyPolicy(
        mode=AutoApplyMode.BOUNDED_AUTO,
        bounds=bounds,
        auto_apply_whitelist=tuple(k for k in bounded if draw(st.integers(0, 5))),
        blacklist=tuple(
            draw(st.lists(st.sampled_from([*KEYS, "risk", "portfolio"]), unique=True, max_size=1))
        ),
        blacklist_tags=("experimental",),
        min_confidence=min_conf,
        min_confidence_for_auto_apply=draw(st.floats(min_value=min_conf, max_value=0.95)),
        max_auto_applies_per_day=draw(st.integers(min_value=0, max_value=6)),
        cooldown_minutes=draw(st.sampled_from([0.0, 10.0, 60.0])),
        rollback={"bake_window_minutes": 60, "max_drawdown_increase": 0.02, "max_sharpe_drop": 0.5},
        evidence={
            "enabled": False,
            "lookback_bars": 500,
            "min_periods": 100,
            "min_trades": 5,
            "tolerance": 0.00001,
            "max_drawdown_increase": 0.025,
        },
    )


@st.composite
def patches(draw: st.DrawFn):
    key = draw(st.sampled_from(KEYS))
    value = draw(
        st.one_of(
            near(key),
            near(key),
            near(key),
            near(key),
            st.sampled_from([3.0, 3.01, 4.5, 1.0]),
            finite,
            st.text(max_size=2),
            st.booleans(),
        )
    )
    confidence = draw(st.one_of(st.just(0.99), st.just(0.99), st.just(0.99), st.floats(0, 1)))
    ready = draw(st.integers(0, 9)) != 0
    tagged = draw(st.integers(0, 9)) == 0
    return make_patch(
        key,
        value,
        confidence=confidence,
        live_ready=ready,
        tags=("experimental",) if tagged else (),
    )


steps = st.lists(
    st.tuples(
        st.sampled_from(
            [AutoApplyMode.BOUNDED_AUTO] * 3 + [AutoApplyMode.MANUAL_ONLY, AutoApplyMode.DISABLED]
        ),
        st.lists(patches(), min_size=1, max_size=6),
        st.integers(min_value=0, max_value=180),  # minutes since the previous run
    ),
    min_size=1,
    max_size=6,
)
initial_live = st.dictionaries(
    st.sampled_from(["portfolio.leverage", "strategy.trigger_delay", "macro.regime_weight"]),
    st.floats(min_value=-3, max_value=12),
    max_size=3,
)


def _write_initial(path: Path, values: dict[str, float]) -> None:
    body = "".join(f'"{k}" = {v!r}\n' for k, v in values.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# hand-seeded\n[auto_applied]\n" + body)


# Every example does real locked, fsynced writes: ~8 s on a quiet disk, far more when the disk
# is shared, hence the longer timeout rather than fewer examples.
@pytest.mark.timeout(360)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=policies(), live=initial_live, stream=steps)
def test_every_invariant_holds_after_every_step(
    policy: AutoApplyPolicy, live: dict[str, float], stream
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        auto = root / "config" / "live_overrides" / "auto.toml"
        _write_initial(auto, live)
        audit = AuditTrail(root / "audit.jsonl")
        writer = OverridesWriter(auto, audit)
        # A hand-seeded file is adopted first (what the gate refuses is dropped): every
        # governed write refuses a file the audit trail did not record.
        write(
            writer,
            plan_adopt(BASE, policy, "seed", {}),
            kind=WriteKind.ADOPT,
            gate=GateContext(BASE, policy),
        )
        now = T0
        for mode, batch, gap in stream:
            now += timedelta(minutes=gap)
            before_bytes = auto.read_bytes()
            before_seq = len(audit.records())
            run = run_promotion(
                batch,
                policy=policy,
                mode=mode,
                base=BASE,
                writer=writer,
                audit=audit,
                proposals_dir=root / "proposals",
                now=now,
            )
            if mode is not AutoApplyMode.BOUNDED_AUTO:
                assert auto.read_bytes() == before_bytes, f"{mode} touched auto.toml"
                assert run.outcomes == [] or not any(o.applied for o in run.outcomes)
            new_changes = [r for r in audit.records()[before_seq:] if r["event"] == "change"]
            if mode is not AutoApplyMode.BOUNDED_AUTO:
                assert new_changes == []
            for record in new_changes:
                key, after, start = record["key"], record["after"], record["live_before"]
                assert record["actor"] == "auto"
                assert key in policy.auto_apply_whitelist
                assert not firewall_reasons(key, after), f"firewall breached: {key}={after}"
                assert not key.startswith("environment")
                bounds = policy.bounds[key]
                assert bounds.min_value <= after <= bounds.max_value
                assert abs(after - start) <= bounds.max_step + 1e-9
            _check_history(audit, policy, auto)


def _check_history(audit: AuditTrail, policy: AutoApplyPolicy, auto: Path) -> None:
    from datetime import datetime

    records = audit.records()
    auto_changes = [r for r in changes_since(records) if r["actor"] == "auto"]
    times = [datetime.fromisoformat(r["time"]) for r in auto_changes]
    for i, moment in enumerate(times):
        window = [t for t in times[: i + 1] if t > moment - timedelta(days=1)]
        assert len(window) <= policy.max_auto_applies_per_day, "rate limit exceeded"
    last: dict[str, datetime] = {}
    for record, moment in zip(auto_changes, times, strict=True):
        if record["key"] in last:
            assert moment - last[record["key"]] >= timedelta(minutes=policy.cooldown_minutes)
        last[record["key"]] = moment
    report = audit.verify(auto)
    assert report.ok, report.problems
    live = tomllib.loads(auto.read_text())["auto_applied"]
    for record in auto_changes:
        assert math.isfinite(live[record["key"]])


@settings(max_examples=500, deadline=None)
@given(
    low=finite,
    width=st.floats(min_value=0, max_value=10),
    step=st.floats(min_value=1e-3, max_value=5),
    a=st.floats(min_value=0, max_value=1),
    b=st.floats(min_value=0, max_value=1),
)
def test_one_step_stays_in_bounds_moves_toward_target_and_never_exceeds_max_step(
    low, width, step, a, b
) -> None:
    from peaktrade_daemon.governance.steps import next_step, plan_steps

    bounds = AutoApplyBounds(low, low + width, step)
    current, target = low + a * width, low + b * width
    after = next_step(current, target, bounds)
    assert bounds.min_value <= after <= bounds.max_value
    assert abs(after - current) <= step + 1e-12
    assert abs(target - after) <= abs(target - current) + 1e-12
    path = plan_steps(current, target, bounds)
    if len(path) == 1000:
        return  # plan listing is capped for display
    assert (path and math.isclose(path[-1], target, abs_tol=1e-9)) or math.isclose(
        current, target, abs_tol=1e-12
    )
    assert len(path) <= math.ceil(abs(target - current) / step) + 1


@settings(max_examples=300, deadline=None)
@given(
    key=st.one_of(
        st.builds(lambda s: "environment." + s, st.from_regex(r"[a-z_]{1,8}", fullmatch=True)),
        st.sampled_from(
            ["exchange.api_key", "x.password", "a.secret_ttl", "b.token", "portfolio.leverage"]
        ),
    ),
    value=st.floats(min_value=-10, max_value=10),
)
def test_firewall_blocks_whatever_the_policy_allows(key: str, value: float) -> None:
    """A policy that bounds and whitelists the key still cannot get it past the firewall."""
    from peaktrade_daemon.governance.verdicts import build_candidate, decide

    policy = AutoApplyPolicy(
        mode=AutoApplyMode.BOUNDED_AUTO,
        bounds={key: AutoApplyBounds(-10.0, 10.0, 20.0)},
        auto_apply_whitelist=(key,),
        blacklist=(),
        blacklist_tags=(),
        min_confidence=0.0,
        min_confidence_for_auto_apply=0.0,
        max_auto_applies_per_day=100,
        cooldown_minutes=0.0,
        rollback={"bake_window_minutes": 60, "max_drawdown_increase": 0.02, "max_sharpe_drop": 0.5},
        evidence={
            "enabled": False,
            "lookback_bars": 500,
            "min_periods": 100,
            "min_trades": 5,
            "tolerance": 0.00001,
            "max_drawdown_increase": 0.025,
        },
    )
    head, _, tail = key.partition(".")
    decision = decide(
        build_candidate(make_patch(key, value), policy), policy, {head: {tail: 0.0}}, None
    )
    blocked = key.startswith("environment.") or key != "portfolio.leverage" or value > 3.0
    assert decision.accepted is not blocked
