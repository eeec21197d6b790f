"""Cost of one autonomous cycle of the embedded default, as the daemon runs it every poll interval.

The shipped configuration (three monitors over the replay data of every cycle symbol, the
decision engine, a real SQLite history with the retention prune) on a ManualClock advanced by
the shipped 300 s between cycles, so the bars window stays the same from cycle to cycle, as it
does for hourly and daily bars with a 5-minute poll.

Rows (each with a baseline measured in the same run):
* cycle_ms: wall time of one cycle, steady state; baseline: the same cycle with the monitors'
  window memos emptied first (every indicator, strategy signal, signal scan, paper book, its
  metrics and the data's age recomputed, what each cycle cost before reuse).
* cycle_cpu_ms: the same in process CPU time (main thread and worker threads), less sensitive
  to other load on the machine; baseline likewise.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop
from _live import live_cycle, scratch_root  # bench/ is sys.path[0] when run as a script

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.market.freshness import FreshnessMemo
from peaktrade_daemon.portfolio.paper import PaperPortfolio
from peaktrade_daemon.settings import load_settings
from peaktrade_daemon.storage.db import open_database
from peaktrade_daemon.workflows.components import WorkflowComponents

CYCLES = 60
WARMUP = 5
POLL_S = 300


def _forget(components: WorkflowComponents) -> None:
    """Empty every window memo, so the next cycle recomputes from the bars."""
    components.market._memo.clear()
    components.signals._outputs.clear()  # the strategy outputs the paper book shares
    components.signals._last_scans.clear()
    components.performance._seen.clear()
    components.feeds._freshness = FreshnessMemo()
    source = components.performance.source
    if isinstance(source, PaperPortfolio):
        source._books.clear()


async def _measure(root: Path) -> dict[str, tuple[float, float]]:
    settings = load_settings(root)
    database = await open_database(settings.database_url)
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    components, cycle = live_cycle(settings, clock, database)
    results: dict[str, tuple[float, float]] = {}
    try:
        for _ in range(WARMUP):
            await cycle.run_cycle()
            await clock.advance(POLL_S)
        for name, cold in (("warm", False), ("cold", True), ("warm2", False)):
            wall = cpu = 0.0
            for _ in range(CYCLES):
                if cold:
                    _forget(components)
                wall0, cpu0 = time.perf_counter(), time.process_time()
                async with asyncio.timeout(60):
                    await cycle.run_cycle()
                wall += time.perf_counter() - wall0
                cpu += time.process_time() - cpu0
                await clock.advance(POLL_S)
            results[name] = (wall / CYCLES * 1000, cpu / CYCLES * 1000)
    finally:
        await components.close()
        await database.close()
    # Warm is measured before and after cold; the better of the two is less disturbed by load.
    warm = min(results.pop("warm"), results.pop("warm2"))
    results["warm"] = warm
    return results


def main() -> list[dict[str, Any]]:
    """Run the benchmark and return its rows."""
    root = Path(tempfile.mkdtemp(prefix="pt-bench-cycle-"))
    try:
        results = uvloop.run(_measure(scratch_root(root / "root")))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return [
        {
            "name": name,
            "value": round(results["warm"][index], 2),
            "unit": "ms",
            "target": 15.0,
            "baseline": round(results["cold"][index], 2),
        }
        for index, name in enumerate(("cycle_ms", "cycle_cpu_ms"))
    ]


if __name__ == "__main__":
    for row in main():
        print(
            f"{row['name']:<14} {row['value']:>8} {row['unit']:<3} "
            f"(baseline {row['baseline']}, target {row['target']})"
        )
