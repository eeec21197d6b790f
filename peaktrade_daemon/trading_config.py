"""The trading config's keys the components read, checked with the files rather than when a
component is built.

``config.toml`` is parsed by the config loader, but its values are read by the paper book
(``[portfolio]``, ``risk.stop_loss``, the tuned keys), the strategies (``strategy.enabled``,
``[strategy.<name>]``) and the risk check (the ``[risk]`` limits). Checking them here, from
``config check``, at start-up and on every reload, makes a wrong type one error naming the file
and the key before anything is written or swapped in, instead of a component failing to build.

The tables those components read are closed: a key in them that no component reads is a typo
(``[risk] stop_los``) which would otherwise leave its default in force without a word, and it is
refused with the key it most likely meant (SPEC principle 1). Other tables (``[environment]``,
``[macro]`` beyond the tuned key, ``[market]``, tables of the trading system's own) stay open.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from peaktrade_daemon.config.loader import PeakConfig, load_effective_config
from peaktrade_daemon.config.overrides import apply_overrides, blamed_key
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.portfolio import params
from peaktrade_daemon.portfolio.params import PaperParams
from peaktrade_daemon.strategies.registry import BUILT_IN, enabled_strategies, parameters

#: The keys the learning loop tunes: the base config must hold them (SPEC §1), or the paper
#: book would run on its built-in defaults and every patch of them be refused as unknown.
TUNED_KEYS = ("portfolio.leverage", "strategy.trigger_delay", "macro.regime_weight")
#: The limits the risk check reads (workflows/risk_check.py); a missing one makes its check
#: ``unknown``, a warning on every run.
RISK_LIMITS = (
    "risk.max_drawdown",
    "risk.max_exposure",
    "risk.max_leverage",
    "risk.daily_loss_limit",
)
#: Keys whose absence would not be refused later but would quietly mean "no limit": the paper
#: book's stop defaults to none.
NO_LIMIT_WHEN_MISSING = {"risk.stop_loss": "the paper book's stop (a fraction, 0 for none)"}
#: The tables whose every key some component reads.
CLOSED_TABLES = ("portfolio", "risk", "strategy")


@functools.cache
def read_keys() -> frozenset[str]:
    """Every dotted key a component reads (the paper book, the strategies, the risk check)."""
    keys = {*params.KEYS, *RISK_LIMITS, "strategy.enabled"}
    for name in BUILT_IN:
        keys |= {f"strategy.{name}.{parameter}" for parameter in parameters(name)}
    return frozenset(keys)


@functools.cache
def known_keys() -> frozenset[str]:
    """Every dotted key of the closed tables a component reads (strategy tables included)."""
    return frozenset(key for key in read_keys() if key.split(".", 1)[0] in CLOSED_TABLES)


def _leaves(prefix: str, table: Mapping[str, Any]) -> Iterator[str]:
    """Dotted keys of ``table``; a strategy's table is walked, every other value is a leaf."""
    for key, value in table.items():
        dotted = f"{prefix}.{key}"
        if isinstance(value, Mapping) and prefix == "strategy" and key in BUILT_IN:
            yield from _leaves(dotted, value)
        else:
            yield dotted


def _unknown_key(config: PeakConfig, known: frozenset[str]) -> ConfigError | None:
    for table in CLOSED_TABLES:
        values = config.get(table)
        if not isinstance(values, Mapping):
            continue
        for dotted in _leaves(table, values):
            if dotted in known:
                continue
            candidates = known | {f"strategy.{name}" for name in BUILT_IN}
            meant = difflib.get_close_matches(dotted, sorted(candidates), n=1, cutoff=0.8)
            hint = f"; did you mean {meant[0]!r}?" if meant else ""
            return ConfigError(
                f"unknown key: no component reads it, so its value would be ignored{hint}",
                key=dotted,
            )
    return None


def check_trading_config(config: PeakConfig, file: Path) -> None:
    """Raise ConfigError (naming ``file`` and the key) for a tuned key or stop that is missing,
    an unknown key in a table a component reads, or a value the paper book or a strategy would
    refuse."""
    # A typo first: "did you mean risk.stop_loss" says more than "risk.stop_loss is missing".
    unknown = _unknown_key(config, known_keys())
    if unknown is not None:
        raise ConfigError(unknown.problem, file=file, key=unknown.key)
    for key in TUNED_KEYS:
        if config.get(key) is None:
            raise ConfigError("missing: the learning loop tunes this key", file=file, key=key)
    for key, what in NO_LIMIT_WHEN_MISSING.items():
        if config.get(key) is None:
            raise ConfigError(f"missing: {what}", file=file, key=key)
    for key in RISK_LIMITS:
        # NaN compares False with everything: "drawdown > nan" would never be a breach.
        value = config.get(key)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if value is not None and not (number and math.isfinite(value) and value > 0):
            raise ConfigError(
                f"must be a positive finite number (a risk limit), got {value!r}",
                file=file,
                key=key,
            )
    try:
        PaperParams.from_config(config)
        enabled_strategies(config)
    except ConfigError as exc:
        if exc.file is not None:
            raise
        raise ConfigError(exc.problem, file=file, key=exc.key) from None


def load_trading_config(
    config_file: Path,
    *,
    root: str | os.PathLike[str] | None,
    auto_overrides_path: str | os.PathLike[str] | None,
    offline_dir: str | os.PathLike[str] | None,
    mode: str | None = None,
) -> PeakConfig:
    """The effective trading config every component reads: base plus the overrides the
    environment allows, less any override entry the components refuse (a critical warning
    each, the value before it stays), so no override file can stop a start or a reload. A
    base file the check refuses raises ConfigError naming it."""
    return load_effective_config(
        config_file,
        root=root,
        auto_overrides_path=auto_overrides_path,
        offline_dir=offline_dir,
        mode=mode,
        accept=lambda config: check_trading_config(config, config_file),
    )


def refused_live_value(base: Mapping[str, Any], live: Mapping[str, Any]) -> ConfigError | None:
    """Why the components would refuse ``base`` with the ``[auto_applied]`` table ``live``
    applied (the writer's last check before an advance: a value inside the policy's bounds
    can still be one the paper book refuses, when the bounds reach past its range), or None."""
    # Only the keys a component reads can make it refuse (the rest of a 100-key table costs
    # the writer 2 ms per advance to copy and check for nothing).
    read = {key: value for key, value in live.items() if key in read_keys()}
    if not read:
        return None
    data, _, _ = apply_overrides(base, read, file="[auto_applied]")
    try:
        check_trading_config(PeakConfig(data), Path("config.toml"))
    except ConfigError as exc:
        return exc
    return None


def live_table_refusal(base: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], str | None]:
    """For ``overrides adopt``: given a live table, the key of it to drop because a component
    refuses the result (see :func:`blamed_key`), or None when the components accept it."""

    def refusal(live: Mapping[str, Any]) -> str | None:
        refused = refused_live_value(base, live)
        if refused is None:
            return None
        return blamed_key(list(live), (refused.key,) if refused.key else ())

    return refusal
