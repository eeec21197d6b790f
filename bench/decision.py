"""Decision engine throughput: decisions per second beside a bare comparison loop (same run).

Workload: 2,000 seeded metric snapshots over the four built-in workflow types, values spread
around each criterion's threshold; in the "mixed" row one snapshot in ten lacks a metric (so it
WAITs), the "all known" row has every metric. The engine builds the full explainable record
(per-criterion results, reasoning, metadata). The baseline evaluates the same comparisons and
bands in a plain loop with no record, the cheapest code that could reach the same actions; the
actions of both are checked equal before anything is timed. Both are timed the same way: the
fastest of several runs.

Target (issue 4): at least 100,000 decisions per second. Run: ``python bench/decision.py``.
"""

from __future__ import annotations

import math
import operator
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peaktrade_daemon.decision import (
    DEFAULT_CRITERIA,
    DecisionAction,
    DecisionEngine,
)

TARGET_PER_S = 100_000.0
SNAPSHOTS = 2_000
ROUNDS = 25  # passes over the snapshots per timing run
REPEATS = 7  # timing runs; the fastest is reported (as timeit does): slower runs measure
# other processes competing for the CPU, not the code

Snapshot = tuple[str, dict[str, float]]
_OPS: dict[str, Callable[[float, float], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": lambda v, t: abs(v - t) <= 1e-6,
}


def make_workload(seed: int, missing_every: int | None) -> list[Snapshot]:
    """Seeded snapshots; with ``missing_every`` one snapshot in that many lacks a metric."""
    rng = random.Random(seed)
    types = sorted(DEFAULT_CRITERIA)
    work: list[Snapshot] = []
    for i in range(SNAPSHOTS):
        workflow_type = types[i % len(types)]
        metrics: dict[str, float] = {}
        for criterion in DEFAULT_CRITERIA[workflow_type]:
            if criterion.comparison == "eq":
                metrics[criterion.metric_name] = float(rng.random() < 0.7)
            else:
                spread = max(abs(criterion.threshold), 1.0)
                metrics[criterion.metric_name] = criterion.threshold + rng.uniform(-1, 1) * spread
        if missing_every and i % missing_every == 0:
            del metrics[rng.choice(sorted(metrics))]
        work.append((workflow_type, metrics))
    return work


def baseline_action(workflow_type: str, metrics: Mapping[str, float]) -> DecisionAction:
    """The same rule with nothing recorded: weighted comparisons, WAIT on unknown, bands."""
    met = total = 0.0
    for c in DEFAULT_CRITERIA[workflow_type]:
        total += c.weight
        value = metrics.get(c.metric_name)
        if value is None or not math.isfinite(value):
            return DecisionAction.WAIT
        if _OPS[c.comparison](value, c.threshold):
            met += c.weight
    confidence = met / total
    if confidence >= 0.6 - 1e-9:
        return DecisionAction.EXECUTE
    if confidence >= 0.4 - 1e-9:
        return DecisionAction.ALERT
    return DecisionAction.SKIP


def _rate(run: Callable[[Sequence[Snapshot]], object], work: Sequence[Snapshot]) -> float:
    """Decisions per second of the fastest of REPEATS runs of ROUNDS passes each."""
    rates = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(ROUNDS):
            run(work)
        rates.append(ROUNDS * len(work) / (time.perf_counter() - start))
    return max(rates)


def measure(name: str, work: list[Snapshot]) -> dict[str, Any]:
    """One row: engine rate and baseline rate on ``work``, after checking they agree."""
    engine = DecisionEngine()
    engine_actions = [engine.make_decision(t, m).action for t, m in work]
    if engine_actions != [baseline_action(t, m) for t, m in work]:
        raise AssertionError(f"{name}: engine and baseline disagree on the workload")
    decide = engine.make_decision

    def run_engine(snapshots: Sequence[Snapshot]) -> None:
        for workflow_type, metrics in snapshots:
            decide(workflow_type, metrics)

    def run_baseline(snapshots: Sequence[Snapshot]) -> None:
        for workflow_type, metrics in snapshots:
            baseline_action(workflow_type, metrics)

    return {
        "name": name,
        "value": round(_rate(run_engine, work)),
        "unit": "decisions/s",
        "target": TARGET_PER_S,
        "baseline": round(_rate(run_baseline, work)),
        "better": "higher",
    }


def main() -> list[dict[str, Any]]:
    """Rows (name, value, unit, target, baseline) for bench/run_all.py."""
    return [
        measure("decision: mixed, 1 in 10 WAIT", make_workload(seed=7, missing_every=10)),
        measure("decision: all metrics known", make_workload(seed=11, missing_every=None)),
    ]


if __name__ == "__main__":
    from run_all import print_table  # bench/ is sys.path[0] when run as a script

    sys.exit(print_table(main()))
