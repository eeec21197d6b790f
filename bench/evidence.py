"""Benchmark: one paired evaluation (SPEC §9) beside two plain paper-book runs of the same size.

Four symbols x the three shipped strategies x 2,000 bars, real bundled bars: three 2,000-bar
stretches of the EUR/USD hourly sample and the last 2,000 GOOG days. The paired evaluation
(``portfolio.paired.paired_run``: signals and regime once per symbol, the book twice) against
two plain runs (``portfolio.paper.paper_book`` for every symbol, twice: what evaluating the two
values separately would cost), in the same run; the incumbent side of the pair is checked equal
to the plain book first. Then the verdict on the pair (``governance.evidence.judge``, the
5,000-resample bootstrap over the 8,000 paired periods). The process is pinned to one core
(one BLAS thread); figures are CPU time, medians.

Targets: the paired evaluation under 250 ms, at most 1.3x the two plain runs.

Run: ``python bench/evidence.py`` (``main()`` returns the rows for bench/run_all.py).
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peaktrade_daemon.clock import SystemClock
from peaktrade_daemon.config import load_config
from peaktrade_daemon.governance.evidence import EvidencePolicy, judge
from peaktrade_daemon.market.bars import Bars
from peaktrade_daemon.market.feeds import Feeds
from peaktrade_daemon.market.metrics import MarketParams
from peaktrade_daemon.market.ohlcv_csv import read_ohlcv_csv
from peaktrade_daemon.portfolio.paired import PairedRun, Window, paired_run
from peaktrade_daemon.portfolio.paper import PaperBook, paper_book
from peaktrade_daemon.portfolio.params import PaperParams
from peaktrade_daemon.settings import load_settings
from peaktrade_daemon.strategies.registry import enabled_strategies

ROOT = Path(__file__).resolve().parent.parent
BARS = 2000
RUNS = 9
KEY, CANDIDATE = "portfolio.leverage", 1.25
CONFIG = load_config(ROOT / "config" / "config.toml")
STRATEGIES = enabled_strategies(CONFIG)
MARKET = MarketParams()
POLICY = EvidencePolicy(
    enabled=True,
    lookback_bars=BARS,
    min_periods=100,
    min_trades=5,
    tolerance=0.0005,
    max_drawdown_increase=0.02,
)


def samples() -> list[tuple[Bars, float]]:
    """Four 2,000-bar symbols (bars, their calendar's bars per year) from the bundled samples."""
    data = ROOT / "data" / "samples"
    eur = read_ohlcv_csv(data / "EURUSD.csv", symbol="EUR/USD", timeframe="1h")
    goog = read_ohlcv_csv(data / "GOOG.csv", symbol="GOOG", timeframe="1d")
    feeds = Feeds(load_settings(ROOT), SystemClock())
    fx_year = feeds.calendar("EUR/USD").bars_per_year(3600.0)
    return [
        (eur.slice(0, BARS), fx_year),
        (eur.slice(1500, 1500 + BARS), fx_year),
        (eur.slice(len(eur) - BARS, len(eur)), fx_year),
        (goog.tail(BARS), feeds.calendar("GOOG").bars_per_year(86_400.0)),
    ]


def paired(windows: list[Window]) -> PairedRun:
    """The paired evaluation of the candidate against the live value."""
    return paired_run(windows, STRATEGIES, MARKET, CONFIG, KEY, CANDIDATE)


def two_plain_runs(symbols: list[tuple[Bars, float]]) -> list[PaperBook]:
    """Both values' books the plain way: everything computed for each run."""
    live = PaperParams.from_config(CONFIG)
    step = dataclasses.replace(live, leverage=CANDIDATE)
    return [paper_book(bars, STRATEGIES, p, MARKET) for p in (live, step) for bars, _ in symbols]


def _timed(fn: Callable[[], Any], runs: int = RUNS) -> tuple[float, float, Any]:
    """Median CPU and wall time (ms) of ``runs`` calls, and the last result."""
    cpu, wall, result = [], [], None
    for _ in range(runs):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        result = fn()
        cpu.append((time.process_time() - start_cpu) * 1000.0)
        wall.append((time.perf_counter() - start_wall) * 1000.0)
    return statistics.median(cpu), statistics.median(wall), result


def main() -> list[dict[str, Any]]:
    """Run the benchmark; print and return the rows."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    symbols = samples()
    windows = [Window(bars, 0, per_year) for bars, per_year in symbols]
    paired(windows), two_plain_runs(symbols)  # warm-up (imports, caches)
    paired_ms, paired_wall, run = _timed(lambda: paired(windows))
    plain_ms, plain_wall, books = _timed(lambda: two_plain_runs(symbols))
    for scope, book in zip(run.incumbent.scopes, books[: len(symbols)], strict=True):
        np.testing.assert_array_equal(scope.equity, book.equity)
    for scope, book in zip(run.candidate.scopes, books[len(symbols) :], strict=True):
        np.testing.assert_array_equal(scope.equity, book.equity)
    verdict_ms, _, evidence = _timed(
        lambda: judge(
            run.incumbent, run.candidate, risk_max_drawdown=0.2, policy=POLICY, stale=False, seed=0
        )
    )
    ratio = paired_ms / plain_ms
    rows = [
        {
            "name": "paired evaluation 4 symbols x 3 strategies x 2,000 bars (1 core)",
            "value": round(paired_ms, 2),
            "unit": "ms",
            "target": 250.0,
            "baseline": round(plain_ms, 2),
        },
        {
            "name": "paired evaluation / two plain paper-book runs",
            "value": round(ratio, 3),
            "unit": "x",
            "target": 1.3,
            "baseline": 1.0,
            "better": "lower",
        },
        {
            "name": f"evidence verdict, {evidence.periods:,} paired periods (bootstrap)",
            "value": round(verdict_ms, 2),
            "unit": "ms",
            "target": None,
            "baseline": None,
        },
    ]
    print(f"books checked equal: {len(symbols)} symbols x 2 values; verdict {evidence.verdict}")
    for row in rows:
        print(
            f"{row['name']}: {row['value']} {row['unit']} (target {row['target']}, "
            f"baseline {row['baseline']})"
        )
    print(
        f"CPU time on one core, median of {RUNS} runs (wall: paired {paired_wall:.1f} ms, "
        f"plain {plain_wall:.1f} ms; load average {os.getloadavg()[0]:.1f})"
    )
    return rows


if __name__ == "__main__":
    main()
