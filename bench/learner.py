"""Benchmark: the walk-forward learner (SPEC §10) on the bundled EURUSD hourly history.

One learner run as the weekly job makes it: the shipped config, policy and
``[learning.walk_forward]`` defaults (train 1,500 bars, test 500, 5,000 bootstrap resamples),
the three whitelisted keys' grids (21 points), as of the sample's last bar. Its baseline, in
the same run: the same evaluations one ``paired_run`` at a time (each grid point against the
live value over the train window, and the chosen one over the test window: what the learner
would cost without sharing the vote, the regime and the incumbent's book between candidates);
their choices are checked equal first. Then every weekly run over the whole history (one per
120 bars once 2,101 bars are known), as a replay with the learner weekly would make them. The
process is pinned to one core (one BLAS thread); figures are CPU time, medians.

Targets: one run under 500 ms, at most 0.6x the paired-run-at-a-time baseline.

Run: ``python bench/learner.py`` (``main()`` returns the rows for bench/run_all.py).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peaktrade_daemon.clock import SystemClock
from peaktrade_daemon.config import load_config
from peaktrade_daemon.learning.tuning import choose, grid, train_score
from peaktrade_daemon.learning.walk_forward import (
    WalkForwardResult,
    history_bars,
    run_walk_forward,
    warmup_bars,
)
from peaktrade_daemon.market.bars import Bars, from_ns
from peaktrade_daemon.market.feeds import Feeds
from peaktrade_daemon.market.metrics import MarketParams
from peaktrade_daemon.market.ohlcv_csv import read_ohlcv_csv
from peaktrade_daemon.portfolio.paired import Window, paired_run
from peaktrade_daemon.promotion.policy_file import load_policy
from peaktrade_daemon.settings import WalkForwardSettings, load_settings
from peaktrade_daemon.strategies.registry import enabled_strategies

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5
WEEK_BARS = 120  # FX hours in a week
SYMBOL = "EUR/USD"
CONFIG = load_config(ROOT / "config" / "config.toml")
POLICY = load_policy(ROOT / "config" / "promotion.toml")
SETTINGS = WalkForwardSettings()
MARKET = MarketParams()
STRATEGIES = enabled_strategies(CONFIG)


def history() -> tuple[Bars, float]:
    """The bundled EURUSD hours and their calendar's bars per year."""
    bars = read_ohlcv_csv(ROOT / "data/samples/EURUSD.csv", symbol=SYMBOL, timeframe="1h")
    feeds = Feeds(load_settings(ROOT), SystemClock())
    return bars, feeds.calendar(SYMBOL).bars_per_year(3600.0)


def learner(bars: Bars, per_year: float) -> WalkForwardResult:
    """One learner run as of the last bar."""
    return run_walk_forward(
        {SYMBOL: bars},
        CONFIG,
        POLICY,
        SETTINGS,
        bars.as_of,
        market=MARKET,
        bars_per_year={SYMBOL: per_year},
    )


def one_pair_at_a_time(bars: Bars, per_year: float) -> dict[str, float]:
    """The learner's choices, each grid point by its own paired run (train), then the choice
    by another (test): the same books, nothing shared between candidates."""
    n, train, test = len(bars), SETTINGS.train_bars, SETTINGS.test_bars
    train_window = Window(bars.slice(0, n - test), n - test - train, per_year)
    test_window = Window(bars, n - test, per_year)
    limit = float(CONFIG.get("risk.max_drawdown"))
    chosen = {}
    for key in POLICY.auto_apply_whitelist:
        runs = [
            paired_run([train_window], STRATEGIES, MARKET, CONFIG, key, v)
            for v in grid(POLICY.bounds[key])
        ]
        values = [float(run.candidate_value) for run in runs]
        scores = [train_score(run.candidate, limit) for run in runs]
        live = float(CONFIG.get(key))
        best = choose(values, scores, live, train_score(runs[0].incumbent, limit))
        paired_run([test_window], STRATEGIES, MARKET, CONFIG, key, best)
        chosen[key] = best
    return chosen


def weekly(bars: Bars, per_year: float) -> int:
    """Every weekly learner run over the history; returns how many ran."""
    first = history_bars(CONFIG, SETTINGS, MARKET)
    ends = range(first, len(bars) + 1, WEEK_BARS)
    for end in ends:
        run_walk_forward(
            {SYMBOL: bars},
            CONFIG,
            POLICY,
            SETTINGS,
            from_ns(int(bars.timestamps[end - 1])),
            market=MARKET,
            bars_per_year={SYMBOL: per_year},
        )
    return len(ends)


def _timed(fn: Callable[[], Any], runs: int = RUNS) -> tuple[float, Any]:
    """Median CPU time (ms) of ``runs`` calls, and the last result."""
    cpu, result = [], None
    for _ in range(runs):
        start = time.process_time()
        result = fn()
        cpu.append((time.process_time() - start) * 1000.0)
    return statistics.median(cpu), result


def main() -> list[dict[str, Any]]:
    """Run the benchmark; print and return the rows."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    bars, per_year = history()
    assert len(bars) >= warmup_bars(STRATEGIES, MARKET) + SETTINGS.train_bars + SETTINGS.test_bars
    learner(bars, per_year), one_pair_at_a_time(bars, per_year)  # warm-up (imports, caches)
    learner_ms, result = _timed(lambda: learner(bars, per_year))
    baseline_ms, chosen = _timed(lambda: one_pair_at_a_time(bars, per_year))
    assert {
        str(s.recommendation["target"]): s.evidence["train_best"] for s in result.signals
    } == chosen, "the learner and the baseline chose differently"
    weekly_ms, count = _timed(lambda: weekly(bars, per_year), runs=1)
    points = sum(len(grid(POLICY.bounds[k])) for k in POLICY.auto_apply_whitelist)
    rows = [
        {
            "name": f"walk-forward learner, one run: EUR/USD, {points} grid points (1 core)",
            "value": round(learner_ms, 1),
            "unit": "ms",
            "target": 500.0,
            "baseline": round(baseline_ms, 1),
        },
        {
            "name": "learner / one paired run per grid point",
            "value": round(learner_ms / baseline_ms, 3),
            "unit": "x",
            "target": 0.6,
            "baseline": 1.0,
            "better": "lower",
        },
        {
            "name": f"weekly learner over the bundled EURUSD history ({count} runs)",
            "value": round(weekly_ms, 1),
            "unit": "ms",
            "target": None,
            "baseline": None,
        },
    ]
    for row in rows:
        print(
            f"{row['name']}: {row['value']} {row['unit']} (target {row['target']}, "
            f"baseline {row['baseline']})"
        )
    print(
        f"CPU time on one core, median of {RUNS} runs; choices checked equal: {chosen}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    return rows


if __name__ == "__main__":
    main()
