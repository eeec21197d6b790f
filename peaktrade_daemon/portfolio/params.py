"""The paper book's parameters: sizing, costs, the stop and the tuned keys, read from the
effective config (:mod:`peaktrade_daemon.portfolio.paper` says what each one does to the book).

Keys and their defaults when absent: ``portfolio.initial_capital`` (100 000), ``leverage`` (1),
``fee_bps`` (5), ``max_position_pct`` (0.25), ``risk.stop_loss`` (0: none),
``strategy.trigger_delay`` (0 hours: act at once) and ``macro.regime_weight`` (0: no regime
filter, in [0, 1]). The defaults serve configs built in code (tests, ``WorkflowEngine()``); a
``config.toml`` must hold the stop and the tuned keys (:mod:`peaktrade_daemon.trading_config`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from peaktrade_daemon.errors import ConfigError

HOUR_S = 3600.0
#: A delay that is a whole number of bars up to float rounding (0.1 h on 6-minute bars) is that
#: many bars, not one more.
_WHOLE_BAR_SLACK = 1e-9


class ConfigLookup(Protocol):
    """Dotted-key access (:class:`~peaktrade_daemon.config.PeakConfig` and the timeline's
    earlier segments)."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value at ``key``, or ``default``."""
        ...


class ConfigOverlay:
    """``config`` with some keys replaced (an earlier segment's values, a candidate's value); a
    replacement of None means the key has no value, so its default holds."""

    def __init__(self, config: ConfigLookup, values: Mapping[str, Any]) -> None:
        self._config, self._values = config, values

    def get(self, key: str, default: Any = None) -> Any:
        """The replaced value at ``key``, else the config's."""
        if key in self._values:
            value = self._values[key]
            return default if value is None else value
        return self._config.get(key, default)


def _number(
    config: ConfigLookup, key: str, default: float, *, positive: bool, most: float = math.inf
) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"must be a number, got {value!r}", key=key)
    if value < 0 or (positive and value == 0):
        raise ConfigError(f"must be {'> 0' if positive else '>= 0'}, got {value!r}", key=key)
    if value > most:
        raise ConfigError(f"must be <= {most:g}, got {value!r}", key=key)
    return float(value)


#: Every config key :meth:`PaperParams.from_config` reads.
KEYS = (
    "portfolio.initial_capital",
    "portfolio.leverage",
    "portfolio.fee_bps",
    "portfolio.max_position_pct",
    "risk.stop_loss",
    "strategy.trigger_delay",
    "macro.regime_weight",
)


@dataclass(frozen=True, slots=True)
class PaperParams:
    """Sizing and costs from ``[portfolio]``, the stop from ``[risk]``, and the two tuned keys
    ``strategy.trigger_delay`` (hours) and ``macro.regime_weight`` of the effective config."""

    initial_capital: float = 100_000.0
    leverage: float = 1.0
    fee_bps: float = 5.0
    max_position_pct: float = 0.25
    stop_loss: float = 0.0
    trigger_delay_h: float = 0.0
    regime_weight: float = 0.0

    @classmethod
    def from_config(cls, config: ConfigLookup) -> PaperParams:
        """Read and validate the keys (the tuned ones as the overrides left them)."""
        return cls(
            initial_capital=_number(config, "portfolio.initial_capital", 100_000.0, positive=True),
            leverage=_number(config, "portfolio.leverage", 1.0, positive=True),
            fee_bps=_number(config, "portfolio.fee_bps", 5.0, positive=False),
            max_position_pct=_number(config, "portfolio.max_position_pct", 0.25, positive=True),
            stop_loss=_number(config, "risk.stop_loss", 0.0, positive=False),
            trigger_delay_h=_number(config, "strategy.trigger_delay", 0.0, positive=False),
            regime_weight=_number(config, "macro.regime_weight", 0.0, positive=False, most=1.0),
        )

    def delay_bars(self, timeframe_s: float) -> int:
        """The trigger delay in whole bars of ``timeframe_s`` seconds, rounded up:
        ``ceil(trigger_delay_h x 3600 / timeframe_s)`` (0 for no delay)."""
        return max(0, math.ceil(self.trigger_delay_h * HOUR_S / timeframe_s - _WHOLE_BAR_SLACK))


#: Later parameter changes of one book: (first bar index, params from that bar on), in bar order.
Schedule = list[tuple[int, PaperParams]]
