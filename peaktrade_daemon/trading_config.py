"""The trading config's keys the components read, checked with the files rather than when a
component is built.

``config.toml`` is parsed by the config loader, but its values are read by the paper book
(``[portfolio]``, ``risk.stop_loss``, the tuned keys) and the strategies (``strategy.enabled``,
``[strategy.<name>]``). Checking them here, from ``config check``, at start-up and on every
reload, makes a wrong type one error naming the file and the key before anything is written or
swapped in, instead of a component failing to build.
"""

from __future__ import annotations

from pathlib import Path

from peaktrade_daemon.config.loader import PeakConfig
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.portfolio.params import PaperParams
from peaktrade_daemon.strategies.registry import enabled_strategies

#: The keys the learning loop tunes: the base config must hold them (SPEC §1), or the paper
#: book would run on its built-in defaults and every patch of them be refused as unknown.
TUNED_KEYS = ("portfolio.leverage", "strategy.trigger_delay", "macro.regime_weight")


def check_trading_config(config: PeakConfig, file: Path) -> None:
    """Raise ConfigError (naming ``file`` and the key) for a tuned key that is missing, or a
    value the paper book or a strategy would refuse."""
    for key in TUNED_KEYS:
        if config.get(key) is None:
            raise ConfigError("missing: the learning loop tunes this key", file=file, key=key)
    try:
        PaperParams.from_config(config)
        enabled_strategies(config)
    except ConfigError as exc:
        if exc.file is not None:
            raise
        raise ConfigError(exc.problem, file=file, key=exc.key) from None
