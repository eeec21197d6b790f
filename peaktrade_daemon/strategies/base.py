"""What every built-in strategy shares: its inputs, its output, and reading its parameters.

A strategy maps bars to a *direction* per bar (+1 long, -1 short, 0 flat: the position it wants
after that bar closes) and a *strength* in [0, 1] (0 exactly when flat). Both are 2-D arrays
``(symbols, bars)``, computed for many symbols at once. A *signal* is a bar where the direction
becomes non-zero or flips: ``d_t != 0 and d_t != d_{t-1}``.

Parameters come from the effective trading config, ``[strategy.<name>]`` in config.toml; a
missing key takes the documented default, a key of the wrong type or out of range is a
ConfigError naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from peaktrade_daemon.config import PeakConfig
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.market import indicators as ind
from peaktrade_daemon.market.bars import FloatArray

DirectionArray = npt.NDArray[np.int8]
BoolArray = npt.NDArray[np.bool_]


@dataclass(slots=True)
class StrategyInputs:
    """Price arrays ``(symbols, bars)`` plus a per-call memo of shared indicators."""

    high: FloatArray
    low: FloatArray
    close: FloatArray
    _atr: dict[int, FloatArray] = field(default_factory=dict)

    def atr(self, period: int) -> FloatArray:
        """ATR series of ``period`` (computed once per inputs object)."""
        if period not in self._atr:
            self._atr[period] = ind.atr(self.high, self.low, self.close, period)
        return self._atr[period]


@dataclass(frozen=True, slots=True)
class StrategyOutput:
    """Direction (-1/0/+1, int8) and strength (in [0, 1], 0 when flat) per symbol and bar."""

    direction: DirectionArray
    strength: FloatArray


class Strategy(Protocol):
    """A built-in strategy with its parameters bound."""

    @property
    def name(self) -> str:
        """The strategy's name (its config table)."""
        ...

    @property
    def warmup_bars(self) -> int:
        """Bars needed before the strategy has a view at the last bar."""
        ...

    def evaluate(self, inputs: StrategyInputs) -> StrategyOutput:
        """Direction and strength for every symbol and bar of ``inputs``."""
        ...


def warmup(strategies: tuple[Strategy, ...]) -> int:
    """Bars every one of ``strategies`` needs (a current signal is only known past this)."""
    return max((s.warmup_bars for s in strategies), default=1)


def finish(direction: DirectionArray, strength: FloatArray) -> StrategyOutput:
    """Normalise raw outputs (``strength`` is modified in place): strength is clipped to [0, 1]
    with NaN -> 0, and a bar is flat unless its strength is positive. Every built-in strategy's
    strength is positive exactly when it has a direction, so "strength 0" and "flat" are the same
    thing. Mask arithmetic instead of ``np.where``: this runs on every bar of every symbol."""
    s = np.fmax(strength, 0.0, out=strength)  # fmax/fmin drop NaN
    np.fmin(s, 1.0, out=s)
    d = direction * (s > 0).view(np.int8)
    s *= d != 0
    return StrategyOutput(direction=d, strength=s)


def sign8(values: FloatArray) -> DirectionArray:
    """Sign as int8, NaN -> 0."""
    positive: DirectionArray = (values > 0).view(np.int8)
    return positive - (values < 0).view(np.int8)


def signal_mask(direction: DirectionArray) -> npt.NDArray[np.bool_]:
    """True at signal bars: the direction became non-zero or flipped."""
    events: npt.NDArray[np.bool_] = np.not_equal(direction, 0)
    events[:, 1:] &= direction[:, 1:] != direction[:, :-1]
    return events


def param_int(config: PeakConfig, strategy: str, key: str, default: int, minimum: int = 1) -> int:
    """An integer parameter ``strategy.<strategy>.<key>`` (>= ``minimum``)."""
    dotted = f"strategy.{strategy}.{key}"
    value = config.get(dotted, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"must be an integer >= {minimum}, got {value!r}", key=dotted)
    return value


def param_float(config: PeakConfig, strategy: str, key: str, default: float) -> float:
    """A finite numeric parameter ``strategy.<strategy>.<key>``."""
    dotted = f"strategy.{strategy}.{key}"
    value = config.get(dotted, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ConfigError(f"must be a number, got {value!r}", key=dotted)
    return float(value)
