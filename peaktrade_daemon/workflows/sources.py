"""What the in-process workflow types read from, and the small rules they share.

:class:`WorkflowSources` (monitors, equity history, the live-override aware config) is built by
the composition root and handed to every type; ``catalog.build_workflows`` binds them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from peaktrade_daemon.config.loader import PeakConfig, load_effective_config
from peaktrade_daemon.errors import WorkflowError
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.workflows.ports import EquitySource, Monitor, MonitorResultLike


@dataclass(frozen=True, slots=True)
class WorkflowSources:
    """Everything the in-process workflow types read. ``effective_config`` returns the config
    as components see it now (base + overrides allowed by the environment gate)."""

    settings: DaemonSettings
    market: Monitor
    signals: Monitor
    performance: Monitor
    equity: EquitySource
    effective_config: Callable[[], PeakConfig]


def effective_config_loader(settings: DaemonSettings) -> Callable[[], PeakConfig]:
    """The live-override aware config loader for ``settings`` (re-read on every call)."""

    def load() -> PeakConfig:
        return load_effective_config(
            settings.path(settings.paths.config_file),
            root=settings.root,
            auto_overrides_path=settings.path(settings.paths.live_overrides_file),
            offline_dir=settings.path(settings.paths.offline_overrides_dir),
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
