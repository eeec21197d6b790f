"""Latency of one bounded apply to a 100-key auto.toml, beside a bare atomic write, and the
governance gate's own cost on the same table.

One bounded apply = sidecar lock, tomlkit parse of auto.toml, the file-against-trail content
check, plan (holds, one step), the gate over the complete resulting 100-key table, audit append
with fsync (whole or not at all) between the anchor's two writes, backup copy, atomic replace with fsync of file
and directory, re-read and verify, the commit record. The baseline, measured in the same run on
the same disk, is a bare write + fsync + replace + directory fsync of the same bytes: the floor
any durable write pays. The gate row times ``check_table`` alone on the resulting table.

Run: ``python bench/overrides.py``. ``main()`` returns rows (name, value, unit, target, baseline).
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peaktrade_daemon.config.loader import load_config
from peaktrade_daemon.governance.gate import check_table
from peaktrade_daemon.governance.plans import WriteKind, plan_adopt, plan_bounded_apply
from peaktrade_daemon.governance.policy import AutoApplyBounds, AutoApplyMode, AutoApplyPolicy
from peaktrade_daemon.governance.verdicts import build_candidate, decide
from peaktrade_daemon.learning.models import ConfigPatch
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.promotion.writer import GateContext, OverridesWriter
from peaktrade_daemon.storage.atomic import fsync_directory

KEYS = 100
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "300"))
KEY = "bench.k000"


def _policy() -> AutoApplyPolicy:
    # Every key of the table has bounds: the gate refuses a table holding a key without them.
    bounds = {f"bench.k{i:03d}": AutoApplyBounds(0.0, 1000.0, 1.0) for i in range(KEYS)}
    return AutoApplyPolicy(
        mode=AutoApplyMode.BOUNDED_AUTO,
        bounds=bounds,
        auto_apply_whitelist=(KEY,),
        blacklist=(),
        blacklist_tags=(),
        min_confidence=0.5,
        min_confidence_for_auto_apply=0.5,
        max_auto_applies_per_day=10**9,
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


def _seed(path: Path) -> dict[str, Any]:
    lines = ["# benchmark overrides", "[auto_applied]"]
    lines += [f'"bench.k{i:03d}" = {i / 10}  # key {i}' for i in range(KEYS)]
    path.write_text("\n".join(lines) + "\n")
    # The shipped trading config with a [bench] table: the writer checks an advance's result
    # as the components read it, so the base must be one they accept.
    base = load_config(Path(__file__).resolve().parent.parent / "config" / "config.toml")
    return {**base.to_dict(), "bench": {f"k{i:03d}": 0.0 for i in range(KEYS)}}


def _bare_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.bare")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_directory(path.parent)


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> list[dict[str, object]]:
    """Measure both and return the rows."""
    logging.getLogger("peaktrade_daemon").setLevel(logging.ERROR)  # the seeding adopt warns
    policy = _policy()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        root = Path(tmp)
        auto = root / "auto.toml"
        base = _seed(auto)
        writer = OverridesWriter(auto, AuditTrail(root / "audit.jsonl"))
        now = datetime(2024, 1, 1, tzinfo=UTC)
        gate = GateContext(base, policy)
        # The seeded file is a hand edit to the writer: an operator adopts it first.
        writer.transact(
            plan_adopt(base, policy, "bench", {}),
            kind=WriteKind.ADOPT,
            gate=gate,
            actor="bench",
            mode="operator",
            proposal_id=None,
            now=now,
        )
        applies: list[float] = []
        for i in range(ROUNDS):
            target = 1000.0 if i % 200 < 100 else 0.0  # keep moving so every round writes
            patch = ConfigPatch(
                id="bench",
                target=KEY,
                old_value=None,
                new_value=target,
                status="APPLIED_OFFLINE",
                confidence_score=0.9,
                meta={"is_live_ready": True},
            )
            decision = decide(build_candidate(patch, policy), policy, base, None)
            planner = plan_bounded_apply([decision], policy, AutoApplyMode.BOUNDED_AUTO, base, now)
            started = time.perf_counter()
            result = writer.transact(
                planner,
                kind=WriteKind.ADVANCE,
                gate=gate,
                actor="auto",
                mode="bounded_auto",
                proposal_id=None,
                now=now,
            )
            applies.append(time.perf_counter() - started)
            assert result.written
            now += timedelta(hours=1)  # a realistic pace: the rate limit allows a few per day
        data = auto.read_bytes()
        table = writer.read().values
        assert len(table) == KEYS
        gated: list[float] = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            verdict = check_table(table, table, base=base, policy=policy)
            gated.append(time.perf_counter() - started)
            assert verdict.ok
        bare: list[float] = []
        target_file = root / "bare.toml"
        for _ in range(ROUNDS):
            started = time.perf_counter()
            _bare_write(target_file, data)
            bare.append(time.perf_counter() - started)
    ms = 1000.0
    rows: list[dict[str, object]] = [
        {
            "name": "overrides.bounded_apply.p50",
            "value": round(statistics.median(applies) * ms, 3),
            "unit": "ms",
            "target": 10.0,
            "baseline": round(statistics.median(bare) * ms, 3),
        },
        {
            "name": "overrides.gate_100_keys.p50",
            "value": round(statistics.median(gated) * ms, 3),
            "unit": "ms",
            "target": None,
            "baseline": round(statistics.median(applies) * ms, 3),
        },
        {
            "name": "overrides.bounded_apply.p99",
            "value": round(_percentile(applies, 0.99) * ms, 3),
            "unit": "ms",
            "target": None,
            "baseline": round(_percentile(bare, 0.99) * ms, 3),
        },
    ]
    return rows


if __name__ == "__main__":
    for row in main():
        print(
            f"{row['name']:<30} {row['value']:>9} {row['unit']}  "
            f"(target {row['target']}; baseline {row['baseline']} {row['unit']})"
        )
