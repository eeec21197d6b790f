"""Latency of one bounded apply to a 100-key auto.toml, beside a bare atomic write.

One bounded apply = sidecar lock, tomlkit parse of auto.toml, plan (gates, one step), audit
append with fsync and head update, backup copy, atomic replace with fsync of file and directory,
re-read and verify. The baseline, measured in the same run on the same disk, is a bare
write + fsync + replace + directory fsync of the same bytes: the floor any durable write pays.

Run: ``python bench/overrides.py``. ``main()`` returns rows (name, value, unit, target, baseline).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peaktrade_daemon.governance.plans import plan_bounded_apply
from peaktrade_daemon.governance.policy import AutoApplyBounds, AutoApplyMode, AutoApplyPolicy
from peaktrade_daemon.governance.verdicts import build_candidate, decide
from peaktrade_daemon.learning.models import ConfigPatch
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.promotion.writer import OverridesWriter
from peaktrade_daemon.storage.atomic import fsync_directory

KEYS = 100
ROUNDS = 300
KEY = "bench.k000"


def _policy() -> AutoApplyPolicy:
    return AutoApplyPolicy(
        mode=AutoApplyMode.BOUNDED_AUTO,
        bounds={KEY: AutoApplyBounds(0.0, 1000.0, 1.0)},
        auto_apply_whitelist=(KEY,),
        min_confidence=0.5,
        min_confidence_for_auto_apply=0.5,
        max_auto_applies_per_day=10**9,
        cooldown_minutes=0.0,
        rollback={"bake_window_minutes": 60, "max_drawdown_increase": 0.02, "max_sharpe_drop": 0.5},
    )


def _seed(path: Path) -> dict[str, dict[str, float]]:
    lines = ["# benchmark overrides", "[auto_applied]"]
    lines += [f'"bench.k{i:03d}" = {i / 10}  # key {i}' for i in range(KEYS)]
    path.write_text("\n".join(lines) + "\n")
    return {"bench": {f"k{i:03d}": 0.0 for i in range(KEYS)}}


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
    policy = _policy()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        root = Path(tmp)
        auto = root / "auto.toml"
        base = _seed(auto)
        writer = OverridesWriter(auto, AuditTrail(root / "audit.jsonl"))
        now = datetime(2024, 1, 1, tzinfo=UTC)
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
                planner, actor="auto", mode="bounded_auto", proposal_id=None, now=now
            )
            applies.append(time.perf_counter() - started)
            assert result.written
            now += timedelta(hours=1)  # a realistic pace: the rate limit allows a few per day
        data = auto.read_bytes()
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
            "target": 20.0,
            "baseline": round(statistics.median(bare) * ms, 3),
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
            f"(target {row['target']}; bare write+fsync+replace {row['baseline']} {row['unit']})"
        )
