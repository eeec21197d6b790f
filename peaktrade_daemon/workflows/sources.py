"""What the in-process workflow types read from, and the small rules they share.

:class:`WorkflowSources` (monitors, equity history, the live-override aware config) is built by
the composition root and handed to every type; ``catalog.build_workflows`` binds them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from peaktrade_daemon.config.loader import PeakConfig
from peaktrade_daemon.errors import WorkflowError
from peaktrade_daemon.market.feeds import MarketSource
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.trading_config import load_trading_config
from peaktrade_daemon.workflows.ports import EquitySource, Monitor, MonitorResultLike


@dataclass(frozen=True, slots=True)
class WorkflowSources:
    """Everything the in-process workflow types read. ``current_settings`` returns the settings
    in force *now* (the daemon's latest snapshot after a SIGHUP), ``effective_config`` the config
    as components see it now (base + overrides allowed by the environment gate), ``feeds`` the
    market data the monitors read (the learner reads its history there)."""

    current_settings: Callable[[], DaemonSettings]
    market: Monitor
    signals: Monitor
    performance: Monitor
    equity: EquitySource
    effective_config: Callable[[], PeakConfig]
    feeds: MarketSource

    @property
    def settings(self) -> DaemonSettings:
        """The settings in force now."""
        return self.current_settings()


def effective_config_loader(
    settings: DaemonSettings | Callable[[], DaemonSettings],
) -> Callable[[], PeakConfig]:
    """The live-override aware config loader (re-read on every call, so an auto.toml change
    applied since start-up counts). Given a callable, the paths come from the settings it
    returns at each call, so a reload that moves a file is followed."""
    current = settings if callable(settings) else (lambda: settings)

    def load() -> PeakConfig:
        now = current()
        return load_trading_config(
            now.path(now.paths.config_file),
            root=now.root,
            auto_overrides_path=now.path(now.paths.live_overrides_file),
            offline_dir=now.path(now.paths.offline_overrides_dir),
        )

    return load


def cycle_symbols(settings: DaemonSettings) -> list[str]:
    """The symbols a cycle watches: ``[cycle] symbols``, else every configured symbol."""
    return list(settings.cycle.symbols) or list(settings.symbols)


def symbols_for(parameters: Mapping[str, Any], default: Sequence[str]) -> list[str]:
    """``parameters["symbols"]`` (list) or ``["symbol"]`` (one), else ``default``."""
    raw = parameters.get("symbols", parameters.get("symbol"))
    if raw is None:
        chosen = list(default)
    elif isinstance(raw, str):
        chosen = [raw]
    else:
        chosen = [str(s) for s in raw]
    if not chosen:
        raise WorkflowError("no symbols to work on: configure [symbols] or pass a symbol")
    return chosen


def usable(
    results: Mapping[str, MonitorResultLike | Exception],
) -> tuple[dict[str, MonitorResultLike], dict[str, str]]:
    """Split per-symbol monitor results into usable ones and errors; all failing is a failure."""
    good = {s: r for s, r in results.items() if not isinstance(r, Exception)}
    errors = {s: f"{type(r).__name__}: {r}" for s, r in results.items() if isinstance(r, Exception)}
    if not good:
        detail = "; ".join(f"{s}: {e}" for s, e in errors.items())
        raise WorkflowError(f"every symbol failed: {detail}")
    return good, errors
