"""Benchmark: load_config_with_live_overrides on the shipped config (target: median < 2 ms).

Baseline in the same run: a bare ``tomllib.loads`` of the same two files, i.e. the parsing cost
no loader can avoid. Run: ``python bench/config_load.py``.
"""

from __future__ import annotations

import statistics
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from peaktrade_daemon.config.loader import load_config_with_live_overrides  # noqa: E402

CONFIG = ROOT / "config" / "config.toml"
AUTO = ROOT / "config" / "live_overrides" / "auto.toml"
TARGET_MS = 2.0


def _median_ms(fn: Callable[[], object], repeats: int = 2000) -> float:
    for _ in range(50):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> list[dict[str, object]]:
    """Median load times, with overrides read (forced) and as shipped (paper: not read)."""
    baseline = _median_ms(
        lambda: (tomllib.loads(CONFIG.read_text()), tomllib.loads(AUTO.read_text()))
    )
    forced = _median_ms(
        lambda: load_config_with_live_overrides(
            CONFIG, auto_overrides_path=AUTO, force_apply_overrides=True
        )
    )
    shipped = _median_ms(lambda: load_config_with_live_overrides(CONFIG, auto_overrides_path=AUTO))
    return [
        {
            "name": "config load + live overrides (forced)",
            "value": forced,
            "unit": "ms",
            "target": TARGET_MS,
            "baseline": baseline,
        },
        {
            "name": "config load as shipped (paper)",
            "value": shipped,
            "unit": "ms",
            "target": TARGET_MS,
            "baseline": baseline,
        },
    ]


if __name__ == "__main__":
    for row in main():
        print(
            f"{row['name']:<42} {row['value']:.3f} {row['unit']}  (baseline bare tomllib {row['baseline']:.3f} ms, target < {row['target']} ms)"
        )
