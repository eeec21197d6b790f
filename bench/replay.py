"""Cost of a replay: the bundled EURUSD history (5,000 hourly bars), a cycle per bar and the
learning step weekly, beside the same number of cycles through the live ``CycleRunner``.

The replay is ``peaktrade-daemon replay`` in process (``replay.run.run_replay``: scratch root,
the daemon's composition, the driver, outputs written), on EUR/USD, mode ``bounded_auto`` under
the shipped policy, learner ``walk_forward``. The live side is the cycle runner as the daemon builds it
(``workflows.runtime``: the three monitors over the replay feed, the decision engine, a real
SQLite history), on a ManualClock set to each bar's time in turn: a new bar every cycle, as in
the replay.

Rows (``PEAKTRADE_BENCH_REPLAY_CYCLES`` shortens the run: the first N bars):

* replay_s: wall time of the whole replay (start-up and outputs included); target 60 s on one
  core; baseline: the same number of live cycles, as the daemon runs them (an EXECUTE runs its
  workflow and writes its report).
* replay_cpu_s: the same in process CPU time (every thread): what one core spends, whatever
  else the machine runs; baseline: the live cycles' CPU time.
* replay_ms_per_cycle / replay_cpu_ms_per_cycle: the replay's wall and process CPU time per
  cycle (everything it does: cycles, learning, promotion, outputs); target: the live cycle's, in
  the same run (the baseline).
* decide_only_ms_per_cycle: the live runner deciding without running workflows, which is the
  cycle replay runs: what replay adds to it is its promotion checks and learning (no target).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop
from _live import live_cycle, scratch_root  # bench/ is sys.path[0] when run as a script

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.market.bars import from_ns
from peaktrade_daemon.market.ohlcv_csv import parse_ohlcv_csv
from peaktrade_daemon.replay.inputs import build_request
from peaktrade_daemon.replay.run import run_replay
from peaktrade_daemon.settings import load_settings
from peaktrade_daemon.storage.db import open_database

SYMBOL = "EUR/USD"
CYCLES = int(os.environ.get("PEAKTRADE_BENCH_REPLAY_CYCLES", "5000"))
TARGET_S = 60.0


def _root(base: Path) -> Path:
    return scratch_root(base / "root")


def _bar_times(root: Path) -> list[datetime]:
    path = root / "data" / "samples" / "EURUSD.csv"
    bars = parse_ohlcv_csv(path, path.read_bytes(), symbol=SYMBOL, timeframe="1h")
    return [from_ns(int(ns)) for ns in bars.timestamps[:CYCLES]]


async def _live(root: Path, times: list[datetime], act: bool) -> tuple[float, float]:
    """Seconds of wall and CPU time for one cycle per bar through the live cycle runner."""
    settings = load_settings(
        root,
        cli_overrides={"replay": {"start": times[0].isoformat()}, "cycle": {"symbols": [SYMBOL]}},
    )
    database = await open_database(settings.database_url)
    clock = ManualClock(times[0])
    components, cycle = live_cycle(settings, clock, database)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    try:
        for moment in times:
            await clock.set(moment)
            await cycle.run_cycle(act=act)
    finally:
        await components.close()
        await database.close()
    return time.perf_counter() - wall0, time.process_time() - cpu0


def _replay(root: Path, base: Path, times: list[datetime]) -> tuple[float, float, int]:
    """Seconds of wall and CPU time for the whole replay, and its number of cycles."""
    learner = ["walk_forward"]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    request = build_request(
        load_settings(root),
        symbols=[SYMBOL],
        start=times[0].isoformat(),
        end=times[-1].isoformat(),
        policy=None,
        mode="bounded_auto",
        learner=learner,
        poll_interval_s=None,
        out=str(base / "out"),
        now=datetime.now(UTC),
    )
    result = uvloop.run(run_replay(request, progress=io.StringIO()))
    return time.perf_counter() - wall0, time.process_time() - cpu0, int(result.summary["cycles"])


def main() -> list[dict[str, Any]]:
    """Run the benchmark and return its rows."""
    base = Path(tempfile.mkdtemp(prefix="pt-bench-replay-"))
    try:
        times = _bar_times(_root(base / "live"))
        live_wall, live_cpu = uvloop.run(_live(base / "live" / "root", times, act=True))
        decide_wall, _ = uvloop.run(_live(_root(base / "decide"), times, act=False))
        replay_wall, replay_cpu, cycles = _replay(_root(base / "replay"), base / "replay", times)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    n = len(times)
    assert cycles == n, (cycles, n)
    per = 1000.0 / n
    return [
        {
            "name": f"replay_s ({n} cycles)",
            "value": round(replay_wall, 1),
            "unit": "s",
            "target": TARGET_S,
            "baseline": round(live_wall, 1),
        },
        {
            "name": "replay_cpu_s",
            "value": round(replay_cpu, 1),
            "unit": "s",
            "target": TARGET_S,
            "baseline": round(live_cpu, 1),
        },
        {
            "name": "replay_ms_per_cycle",
            "value": round(replay_wall * per, 2),
            "unit": "ms",
            "target": round(live_wall * per, 2),
            "baseline": round(live_wall * per, 2),
        },
        {
            "name": "replay_cpu_ms_per_cycle",
            "value": round(replay_cpu * per, 2),
            "unit": "ms",
            "target": round(live_cpu * per, 2),
            "baseline": round(live_cpu * per, 2),
        },
        {
            "name": "decide_only_ms_per_cycle",
            "value": round(decide_wall * per, 2),
            "unit": "ms",
            "target": None,
            "baseline": round(live_wall * per, 2),
        },
    ]


if __name__ == "__main__":
    for row in main():
        print(
            f"{row['name']:<26} {row['value']:>9} {row['unit']:<3} "
            f"(baseline {row['baseline']}, target {row['target']})"
        )
