"""The built-in strategies by name, and which of them the config enables."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from types import MappingProxyType

from peaktrade_daemon.config import PeakConfig
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.strategies.base import Strategy
from peaktrade_daemon.strategies.breakout import Breakout
from peaktrade_daemon.strategies.ma_crossover import MaCrossover
from peaktrade_daemon.strategies.rsi_reversion import RsiReversion

_CLASSES: dict[str, type[MaCrossover | RsiReversion | Breakout]] = {
    "ma_crossover": MaCrossover,
    "rsi_reversion": RsiReversion,
    "breakout": Breakout,
}

BUILT_IN: Mapping[str, Callable[[PeakConfig], Strategy]] = MappingProxyType(
    {name: cls.from_config for name, cls in _CLASSES.items()}
)


def parameters(name: str) -> frozenset[str]:
    """The keys of ``[strategy.<name>]`` the built-in strategy ``name`` reads: its fields."""
    return frozenset(f.name for f in dataclasses.fields(_CLASSES[name]) if f.name != "name")


def enabled_strategies(config: PeakConfig) -> tuple[Strategy, ...]:
    """The strategies named in ``strategy.enabled`` (all built-ins when the key is absent), in
    that order, with parameters from ``[strategy.<name>]``."""
    names = config.get("strategy.enabled", list(BUILT_IN))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(
            f"must be a list of strategy names, got {names!r}", key="strategy.enabled"
        )
    unknown = [n for n in names if n not in BUILT_IN]
    if unknown:
        raise ConfigError(
            f"unknown strategy {unknown[0]!r}; built-in: {', '.join(BUILT_IN)}",
            key="strategy.enabled",
        )
    return tuple(BUILT_IN[name](config) for name in dict.fromkeys(names))
