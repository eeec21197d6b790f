"""Child-process bodies for the multi-process tests (run as ``python -m tests.promotion.procs``).

``apply ROOT N``: N bounded auto-applies of strategy.trigger_delay toward 10000 through the full
pipeline (proposal, verdict, locked write), printing one line per apply so the parent can time
its SIGKILL by events rather than by sleeping.
"""

from __future__ import annotations

import sys
from pathlib import Path

from peaktrade_daemon.clock import SystemClock
from peaktrade_daemon.governance.policy import AutoApplyMode
from peaktrade_daemon.learning.models import ConfigPatch
from peaktrade_daemon.promotion.engine import run_promotion
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.settings import load_settings

STRESS_POLICY = """\
mode = "bounded_auto"
auto_apply_whitelist = ["strategy.trigger_delay"]
blacklist = ["risk.stop_loss"]
blacklist_tags = ["r_and_d"]
min_confidence = 0.5
min_confidence_for_auto_apply = 0.5
max_auto_applies_per_day = 1000000
cooldown_minutes = 0
global_promotion_lock = false

[bounds."strategy.trigger_delay"]
min = 0.0
max = 10000.0
max_step = 1.0

[rollback]
bake_window_minutes = 60
max_drawdown_increase = 0.02
max_sharpe_drop = 0.5

# The stress tests count writes; the evidence gate is tested on its own.
[evidence]
enabled = false
lookback_bars = 500
min_periods = 100
min_trades = 5
tolerance = 0.00001
max_drawdown_increase = 0.025
"""


def apply_loop(root: Path, count: int) -> None:
    """Apply ``count`` single steps, one pipeline run each."""
    workspace = PromotionWorkspace.from_settings(load_settings(root))
    policy, base, clock = workspace.policy(), workspace.base(), SystemClock()
    patch = ConfigPatch(
        id="stress",
        target="strategy.trigger_delay",
        old_value=10.0,
        new_value=10000.0,
        status="APPLIED_OFFLINE",
        confidence_score=0.9,
        meta={"is_live_ready": True},
    )
    print("ready", flush=True)
    for _ in range(count):
        run = run_promotion(
            [patch],
            policy=policy,
            mode=AutoApplyMode.BOUNDED_AUTO,
            base=base,
            writer=workspace.writer(),
            audit=workspace.audit(),
            proposals_dir=workspace.proposals_dir,
            now=clock.now(),
        )
        assert [o.applied for o in run.outcomes] == [True], run.outcomes
        print("applied", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "apply":
        apply_loop(Path(sys.argv[2]), int(sys.argv[3]))
