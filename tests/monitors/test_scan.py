"""The many-symbol scan equals the per-symbol computations, chunked or not, on real samples."""

from __future__ import annotations

import numpy as np
import pytest

from peaktrade_daemon.config import load_config
from peaktrade_daemon.market.metrics import MarketParams, market_metrics
from peaktrade_daemon.monitors.scan import ScanParams, scan_metrics
from peaktrade_daemon.strategies.base import StrategyInputs
from peaktrade_daemon.strategies.registry import enabled_strategies
from peaktrade_daemon.strategies.signal_metrics import SignalParams, signal_metrics
from tests.conftest import PROJECT_ROOT
from tests.market.samples import NAMES, frame


@pytest.mark.parametrize("chunk", [1, 2, 200])
def test_scan_equals_one_symbol_at_a_time(chunk: int) -> None:
    frames = [frame(name).tail(150) for name in NAMES]
    cols = {
        c: np.stack([f[c].to_numpy(dtype=float) for f in frames])
        for c in ("High", "Low", "Close", "Volume")
    }
    stamps = np.arange(150, dtype=np.int64) * 86_400 * 10**9
    strategies = enabled_strategies(load_config(PROJECT_ROOT / "config/config.toml"))
    params = ScanParams(timeframe_s=86_400.0, bars_per_year=252.0, chunk_symbols=chunk)
    together = scan_metrics(
        cols["High"], cols["Low"], cols["Close"], cols["Volume"], stamps, strategies, params
    )
    for i in range(len(frames)):
        row = slice(i, i + 1)
        one = market_metrics(
            cols["High"][row],
            cols["Low"][row],
            cols["Close"][row],
            cols["Volume"][row],
            stamps,
            timeframe_s=86_400.0,
            bars_per_year=252.0,
            params=MarketParams(),
        )
        inputs = StrategyInputs(cols["High"][row], cols["Low"][row], cols["Close"][row])
        one.update(
            signal_metrics(
                [s.evaluate(inputs) for s in strategies], cols["Close"][row], SignalParams()
            )
        )
        for name, value in one.items():
            np.testing.assert_allclose(
                together[name][i], value[0], rtol=1e-12, equal_nan=True, err_msg=name
            )
